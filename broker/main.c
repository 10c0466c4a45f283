/*
 * custos: the command line. Each subcommand parses its own options.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "broker/account_cmd.h"
#include "broker/cert_cmd.h"
#include "broker/daemon.h"
#include "broker/audit_cmd.h"
#include "broker/issue.h"
#include "broker/policy_cmd.h"
#include "broker/state.h"
#include "broker/revoke.h"
#include "broker/version.h"
#include "logging/log.h"

static const char program_usage[] =
    "usage: custos COMMAND [OPTIONS]\n"
    "\n"
    "Issues certificates from an ACME CA with keys held in a PKCS#11 token.\n"
    "\n"
    "commands:\n"
    "  audit     verify, show, rotate the audit log or export its key\n"
    "  issue     request a certificate for one or more names\n"
    "  daemon    issue and renew managed certificates until stopped\n"
    "  cert      add, import, list, show, reissue, remove or roll back\n"
    "            managed certificates\n"
    "  policy    check names against a tenant's policy (policy check) or\n"
    "            a policy file for errors and warnings (policy lint)\n"
    "  account   list, register, import-eab, rollover, update or\n"
    "            deactivate ACME accounts\n"
    "  revoke    revoke a stored certificate\n"
    "  version   print the version\n"
    "\n"
    "Run \"custos COMMAND --help\" for the options of a command.\n";

static const char issue_usage[] =
    "usage: custos issue [--config FILE] [--issuer NAME] [--key-type TYPE]\n"
    "                    [--tenant NAME] NAME...\n"
    "\n"
    "Requests one certificate covering every NAME (DNS names, *.wildcards\n"
    "or IP addresses; the first NAME names the store directory) and stores\n"
    "it under STORE/TENANT in the store directory of the configuration.\n"
    "The tenant's policy must allow every NAME, the issuer, its account,\n"
    "the http-01 challenge, the key type and the number of names; a\n"
    "denied request exits 1 before anything is sent to the CA.\n"
    "\n"
    "options:\n"
    "  -c, --config FILE    configuration file (default "
    ISSUE_DEFAULT_CONFIG ")\n"
    "  -i, --issuer NAME    issuer block to use; needed when the file has\n"
    "                       several\n"
    "  -k, --key-type TYPE  certificate key type: ec-p256, ec-p384,\n"
    "                       rsa-2048, rsa-3072 or rsa-4096 (default: acme\n"
    "                       certificate-key-type)\n"
    "  -t, --tenant NAME    act for this tenant (default: the tenant whose\n"
    "                       users or groups list the caller); the caller\n"
    "                       must belong to it unless it is root\n"
    "  -h, --help           print this help\n";

static const char daemon_usage[] =
    "usage: custos daemon [--config FILE]\n"
    "\n"
    "Runs in the foreground: starts the signer and a worker that issues\n"
    "and renews the certificates added with custos cert add. SIGTERM\n"
    "stops it, SIGHUP reloads the configuration, SIGUSR1 makes it check\n"
    "the database at once. Logs go to stderr.\n"
    "\n"
    "options:\n"
    "  -c, --config FILE    configuration file (default "
    ISSUE_DEFAULT_CONFIG ")\n"
    "  -h, --help           print this help\n";

static const char version_usage[] =
    "usage: custos version\n"
    "\n"
    "Prints the version of custos.\n";

static int
usage_error(const char *usage, const char *message, const char *arg)
{
	fprintf(stderr, "custos: error: %s%s%s%s\n\n%s", message,
	    arg != NULL ? " \"" : "", arg != NULL ? arg : "",
	    arg != NULL ? "\"" : "", usage);
	return 1;
}

static int
command_issue(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "issuer", required_argument, NULL, 'i' },
		{ "key-type", required_argument, NULL, 'k' },
		{ "tenant", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct issue_options opt = { .config_path = ISSUE_DEFAULT_CONFIG };
	int c;

	while ((c = getopt_long(argc, argv, "+c:i:k:t:h", options,
	    NULL)) != -1) {
		switch (c) {
		case 'c':
			opt.config_path = optarg;
			break;
		case 'i':
			opt.issuer = optarg;
			break;
		case 'k':
			opt.key_type = optarg;
			break;
		case 't':
			opt.tenant = optarg;
			break;
		case 'h':
			fputs(issue_usage, stdout);
			return 0;
		default:
			fprintf(stderr, "\n%s", issue_usage);
			return 1;
		}
	}
	if (optind >= argc)
		return usage_error(issue_usage, "missing NAME to issue a "
		    "certificate for", NULL);
	opt.names = argv + optind;
	opt.name_count = (size_t)(argc - optind);
	return issue_run(&opt);
}

static int
command_daemon(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = ISSUE_DEFAULT_CONFIG;
	int c;

	while ((c = getopt_long(argc, argv, "+c:h", options, NULL)) != -1) {
		if (c == 'c') {
			config_path = optarg;
		} else if (c == 'h') {
			fputs(daemon_usage, stdout);
			return 0;
		} else {
			fprintf(stderr, "\n%s", daemon_usage);
			return 1;
		}
	}
	if (optind < argc)
		return usage_error(daemon_usage, "unexpected argument",
		    argv[optind]);
	return supervise_run(config_path);
}

static int
command_version(int argc, char **argv)
{
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)) {
		fputs(version_usage, stdout);
		return 0;
	}
	if (argc > 1)
		return usage_error(version_usage, "unexpected argument",
		    argv[1]);
	printf("custos %s\n", CUSTOS_VERSION);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *command;

	log_init("custos", LOG_LEVEL_INFO);
	state_library_init();
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* A dead signer must show up as EPIPE, not kill the broker. */
	signal(SIGPIPE, SIG_IGN);

	if (argc < 2)
		return usage_error(program_usage, "missing COMMAND", NULL);
	command = argv[1];
	if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0 ||
	    strcmp(command, "help") == 0) {
		fputs(program_usage, stdout);
		return 0;
	}
	if (strcmp(command, "--version") == 0)
		return command_version(1, argv + 1);
	if (strcmp(command, "issue") == 0)
		return command_issue(argc - 1, argv + 1);
	if (strcmp(command, "audit") == 0)
		return audit_command(argc - 1, argv + 1);
	if (strcmp(command, "daemon") == 0)
		return command_daemon(argc - 1, argv + 1);
	if (strcmp(command, "cert") == 0)
		return cert_command(argc - 1, argv + 1);
	if (strcmp(command, "account") == 0)
		return account_command(argc - 1, argv + 1);
	if (strcmp(command, "revoke") == 0)
		return revoke_command(argc - 1, argv + 1);
	if (strcmp(command, "policy") == 0)
		return policy_command(argc - 1, argv + 1);
	if (strcmp(command, "version") == 0)
		return command_version(argc - 1, argv + 1);
	return usage_error(program_usage, "unknown command", command);
}
