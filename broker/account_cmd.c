/*
 * "custos account": list, register, import-eab, rollover, update and
 * deactivate the ACME accounts of the issuers in the configuration.
 */
#include "broker/account_cmd.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "broker/account.h"
#include "broker/account_lifecycle.h"
#include "broker/account_session.h"
#include "broker/audit.h"
#include "broker/issue.h"
#include "logging/log.h"

#define CONTACTS_MAX 16

static const char account_usage[] =
    "usage: custos account list [--config FILE]\n"
    "       custos account register [OPTIONS]\n"
    "       custos account rollover [OPTIONS]\n"
    "       custos account update [OPTIONS] [--contact URL]...\n"
    "       custos account deactivate [OPTIONS]\n"
    "       custos account import-eab [--config FILE] --issuer NAME\n"
    "                                 [--key-id KID] [--key-file FILE]\n"
    "\n"
    "list        prints each account's record: issuer, account, status,\n"
    "            URL, key id, creation and last use, and any cooldown\n"
    "register    finds the account of its key at the CA, or creates it\n"
    "            (with External Account Binding when the CA requires it)\n"
    "rollover    replaces the account key with a new token key and\n"
    "            destroys the old key once the CA has accepted the change\n"
    "update      replaces the account's contacts: the --contact URLs, or\n"
    "            without any, the issuer's contact lines\n"
    "deactivate  deactivates the account at the CA, for good\n"
    "import-eab  stores the issuer's External Account Binding HMAC key in\n"
    "            the token; the signer reads the key file, so run it as a\n"
    "            user that can read both the file and the PIN file\n"
    "\n"
    "options:\n"
    "  -c, --config FILE    configuration file (default "
    ISSUE_DEFAULT_CONFIG ")\n"
    "  -t, --tenant NAME    act for this tenant (default: the tenant that\n"
    "                       lists the caller)\n"
    "  -i, --issuer NAME    issuer block (default: the tenant's first)\n"
    "  -a, --account NAME   account of the issuer (default: its least\n"
    "                       recently used account the tenant may use)\n"
    "      --contact URL    a mailto: contact for update; repeatable\n"
    "      --key-id KID     import-eab: the key id (default: eab-key-id)\n"
    "      --key-file FILE  import-eab: the key file (default:\n"
    "                       eab-key-file)\n"
    "  -h, --help           print this help\n";

struct account_options {
	struct account_session_options session;
	char *contacts[CONTACTS_MAX];
	size_t contact_count;
	const char *key_id;
	const char *key_file;
};

static int
usage_error(const char *message, const char *arg)
{
	fprintf(stderr, "custos: error: %s%s%s%s\n\n%s", message,
	    arg != NULL ? " \"" : "", arg != NULL ? arg : "",
	    arg != NULL ? "\"" : "", account_usage);
	return 2;
}

static int
add_contact(struct account_options *opt, char *url)
{
	if (strncmp(url, "mailto:", 7) != 0 || strchr(url, '@') == NULL)
		return usage_error("invalid --contact (use mailto:ADDRESS)",
		    url);
	if (opt->contact_count == CONTACTS_MAX)
		return usage_error("too many --contact options (at most 16)",
		    NULL);
	opt->contacts[opt->contact_count++] = url;
	return 0;
}

/* Returns 0, 1 after --help, or an exit status above 1. */
static int
parse_options(int argc, char **argv, struct account_options *opt)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "tenant", required_argument, NULL, 't' },
		{ "issuer", required_argument, NULL, 'i' },
		{ "account", required_argument, NULL, 'a' },
		{ "contact", required_argument, NULL, 'C' },
		{ "key-id", required_argument, NULL, 'K' },
		{ "key-file", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc;

	opt->session.config_path = ISSUE_DEFAULT_CONFIG;
	while ((c = getopt_long(argc, argv, "+c:t:i:a:h", options,
	    NULL)) != -1) {
		if (c == 'c')
			opt->session.config_path = optarg;
		else if (c == 't')
			opt->session.tenant = optarg;
		else if (c == 'i')
			opt->session.issuer = optarg;
		else if (c == 'a')
			opt->session.account = optarg;
		else if (c == 'K')
			opt->key_id = optarg;
		else if (c == 'F')
			opt->key_file = optarg;
		else if (c == 'C' && (rc = add_contact(opt, optarg)) != 0)
			return rc;
		else if (c == 'h')
			return fputs(account_usage, stdout) == EOF ? 2 : 1;
		else if (c == '?')
			return usage_error("invalid option", NULL);
	}
	if (optind != argc)
		return usage_error("unexpected argument", argv[optind]);
	return 0;
}

static void
format_time(long long seconds, char *out, size_t outlen)
{
	time_t when = (time_t)seconds;
	struct tm tm;

	if (seconds <= 0 || gmtime_r(&when, &tm) == NULL)
		snprintf(out, outlen, "-");
	else
		strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Prints one account's line; a missing record prints as unregistered. */
static int
print_account(const struct custos_config *config, const char *issuer,
    const char *account)
{
	struct account_record record;
	char created[32], used[32], until[32], err[512];
	char *path = NULL;
	int rc = -1;

	if (account_record_path(config->broker.state_dir, issuer, account,
	    NULL, &path, err, sizeof(err)) != 0 ||
	    account_record_load(path, &record, err, sizeof(err)) != 0) {
		log_error("%s", err);
		free(path);
		return -1;
	}
	format_time(record.created, created, sizeof(created));
	format_time(record.last_used, used, sizeof(used));
	format_time(record.cooldown_until, until, sizeof(until));
	printf("%s/%s status=%s url=%s key=%s created=%s last-used=%s",
	    issuer, account, record.url != NULL ? (record.status[0] ?
	    record.status : "valid") : "unregistered",
	    record.url != NULL ? record.url : "-",
	    record.key_id[0] ? record.key_id : "-", created, used);
	if (record.cooldown_until > (long long)time(NULL))
		printf(" cooldown-until=%s (%s)", until,
		    record.cooldown_reason);
	printf("\n");
	rc = 0;
	account_record_clear(&record);
	free(path);
	return rc;
}

static int
command_list(const struct account_options *opt)
{
	struct custos_config *config;
	const struct config_issuer *issuer;
	char err[CONFIG_ERR_MAX];
	int rc = 0;

	if (config_load(opt->session.config_path, &config, err,
	    sizeof(err)) != 0) {
		log_error("%s", err);
		return 1;
	}
	for (size_t i = 0; i < config->issuer_count; i++) {
		issuer = &config->issuers[i];
		if (opt->session.issuer != NULL &&
		    strcmp(opt->session.issuer, issuer->name) != 0)
			continue;
		for (size_t j = 0; j < issuer->account_count; j++)
			if (print_account(config, issuer->name,
			    issuer->accounts[j]) != 0)
				rc = 1;
	}
	config_free(config);
	return rc;
}

/*
 * Runs custos-signer --import-eab, which reads the key file itself, so
 * the key never passes through the broker.
 */
static int
command_import_eab(const struct account_options *opt)
{
	struct custos_config *config;
	char err[CONFIG_ERR_MAX], *program;
	const char *argv[12];
	size_t argc = 0;
	int status;
	pid_t pid;

	if (opt->session.issuer == NULL)
		return usage_error("import-eab needs --issuer NAME", NULL);
	if (config_load(opt->session.config_path, &config, err,
	    sizeof(err)) != 0) {
		log_error("%s", err);
		return 1;
	}
	program = config->signer.program != NULL ?
	    strdup(config->signer.program) :
	    signer_default_program(err, sizeof(err));
	config_free(config);
	if (program == NULL) {
		log_error("%s", err);
		return 1;
	}
	argv[argc++] = program;
	argv[argc++] = "--import-eab";
	argv[argc++] = "--config";
	argv[argc++] = opt->session.config_path;
	argv[argc++] = "--issuer";
	argv[argc++] = opt->session.issuer;
	if (opt->key_id != NULL) {
		argv[argc++] = "--key-id";
		argv[argc++] = opt->key_id;
	}
	if (opt->key_file != NULL) {
		argv[argc++] = "--key-file";
		argv[argc++] = opt->key_file;
	}
	argv[argc] = NULL;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execv(program, (char *const *)argv);
		dprintf(STDERR_FILENO, "custos: error: cannot run signer %s: "
		    "%s (set signer program in the configuration)\n", program,
		    strerror(errno));
		_exit(127);
	}
	free(program);
	if (pid < 0 || waitpid(pid, &status, 0) != pid) {
		log_error("running the signer failed: %s", strerror(errno));
		return 1;
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

/* Runs the change that command names on the loaded account. */
static int
change_account(const char *command, const struct account_options *opt,
    struct acme_client *acme)
{
	if (strcmp(command, "rollover") == 0)
		return acme_account_rollover(acme);
	if (strcmp(command, "deactivate") == 0)
		return acme_account_deactivate(acme);
	if (strcmp(command, "update") != 0)
		return 0;
	if (opt->contact_count > 0)
		return acme_account_update_contacts(acme, opt->contacts,
		    opt->contact_count);
	return acme_account_update_contacts(acme, acme->issuer->contacts,
	    acme->issuer->contact_count);
}

/* Records "account COMMAND" with its issuer and account, as far as known. */
static void
record_command(const char *command, const struct account_session *session,
    int rc)
{
	const struct acme_client *acme = &session->acme;
	char name[32];

	snprintf(name, sizeof(name), "account %s", command);
	audit_record_command(name, json_pack("{s:s?, s:s?, s:s?}", "issuer",
	    acme->issuer != NULL ? acme->issuer->name : NULL,
	    "account_name", acme->account_name, "account", acme->account_url),
	    rc == 0 ? "success" : "failure", rc == 0 ? NULL : acme->err);
}

/*
 * Runs one of the commands that talk to the CA: each loads, finds or
 * registers the account first.
 */
static int
command_online(const char *command, const struct account_options *opt)
{
	struct account_session session;
	int rc;

	rc = account_session_prepare(&session, &opt->session);
	if (rc == 0)
		rc = account_session_connect(&session);
	if (rc == 0)
		rc = acme_account_ensure(&session.acme);
	if (rc == 0 && audit_record_account(strcmp(command, "register") == 0 ?
	    "account.register" : "account.ensure", session.acme.account_url,
	    session.acme.issuer->name, session.acme.account_key_id,
	    "success", NULL) != 0)
		rc = audit_status(session.acme.err, sizeof(session.acme.err));
	if (rc == 0)
		rc = change_account(command, opt, &session.acme);
	record_command(command, &session, rc);
	if (rc != 0)
		account_session_fail(&session);
	if (account_session_close(&session) != 0)
		rc = -1;
	return rc == 0 ? 0 : 1;
}

int
account_command(int argc, char **argv)
{
	struct account_options opt = { 0 };
	const char *command;
	int rc;

	if (argc < 2)
		return usage_error("missing account command", NULL);
	command = argv[1];
	if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0) {
		fputs(account_usage, stdout);
		return 0;
	}
	rc = parse_options(argc - 1, argv + 1, &opt);
	if (rc != 0)
		return rc == 1 ? 0 : rc;
	if (strcmp(command, "list") == 0)
		return command_list(&opt);
	if (strcmp(command, "import-eab") == 0)
		return command_import_eab(&opt);
	if (strcmp(command, "register") == 0 ||
	    strcmp(command, "rollover") == 0 ||
	    strcmp(command, "update") == 0 ||
	    strcmp(command, "deactivate") == 0)
		return command_online(command, &opt);
	return usage_error("unknown account command", command);
}
