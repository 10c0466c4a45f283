/*
 * The names requested on the command line, checked and turned into ACME
 * identifiers through the policy library's canonical forms: "dns" for host
 * names (lower case, A-labels, no trailing dot), "ip" for IPv4 and IPv6
 * literals (RFC 8738).
 */
#ifndef CUSTOS_BROKER_NAMES_H
#define CUSTOS_BROKER_NAMES_H

#include <stddef.h>

#define NAMES_MAX 100

struct acme_identifier {
	char type[4];		/* "dns" or "ip" */
	char *value;
};

struct acme_names {
	struct acme_identifier *items;
	size_t count;
};

/*
 * Converts one written name: an IP literal becomes an "ip" identifier in
 * inet_ntop(3) text, anything else a canonical "dns" identifier (lower
 * case, A-labels). Sets id->value to a malloc'd string. Returns 0, or -1
 * with a message quoting the name in err.
 */
int names_convert(const char *name, struct acme_identifier *id, char *err,
    size_t errlen);

/*
 * Checks and converts each name. Returns 0, or -1 with a message naming
 * the bad value in err. Duplicates are rejected.
 */
int names_parse(char *const *names, size_t count, struct acme_names *out,
    char *err, size_t errlen);
void names_clear(struct acme_names *names);

/*
 * Returns the directory name used in the store for a name: "*" becomes
 * "_wildcard". The result is malloc'd, or NULL when memory runs out.
 */
char *names_store_label(const char *name);

#endif
