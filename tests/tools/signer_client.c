/*
 * A stand-in broker for tests: starts custos-signer on one end of a
 * socketpair, runs a list of steps against it and prints one line per
 * reply, then the signer's exit status or signal.
 *
 *	signer_client [--debug] SIGNER CONFIG STEP ...
 *
 * Steps:
 *	request TYPE JSON	send JSON text as it is, print the reply
 *	raw HEX			send bytes, print the reply
 *	truncated-header	send 5 header bytes, then end of file
 *	truncated-payload	send a header for 100 bytes and 10 of them,
 *				then end of file
 *	oversized [LENGTH]	send a header with LENGTH (default 2^32-1)
 *	flags			send a header with flags 1
 *	status			print the Seccomp, NoNewPrivs and Uid
 *				lines of the signer's /proc/PID/status
 *	limits			print the open files, core file size and
 *				processes lines of /proc/PID/limits
 *	keep NAME MEMBER	store string MEMBER of the last result as
 *				NAME; later JSON text has each @NAME@
 *				replaced by it
 *	shell COMMAND		run COMMAND, with each @NAME@ replaced, with
 *				/bin/sh while the signer waits; prints
 *				"failed: shell status N" unless it exits 0
 *
 * TYPE is a name (key-generate, key-public, jws-sign, csr-build,
 * key-wrap, key-destroy, test-forbidden-syscall, test-open-file,
 * test-environment) or a number.
 * Replies print as "result JSON", "error JSON", "eof" or "failed:
 * REASON". The last line is "exit N" or "signal N". The client gives up
 * after 120 seconds, or after SIGNER_CLIENT_TIMEOUT seconds when that
 * environment variable is set.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc/ipc.h"

#define VARS_MAX 32

/* Values kept from results, for "@NAME@" in later requests. */
static struct {
	char *name;
	char *value;
} vars[VARS_MAX];
static size_t var_count;
static json_t *last_result;

static const uint16_t known_types[] = {
	IPC_KEY_GENERATE, IPC_KEY_PUBLIC, IPC_JWS_SIGN, IPC_CSR_BUILD,
	IPC_KEY_WRAP, IPC_KEY_DESTROY, IPC_RESULT, IPC_ERROR,
	IPC_TEST_FORBIDDEN_SYSCALL, IPC_TEST_OPEN_FILE, IPC_TEST_ENVIRONMENT,
};

static int
parse_type(const char *text, uint16_t *type)
{
	char *end;
	unsigned long n;
	size_t i;

	for (i = 0; i < sizeof(known_types) / sizeof(known_types[0]); i++) {
		if (strcmp(text, ipc_type_name(known_types[i])) == 0) {
			*type = known_types[i];
			return 0;
		}
	}
	n = strtoul(text, &end, 0);
	if (*end != '\0' || end == text || n > 0xffff)
		return -1;
	*type = (uint16_t)n;
	return 0;
}

static pid_t
start_signer(const char *signer, const char *config, int debug, int *fd)
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
		    debug ? "--debug" : NULL, (char *)NULL);
		fprintf(stderr, "signer_client: exec %s: %s\n", signer,
		    strerror(errno));
		_exit(127);
	}
	close(sv[1]);
	*fd = sv[0];
	return pid;
}

static void
print_reply(int fd)
{
	struct ipc_frame frame;
	int rc = ipc_read_frame(fd, &frame);

	if (rc == -IPC_EOF)
		printf("eof\n");
	else if (rc != 0)
		printf("failed: %s\n", ipc_strerror(rc));
	else if (frame.type == IPC_RESULT || frame.type == IPC_ERROR)
		printf("%s %s\n", ipc_type_name(frame.type),
		    (const char *)frame.payload);
	else
		printf("failed: reply of type %u\n", frame.type);
	fflush(stdout);
	json_decref(last_result);
	last_result = NULL;
	if (rc == 0 && frame.type == IPC_RESULT)
		ipc_parse_object(&frame, &last_result);
	ipc_frame_clear(&frame);
}

/* Stores string member of the last result as variable name. */
static int
keep_member(const char *name, const char *member)
{
	const char *value = json_string_value(json_object_get(last_result,
	    member));

	if (value == NULL || var_count == VARS_MAX) {
		printf("failed: no string \"%s\" in the last result\n",
		    member);
		return 0;
	}
	vars[var_count].name = strdup(name);
	vars[var_count].value = strdup(value);
	if (vars[var_count].name == NULL || vars[var_count].value == NULL)
		return -1;
	var_count++;
	return 0;
}

/* Returns text with every @NAME@ replaced by its value; NULL on error. */
static char *
expand_vars(const char *text)
{
	size_t len = strlen(text) + 1, i, pos = 0, name_len;
	char *out = malloc(len), *grown;
	const char *end;

	while (out != NULL && *text != '\0') {
		end = *text == '@' ? strchr(text + 1, '@') : NULL;
		for (i = 0; end != NULL && i < var_count; i++) {
			name_len = (size_t)(end - text - 1);
			if (strlen(vars[i].name) == name_len &&
			    strncmp(vars[i].name, text + 1, name_len) == 0)
				break;
		}
		if (end == NULL || i == var_count) {
			out[pos++] = *text++;
			continue;
		}
		len += strlen(vars[i].value);
		grown = realloc(out, len);
		if (grown == NULL) {
			free(out);
			return NULL;
		}
		out = grown;
		memcpy(out + pos, vars[i].value, strlen(vars[i].value));
		pos += strlen(vars[i].value);
		text = end + 1;
	}
	if (out != NULL)
		out[pos] = '\0';
	return out;
}

static int
send_bytes(int fd, const unsigned char *buf, size_t len, int then_eof)
{
	if (write(fd, buf, len) != (ssize_t)len)
		return -1;
	if (then_eof)
		shutdown(fd, SHUT_WR);
	return 0;
}

static int
send_hex(int fd, const char *hex)
{
	unsigned char buf[4096];
	size_t len = strlen(hex) / 2, i;

	if (strlen(hex) % 2 != 0 || len > sizeof(buf))
		return -1;
	for (i = 0; i < len; i++) {
		unsigned int byte;

		if (sscanf(hex + 2 * i, "%2x", &byte) != 1)
			return -1;
		buf[i] = (unsigned char)byte;
	}
	return send_bytes(fd, buf, len, 0);
}

/* Prints the lines of /proc/PID/FILE that start with one of prefixes. */
static void
print_proc_lines(pid_t pid, const char *file, const char *const *prefixes)
{
	char path[64], line[256];
	size_t i;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	f = fopen(path, "r");
	if (f == NULL) {
		printf("failed: %s: %s\n", path, strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		for (i = 0; prefixes[i] != NULL; i++)
			if (strncmp(line, prefixes[i],
			    strlen(prefixes[i])) == 0)
				fputs(line, stdout);
	}
	fclose(f);
	fflush(stdout);
}

static const char *const status_lines[] = {
	"Seccomp:", "NoNewPrivs:", "Uid:", NULL,
};
static const char *const limit_lines[] = {
	"Max open files", "Max core file size", "Max processes", NULL,
};

/* Runs the step at argv[0]; returns the number of arguments used, or -1. */
static int
run_step(int fd, pid_t pid, int argc, char **argv)
{
	unsigned char header[IPC_HEADER_SIZE];
	uint16_t type;

	if (strcmp(argv[0], "request") == 0 && argc >= 3) {
		char *text = expand_vars(argv[2]);

		if (text == NULL || parse_type(argv[1], &type) != 0 ||
		    ipc_write_frame(fd, type, text, strlen(text)) != 0) {
			free(text);
			return -1;
		}
		free(text);
		print_reply(fd);
		return 3;
	}
	if (strcmp(argv[0], "keep") == 0 && argc >= 3)
		return keep_member(argv[1], argv[2]) == 0 ? 3 : -1;
	if (strcmp(argv[0], "shell") == 0 && argc >= 2) {
		char *command = expand_vars(argv[1]);
		int status;

		if (command == NULL)
			return -1;
		fflush(stdout);
		status = system(command);
		free(command);
		if (status != 0)
			printf("failed: shell status %d\n", status);
		return 2;
	}
	if (strcmp(argv[0], "raw") == 0 && argc >= 2) {
		if (send_hex(fd, argv[1]) != 0)
			return -1;
		print_reply(fd);
		return 2;
	}
	if (strcmp(argv[0], "truncated-header") == 0) {
		ipc_header_encode(header, IPC_KEY_PUBLIC, 2);
		if (send_bytes(fd, header, 5, 1) != 0)
			return -1;
		print_reply(fd);
		return 1;
	}
	if (strcmp(argv[0], "truncated-payload") == 0) {
		ipc_header_encode(header, IPC_KEY_PUBLIC, 100);
		if (send_bytes(fd, header, sizeof(header), 0) != 0 ||
		    send_bytes(fd, (const unsigned char *)"{\"key_id\":",
		    10, 1) != 0)
			return -1;
		print_reply(fd);
		return 1;
	}
	if (strcmp(argv[0], "oversized") == 0) {
		unsigned long length = 0xffffffffUL;
		int used = 1;

		if (argc >= 2 && argv[1][0] >= '0' && argv[1][0] <= '9') {
			length = strtoul(argv[1], NULL, 0);
			used = 2;
		}
		ipc_header_encode(header, IPC_KEY_PUBLIC, (uint32_t)length);
		if (send_bytes(fd, header, sizeof(header), 0) != 0)
			return -1;
		print_reply(fd);
		return used;
	}
	if (strcmp(argv[0], "flags") == 0) {
		ipc_header_encode(header, IPC_KEY_PUBLIC, 2);
		header[7] = 1;
		if (send_bytes(fd, header, sizeof(header), 0) != 0 ||
		    send_bytes(fd, (const unsigned char *)"{}", 2, 0) != 0)
			return -1;
		print_reply(fd);
		return 1;
	}
	if (strcmp(argv[0], "status") == 0) {
		print_proc_lines(pid, "status", status_lines);
		return 1;
	}
	if (strcmp(argv[0], "limits") == 0) {
		print_proc_lines(pid, "limits", limit_lines);
		return 1;
	}
	return -1;
}

static void
print_exit(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		printf("failed: waitpid: %s\n", strerror(errno));
	else if (WIFSIGNALED(status))
		printf("signal %d\n", WTERMSIG(status));
	else
		printf("exit %d\n", WEXITSTATUS(status));
}

/* Returns SIGNER_CLIENT_TIMEOUT (1 to 3600 seconds), or 120. */
static unsigned int
client_timeout(void)
{
	const char *text = getenv("SIGNER_CLIENT_TIMEOUT");
	char *end;
	long seconds;

	if (text == NULL)
		return 120;
	seconds = strtol(text, &end, 10);
	if (end == text || *end != '\0' || seconds < 1 || seconds > 3600) {
		fprintf(stderr, "signer_client: ignoring invalid "
		    "SIGNER_CLIENT_TIMEOUT '%s' (1 to 3600 seconds)\n", text);
		return 120;
	}
	return (unsigned int)seconds;
}

int
main(int argc, char **argv)
{
	int debug = 0, fd, i, used;
	pid_t pid;

	if (argc > 1 && strcmp(argv[1], "--debug") == 0) {
		debug = 1;
		argv++;
		argc--;
	}
	if (argc < 3) {
		fprintf(stderr, "usage: signer_client [--debug] SIGNER CONFIG "
		    "STEP ...\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	alarm(client_timeout());
	pid = start_signer(argv[1], argv[2], debug, &fd);
	if (pid < 0) {
		perror("signer_client: starting the signer");
		return 2;
	}
	for (i = 3; i < argc; i += used) {
		used = run_step(fd, pid, argc - i, argv + i);
		if (used < 0) {
			printf("failed: step %s\n", argv[i]);
			break;
		}
	}
	fflush(stdout);
	close(fd);
	print_exit(pid);
	return 0;
}
