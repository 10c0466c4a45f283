/*
 * Measures JWS signatures per second through the broker-to-signer path.
 * It starts custos-signer on a socketpair as the broker does and
 * generates one account key. Then it sends jws-sign requests one after
 * another, each waiting for its reply. They are POST-as-GET requests
 * with a kid, the commonest ACME request.
 *
 *	signer_rate SIGNER CONFIG TENANT ORIGIN KEY-TYPE COUNT
 *
 * ORIGIN is the origin of the configuration's issuer "pebble", such as
 * https://127.0.0.1:14000. KEY-TYPE is ec-p256 or rsa-2048. Prints one
 * line of NAME=VALUE words: key_id, count, seconds (wall time of the
 * loop), per_second, signer_cpu_s (the signer's user and system time in
 * the loop) and client_cpu_s. Exit status 0, or 1 with a message.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ipc/ipc.h"

/* Requests sent before the clock starts, so the token's caches are warm. */
#define WARMUP_COUNT 20

struct bench {
	int fd;
	pid_t pid;
	const char *tenant;
	const char *origin;
	char key_id[IPC_KEY_ID_LEN + 1];
};

static pid_t
start_signer(const char *signer, const char *config, int *fd)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		if (dup2(sv[1], 3) != 3)
			_exit(127);
		execl(signer, signer, "--config", config, "--fd", "3",
		    (char *)NULL);
		fprintf(stderr, "signer_rate: exec %s: %s\n", signer,
		    strerror(errno));
		_exit(127);
	}
	close(sv[1]);
	*fd = sv[0];
	return pid;
}

/* Sends one request and reads its result object into *out. */
static int
call(struct bench *b, uint16_t type, json_t *request, json_t **out)
{
	struct ipc_frame frame;
	int rc;

	*out = NULL;
	rc = ipc_write_json(b->fd, type, request);
	if (rc == 0)
		rc = ipc_read_frame(b->fd, &frame);
	if (rc != 0) {
		fprintf(stderr, "signer_rate: %s request failed: %s\n",
		    ipc_type_name(type), ipc_strerror(rc));
		return -1;
	}
	if (frame.type != IPC_RESULT || ipc_parse_object(&frame, out) != 0) {
		fprintf(stderr, "signer_rate: %s request: %s %s\n",
		    ipc_type_name(type), ipc_type_name(frame.type),
		    frame.payload != NULL ? (char *)frame.payload : "");
		rc = -1;
	}
	ipc_frame_clear(&frame);
	return rc;
}

static int
generate_key(struct bench *b, const char *key_type)
{
	json_t *request, *result = NULL;
	const char *key_id;
	int rc = -1;

	request = json_pack("{s:s, s:s, s:s, s:s}", "purpose", "account",
	    "tenant", b->tenant, "issuer", "pebble", "type", key_type);
	if (request == NULL || call(b, IPC_KEY_GENERATE, request,
	    &result) != 0)
		goto out;
	key_id = json_string_value(json_object_get(result, "key_id"));
	if (key_id == NULL || strlen(key_id) != IPC_KEY_ID_LEN) {
		fprintf(stderr, "signer_rate: key-generate returned no "
		    "key_id\n");
		goto out;
	}
	memcpy(b->key_id, key_id, IPC_KEY_ID_LEN + 1);
	rc = 0;
out:
	json_decref(request);
	json_decref(result);
	return rc;
}

static int
sign_once(struct bench *b, long n)
{
	char url[512], nonce[32];
	json_t *request, *result = NULL;
	int rc;

	snprintf(url, sizeof(url), "%s/my-account/1", b->origin);
	snprintf(nonce, sizeof(nonce), "nonce-%ld", n);
	request = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "key_id",
	    b->key_id, "tenant", b->tenant, "url", url, "nonce", nonce,
	    "kid", url, "payload", "");
	if (request == NULL)
		return -1;
	rc = call(b, IPC_JWS_SIGN, request, &result);
	if (rc == 0 && json_object_get(result, "signature") == NULL)
		rc = -1;
	json_decref(request);
	json_decref(result);
	return rc;
}

/* Returns the user and system CPU seconds of pid from /proc/PID/stat. */
static double
process_cpu_seconds(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long utime, stime;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields 14 and 15 follow the command name, which may hold spaces. */
	p = strrchr(buf, ')');
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u "
	    "%*u %*u %lu %lu", &utime, &stime) != 2)
		return -1;
	return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static double
self_cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
run(struct bench *b, const char *key_type, long count)
{
	double start, signer_start, self_start, seconds;
	long i;

	if (generate_key(b, key_type) != 0)
		return -1;
	for (i = 0; i < WARMUP_COUNT; i++)
		if (sign_once(b, i) != 0)
			return -1;
	signer_start = process_cpu_seconds(b->pid);
	self_start = self_cpu_seconds();
	start = now_seconds();
	for (i = 0; i < count; i++)
		if (sign_once(b, WARMUP_COUNT + i) != 0)
			return -1;
	seconds = now_seconds() - start;
	printf("key_id=%s count=%ld seconds=%.3f per_second=%.0f "
	    "signer_cpu_s=%.3f client_cpu_s=%.3f\n", b->key_id, count,
	    seconds, (double)count / seconds,
	    process_cpu_seconds(b->pid) - signer_start,
	    self_cpu_seconds() - self_start);
	return 0;
}

int
main(int argc, char **argv)
{
	struct bench b = { .fd = -1 };
	char *end;
	long count;
	int status, rc;

	if (argc != 7) {
		fprintf(stderr, "usage: signer_rate SIGNER CONFIG TENANT "
		    "ORIGIN KEY-TYPE COUNT\n");
		return 2;
	}
	count = strtol(argv[6], &end, 10);
	if (*end != '\0' || count < 1) {
		fprintf(stderr, "signer_rate: invalid COUNT \"%s\"; use a "
		    "positive number\n", argv[6]);
		return 2;
	}
	b.tenant = argv[3];
	b.origin = argv[4];
	signal(SIGPIPE, SIG_IGN);
	b.pid = start_signer(argv[1], argv[2], &b.fd);
	if (b.pid < 0) {
		perror("signer_rate: starting the signer");
		return 1;
	}
	rc = run(&b, argv[5], count);
	close(b.fd);
	if (waitpid(b.pid, &status, 0) != b.pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		fprintf(stderr, "signer_rate: the signer did not exit 0\n");
		rc = -1;
	}
	return rc == 0 ? 0 : 1;
}
