/*
 * The daemon's supervisor. It keeps root so that it can start the signer
 * again, and otherwise only reads the configuration: it parses nothing
 * from the network. Each generation is one signer and one worker joined
 * by a socket pair; when either dies, the other is stopped and both start
 * again after a backoff delay. SIGTERM stops the worker, which parks its
 * current step, and then the signer; SIGHUP validates the configuration
 * and, when it is valid, restarts the worker with it.
 */
#include "broker/daemon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "broker/api.h"
#include "broker/run_lock.h"
#include "broker/scheduler.h"
#include "logging/log.h"

/* A generation that ran this long resets the restart backoff. */
#define SUPERVISE_STABLE_SECONDS 60
/* How long the worker may take to park its step after SIGTERM. */
#define SUPERVISE_STOP_SECONDS 60

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;
static volatile sig_atomic_t wake_requested;

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		reload_requested = 1;
	else if (sig == SIGUSR1)
		wake_requested = 1;
	else
		stop_requested = 1;
}

static void
install_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
}

struct generation {
	pid_t signer;
	pid_t worker;
	int worker_status;
};

static int
start_generation(struct custos_config *config, struct generation *g)
{
	struct signer_client signer = { .fd = -1, .pid = -1 };
	char err[512], *program = config->signer.program;
	int rc;

	if (program == NULL)
		program = signer_default_program(err, sizeof(err));
	if (program == NULL) {
		log_error("%s", err);
		return -1;
	}
	rc = signer_spawn(program, config->path, &signer, err, sizeof(err));
	if (program != config->signer.program)
		free(program);
	if (rc != 0) {
		log_error("%s", err);
		return -1;
	}
	g->signer = signer.pid;
	g->worker = fork();
	if (g->worker == 0) {
		signal(SIGHUP, SIG_IGN);
		_exit(daemon_worker_run(config->path, signer.fd,
		    signer.audit_fd));
	}
	close(signer.fd);
	close(signer.audit_fd);
	if (g->worker < 0) {
		log_error("fork for the worker failed: %s", strerror(errno));
		kill(g->signer, SIGTERM);
		waitpid(g->signer, NULL, 0);
		return -1;
	}
	log_info("started signer (pid %ld) and worker (pid %ld)",
	    (long)g->signer, (long)g->worker);
	return 0;
}

/* Validates the file again; on success replaces *config. */
static int
reload(struct custos_config **config)
{
	struct custos_config *fresh;
	char err[CONFIG_ERR_MAX];

	if (config_load((*config)->path, &fresh, err, sizeof(err)) != 0) {
		log_error("reload rejected, keeping the running "
		    "configuration: %s", err);
		return -1;
	}
	if (api_tls_check(&fresh->api, err, sizeof(err)) != 0 ||
	    api_listen_check(&(*config)->api, &fresh->api, err,
	    sizeof(err)) != 0) {
		log_error("reload rejected, keeping the running "
		    "configuration: %s", err);
		config_free(fresh);
		return -1;
	}
	config_free(*config);
	*config = fresh;
	log_info("reloaded %s; restarting the worker", fresh->path);
	return 0;
}

static void
describe(const char *who, pid_t pid, int status)
{
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		log_info("%s (pid %ld) exited", who, (long)pid);
	else if (WIFEXITED(status))
		log_warn("%s (pid %ld) exited with status %d", who, (long)pid,
		    WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		log_warn("%s (pid %ld) was killed by signal %d", who,
		    (long)pid, WTERMSIG(status));
}

/* Reaps children without blocking; marks the ones that ended. */
static void
reap(struct generation *g)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == g->worker) {
			describe("worker", pid, status);
			g->worker_status = status;
			g->worker = -1;
		} else if (pid == g->signer) {
			describe("signer", pid, status);
			g->signer = -1;
		}
	}
}

/* Signals the worker, then waits for both with a deadline. */
static void
stop_generation(struct generation *g)
{
	struct timespec tick = { 0, 100 * 1000 * 1000 };
	time_t deadline = time(NULL) + SUPERVISE_STOP_SECONDS;

	if (g->worker > 0)
		kill(g->worker, SIGTERM);
	while ((g->worker > 0 || g->signer > 0) && time(NULL) < deadline) {
		nanosleep(&tick, NULL);
		reap(g);
	}
	if (g->worker > 0)
		kill(g->worker, SIGKILL);
	if (g->signer > 0)
		kill(g->signer, SIGKILL);
	while (g->worker > 0 || g->signer > 0) {
		if (waitpid(-1, NULL, 0) < 0 && errno == ECHILD)
			break;
		reap(g);
	}
}

/* Watches one generation; returns 1 when a reload asked for a restart. */
static int
watch_generation(struct custos_config **config, struct generation *g)
{
	struct timespec tick = { 0, 100 * 1000 * 1000 };

	while (!stop_requested) {
		nanosleep(&tick, NULL);
		reap(g);
		if (wake_requested && g->worker > 0) {
			wake_requested = 0;
			kill(g->worker, SIGUSR1);
		}
		if (reload_requested) {
			reload_requested = 0;
			if (reload(config) == 0) {
				stop_generation(g);
				return 1;
			}
		}
		if (g->worker < 0 || g->signer < 0)
			break;
	}
	stop_generation(g);
	return 0;
}

static void
backoff(const struct custos_config *config, int failures)
{
	struct timespec tick = { 0, 100 * 1000 * 1000 };
	int64_t delay = sched_restart_delay(&config->daemon, failures);
	time_t until = time(NULL) + delay;

	log_warn("restarting the signer and the worker in %lld s (failure "
	    "%d)", (long long)delay, failures);
	while (!stop_requested && time(NULL) < until)
		nanosleep(&tick, NULL);
}

int
supervise_run(const char *config_path)
{
	struct custos_config *config;
	struct generation g;
	char err[CONFIG_ERR_MAX];
	int failures = 0, restart, clean = 0, lock_fd;
	time_t started;

	if (config_load(config_path, &config, err, sizeof(err)) != 0) {
		log_error("%s", err);
		return 1;
	}
	lock_fd = run_lock_acquire(config->broker.state_dir, RUN_LOCK_DAEMON,
	    err, sizeof(err));
	if (lock_fd < 0) {
		log_error("%s", err);
		config_free(config);
		return 1;
	}
	install_handlers();
	log_info("daemon starting with %s", config->path);
	while (!stop_requested) {
		memset(&g, 0, sizeof(g));
		started = time(NULL);
		if (start_generation(config, &g) != 0) {
			backoff(config, ++failures);
			continue;
		}
		restart = watch_generation(&config, &g);
		clean = WIFEXITED(g.worker_status) &&
		    WEXITSTATUS(g.worker_status) == 0;
		if (stop_requested || restart)
			continue;
		failures = time(NULL) - started >= SUPERVISE_STABLE_SECONDS ?
		    1 : failures + 1;
		backoff(config, failures);
	}
	log_info("daemon stopped");
	config_free(config);
	close(lock_fd);
	return clean ? 0 : 1;
}
