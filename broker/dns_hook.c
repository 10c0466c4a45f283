#include "broker/dns_hook.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "logging/log.h"

#define HOOK_PATH "PATH=/usr/local/bin:/usr/bin:/bin"

static int
printable(const char *text)
{
	for (const unsigned char *p = (const unsigned char *)text; *p != '\0';
	    p++)
		if (*p < 0x20 || *p > 0x7e)
			return 0;
	return 1;
}

static int
set_env(struct dns_hook_command *cmd, size_t index, const char *key,
    const char *value)
{
	int n;

	n = snprintf(cmd->env[index], sizeof(cmd->env[index]), "%s=%s", key,
	    value);
	if (n < 0 || (size_t)n >= sizeof(cmd->env[index]))
		return -1;
	cmd->envp[index] = cmd->env[index];
	return 0;
}

int
dns_hook_build(const struct config_dns_zone *zone,
    const struct dns_hook_request *req, struct dns_hook_command *cmd,
    char *err, size_t errlen)
{
	const char *tenant = req->tenant != NULL ? req->tenant : "";
	char ttl[16];

	memset(cmd, 0, sizeof(*cmd));
	if (!printable(req->name) || !printable(req->record) ||
	    !printable(req->value) || !printable(tenant)) {
		snprintf(err, errlen, "DNS hook values for %s contain bytes "
		    "outside printable ASCII", req->record);
		return -1;
	}
	cmd->argv[0] = zone->hook;
	cmd->argv[1] = (char *)req->action;
	cmd->argv[2] = (char *)req->name;
	cmd->argv[3] = (char *)req->record;
	cmd->argv[4] = (char *)req->value;
	cmd->argv[5] = (char *)tenant;
	snprintf(ttl, sizeof(ttl), "%d", zone->ttl);
	if (set_env(cmd, 0, "CUSTOS_DNS_ACTION", req->action) != 0 ||
	    set_env(cmd, 1, "CUSTOS_DNS_NAME", req->name) != 0 ||
	    set_env(cmd, 2, "CUSTOS_DNS_RECORD", req->record) != 0 ||
	    set_env(cmd, 3, "CUSTOS_DNS_VALUE", req->value) != 0 ||
	    set_env(cmd, 4, "CUSTOS_TENANT", tenant) != 0 ||
	    set_env(cmd, 5, "CUSTOS_DNS_ZONE", zone->name) != 0 ||
	    set_env(cmd, 6, "CUSTOS_DNS_TTL", ttl) != 0) {
		snprintf(err, errlen, "DNS hook values for %s are longer "
		    "than %d bytes", req->record, DNS_HOOK_ENV_MAX);
		return -1;
	}
	cmd->envp[7] = HOOK_PATH;
	return 0;
}

static void
run_child(const struct dns_hook_command *cmd, int out_fd)
{
	static const char failed[] = "cannot execute the DNS hook\n";
	int null_fd;

	setpgid(0, 0);
	null_fd = open("/dev/null", O_RDONLY);
	if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 ||
	    dup2(out_fd, STDOUT_FILENO) < 0 ||
	    dup2(out_fd, STDERR_FILENO) < 0)
		_exit(126);
	close_range(3, ~0U, 0);
	execve(cmd->argv[0], cmd->argv, cmd->envp);
	if (write(STDERR_FILENO, failed, sizeof(failed) - 1) < 0)
		_exit(127);
	_exit(127);
}

/*
 * Reads the child's output until it closes the pipe or the deadline
 * passes. Keeps the first size - 1 bytes. Returns 1 on timeout.
 */
static int
collect_output(int fd, time_t deadline, char *buf, size_t size,
    size_t *len, int *cut)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char chunk[512];
	ssize_t n;
	time_t now;

	*len = 0;
	*cut = 0;
	buf[0] = '\0';
	for (;;) {
		now = time(NULL);
		if (now >= deadline)
			return 1;
		if (poll(&pfd, 1, (int)(deadline - now) * 1000) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		for (ssize_t i = 0; i < n; i++) {
			if (*len + 1 < size)
				buf[(*len)++] = chunk[i];
			else
				*cut = 1;
		}
		buf[*len] = '\0';
	}
}

/* Logs each line of output, with control bytes replaced by '?'. */
static void
log_output(const struct dns_hook_request *req, char *output, int cut)
{
	char *line, *save = NULL;

	for (char *p = output; *p != '\0'; p++)
		if ((*p < 0x20 && *p != '\n') || *p == 0x7f)
			*p = '?';
	for (line = strtok_r(output, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save))
		log_info("dns hook %s %s: %s", req->action, req->record, line);
	if (cut)
		log_info("dns hook %s %s: output cut at %d bytes",
		    req->action, req->record, DNS_HOOK_OUTPUT_MAX);
}

static void
describe_status(const struct config_dns_zone *zone,
    const struct dns_hook_request *req, int status, int timed_out,
    char *err, size_t errlen)
{
	if (timed_out)
		snprintf(err, errlen, "DNS hook %s %s %s timed out after %ds "
		    "and was killed (fix the hook or raise hook-timeout of "
		    "dns-zone %s)", zone->hook, req->action, req->record,
		    zone->hook_timeout, zone->name);
	else if (WIFEXITED(status))
		snprintf(err, errlen, "DNS hook %s %s %s exited with status "
		    "%d (see its output above)", zone->hook, req->action,
		    req->record, WEXITSTATUS(status));
	else
		snprintf(err, errlen, "DNS hook %s %s %s was killed by "
		    "signal %d", zone->hook, req->action, req->record,
		    WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

int
dns_hook_run(const struct config_dns_zone *zone,
    const struct dns_hook_request *req, char *err, size_t errlen)
{
	struct dns_hook_command cmd;
	char output[DNS_HOOK_OUTPUT_MAX + 1];
	int fds[2], status = 0, timed_out, cut;
	size_t len;
	pid_t pid;

	if (geteuid() == 0 || getuid() == 0) {
		snprintf(err, errlen, "refusing to run DNS hook %s as root "
		    "(set broker user to an unprivileged user)", zone->hook);
		return -1;
	}
	if (dns_hook_build(zone, req, &cmd, err, errlen) != 0)
		return -1;
	if (pipe2(fds, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "cannot run DNS hook %s: %s",
		    zone->hook, strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "cannot run DNS hook %s: %s",
		    zone->hook, strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0)
		run_child(&cmd, fds[1]);
	close(fds[1]);
	timed_out = collect_output(fds[0], time(NULL) + zone->hook_timeout,
	    output, sizeof(output), &len, &cut);
	close(fds[0]);
	if (timed_out) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	log_output(req, output, cut);
	if (!timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	describe_status(zone, req, status, timed_out, err, errlen);
	return -1;
}
