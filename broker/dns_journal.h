/*
 * The record of TXT values that Custos added, kept under
 * STATE_DIR/dns-records so that a value left behind by a crash or a failed
 * removal is removed at the next start. Each process writes its own file,
 * "add ZONE RECORD VALUE" before it adds a value and "remove ZONE RECORD
 * VALUE" after it removed one, and holds a flock(2) on it while it runs;
 * recovery skips files that another running process holds.
 *
 * Functions return 0, or -1 with a one-line message in err.
 */
#ifndef CUSTOS_BROKER_DNS_JOURNAL_H
#define CUSTOS_BROKER_DNS_JOURNAL_H

#include <stddef.h>

#define DNS_JOURNAL_DIR "dns-records"
#define DNS_JOURNAL_MAX (256 * 1024)	/* bytes of one file read back */

struct dns_journal {
	int fd;			/* -1 until opened */
	char path[4200];
	size_t outstanding;	/* values added and not yet removed */
};

/* Creates this process's file; call once, after dropping privileges. */
int dns_journal_open(const char *state_dir, struct dns_journal *journal,
    char *err, size_t errlen);

/* Appends one line and syncs it to disk; action is "add" or "remove". */
int dns_journal_write(struct dns_journal *journal, const char *action,
    const char *zone, const char *record, const char *value, char *err,
    size_t errlen);

/* Closes the file and deletes it when no value is outstanding. */
void dns_journal_close(struct dns_journal *journal);

/* Removes one leftover value; returns 0 when it is gone. */
typedef int (*dns_leftover_fn)(void *arg, const char *zone,
    const char *record, const char *value);

/*
 * Calls remove for each value that a file of a process no longer running
 * added and did not remove, and deletes each file whose values are all
 * gone. Returns -1 only when the directory cannot be read; the count of
 * values still left is in *left.
 */
int dns_journal_recover(const char *state_dir, dns_leftover_fn remove,
    void *arg, size_t *left, char *err, size_t errlen);

/*
 * Parses one journal line into its four fields, in place. Returns -1 for
 * a line that is not "add|remove ZONE RECORD VALUE" with DNS names and a
 * base64url value.
 */
int dns_journal_parse_line(char *line, char **action, char **zone,
    char **record, char **value);

#endif
