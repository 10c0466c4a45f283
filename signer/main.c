/*
 * custos-signer: started by the broker as
 *
 *	custos-signer --config FILE --fd 3
 *
 * with one end of a socketpair on the descriptor. It logs in to the token,
 * drops privileges, enters its sandbox and only then serves requests.
 * Every startup failure prints one line and exits with status 1.
 */
#include "signer.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "logging/log.h"
#include "signer/audit.h"

#ifndef CUSTOS_VERSION
#define CUSTOS_VERSION "0.1.0"
#endif

#define DEFAULT_USER "custos-signer"

struct options {
	const char *config_path;
	int fd;
	int audit_fd;		/* -1: no audit channel */
	int debug;
#ifdef CUSTOS_TEST_BUILD
	int no_sandbox_filter;	/* --test-no-sandbox-filter */
#endif
};

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: custos-signer --config FILE --fd N [--debug]\n"
	    "\n"
	    "The Custos signer holds the HSM session and signs for the\n"
	    "broker, which starts it. It is not meant to be run by hand.\n"
	    "\n"
	    "  --config FILE  configuration file (reads the hsm, signer,\n"
	    "                 issuer and policy sections)\n"
	    "  --fd N         descriptor of the socket to the broker\n"
	    "  --audit-fd N   descriptor on which to send audit records\n"
	    "                 to the broker (see docs/audit.md)\n"
	    "  --debug        log one line per request\n"
	    "  --help         print this help and exit\n"
	    "  --version      print the version and exit\n"
	    "\n"
	    "Offline setup steps, run by the operator (see their --help):\n"
	    "  custos-signer --import-eab --config FILE --issuer NAME ...\n"
	    "  custos-signer --import-key --config FILE --tenant NAME "
	    "--key FILE\n");
}

static int
parse_descriptor(const char *option, const char *text, int *fd)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(text, &end, 10);
	if (errno != 0 || *end != '\0' || end == text || n < 0 ||
	    n > INT_MAX) {
		log_error("invalid %s '%s': expected a descriptor number such "
		    "as 4", option, text);
		return -1;
	}
	*fd = (int)n;
	return 0;
}

/*
 * A second descriptor would replace the first without a word, and the
 * broker would wait forever for replies on the first.
 */
static int
repeated(const char *option)
{
	log_error("%s is given twice: the signer serves one connection, on "
	    "the descriptor of a single %s", option, option);
	return -1;
}

/* Returns 0 to go on, 1 to exit with status 0, -1 on a usage error. */
static int
parse_args(int argc, char **argv, struct options *opts)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "fd", required_argument, NULL, 'f' },
		{ "audit-fd", required_argument, NULL, 'A' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
#ifdef CUSTOS_TEST_BUILD
		{ "test-no-sandbox-filter", no_argument, NULL, 'T' },
#endif
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	long fd;
	int c;

	opts->fd = -1;
	opts->audit_fd = -1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			opts->config_path = optarg;
			break;
		case 'f':
			if (opts->fd >= 0)
				return repeated("--fd");
			errno = 0;
			fd = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || end == optarg ||
			    fd < 0 || fd > INT_MAX) {
				log_error("invalid --fd '%s': expected a "
				    "descriptor number such as 3", optarg);
				return -1;
			}
			opts->fd = (int)fd;
			break;
		case 'A':
			if (opts->audit_fd >= 0)
				return repeated("--audit-fd");
			if (parse_descriptor("--audit-fd", optarg,
			    &opts->audit_fd) != 0)
				return -1;
			break;
		case 'd':
			opts->debug = 1;
			break;
#ifdef CUSTOS_TEST_BUILD
		case 'T':
			opts->no_sandbox_filter = 1;
			break;
#endif
		case 'h':
			usage(stdout);
			return 1;
		case 'V':
			printf("custos-signer %s\n", CUSTOS_VERSION);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc || opts->config_path == NULL || opts->fd < 0) {
		log_error("missing --config FILE or --fd N (see --help)");
		return -1;
	}
	return 0;
}

/* The descriptor must be an open socket; it must not leak into children. */
static int
check_fd(int fd)
{
	struct stat st;

	if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
		log_error("--fd %d is not an open socket: the broker starts "
		    "the signer with a socketpair on that descriptor", fd);
		return -1;
	}
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
		log_error("setting close-on-exec on --fd %d failed: %s", fd,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Limits file access to the token directory with Landlock. A kernel
 * without Landlock, or a module other than SoftHSM2, leaves file access
 * unconfined, and the log says so. Returns 0, or -1 with err set.
 */
static int
confine_files(const char *token_dir, const char *module, char *err,
    size_t errlen)
{
	int abi;

	/* jansson reads /dev/urandom for its hash seed on first use. */
	json_object_seed(0);
	if (token_dir[0] == '\0') {
		log_warn("file access is not confined: Landlock rules exist "
		    "only for SoftHSM2, not for module '%s'", module);
		return 0;
	}
	abi = landlock_confine(token_dir, err, errlen);
	if (abi < 0)
		return -1;
	if (abi == 0)
		log_warn("file access is not confined: %s", err);
	else
		log_info("file access confined to '%s' (Landlock ABI %d)",
		    token_dir, abi);
	return 0;
}

/*
 * Drops privileges, sets limits, confines file access and installs the
 * seccomp filter. The token directory is found first, while the
 * SoftHSM2 configuration is still readable. filter_off, which only
 * the test build sets, skips everything after the privilege drop.
 */
static int
enter_sandbox(const struct custos_config *config, int filter_off)
{
	const char *user = config->signer.user ? config->signer.user :
	    DEFAULT_USER;
	char err[SIGNER_ERR_MAX];
	char token_dir[PATH_MAX];

	if (landlock_find_token_dir(config->hsm.module, token_dir,
	    sizeof(token_dir), err, sizeof(err)) < 0 ||
	    sandbox_drop_privileges(user, err, sizeof(err)) != 0)
		goto fail;
	if (filter_off) {
		/*
		 * The limits go too: valgrind 3.19 rejects with EPERM any
		 * RLIMIT_NOFILE whose maximum is not its own hard limit.
		 */
		log_warn("test build: limits, Landlock and the seccomp "
		    "filter are off (--test-no-sandbox-filter)");
		return 0;
	}
	if (sandbox_set_limits(err, sizeof(err)) != 0 ||
	    confine_files(token_dir, config->hsm.module, err,
	    sizeof(err)) != 0 ||
	    sandbox_install_filter(err, sizeof(err)) != 0)
		goto fail;
	return 0;
fail:
	log_error("%s", err);
	return -1;
}

/* Returns 1 when the test build was asked to run without the filter. */
static int
sandbox_filter_off(const struct options *opts)
{
#ifdef CUSTOS_TEST_BUILD
	return opts->no_sandbox_filter;
#else
	(void)opts;
	return 0;
#endif
}

/* The audit channel is the write end of a pipe or a socket. */
static int
check_audit_fd(int fd)
{
	struct stat st;

	if (fstat(fd, &st) != 0 ||
	    !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
		log_error("--audit-fd %d is not an open pipe or socket: the "
		    "broker starts the signer with its audit channel on that "
		    "descriptor", fd);
		return -1;
	}
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
		log_error("setting close-on-exec on --audit-fd %d failed: %s",
		    fd, strerror(errno));
		return -1;
	}
	return 0;
}

/* Reads the policy file that the configuration names. */
static int
load_policy(const struct custos_config *config, struct policy **policy)
{
	char err[CONFIG_ERR_MAX];

	if (policy_load(config->policy.file, policy_name_normalize_ascii,
	    policy, err, sizeof(err)) != 0) {
		log_error("%s", err);
		return -1;
	}
	log_debug("policy %s: %zu tenants", config->policy.file,
	    (*policy)->tenant_count);
	return 0;
}

int
main(int argc, char **argv)
{
	struct custos_config *config = NULL;
	struct signer_token token = { 0 };
	struct signer_context ctx = { .token = &token };
	struct policy *policy = NULL;
	struct options opts = { 0 };
	char err[CONFIG_ERR_MAX];
	int rc;

	log_init("custos-signer", LOG_LEVEL_INFO);
	if (sandbox_clear_environment(err, sizeof(err)) != 0) {
		log_error("%s", err);
		return 1;
	}
	if (argc > 1 && strcmp(argv[1], "--import-eab") == 0)
		eab_import_main(argc, argv);
	if (argc > 1 && strcmp(argv[1], "--import-key") == 0)
		key_import_main(argc, argv);
	rc = parse_args(argc, argv, &opts);
	if (rc != 0)
		return rc > 0 ? 0 : 1;
	if (opts.debug)
		log_set_level(LOG_LEVEL_DEBUG);
	if (check_fd(opts.fd) != 0)
		return 1;
	if (opts.audit_fd >= 0 && check_audit_fd(opts.audit_fd) != 0)
		return 1;
	signer_audit_init(opts.audit_fd);
	if (config_load(opts.config_path, &config, err, sizeof(err)) != 0) {
		log_error("%s", err);
		return 1;
	}
	if (load_policy(config, &policy) != 0)
		goto fail;
	ctx.config = config;
	ctx.policy = policy;
	ctx.csrs = calloc(1, sizeof(*ctx.csrs));
	ctx.fresh_keys = calloc(1, sizeof(*ctx.fresh_keys));
	if (ctx.csrs == NULL || ctx.fresh_keys == NULL) {
		log_error("out of memory");
		goto fail;
	}

	if (token_open(&token, &config->hsm, err, sizeof(err)) != 0) {
		log_error("%s", err);
		goto fail;
	}
	if (enter_sandbox(config, sandbox_filter_off(&opts)) != 0)
		goto fail;
	log_info("ready: token '%s', sandbox active", token.label);

	rc = signer_serve(&ctx, opts.fd);
	close(opts.fd);
	log_debug("exiting with status %d", rc == 0 ? 0 : 1);
	/*
	 * _exit skips C_Finalize and the library destructors, because the
	 * filter does not list their system calls. Nothing is lost: SoftHSM
	 * has written each new key to its token files before replying.
	 */
	_exit(rc == 0 ? 0 : 1);
fail:
	token_close(&token);
	free(ctx.csrs);
	free(ctx.fresh_keys);
	policy_free(policy);
	config_free(config);
	return 1;
}
