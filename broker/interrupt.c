#include "broker/interrupt.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "broker/challenge_http.h"

/* How long the handler waits for the signer to exit, in 10 ms steps. */
#define SIGNER_WAIT_STEPS 300

static const struct signer_client *volatile watched_signer;

/*
 * Closes the signer's socket, which the signer reads as the end of the
 * session, and waits up to 3 s for it to exit. SIGTERM helps only while
 * the broker still runs as root: after privdrop the two processes have
 * different users and kill(2) fails with EPERM.
 */
static void
stop_signer(const struct signer_client *signer)
{
	struct timespec step = { 0, 10 * 1000 * 1000 };
	pid_t pid = signer->pid;

	if (signer->fd >= 0)
		close(signer->fd);
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < SIGNER_WAIT_STEPS; i++) {
		if (waitpid(pid, NULL, WNOHANG) != 0)
			return;
		nanosleep(&step, NULL);
	}
}

/*
 * Calls only async-signal-safe functions (unlink, close, kill, waitpid,
 * nanosleep and _exit).
 */
static void
on_interrupt(int sig)
{
	const struct signer_client *signer = watched_signer;

	challenge_webroot_remove_all();
	if (signer != NULL)
		stop_signer(signer);
	_exit(128 + sig);
}

void
interrupt_install(void)
{
	static const int signals[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa, old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_interrupt;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		sigaddset(&sa.sa_mask, signals[i]);
	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
		if (sigaction(signals[i], NULL, &old) == 0 &&
		    old.sa_handler == SIG_IGN)
			continue;
		sigaction(signals[i], &sa, NULL);
	}
}

void
interrupt_watch_signer(const struct signer_client *signer)
{
	watched_signer = signer;
}
