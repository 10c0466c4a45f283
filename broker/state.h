/*
 * The daemon's state: managed certificates, their scheduled task, ACME
 * orders, issuance attempts and stored versions. broker/state_db.c keeps
 * it in SQLite (WAL journal, foreign keys on, schema versioned through
 * PRAGMA user_version with one migration per version). Each function is
 * one transaction, so a crash leaves either the old or the new state.
 * Another backend (PostgreSQL) implements this header and nothing more.
 *
 * Functions return 0, or -1 with a one-line message in err; lookups that
 * find nothing return STATE_NOT_FOUND with a message too.
 */
#ifndef CUSTOS_BROKER_STATE_H
#define CUSTOS_BROKER_STATE_H

#include <stddef.h>
#include <stdint.h>

#define STATE_SCHEMA_VERSION 9
#define STATE_NOT_FOUND (-2)
#define STATE_FILE_NAME "custos.db"

struct state;

/* A managed certificate: what to request, for whom, and from where. */
struct state_cert {
	int64_t id;
	char *tenant;
	char *label;		/* store directory name, from the first name */
	char *names;		/* requested names, separated by spaces */
	char *key_type;		/* "ec-p256", ... */
	char *issuer;
	char *settings;		/* JSON object text, "{}" for none */
	int64_t created;	/* Unix time */
	int64_t generation;	/* request number, raised by reissue */
	int removed;
	/* 1: uploaded by hand with custos cert import, never renewed. */
	int imported;
	/* notAfter of the current version, 0 when there is none. */
	int64_t not_after;
	/* From the scheduled task; due is 0 when none is scheduled. */
	int64_t due;
	int failures;
	char *last_error;
};

/* Order status as the daemon tracks it, not the CA's status. */
#define ORDER_NEW "new"			/* newOrder not yet answered */
#define ORDER_PENDING "pending"		/* URL known, not finalized */
#define ORDER_FINALIZING "finalizing"	/* finalize may have been sent */
#define ORDER_STORED "stored"		/* certificate stored */
#define ORDER_ABANDONED "abandoned"

struct state_order {
	int64_t id;
	int64_t cert_id;
	int64_t generation;
	char *url;		/* NULL until the CA answered newOrder */
	char *key_id;		/* certificate key in the token, or NULL */
	char status[16];
	int64_t created;
};

#define VERSION_CURRENT "current"
#define VERSION_PREVIOUS "previous"
#define VERSION_FAILED "failed"	/* its deploy hook failed */
/* Replaced by custos cert rollback. */
#define VERSION_ROLLED_BACK "rolled-back"

struct state_version {
	int64_t id;
	int64_t cert_id;
	int64_t order_id;	/* 0 when unknown */
	char *name;		/* the store's VERSION directory name */
	char *serial;		/* lowercase hex */
	int64_t not_before;
	int64_t not_after;
	int64_t created;
	char status[16];
	int deploy_pending;	/* one of the DEPLOY_* values below */
};

/*
 * Whether the deploy of a version still has to run: set in the same
 * transaction that makes the version current, cleared after its deploy
 * hook ran, so that a restarted worker reruns a hook a crash cut off.
 */
#define DEPLOY_NONE 0
#define DEPLOY_NEW 1		/* the hook runs with CUSTOS_ROLLBACK=0 */
#define DEPLOY_RESTORE 2	/* the hook runs with CUSTOS_ROLLBACK=1 */

/*
 * The renewal schedule of a certificate's current version, from the
 * lifetime fraction and from the issuer's renewalInfo (RFC 9773). The
 * certificate's task is due at renew_at, or at next_poll when that comes
 * first. Times are Unix seconds; 0 means none.
 */
struct state_renewal {
	int64_t cert_id;
	int64_t generation;	/* the request that the version answered */
	char *ari_id;		/* renewalInfo identifier, or NULL */
	int64_t fallback_at;	/* renewal time by the lifetime fraction */
	int64_t renew_at;	/* renewal time chosen */
	int64_t next_poll;	/* next renewalInfo GET; 0: never */
	int64_t fetched;	/* last successful renewalInfo GET */
	int64_t window_start;	/* window of that GET */
	int64_t window_end;
};

/* Sets SQLite's process-wide options; call it before any other state call. */
void state_library_init(void);

/*
 * Opens or creates the database at path and migrates it to the current
 * schema. A database newer than this program is an error.
 */
int state_open(const char *path, struct state **out, char *err,
    size_t errlen);
/* Opens and migrates only up to version target, for migration tests. */
int state_open_schema(const char *path, int target, struct state **out,
    char *err, size_t errlen);
int state_schema_version(struct state *st);
/*
 * Closes st. For a handle from state_open_pooled(), only the handle is
 * freed, and its pool's connections stay open.
 */
void state_close(struct state *st);

/*
 * A pool of size connections to the database at path, for many threads
 * that each use the database now and then: the daemon's order threads.
 * Each connection costs about 60 KiB.
 */
struct state_pool;
int state_pool_open(const char *path, int size, struct state_pool **out,
    char *err, size_t errlen);
/*
 * Makes a handle that borrows a connection of pool during each call that
 * it is passed to, waiting while all are lent. A handle belongs to one
 * thread at a time. Close handles with state_close() before the pool.
 * A callback of a list function may call the same handle again, which
 * keeps its connection. It must not call another handle of the same
 * pool: when no connection is idle, that call waits for ever.
 */
int state_open_pooled(struct state_pool *pool, struct state **out,
    char *err, size_t errlen);
void state_pool_close(struct state_pool *pool);

/* Adds a certificate and its first task, due at due. Sets *id. */
int state_cert_add(struct state *st, const struct state_cert *cert,
    int64_t due, int64_t *id, char *err, size_t errlen);
/*
 * Adds an imported certificate with v as its current version, its deploy
 * pending (DEPLOY_NEW), in one transaction. It gets no task, so the
 * scheduler never renews it. Sets *id and v->cert_id.
 */
int state_cert_import(struct state *st, const struct state_cert *cert,
    struct state_version *v, int64_t *id, char *err, size_t errlen);
int state_cert_get(struct state *st, int64_t id, struct state_cert *cert,
    char *err, size_t errlen);
/* Calls fn for each certificate not removed, in id order. */
int state_cert_list(struct state *st,
    void (*fn)(const struct state_cert *cert, void *arg), void *arg,
    char *err, size_t errlen);
/*
 * Lists, in id order, the certificates not removed that a crash can have
 * left unfinished: one with a version whose deploy is pending, or with an
 * attempt still running. Call it before state_recover(), which ends the
 * running attempts. Sets *ids to a malloc'd array of *count ids (NULL
 * when none).
 */
int state_cert_unfinished(struct state *st, int64_t **ids, size_t *count,
    char *err, size_t errlen);
/*
 * Lists, in id order, the certificates not removed whose settings ask
 * for wrapped key export. Sets *ids and *count as above.
 */
int state_cert_wrapped(struct state *st, int64_t **ids, size_t *count,
    char *err, size_t errlen);
/* Marks the certificate removed and drops its task; versions stay. */
int state_cert_remove(struct state *st, int64_t id, char *err,
    size_t errlen);
/* Starts a new request now: raises generation, task due at now. */
int state_cert_reissue(struct state *st, int64_t id, int64_t now,
    char *err, size_t errlen);
void state_cert_clear(struct state_cert *cert);

/*
 * Finds the task due first among certificates not removed. Returns 1 and
 * sets *cert_id and *due, 0 when there is none, -1 on error.
 */
int state_task_next(struct state *st, int64_t *cert_id, int64_t *due,
    char *err, size_t errlen);
/*
 * As state_task_next(), but passes over the tasks of the skip_count
 * certificates in skip, which other threads are working on.
 */
int state_task_next_skip(struct state *st, const int64_t *skip,
    size_t skip_count, int64_t *cert_id, int64_t *due, char *err,
    size_t errlen);
/*
 * Reschedules the certificate's task. error NULL records a success
 * (failures back to 0); otherwise failures is the new count.
 */
int state_task_set(struct state *st, int64_t cert_id, int64_t due,
    int failures, const char *error, char *err, size_t errlen);
/*
 * Records a failed attempt of request generation: the task is due at due
 * with failures and error. Does nothing when a reissue raised the
 * generation meanwhile, because the reissued request is due at once.
 */
int state_task_retry(struct state *st, int64_t cert_id, int64_t generation,
    int64_t due, int failures, const char *error, char *err,
    size_t errlen);

/* The newest order of this request that is not stored or abandoned. */
int state_order_open(struct state *st, int64_t cert_id, int64_t generation,
    struct state_order *order, char *err, size_t errlen);
/* Inserts order (id 0) or updates its url, key_id and status. */
int state_order_save(struct state *st, struct state_order *order,
    char *err, size_t errlen);
void state_order_clear(struct state_order *order);

/* Records the start of an attempt; marks it "running". */
int state_attempt_begin(struct state *st, int64_t cert_id, int64_t now,
    int64_t *attempt_id, char *err, size_t errlen);
/* result is "succeeded", "failed" or "parked". */
int state_attempt_end(struct state *st, int64_t attempt_id, int64_t now,
    const char *result, const char *error, char *err, size_t errlen);
/*
 * Marks every attempt still "running" as "interrupted", after a crash.
 * Sets *count to their number.
 */
int state_recover(struct state *st, int64_t now, int *count, char *err,
    size_t errlen);

/*
 * Records a stored version as current in one transaction: the former
 * current one becomes previous, the order becomes stored, the renewal
 * schedule is replaced by renewal (or removed when it is NULL), the task
 * is set due at renew_due with no failures, and the version's deploy is
 * DEPLOY_NEW. A version of that name already recorded is made current
 * again. When a reissue raised the generation after v's order began, the
 * task is due at v->created, because the reissued request is due now.
 */
int state_version_activate(struct state *st, const struct state_version *v,
    const struct state_renewal *renewal, int64_t renew_due, char *err,
    size_t errlen);
/* Marks version id as status ("current" switches the others off). */
int state_version_mark(struct state *st, int64_t cert_id, int64_t id,
    const char *status, char *err, size_t errlen);
/*
 * Makes version restore_id current again with its deploy DEPLOY_RESTORE
 * and marks version replaced_id as status with no deploy pending, in one
 * transaction. The renewal schedule, which described replaced_id, is
 * dropped. For a failed deploy hook and custos cert rollback.
 */
int state_version_restore(struct state *st, int64_t cert_id,
    int64_t restore_id, int64_t replaced_id, const char *status, char *err,
    size_t errlen);
/* Records that the deploy of version id has run (DEPLOY_NONE). */
int state_version_deployed(struct state *st, int64_t id, char *err,
    size_t errlen);
/* Calls fn for each version of the certificate, newest first. */
int state_version_list(struct state *st, int64_t cert_id,
    void (*fn)(const struct state_version *v, void *arg), void *arg,
    char *err, size_t errlen);
/* The current version, or STATE_NOT_FOUND. */
int state_version_current(struct state *st, int64_t cert_id,
    struct state_version *v, char *err, size_t errlen);
void state_version_clear(struct state_version *v);

/*
 * A job that the API process hands to the worker, which has the signer
 * connection: an import or a revocation. The API process adds it and waits; the
 * worker runs it and records the HTTP response to send.
 */
#define JOB_PENDING "pending"
#define JOB_RUNNING "running"
#define JOB_DONE "done"
#define JOB_CANCELLED "cancelled"	/* the API process stopped waiting */

struct state_job {
	int64_t id;
	char kind[16];		/* "import" or "revoke" */
	char *tenant;
	int64_t cert_id;	/* 0 for an import */
	char *request;		/* JSON object text */
	char status[16];
	int http_status;	/* set when done */
	char *response;		/* JSON object text, set when done */
};

/* Adds a pending job and removes finished ones older than a day. */
int state_job_add(struct state *st, const char *kind, const char *tenant,
    int64_t cert_id, const char *request, int64_t now, int64_t *id,
    char *err, size_t errlen);
/* Takes the oldest pending job and marks it running: 1, 0 when none. */
int state_job_next(struct state *st, struct state_job *job, char *err,
    size_t errlen);
int state_job_finish(struct state *st, int64_t id, int http_status,
    const char *response, char *err, size_t errlen);
int state_job_get(struct state *st, int64_t id, struct state_job *job,
    char *err, size_t errlen);
/* Cancels a job still pending: 1 when cancelled, 0 when it has started. */
int state_job_cancel(struct state *st, int64_t id, char *err,
    size_t errlen);
void state_job_clear(struct state_job *job);
/* The tallies that state_count_list reads for the metrics. */
enum state_count_kind {
	/* Orders created, per tenant; key NULL. */
	STATE_COUNT_ORDERS = 0,
	/* Attempts per tenant and result ("succeeded", "failed", ...). */
	STATE_COUNT_ATTEMPTS,
	/* Failed attempts per tenant, one row per attempt; key the error. */
	STATE_COUNT_FAILURES,
	/* Attempts that followed a failed or interrupted one; key NULL. */
	STATE_COUNT_RETRIES,
	/* Start of the newest attempt per certificate; key the id. */
	STATE_COUNT_LAST_ATTEMPT,
	/* Requests sent to the signer per tenant ("" for none); key NULL. */
	STATE_COUNT_SIGNER,
	/* Requests that order runs sent to the CA, per tenant; key NULL. */
	STATE_COUNT_ACME_REQUESTS,
	/* New connections those requests opened, per tenant; key NULL. */
	STATE_COUNT_ACME_CONNECTIONS,
};

/* One row of a tally; removed certificates count too. */
struct state_count {
	const char *tenant;
	const char *key;	/* see enum state_count_kind, or NULL */
	int64_t value;
};

/* Adds delta to the counter name of tenant, creating it at 0. */
int state_counter_add(struct state *st, const char *name, const char *tenant,
    int64_t delta, char *err, size_t errlen);

/* Calls fn for each row of the tally kind, read in one query. */
int state_count_list(struct state *st, enum state_count_kind kind,
    void (*fn)(const struct state_count *row, void *arg), void *arg,
    char *err, size_t errlen);
/* The certificate's renewal schedule, or STATE_NOT_FOUND. */
int state_renewal_get(struct state *st, int64_t cert_id,
    struct state_renewal *renewal, char *err, size_t errlen);
/*
 * Stores the renewal schedule and sets the certificate's task due at
 * due, keeping its failure count, in one transaction. The task keeps its
 * due time when a reissue raised the generation past the schedule's.
 */
int state_renewal_set(struct state *st, const struct state_renewal *renewal,
    int64_t due, char *err, size_t errlen);
void state_renewal_clear(struct state_renewal *renewal);

/*
 * A certificate key wrapped by the signer for one edge node: the blob of
 * IPC_KEY_WRAP (ipc/ipc.h) and what the distribution endpoint sends with
 * it. The broker stores only this encrypted form.
 */
struct state_wrapped_key {
	int64_t version_id;
	char *node;
	char *recipient;	/* "sha256:HEX" of the recipient key */
	char *oaep_hash;	/* "sha256" or "sha1" */
	char *key_type;		/* "ec-p256", ... */
	char *data;		/* standard base64 of the blob */
	int64_t created;
};

/* Stores wk, replacing the row of the same version, node and recipient. */
int state_wrapped_put(struct state *st, const struct state_wrapped_key *wk,
    char *err, size_t errlen);
/* Reads the row of that version, node and recipient, or STATE_NOT_FOUND. */
int state_wrapped_get(struct state *st, int64_t version_id, const char *node,
    const char *recipient, struct state_wrapped_key *wk, char *err,
    size_t errlen);
void state_wrapped_clear(struct state_wrapped_key *wk);

/*
 * Sets *key_id (malloc'd) to the certificate key of the order that
 * produced the version. STATE_NOT_FOUND for an imported version, which
 * has no order.
 */
int state_version_key_id(struct state *st, int64_t version_id, char **key_id,
    char *err, size_t errlen);

#endif
