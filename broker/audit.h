/*
 * The tamper-evident audit log (docs/audit.md): one JSON record per line,
 * each carrying the SHA-256 of the line before it, appended under an
 * exclusive flock(2) on the log's directory and fsynced before the action
 * it records is reported done. Several custos processes may append at
 * once. Rotation renames the file to FILE.SEQ (SEQ: the last record's
 * number, 12 digits), and the next record links to that file's last line.
 *
 * Functions return 0, or -1 with a one-line message in err.
 */
#ifndef CUSTOS_BROKER_AUDIT_H
#define CUSTOS_BROKER_AUDIT_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "audit/checkpoint.h"
#include "config/config.h"
#include "ipc/ipc.h"
#include "policy/policy.h"

/* Bytes of one record, its newline included. */
#define AUDIT_RECORD_MAX (16 * 1024)
#define AUDIT_ERR_MAX 512

/* The last record of the log. */
struct audit_head {
	unsigned long long seq;		/* 0: the log is empty */
	char hash[AUDIT_HASH_HEX + 1];	/* its SHA-256, or 64 zeros */
	char action[64];		/* its action, or "" */
};

/* A checkpoint signature, as the signer returns it. */
struct audit_signature {
	char key_id[33];
	char algorithm[32];
	char signed_at[32];
	char *signature;		/* base64 DER, malloc'd */
};

/* Signs head (64 hex digits); fills sig. Returns 0 or -1 with err. */
typedef int (*audit_sign_fn)(void *arg, const char *head,
    struct audit_signature *sig, char *err, size_t errlen);

struct audit_log;

/*
 * Opens the log that config names, creating the file (mode 0640) but not
 * its directory. Keep it open across a privilege drop: later appends need
 * no permission on the file unless another process rotated it.
 */
int audit_open(const struct config_audit *config, struct audit_log **out,
    char *err, size_t errlen);
void audit_close(struct audit_log *log);

/*
 * Sets the descriptors of the log's directory and file (-1 for none), so
 * that a forked child that closes what it inherited can keep them.
 */
void audit_descriptors(const struct audit_log *log, int *dir_fd,
    int *file_fd);

/*
 * Sets who acts: tenant and token_id may be NULL, uid is the real uid.
 * A NULL log is ignored.
 */
void audit_set_actor(struct audit_log *log, const char *tenant,
    const char *user, uid_t uid, const char *token_id);

/*
 * Appends one record. source is "broker" or "signer"; object (borrowed,
 * may be NULL) contains the ids the action concerns; reason may be NULL.
 */
int audit_append(struct audit_log *log, const char *source,
    const char *action, const json_t *object, const char *outcome,
    const char *reason, char *err, size_t errlen);

/* One record of audit_append_many(), with the members of audit_append(). */
struct audit_entry {
	const char *source;
	const char *action;
	const json_t *object;
	const char *outcome;
	const char *reason;
};

/*
 * Appends count records in order under one lock, with one write and one
 * fsync, so a batch costs one flush however many records it holds. A
 * failure before the write appends none of them.
 */
int audit_append_many(struct audit_log *log,
    const struct audit_entry *entries, size_t count, char *err,
    size_t errlen);

/* Reads the last record under the lock. */
int audit_read_head(struct audit_log *log, struct audit_head *head,
    char *err, size_t errlen);

/*
 * Signs the current head through sign and appends an audit.checkpoint
 * record, unless the log is empty or already ends with a checkpoint.
 */
int audit_checkpoint(struct audit_log *log, audit_sign_fn sign, void *arg,
    char *err, size_t errlen);

/* Returns 1 when checkpoint-interval has passed since the last one. */
int audit_checkpoint_due(const struct audit_log *log);

/*
 * Appends an audit.rotate record, then renames the file to FILE.SEQ;
 * the path is written to rotated.
 */
int audit_rotate(struct audit_log *log, char *rotated, size_t rotatedlen,
    char *err, size_t errlen);

void audit_signature_clear(struct audit_signature *sig);

/*
 * The process's log, used by the hooks and the audit_record_* functions
 * below. Without one (commands that write no audit records) they do
 * nothing and return 0. The first failure is kept: audit_status() then
 * returns -1 with its message, so a command fails even when the failing
 * hook could not return an error.
 */
void audit_set_current(struct audit_log *log);
struct audit_log *audit_current(void);
int audit_status(char *err, size_t errlen);

/*
 * Records an event in the process's log. object is stolen (NULL: none);
 * outcome is "success", "failure", "allowed" or "denied". These are the
 * calls for features that record their actions: revocation, rollback,
 * import, account changes, key destruction, configuration reloads and
 * administrative commands.
 */
int audit_record_event(const char *action, json_t *object,
    const char *outcome, const char *reason);

/* Records an event that source ("broker" or "signer") reports. */
int audit_record_from(const char *source, const char *action,
    json_t *object, const char *outcome, const char *reason);

/*
 * Records several events in one append (audit_append_many); the objects
 * stay the caller's.
 */
int audit_record_many(const struct audit_entry *entries, size_t count);

/*
 * Between these two calls, the calling thread's policy decisions are kept
 * and then appended together, with one write and one fsync, instead of
 * one each. Release before acting on the decisions, so that they are on
 * disk first. Release returns -1 when the append failed (audit_status()
 * then reports it).
 */
void audit_hold_decisions(void);
int audit_release_decisions(void);

/* Records a broker policy decision; fits policy_decision_hook. */
void audit_record_decision(const struct policy_tenant *tenant,
    const char *subject, const struct policy_decision *decision,
    void *arg);

/*
 * Named wrappers for the actions that other features add, so that every
 * record of one action has the same members. Each takes NULL for an
 * unknown value and steals only where it says so.
 */

/* A revocation request (RFC 8555 section 7.6) and the key that signed it. */
struct audit_revocation {
	const char *serial;		/* hex, as in certificate.issue */
	const char *issuer;
	const char *account_url;	/* NULL when the certificate key signed */
	const char *signed_by;		/* "account-key" or "certificate-key" */
	const char *key_id;		/* the signing key's id */
	const char *stored;		/* the store directory of the version */
	int reason_code;		/* RFC 5280 CRLReason; -1: none sent */
};

int audit_record_revocation(const struct audit_revocation *revocation,
    const char *outcome, const char *reason);
int audit_record_account(const char *action, const char *account_url,
    const char *issuer, const char *key_id, const char *outcome,
    const char *reason);
/* An account key rollover: old_key_id is replaced by new_key_id. */
int audit_record_rollover(const char *account_url, const char *issuer,
    const char *old_key_id, const char *new_key_id, const char *outcome,
    const char *reason);
int audit_record_key_destroy(const char *key_id, const char *purpose,
    const char *outcome, const char *reason);
/*
 * A managed certificate's current version goes back from from_version to
 * to_version; trigger is "deploy-failure" (the daemon's own rollback) or
 * "command" (custos cert rollback or the API).
 */
int audit_record_rollback(long long certificate_id, const char *tenant,
    const char *from_version, const char *to_version, const char *trigger,
    const char *outcome, const char *reason);
int audit_record_import(const char *name, const char *serial,
    const char *outcome, const char *reason);
/*
 * An administrative command such as "cert add" or "account rollover".
 * details (stolen, may be NULL) is an object whose members are added to
 * the record's object after "command".
 */
int audit_record_command(const char *command, json_t *details,
    const char *outcome, const char *reason);

/* audit_chain.c: the parts the writer and the verifier share. */

/* Writes the SHA-256 of len bytes as 64 lowercase hex digits. */
void audit_hash_hex(const void *data, size_t len,
    char hex[AUDIT_HASH_HEX + 1]);
/* Writes the current UTC time as "2026-01-31T12:00:00.123Z". */
void audit_time_now(char *out, size_t outlen);
/* Parses "2026-01-31", "2026-01-31T12:00:00Z" or with a fraction. */
int audit_time_parse(const char *text, long long *seconds);
/*
 * Lists FILE.SEQ rotated siblings of path, oldest first, then path
 * itself when it exists. Returns the count and a malloc'd array of
 * malloc'd paths, or -1 with err.
 */
long audit_list_files(const char *path, char ***files, char *err,
    size_t errlen);
void audit_free_files(char **files, long count);

/* audit_channel.c: the signer's records (IPC_AUDIT_RECORD). */

/*
 * Reads the next frame on fd like ipc_read_frame(), first appending every
 * record that arrives on *audit_fd, which becomes -1 (closed) at its end
 * of file. A record that fails its checks ends the session: the result
 * is then -IPC_EJSON and the reason is logged.
 */
int audit_channel_read_reply(int fd, int *audit_fd,
    struct ipc_frame *frame);

/* Reads records until the signer closes the channel, then closes it. */
void audit_channel_drain(int *audit_fd);

/* Checks one IPC_AUDIT_RECORD payload and appends it to the log. */
int audit_channel_accept(const struct ipc_frame *frame, char *err,
    size_t errlen);

/* audit_verify.c: the chain and checkpoint checks. */

/* The progress of a verification over one or more files in order. */
struct audit_verify {
	EVP_PKEY *key;	/* NULL: signatures are not checked */
	unsigned long long first_seq;	/* 0 until the first record */
	unsigned long long next_seq;	/* the record number expected */
	char prev_hash[AUDIT_HASH_HEX + 1];
	char (*hashes)[AUDIT_HASH_HEX + 1];	/* by seq - first_seq */
	size_t hash_count, hash_alloc;
	unsigned long long checkpoints;	/* successful checkpoint records */
	unsigned long long signatures;	/* of those, signatures verified */
	/* 1: the first file may start after record 1 (a rotated file). */
	int allow_partial;
	int starts_mid_chain;		/* the first record is not seq 1 */
	char error[1024];		/* "FILE:LINE: record N: ..." */
};

/* Sets up v; key (borrowed) may be NULL. */
void audit_verify_init(struct audit_verify *v, EVP_PKEY *key);
void audit_verify_clear(struct audit_verify *v);

/*
 * Checks the records of one file, continuing the chain of the files
 * checked before. Returns 0, or -1 with v->error naming the file, the
 * line and the record number of the first broken record.
 */
int audit_verify_file(struct audit_verify *v, const char *path);

/*
 * Checks one record: line contains len bytes, its newline included when it
 * has one. where is "FILE:LINE" for messages.
 */
int audit_verify_line(struct audit_verify *v, const char *where,
    const char *line, size_t len);

/* Checks a checkpoint signature over head and signed_at with key. */
int audit_signature_verify(EVP_PKEY *key, const char *head,
    const char *signed_at, const char *signature_b64);

#endif
