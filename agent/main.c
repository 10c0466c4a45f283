/*
 * custos-agent: keeps the certificates of a serving node current. It
 * polls the distribution endpoint of the Custos API, writes each new
 * version atomically, runs the reload command and rolls back when the
 * command fails (docs/agent.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "agent/agent_conf.h"
#include "agent/poll.h"
#include "broker/version.h"
#include "logging/log.h"

#define DEFAULT_CONFIG "/etc/custos-agent/agent.conf"
#define TOKEN_MAX 512

static const char usage[] =
    "usage: custos-agent [--config FILE] [--once] [--check] [--verbose]\n"
    "\n"
    "Fetches the certificates that the configuration lists from the\n"
    "Custos API, writes each new version and runs its reload command.\n"
    "\n"
    "options:\n"
    "  -c, --config FILE  configuration file (default " DEFAULT_CONFIG
    ")\n"
    "  -1, --once         poll every certificate once and exit: 0 when\n"
    "                     all are current, 1 when any poll failed\n"
    "  -n, --check        check the configuration, the token file and the\n"
    "                     recipient key, and exit\n"
    "  -v, --verbose      also log unchanged certificates\n"
    "  -V, --version      print the version\n"
    "  -h, --help         print this help\n";

static volatile sig_atomic_t stopping;

static void
on_stop(int sig)
{
	(void)sig;
	stopping = 1;
}

/*
 * Reads the node's token: a regular file with no access for group or
 * others, one line of visible ASCII. Returns 0 or -1 after logging.
 */
static int
read_token(const char *path, char *token, size_t size)
{
	struct stat st;
	ssize_t n;
	size_t len;
	int fd;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		log_error("%s: cannot open the token file: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (st.st_mode & 077) != 0) {
		log_error("%s: the token file must be a regular file with no "
		    "access for group or others; run chmod 0600 %s", path,
		    path);
		close(fd);
		return -1;
	}
	n = read(fd, token, size - 1);
	close(fd);
	if (n < 0) {
		log_error("%s: cannot read the token file: %s", path,
		    strerror(errno));
		return -1;
	}
	token[n] = '\0';
	len = strcspn(token, "\r\n");
	if (token[len] != '\0' && token[len + strspn(token + len,
	    "\r\n")] != '\0')
		len = 0;
	token[len] = '\0';
	if (len == 0 || (size_t)n == size - 1 || strspn(token,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-._~+/=") != len) {
		explicit_bzero(token, size);
		log_error("%s: the token file must hold one line of at most "
		    "%d letters, digits and -._~+/=", path, TOKEN_MAX - 2);
		return -1;
	}
	return 0;
}

static int
poll_all(const struct agent_state *state)
{
	size_t i;
	int failed = 0;

	for (i = 0; i < state->config->cert_count && !stopping; i++)
		if (poll_cert(state, &state->config->certs[i]) != 0)
			failed = 1;
	return failed;
}

/* Sleeps seconds, or less when a stop signal arrives. */
static void
sleep_interval(int seconds)
{
	struct timespec step = { 1, 0 };

	while (seconds-- > 0 && !stopping)
		nanosleep(&step, NULL);
}

static int
run(const struct agent_config *config, int once, int check)
{
	struct agent_state state = { .config = config };
	char token[TOKEN_MAX];
	char err[AGENT_CONF_ERR_MAX];
	int rc = 1;

	if (read_token(config->token_file, token, sizeof(token)) != 0)
		return 1;
	state.token = token;
	if (config->recipient_key != NULL) {
		state.recipient = unwrap_load_recipient(config->recipient_key,
		    err, sizeof(err));
		if (state.recipient == NULL) {
			log_error("%s", err);
			goto out;
		}
		if (unwrap_fingerprint(state.recipient,
		    state.fingerprint) != 0) {
			log_error("%s: cannot hash the public key",
			    config->recipient_key);
			goto out;
		}
		log_info("recipient key %s", state.fingerprint);
	}
	if (check) {
		printf("%s: ok, %zu certificate%s\n", config->file,
		    config->cert_count, config->cert_count == 1 ? "" : "s");
		rc = 0;
		goto out;
	}
	if (once) {
		rc = poll_all(&state);
		goto out;
	}
	log_info("polling %zu certificate%s every %ds from %s",
	    config->cert_count, config->cert_count == 1 ? "" : "s",
	    config->interval, config->endpoint);
	while (!stopping) {
		poll_all(&state);
		sleep_interval(config->interval);
	}
	log_info("stopped");
	rc = 0;
out:
	explicit_bzero(token, sizeof(token));
	EVP_PKEY_free(state.recipient);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "once", no_argument, NULL, '1' },
		{ "check", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = DEFAULT_CONFIG;
	struct agent_config config;
	char err[AGENT_CONF_ERR_MAX];
	int opt, once = 0, check = 0, rc;

	log_init("custos-agent", LOG_LEVEL_INFO);
	while ((opt = getopt_long(argc, argv, "c:1nvVh", options,
	    NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case '1':
			once = 1;
			break;
		case 'n':
			check = 1;
			break;
		case 'v':
			log_set_level(LOG_LEVEL_DEBUG);
			break;
		case 'V':
			printf("custos-agent %s\n", CUSTOS_VERSION);
			return 0;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fputs(usage, stderr);
		return 2;
	}
	if (agent_conf_load(path, &config, err, sizeof(err)) != 0) {
		log_error("%s", err);
		return 1;
	}
	if (geteuid() == 0 && !config.allow_root) {
		log_error("custos-agent runs as root; run it as an "
		    "unprivileged user, or set 'allow-root yes' in %s", path);
		agent_conf_free(&config);
		return 1;
	}
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	signal(SIGPIPE, SIG_IGN);
	umask(077);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = run(&config, once, check);
	curl_global_cleanup();
	agent_conf_free(&config);
	return rc;
}
