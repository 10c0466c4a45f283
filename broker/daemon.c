/*
 * The daemon's worker: binds the challenge listeners, drops privileges
 * and runs each certificate's task when it is due, until SIGTERM. The
 * supervisor started it with the signer's socket as signer_fd.
 */
#include "broker/daemon.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "broker/api.h"
#include "broker/audit_issue.h"
#include "broker/audit_signer.h"
#include "broker/challenge_http.h"
#include "broker/key_export.h"
#include "broker/names.h"
#include "broker/privdrop.h"
#include "broker/scheduler.h"
#include "broker/versions.h"
#include "logging/log.h"

volatile sig_atomic_t daemon_stop;
volatile sig_atomic_t daemon_wake;

static void
on_stop(int sig)
{
	(void)sig;
	daemon_stop = 1;
}

static void
on_wake(int sig)
{
	(void)sig;
	daemon_wake = 1;
}

char *
daemon_state_path(const struct custos_config *config)
{
	char *path;

	if (asprintf(&path, "%s/%s", config->broker.state_dir,
	    STATE_FILE_NAME) < 0)
		return NULL;
	return path;
}

static void
install_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_wake;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGHUP, &sa, NULL);
}

/* Binds listeners as root, then drops to the broker user. */
static int
start_worker(struct daemon_worker *w, char *err, size_t errlen)
{
	const struct custos_config *config = w->config;
	char *path;
	int count = 0, rc;

	w->challenges.config = config;
	if (config_challenge_enabled(config, CHALLENGE_HTTP01) &&
	    config->challenge.http01_mode == HTTP01_LISTEN &&
	    challenge_http_bind(config->challenge.http01_address,
	    config->challenge.http01_port, &w->responder, err, errlen) != 0)
		return -1;
	if (challenge_set_bind(&w->challenges, err, errlen) != 0 ||
	    api_bind(config, &w->api, err, errlen) != 0 ||
	    privdrop_to_user(config->broker.user, config->path, err,
	    errlen) != 0)
		return -1;
	if (w->api != NULL && api_start(w->api, config, w->policy, err,
	    errlen) != 0)
		return -1;
	if (w->responder != NULL &&
	    challenge_http_start(w->responder, err, errlen) != 0)
		return -1;
	if (challenge_set_start(&w->challenges, err, errlen) != 0)
		return -1;

	path = daemon_state_path(config);
	if (path == NULL)
		return snprintf(err, errlen, "out of memory"), -1;
	rc = state_open(path, &w->state, err, errlen);
	free(path);
	if (rc != 0 || state_cert_unfinished(w->state, &w->unfinished,
	    &w->unfinished_count, err, errlen) != 0 ||
	    state_recover(w->state, time(NULL), &count, err, errlen) != 0)
		return -1;
	if (count > 0)
		log_warn("%d attempts were interrupted by a restart; their "
		    "orders resume", count);
	api_ready(w->api);
	return 0;
}

/* Returns 1 when the signer has closed its end of the socket. */
static int
signer_gone(const struct daemon_worker *w)
{
	struct pollfd pfd = { .fd = w->signer.fd, .events = POLLIN };

	/* The signer never writes unprompted: readable means closed. */
	return poll(&pfd, 1, 0) > 0;
}

/*
 * Schedules the next attempt after a failure: the backoff of
 * sched_retry_delay, or the CA's Retry-After (seconds, -1 for none) when
 * that is longer.
 */
static void
record_failure(struct daemon_worker *w, const struct state_cert *cert,
    const char *error, int64_t retry_after)
{
	const struct config_daemon *daemon = &w->config->daemon;
	int failures = cert->failures + 1;
	int64_t delay;
	char err[512];

	delay = sched_retry_delay(daemon, failures, retry_after,
	    sched_random());
	if (retry_after >= 0)
		log_error("certificate %lld: attempt %d failed: %s; retrying "
		    "in %lld s (the CA sent Retry-After %lld)",
		    (long long)cert->id, failures, error, (long long)delay,
		    (long long)retry_after);
	else
		log_error("certificate %lld: attempt %d failed: %s; retrying "
		    "in %lld s", (long long)cert->id, failures, error,
		    (long long)delay);
	if (state_task_set(w->state, cert->id, time(NULL) + delay, failures,
	    error, err, sizeof(err)) != 0)
		log_error("%s", err);
}

/* Removes what a killed writer left in the certificate's store folder. */
static void
clean_store(struct daemon_worker *w, const struct state_cert *cert)
{
	char err[512];
	int removed = 0;

	if (versions_clean(w->config->store.directory, cert->tenant,
	    cert->label, &removed, err, sizeof(err)) != 0)
		log_error("certificate %lld: %s", (long long)cert->id, err);
	if (removed > 0)
		log_warn("certificate %lld: removed %d unfinished files from "
		    "the store", (long long)cert->id, removed);
}

void
daemon_count_signer_requests(struct daemon_worker *w, const char *tenant)
{
	uint64_t sent = w->signer.requests;
	char err[512];

	if (sent == w->signer_counted)
		return;
	if (state_counter_add(w->state, "signer_operations", tenant,
	    (int64_t)(sent - w->signer_counted), err, sizeof(err)) != 0) {
		log_error("%s", err);
		return;
	}
	w->signer_counted = sent;
}

/* Runs the task of one certificate and records its outcome. */
static void
run_task(struct daemon_worker *w, int64_t cert_id)
{
	struct state_cert cert;
	enum daemon_result result;
	int64_t attempt = 0, retry_after = -1;
	char err[ACME_ERR_MAX];
	const char *outcome = "succeeded";

	if (state_cert_get(w->state, cert_id, &cert, err, sizeof(err)) != 0) {
		log_error("%s", err);
		return;
	}
	if (daemon_renewal_wait(w, &cert))
		goto out;
	log_info("certificate %lld: starting request %lld for %s",
	    (long long)cert.id, (long long)cert.generation, cert.names);
	clean_store(w, &cert);
	err[0] = '\0';
	if (state_attempt_begin(w->state, cert.id, time(NULL), &attempt, err,
	    sizeof(err)) != 0) {
		log_error("%s", err);
		goto out;
	}
	audit_set_actor(audit_current(), cert.tenant, w->config->broker.user,
	    getuid(), NULL);
	result = daemon_issue(w, &cert, &retry_after, err, sizeof(err));
	/* Whatever was published for this run goes now. */
	challenge_withdraw_dns(&w->challenges);
	if (result != DAEMON_PARKED)
		audit_daemon_result(&cert, result == DAEMON_DONE ? "success" :
		    "failure", result == DAEMON_DONE ? NULL : err);
	if (result == DAEMON_FAILED) {
		outcome = "failed";
		record_failure(w, &cert, err, retry_after);
	} else if (result == DAEMON_PARKED) {
		outcome = "parked";
		log_info("certificate %lld: parked for shutdown",
		    (long long)cert.id);
	}
	if (state_attempt_end(w->state, attempt, time(NULL), outcome,
	    result == DAEMON_FAILED ? err : NULL, err, sizeof(err)) != 0)
		log_error("%s", err);
out:
	daemon_count_signer_requests(w, cert.tenant);
	state_cert_clear(&cert);
}

/* Sleeps until due, a wake-up signal, a stop, or poll-interval. */
static void
sleep_until(const struct daemon_worker *w, int64_t due)
{
	int64_t now = time(NULL), limit = now + w->config->daemon.poll_interval;
	struct timespec tick = { 0, 200 * 1000 * 1000 };

	if (due <= 0 || due > limit)
		due = limit;
	while (!daemon_stop && !daemon_wake && time(NULL) < due)
		nanosleep(&tick, NULL);
	daemon_wake = 0;
}

/* Cleans the store and reruns the deploys a crash cut off. */
static void
recover_cert(struct daemon_worker *w, int64_t id)
{
	struct state_cert cert;
	char err[ACME_ERR_MAX];

	if (state_cert_get(w->state, id, &cert, err, sizeof(err)) != 0) {
		log_error("%s", err);
		return;
	}
	clean_store(w, &cert);
	if (daemon_deploy(w, &cert, 1, err, sizeof(err)) != 0)
		record_failure(w, &cert, err, -1);
	state_cert_clear(&cert);
}

/*
 * Recovers only the certificates that start_worker found unfinished: a
 * deploy pending or an attempt cut off. Every other certificate's store
 * is cleaned before its next task runs (run_task), so a start reads no
 * more than a handful of rows however many certificates there are.
 */
static void
recover_deploys(struct daemon_worker *w)
{
	size_t i;

	for (i = 0; i < w->unfinished_count && !daemon_stop; i++)
		recover_cert(w, w->unfinished[i]);
	free(w->unfinished);
	w->unfinished = NULL;
	w->unfinished_count = 0;
}

/* Appends a signed checkpoint; a failure is logged, and the loop goes on. */
static void
checkpoint(struct daemon_worker *w)
{
	char err[AUDIT_ERR_MAX];

	if (audit_current() != NULL && audit_checkpoint(audit_current(),
	    audit_signer_sign, &w->signer, err, sizeof(err)) != 0)
		log_error("audit checkpoint failed: %s", err);
	daemon_count_signer_requests(w, "");
}

static int
run_loop(struct daemon_worker *w)
{
	int64_t cert_id, due;
	char err[512];
	int found;

	recover_deploys(w);
	/* Wraps for nodes that a reload added, and wraps that failed. */
	key_export_wrap_all(w);
	log_info("worker ready (state %s/%s)", w->config->broker.state_dir,
	    STATE_FILE_NAME);
	while (!daemon_stop) {
		if (signer_gone(w)) {
			log_error("the signer closed its connection; exiting "
			    "so that the supervisor restarts it");
			return -1;
		}
		if (api_check(w->api) != 0 || daemon_run_jobs(w) != 0)
			return -1;
		found = state_task_next(w->state, &cert_id, &due, err,
		    sizeof(err));
		if (found < 0) {
			log_error("%s", err);
			return -1;
		}
		if (found == 1 && due <= time(NULL))
			run_task(w, cert_id);
		else
			sleep_until(w, found == 1 ? due : 0);
		if (audit_checkpoint_due(audit_current()))
			checkpoint(w);
	}
	checkpoint(w);
	return 0;
}

int
daemon_worker_run(const char *config_path, int signer_fd, int audit_fd)
{
	struct daemon_worker w;
	struct audit_log *audit = NULL;
	char err[CONFIG_ERR_MAX];
	int rc = -1;

	memset(&w, 0, sizeof(w));
	w.signer.fd = signer_fd;
	w.signer.pid = -1;
	w.signer.audit_fd = audit_fd;
	w.signer.audit_active = audit_fd >= 0;
	install_handlers();
	if (config_load(config_path, &w.config, err, sizeof(err)) != 0 ||
	    audit_open(&w.config->audit, &audit, err, sizeof(err)) != 0 ||
	    audit_daemon_start(audit, w.config) != 0 ||
	    policy_load(w.config->policy.file, policy_name_normalize,
	    &w.policy, err, sizeof(err)) != 0 ||
	    start_worker(&w, err, sizeof(err)) != 0) {
		log_error("%s", err);
		goto out;
	}
	rc = run_loop(&w);
	if (rc == 0)
		log_info("worker stopped");
out:
	api_stop(w.api);
	challenge_set_free(&w.challenges);
	challenge_http_free(w.responder);
	state_close(w.state);
	free(w.unfinished);
	policy_free(w.policy);
	if (audit_status(err, sizeof(err)) != 0) {
		log_error("%s", err);
		rc = -1;
	}
	audit_close(audit);
	config_free(w.config);
	close(signer_fd);
	if (w.signer.audit_active)
		close(w.signer.audit_fd);
	return rc == 0 ? 0 : 1;
}
