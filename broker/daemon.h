/*
 * The daemon: `custos daemon --config FILE`. broker/supervise.c keeps
 * root, starts the signer and the worker and restarts both with backoff;
 * broker/daemon.c is the worker, which drops privileges and runs the
 * scheduled tasks of broker/state.h; broker/daemon_order.c runs one
 * issuance, resuming the order a killed worker left open.
 */
#ifndef CUSTOS_BROKER_DAEMON_H
#define CUSTOS_BROKER_DAEMON_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/acme.h"
#include "broker/challenge.h"
#include "broker/signer_client.h"
#include "broker/state.h"
#include "broker/store_usage.h"
#include "config/config.h"
#include "policy/policy.h"

/*
 * Set by the worker's signal handlers and read by every order thread.
 * They are atomic, not only volatile sig_atomic_t, because threads other
 * than the one that ran the handler read them. A lock-free atomic is
 * safe to store in a handler (C17 7.14.1.1).
 */
extern atomic_int daemon_stop;
extern atomic_int daemon_wake;

struct api_server;

/* An issuer's account as acme_account_ensure() loaded it. */
struct daemon_account {
	char *issuer;
	char *url;
	char *thumbprint;
	char key_id[IPC_KEY_ID_LEN + 1];
};

/* An order counted against its tenant's limits before it is stored. */
struct daemon_reservation {
	int64_t cert_id;
	char *tenant;
	int adds_held;		/* 1 when its label holds no live version */
};

/*
 * The state that the worker's threads share beyond the configuration
 * and policy, each part under its own mutex.
 */
struct daemon_shared {
	pthread_mutex_t signer_lock;	/* one request and reply at a time */
	/*
	 * Account records: loaded, registered and saved by one thread, and
	 * kept per issuer after the first success, so that later orders do
	 * not rewrite and fsync the record each time.
	 */
	pthread_mutex_t account_lock;
	struct daemon_account *accounts;
	size_t account_count;
	/*
	 * dns-01 records are published and withdrawn for all of a run at
	 * once (broker/challenge_dns.c), so only one order at a time runs
	 * while dns-01 is enabled.
	 */
	pthread_mutex_t dns_lock;
	/*
	 * Orders past their policy check whose certificate is not stored
	 * yet. The max-certificates and rate checks of the tenant's other
	 * orders count them as stored, so that orders running at once
	 * cannot together pass a limit.
	 */
	pthread_mutex_t usage_lock;
	struct daemon_reservation *reservations;
	size_t reservation_count;
	/* The limit counts' store readings, made at the first count. */
	struct store_usage_cache *usage_cache;
	/* The account thumbprints whose webroot files were cleaned. */
	pthread_mutex_t webroot_lock;
	char **webroot_cleaned;
	size_t webroot_cleaned_count;
};

/*
 * Everything the worker holds for its whole life. Each order thread has
 * a copy of its own, with its own database connection and signer handle.
 */
struct daemon_worker {
	struct custos_config *config;
	struct policy *policy;
	struct state *state;
	struct signer_client signer;
	struct challenge_http *responder;
	struct challenge_set challenges;
	struct api_server *api;		/* NULL when the API is off */
	int64_t *unfinished;		/* certificates to recover at start */
	size_t unfinished_count;
	uint64_t signer_counted;	/* signer.requests in the database */
	struct daemon_shared *shared;
};

enum daemon_result {
	DAEMON_DONE = 0,	/* a version was activated */
	DAEMON_FAILED = -1,	/* retry later with backoff */
	DAEMON_PARKED = -2,	/* stopped between steps; resume at once */
};

/*
 * Adds the signer requests sent since the last call to the database's
 * counter of tenant ("" for the audit checkpoints), for the metrics.
 */
void daemon_count_signer_requests(struct daemon_worker *w,
    const char *tenant);

/*
 * Runs the pending jobs of the API process (broker/daemon_jobs.c) and
 * stores their responses. Returns 0, or -1 when the database fails.
 */
int daemon_run_jobs(struct daemon_worker *w);

/* Frees the members of account. */
void daemon_account_clear(struct daemon_account *account);

/*
 * Runs the task of one certificate. For DAEMON_FAILED it sets err and
 * *retry_after, the CA's Retry-After in seconds or -1 for none.
 */
enum daemon_result daemon_issue(struct daemon_worker *w,
    const struct state_cert *cert, int64_t *retry_after, char *err,
    size_t errlen);

struct cert_chain;

/*
 * broker/daemon_renewal.c: fills *renewal, the schedule of a new version
 * of cert whose leaf is in chain, valid from not_before to not_after.
 * With has_ari (the issuer's directory has renewalInfo), the first
 * renewalInfo poll is due at once. The identifier goes into ari_id
 * (ARI_ID_MAX + 1 bytes), which renewal points to. Returns the time the
 * task is due.
 */
int64_t daemon_renewal_plan(const struct daemon_worker *w,
    const struct state_cert *cert, const struct cert_chain *chain,
    int64_t not_before, int64_t not_after, int has_ari,
    struct state_renewal *renewal, char *ari_id);

/*
 * Runs the renewalInfo poll of cert when it is due and reschedules the
 * task. Returns 1 when the renewal time has not come, 0 when the
 * certificate is to be issued now: no schedule, a reissue, a retry after
 * a failure, or the renewal time has come.
 */
int daemon_renewal_wait(struct daemon_worker *w,
    const struct state_cert *cert);

/*
 * Copies the renewalInfo identifier of cert's current version into out
 * (ARI_ID_MAX + 1 bytes). Returns 0, or -1 when there is none.
 */
int daemon_renewal_replaces(struct daemon_worker *w,
    const struct state_cert *cert, char *out);

/*
 * Deploys the certificate's current version when the database records
 * its deploy as pending: switches STORE/TENANT/LABEL/current to it and
 * runs the deploy hook. When the hook of a new version fails, the
 * previous version is restored and its hook runs. With resumed set (a
 * restart after a crash), a current symlink that does not match the
 * database is switched back too. Returns 0 when nothing was pending or
 * the hook succeeded, -1 with a message in err otherwise.
 */
int daemon_deploy(struct daemon_worker *w, const struct state_cert *cert,
    int resumed, char *err, size_t errlen);

/*
 * The worker: runs until SIGTERM, using the signer on signer_fd and
 * appending the records that arrive on audit_fd, the read end of the
 * signer's audit channel, to the audit log.
 */
int daemon_worker_run(const char *config_path, int signer_fd, int audit_fd);

/* The supervisor; returns the exit status. */
int supervise_run(const char *config_path);

/* Returns the path of the state database in a malloc'd string. */
char *daemon_state_path(const struct custos_config *config);

#endif
