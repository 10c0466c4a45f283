/*
 * The daemon's worker: binds the challenge listeners, drops privileges
 * and runs each certificate's task when it is due, until SIGTERM. The
 * supervisor started it with the signer's socket as signer_fd.
 */
#include "broker/daemon.h"

#include <errno.h>
#include <malloc.h>
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
#include "broker/http.h"
#include "broker/key_export.h"
#include "broker/names.h"
#include "broker/privdrop.h"
#include "broker/scheduler.h"
#include "broker/versions.h"
#include "logging/log.h"

atomic_int daemon_stop;
atomic_int daemon_wake;
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the signal handlers store "
    "daemon_stop and daemon_wake, which must be lock-free");

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
signer_gone(struct daemon_worker *w)
{
	struct pollfd pfd = { .fd = w->signer.fd, .events = POLLIN };
	int readable;

	/*
	 * The signer never writes unprompted, so the socket is readable
	 * between requests only when it was closed. The lock keeps other
	 * threads' replies out of the check. While a thread holds it, that
	 * thread's request finds a closed connection itself, so the check
	 * waits for the next turn rather than for the lock.
	 */
	if (signer_client_trylock(&w->signer) != 0)
		return 0;
	readable = poll(&pfd, 1, 0) > 0;
	signer_client_unlock(&w->signer);
	return readable;
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
	if (state_task_retry(w->state, cert->id, cert->generation,
	    time(NULL) + delay, failures, error, err, sizeof(err)) != 0)
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
	audit_set_actor(audit_current(), cert.tenant, w->config->broker.user,
	    getuid(), NULL);
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
	if (w->challenges.dns != NULL)
		pthread_mutex_lock(&w->shared->dns_lock);
	result = daemon_issue(w, &cert, &retry_after, err, sizeof(err));
	/* Whatever was published for this run goes now. */
	challenge_withdraw_dns(&w->challenges);
	if (w->challenges.dns != NULL)
		pthread_mutex_unlock(&w->shared->dns_lock);
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

/*
 * Database connections that the order threads share, about 60 KiB each.
 * An order uses the database for a few milliseconds between requests to
 * the CA and the signer that take far longer. With a connection per
 * thread, 64 threads held 4 MiB for what a few connections serve. The
 * writes of all threads wait for one another anyway (write_lock in
 * state_db.c).
 */
#define ORDER_DB_CONNECTIONS 8

/*
 * glibc gives threads up to 8 malloc arenas per core, and each keeps
 * freed memory for its threads. The order threads spend their time
 * waiting for the CA and the signer, so four arenas serve them without
 * contention, and 64 threads peak about 2 MiB lower than with 16.
 */
#define ORDER_MALLOC_ARENAS 4

/* One order thread and the certificate whose task it runs. */
struct order_thread {
	struct order_pool *pool;
	pthread_t thread;
	int started;
	struct daemon_worker w;		/* its own state and signer handle */
	int64_t cert_id;		/* 0 while idle */
};

/*
 * The order threads. The main thread hands a due task to an idle thread
 * and skips the certificates that busy threads work on, so one
 * certificate is never worked on by two threads.
 */
struct order_pool {
	pthread_mutex_t lock;		/* guards everything below */
	pthread_cond_t work;		/* a task was handed out, or stop */
	pthread_cond_t done;		/* a thread finished its task */
	struct order_thread *threads;
	struct state_pool *db;		/* the threads' database connections */
	int count;
	int busy;			/* threads with a task */
	int busy_max;			/* the max busy at once */
	uint64_t finished;	/* tasks finished, for the main thread */
	int stop;
};

static void *
order_thread_main(void *arg)
{
	struct order_thread *t = arg;
	struct order_pool *pool = t->pool;
	int64_t cert_id;

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		while (t->cert_id == 0 && !pool->stop)
			pthread_cond_wait(&pool->work, &pool->lock);
		if (t->cert_id == 0)
			break;
		cert_id = t->cert_id;
		pthread_mutex_unlock(&pool->lock);
		run_task(&t->w, cert_id);
		pthread_mutex_lock(&pool->lock);
		t->cert_id = 0;
		pool->busy--;
		pool->finished++;
		pthread_cond_signal(&pool->done);
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

/*
 * Gives thread t a copy of the worker with a database connection and a
 * signer handle of its own, and the API left to the main thread.
 */
static int
order_thread_init(struct order_thread *t, struct daemon_worker *w,
    char *err, size_t errlen)
{
	t->w = *w;
	t->w.api = NULL;
	t->w.unfinished = NULL;
	t->w.unfinished_count = 0;
	t->w.signer_counted = 0;
	t->w.state = NULL;
	signer_client_share(&w->signer, &t->w.signer);
	return state_open_pooled(t->pool->db, &t->w.state, err, errlen);
}

/* Stops and joins the threads, which finish or park their tasks first. */
static void
pool_stop(struct order_pool *pool)
{
	int i;

	pthread_mutex_lock(&pool->lock);
	pool->stop = 1;
	pthread_cond_broadcast(&pool->work);
	pthread_mutex_unlock(&pool->lock);
	for (i = 0; i < pool->count; i++) {
		if (pool->threads[i].started)
			pthread_join(pool->threads[i].thread, NULL);
		state_close(pool->threads[i].w.state);
	}
	free(pool->threads);
	pool->threads = NULL;
	state_pool_close(pool->db);
	pool->db = NULL;
	pthread_cond_destroy(&pool->work);
	pthread_cond_destroy(&pool->done);
	pthread_mutex_destroy(&pool->lock);
}

static int
pool_start(struct order_pool *pool, struct daemon_worker *w, char *err,
    size_t errlen)
{
	char *path;
	int i, rc;

	memset(pool, 0, sizeof(*pool));
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->work, NULL);
	pthread_cond_init(&pool->done, NULL);
	pool->count = w->config->daemon.concurrency;
	pool->threads = calloc((size_t)pool->count, sizeof(*pool->threads));
	if (pool->threads == NULL) {
		pool->count = 0;
		return snprintf(err, errlen, "out of memory"), -1;
	}
	mallopt(M_ARENA_MAX, ORDER_MALLOC_ARENAS);
	path = daemon_state_path(w->config);
	if (path == NULL)
		return snprintf(err, errlen, "out of memory"), -1;
	rc = state_pool_open(path, pool->count < ORDER_DB_CONNECTIONS ?
	    pool->count : ORDER_DB_CONNECTIONS, &pool->db, err, errlen);
	free(path);
	if (rc != 0)
		return -1;
	for (i = 0; i < pool->count; i++) {
		pool->threads[i].pool = pool;
		if (order_thread_init(&pool->threads[i], w, err, errlen) != 0)
			return -1;
		if (pthread_create(&pool->threads[i].thread, NULL,
		    order_thread_main, &pool->threads[i]) != 0)
			return snprintf(err, errlen, "cannot start order "
			    "thread %d of %d (lower daemon concurrency)",
			    i + 1, pool->count), -1;
		pool->threads[i].started = 1;
	}
	return 0;
}

/*
 * Copies the certificates that busy threads work on into skip, which
 * has room for every thread, and returns their count. Sets *idle to 1
 * when some thread is idle, 0 otherwise.
 */
static size_t
pool_busy_list(struct order_pool *pool, int64_t *skip, int *idle)
{
	size_t n = 0;

	pthread_mutex_lock(&pool->lock);
	for (int i = 0; i < pool->count; i++)
		if (pool->threads[i].cert_id != 0)
			skip[n++] = pool->threads[i].cert_id;
	*idle = pool->busy < pool->count;
	pthread_mutex_unlock(&pool->lock);
	return n;
}

/* Hands the task of cert_id to an idle thread. */
static void
pool_dispatch(struct order_pool *pool, int64_t cert_id)
{
	int i, busy_max = 0;

	pthread_mutex_lock(&pool->lock);
	for (i = 0; i < pool->count; i++) {
		if (pool->threads[i].cert_id == 0) {
			pool->threads[i].cert_id = cert_id;
			break;
		}
	}
	pool->busy++;
	if (pool->busy > pool->busy_max)
		busy_max = pool->busy_max = pool->busy;
	pthread_cond_broadcast(&pool->work);
	pthread_mutex_unlock(&pool->lock);
	if (busy_max > 1)
		log_info("%d orders in flight, a new maximum", busy_max);
}

/*
 * Sleeps until due, a wake-up signal, a stop, poll-interval, or a thread
 * finishing its task, which may free a thread for a task already due.
 */
static void
pool_wait(struct order_pool *pool, const struct daemon_worker *w,
    int64_t due)
{
	int64_t now = time(NULL), limit = now + w->config->daemon.poll_interval;
	uint64_t finished;
	struct timespec until;

	if (due <= 0 || due > limit)
		due = limit;
	pthread_mutex_lock(&pool->lock);
	finished = pool->finished;
	while (!daemon_stop && !daemon_wake && pool->finished == finished &&
	    time(NULL) < due) {
		/* A tick, because a signal does not end a condition wait. */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 200 * 1000 * 1000;
		if (until.tv_nsec >= 1000 * 1000 * 1000) {
			until.tv_sec++;
			until.tv_nsec -= 1000 * 1000 * 1000;
		}
		pthread_cond_timedwait(&pool->done, &pool->lock, &until);
	}
	pthread_mutex_unlock(&pool->lock);
	daemon_wake = 0;
}

/*
 * Runs API jobs and hands due tasks to the order threads until a stop.
 * The main thread keeps the API, the jobs and the audit checkpoints.
 */
static int
run_loop(struct daemon_worker *w, struct order_pool *pool)
{
	int64_t cert_id, due, *skip;
	char err[512];
	int found, idle, rc = 0;
	size_t skip_count;

	skip = calloc((size_t)pool->count, sizeof(*skip));
	if (skip == NULL) {
		log_error("out of memory");
		return -1;
	}
	/* Wraps for nodes that a reload added, and wraps that failed. */
	key_export_wrap_all(w);
	log_info("worker ready (state %s/%s, %d order threads)",
	    w->config->broker.state_dir, STATE_FILE_NAME, pool->count);
	while (!daemon_stop) {
		if (signer_gone(w)) {
			log_error("the signer closed its connection; exiting "
			    "so that the supervisor restarts it");
			rc = -1;
			break;
		}
		if (api_check(w->api) != 0 || daemon_run_jobs(w) != 0) {
			rc = -1;
			break;
		}
		skip_count = pool_busy_list(pool, skip, &idle);
		found = idle ? state_task_next_skip(w->state, skip, skip_count,
		    &cert_id, &due, err, sizeof(err)) : 0;
		if (found < 0) {
			log_error("%s", err);
			rc = -1;
			break;
		}
		if (found == 1 && due <= time(NULL))
			pool_dispatch(pool, cert_id);
		else
			pool_wait(pool, w, found == 1 ? due : 0);
		if (audit_checkpoint_due(audit_current()))
			checkpoint(w);
	}
	free(skip);
	return rc;
}

/*
 * Starts the order threads after the recovery of unfinished deploys,
 * runs the loop, and stops the threads, parking their orders, before
 * the last checkpoint.
 */
static int
run_worker(struct daemon_worker *w)
{
	struct order_pool pool;
	char err[512];
	int rc;

	recover_deploys(w);
	/* pool_stop() reads the pool, so it runs only after pool_start(). */
	if (http_share_init(w->config->daemon.connections, err,
	    sizeof(err)) != 0) {
		log_error("%s", err);
		return -1;
	}
	if (pool_start(&pool, w, err, sizeof(err)) != 0) {
		log_error("%s", err);
		daemon_stop = 1;
		pool_stop(&pool);
		return -1;
	}
	rc = run_loop(w, &pool);
	/* The threads park at their next step once daemon_stop is set. */
	daemon_stop = 1;
	pool_stop(&pool);
	if (rc == 0)
		checkpoint(w);
	return rc;
}

static void
shared_init(struct daemon_shared *shared)
{
	memset(shared, 0, sizeof(*shared));
	pthread_mutex_init(&shared->signer_lock, NULL);
	pthread_mutex_init(&shared->account_lock, NULL);
	pthread_mutex_init(&shared->dns_lock, NULL);
	pthread_mutex_init(&shared->webroot_lock, NULL);
	pthread_mutex_init(&shared->usage_lock, NULL);
}

static void
shared_clear(struct daemon_shared *shared)
{
	for (size_t i = 0; i < shared->webroot_cleaned_count; i++)
		free(shared->webroot_cleaned[i]);
	free(shared->webroot_cleaned);
	for (size_t i = 0; i < shared->account_count; i++)
		daemon_account_clear(&shared->accounts[i]);
	free(shared->accounts);
	for (size_t i = 0; i < shared->reservation_count; i++)
		free(shared->reservations[i].tenant);
	free(shared->reservations);
	store_usage_cache_free(shared->usage_cache);
	pthread_mutex_destroy(&shared->usage_lock);
	pthread_mutex_destroy(&shared->signer_lock);
	pthread_mutex_destroy(&shared->account_lock);
	pthread_mutex_destroy(&shared->dns_lock);
	pthread_mutex_destroy(&shared->webroot_lock);
}

int
daemon_worker_run(const char *config_path, int signer_fd, int audit_fd)
{
	struct daemon_worker w;
	struct daemon_shared shared;
	struct audit_log *audit = NULL;
	char err[CONFIG_ERR_MAX];
	int rc = -1;

	memset(&w, 0, sizeof(w));
	shared_init(&shared);
	w.shared = &shared;
	w.signer.lock = &shared.signer_lock;
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
	rc = run_worker(&w);
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
	http_share_cleanup();
	shared_clear(&shared);
	close(signer_fd);
	if (w.signer.audit_active)
		close(w.signer.audit_fd);
	return rc == 0 ? 0 : 1;
}
