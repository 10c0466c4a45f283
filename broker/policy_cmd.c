#include "broker/policy_cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/issue.h"
#include "broker/names.h"
#include "broker/policy_gate.h"
#include "config/config.h"
#include "logging/log.h"
#include "policy/policy.h"

static const char policy_usage[] =
    "usage: custos policy check [--config FILE | --policy FILE] --tenant T\n"
    "                           NAME...\n"
    "       custos policy lint FILE\n"
    "\n"
    "Reads a policy file (docs/policy.md) without starting the signer or\n"
    "contacting a CA.\n"
    "\n"
    "  check   print whether tenant T may request each NAME, and the rule\n"
    "          that decided; exit 0 when every NAME is allowed, 1 when one\n"
    "          is denied, 2 on a usage or file error\n"
    "  lint    print every warning and the first error of FILE as\n"
    "          FILE:LINE:COLUMN lines; exit 0 without errors, 1 with one,\n"
    "          2 on a usage error\n"
    "\n"
    "Run \"custos policy check --help\" for the options of check.\n";

static const char check_usage[] =
    "usage: custos policy check [--config FILE | --policy FILE] --tenant T\n"
    "                           NAME...\n"
    "\n"
    "Prints one line per NAME (DNS name, *.wildcard or IP address): the\n"
    "name, its canonical form when that differs, \"allowed\" or \"denied\"\n"
    "and the rule and FILE:LINE:COLUMN that decided, or \"no rule allows\n"
    "it\". Exits 0 when every NAME is allowed, 1 when one is denied, 2 on\n"
    "a usage or file error.\n"
    "\n"
    "options:\n"
    "  -c, --config FILE    read the policy file named in this configuration\n"
    "                       (default " ISSUE_DEFAULT_CONFIG ")\n"
    "  -p, --policy FILE    read this policy file instead\n"
    "  -t, --tenant T       the tenant to check the names for\n"
    "  -h, --help           print this help\n";

static const char lint_usage[] =
    "usage: custos policy lint FILE\n"
    "\n"
    "Reads the policy FILE and prints every warning and the first error as\n"
    "FILE:LINE:COLUMN lines. It also checks that custos-signer can read\n"
    "the file, which needs every name written in ASCII (A-labels). Exits 0\n"
    "when there is no error (warnings allowed), 1 when there is one, 2 on\n"
    "a usage error.\n"
    "\n"
    "options:\n"
    "  -h, --help   print this help\n";

struct check_options {
	const char *config_path;
	const char *policy_path;
	const char *tenant;
	char *const *names;
	size_t name_count;
};

static int
usage_error(const char *usage, const char *message, const char *arg)
{
	fprintf(stderr, "custos: error: %s%s%s%s\n\n%s", message,
	    arg != NULL ? " \"" : "", arg != NULL ? arg : "",
	    arg != NULL ? "\"" : "", usage);
	return POLICY_EXIT_USAGE;
}

/* Returns 1 for "-h" or "--help" as the only argument after the command. */
static int
wants_help(int argc, char **argv)
{
	return argc == 2 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0);
}

/* Reads the policy named by --policy, or by the configuration's block. */
static int
load_policy(const struct check_options *opt, struct policy **policy)
{
	struct custos_config *config = NULL;
	const char *path = opt->policy_path;
	char err[CONFIG_ERR_MAX];
	int rc;

	if (path == NULL) {
		if (config_load(opt->config_path, &config, err,
		    sizeof(err)) != 0) {
			log_error("%s", err);
			return -1;
		}
		path = config->policy.file;
	}
	rc = policy_load(path, policy_name_normalize, policy, err,
	    sizeof(err));
	if (rc != 0)
		log_error("%s (check it with \"custos policy lint %s\")", err,
		    path);
	config_free(config);
	return rc;
}

/* Decides one written name and prints its line; returns 1 when allowed. */
static int
check_one(const struct policy_tenant *tenant, const char *written)
{
	struct acme_identifier id;
	struct policy_identifier pid;
	struct policy_decision decision;
	char line[GATE_LINE_MAX], err[POLICY_REASON_MAX / 2];
	char quoted[POLICY_QUOTE_BUFSIZE];

	if (names_convert(written, &id, err, sizeof(err)) != 0) {
		printf("%s: denied, %s\n", policy_quote(written, quoted), err);
		return 0;
	}
	pid.type = strcmp(id.type, "ip") == 0 ? POLICY_ID_IP : POLICY_ID_DNS;
	pid.value = id.value;
	policy_evaluate_identifier(tenant, &pid, &decision);
	gate_format_decision(tenant, written, id.value, &decision, line,
	    sizeof(line));
	printf("%s\n", line);
	free(id.value);
	return decision.allowed;
}

static int
run_check(const struct check_options *opt)
{
	const struct policy_tenant *tenant;
	struct policy *policy = NULL;
	size_t denied = 0;

	if (load_policy(opt, &policy) != 0)
		return POLICY_EXIT_USAGE;
	tenant = policy_find_tenant(policy, opt->tenant);
	if (tenant == NULL) {
		log_error("tenant \"%s\" not found in %s (check --tenant)",
		    opt->tenant, policy->file);
		policy_free(policy);
		return POLICY_EXIT_USAGE;
	}
	for (size_t i = 0; i < opt->name_count; i++)
		if (!check_one(tenant, opt->names[i]))
			denied++;
	policy_free(policy);
	return denied == 0 ? POLICY_EXIT_OK : POLICY_EXIT_DENIED;
}

static int
command_check(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "policy", required_argument, NULL, 'p' },
		{ "tenant", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct check_options opt = { 0 };
	int c;

	while ((c = getopt_long(argc, argv, "+c:p:t:h", options,
	    NULL)) != -1) {
		switch (c) {
		case 'c':
			opt.config_path = optarg;
			break;
		case 'p':
			opt.policy_path = optarg;
			break;
		case 't':
			opt.tenant = optarg;
			break;
		case 'h':
			fputs(check_usage, stdout);
			return POLICY_EXIT_OK;
		default:
			fprintf(stderr, "\n%s", check_usage);
			return POLICY_EXIT_USAGE;
		}
	}
	if (opt.config_path != NULL && opt.policy_path != NULL)
		return usage_error(check_usage, "give --config or --policy, "
		    "not both", NULL);
	if (opt.config_path == NULL)
		opt.config_path = ISSUE_DEFAULT_CONFIG;
	if (opt.tenant == NULL)
		return usage_error(check_usage, "missing --tenant", NULL);
	if (optind >= argc)
		return usage_error(check_usage, "missing NAME to check", NULL);
	opt.names = argv + optind;
	opt.name_count = (size_t)(argc - optind);

	gate_quiet_decisions();
	return run_check(&opt);
}

/* Returns the length of "FILE:LINE:COLUMN: " at the start of err, or 0. */
static size_t
position_length(const char *err, const char *path)
{
	size_t len = strlen(path);
	const char *p = err + len;
	int field;

	if (strncmp(err, path, len) != 0)
		return 0;
	for (field = 0; field < 2; field++) {
		if (*p != ':' || p[1] < '0' || p[1] > '9')
			return 0;
		p++;
		p += strspn(p, "0123456789");
	}
	if (p[0] != ':' || p[1] != ' ')
		return 0;
	return (size_t)(p + 2 - err);
}

/* Prints a reader error as "FILE:LINE:COLUMN: error: message". */
static void
print_lint_error(const char *path, const char *err, const char *note)
{
	size_t len = position_length(err, path);

	if (len > 0)
		printf("%.*serror: %s%s\n", (int)len, err, err + len, note);
	else
		printf("%s: error: %s%s\n", path, err, note);
}

/*
 * custos-signer reads the same file with the ASCII normaliser, because it
 * does not link libidn2; a name it cannot read keeps it from starting.
 */
static int
lint_for_signer(const char *path)
{
	struct policy *policy = NULL;
	char err[CONFIG_ERR_MAX];

	if (policy_load(path, policy_name_normalize_ascii, &policy, err,
	    sizeof(err)) == 0) {
		policy_free(policy);
		return 0;
	}
	print_lint_error(path, err, " (custos-signer reads names only in "
	    "ASCII)");
	return -1;
}

static int
command_lint(int argc, char **argv)
{
	struct policy *policy = NULL;
	char err[CONFIG_ERR_MAX];
	const char *path;
	int rc = POLICY_EXIT_OK;

	if (wants_help(argc, argv)) {
		fputs(lint_usage, stdout);
		return POLICY_EXIT_OK;
	}
	if (argc < 2)
		return usage_error(lint_usage, "missing FILE to lint", NULL);
	if (argc > 2)
		return usage_error(lint_usage, "unexpected argument", argv[2]);
	path = argv[1];

	gate_quiet_decisions();
	if (policy_load(path, policy_name_normalize, &policy, err,
	    sizeof(err)) != 0) {
		print_lint_error(path, err, "");
		return POLICY_EXIT_DENIED;
	}
	for (size_t i = 0; i < policy->warning_count; i++)
		printf("%s\n", policy->warnings[i]);
	if (lint_for_signer(path) != 0)
		rc = POLICY_EXIT_DENIED;
	policy_free(policy);
	return rc;
}

int
policy_command(int argc, char **argv)
{
	if (argc < 2)
		return usage_error(policy_usage, "missing policy command",
		    NULL);
	if (wants_help(argc, argv) || strcmp(argv[1], "help") == 0) {
		fputs(policy_usage, stdout);
		return POLICY_EXIT_OK;
	}
	if (strcmp(argv[1], "check") == 0)
		return command_check(argc - 1, argv + 1);
	if (strcmp(argv[1], "lint") == 0)
		return command_lint(argc - 1, argv + 1);
	return usage_error(policy_usage, "unknown policy command", argv[1]);
}
