/*
 * "custos cert ...": managed certificates in the daemon's state database.
 * The commands write the database directly; the daemon picks changes up
 * at its next poll (daemon poll-interval) or at once on SIGUSR1.
 */
#include "broker/cert_cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "broker/api_client.h"
#include "broker/audit_issue.h"
#include "broker/cert_import.h"
#include "broker/daemon.h"
#include "broker/issue.h"
#include "broker/names.h"
#include "broker/policy_gate.h"
#include "broker/privdrop.h"
#include "broker/tenant.h"
#include "broker/versions.h"
#include "logging/log.h"

static const char cert_usage[] =
    "usage: custos cert add [--config FILE] [--tenant NAME] [--issuer NAME]\n"
    "                       [--key-type TYPE] NAME...\n"
    "       custos cert import [--config FILE] [--tenant NAME] --chain FILE\n"
    "                          --key-id KEYID\n"
    "       custos cert list [--config FILE]\n"
    "       custos cert show|reissue|remove|rollback [--config FILE] ID\n"
    "All but import also take [--token-file FILE] [--api-url URL\n"
    "[--api-ca FILE]] to act through the daemon's API with a token.\n"
    "\n"
    "Manages the certificates that custos daemon issues and renews.\n"
    "  add       checks NAMEs against the tenant's policy exactly as\n"
    "            custos issue does and adds a certificate, due at once\n"
    "  import    stores a certificate issued elsewhere (FILE: PEM leaf\n"
    "            first, then its issuers) whose key custos-signer\n"
    "            --import-key put in the token as KEYID; it is watched\n"
    "            for expiry but never renewed (runs as root)\n"
    "  list      prints every certificate: id, tenant, next run or\n"
    "            \"imported\", expiry of the current version, names\n"
    "  show      prints one certificate and its versions\n"
    "  reissue   starts a new request for the certificate now\n"
    "  remove    stops managing it; stored versions stay on disk\n"
    "  rollback  makes the newest earlier version current again and\n"
    "            runs the deploy hook for it\n"
    "The daemon sees changes at its next poll; send it SIGUSR1 to act at\n"
    "once. While a daemon answers on the api socket, the commands act\n"
    "through its API.\n"
    "  --token-file FILE  send the API token on the first line of FILE,\n"
    "                     which must grant nothing to group or others;\n"
    "                     the caller then acts for the token's tenant\n"
    "  --api-url URL      the daemon's TCP listener, https://HOST:PORT;\n"
    "                     needs --token-file, reads no configuration\n"
    "  --api-ca FILE      PEM CA certificates that the listener's chain\n"
    "                     must lead to (default: the system's CAs)\n";

struct cert_cmd {
	struct issue_options opt;	/* config, issuer, key type, tenant */
	struct custos_config *config;
	struct state *state;
	struct audit_log *audit;	/* NULL for list and show */
	const char *chain_path;		/* import: --chain */
	const char *key_id;		/* import: --key-id */
	const char *token_file;		/* --token-file */
	const char *api_url;		/* --api-url */
	const char *api_ca;		/* --api-ca */
	char err[ACME_ERR_MAX];
};

static int
parse_options(int argc, char **argv, struct cert_cmd *cmd)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "issuer", required_argument, NULL, 'i' },
		{ "key-type", required_argument, NULL, 'k' },
		{ "tenant", required_argument, NULL, 't' },
		{ "chain", required_argument, NULL, 'C' },
		{ "key-id", required_argument, NULL, 'K' },
		{ "token-file", required_argument, NULL, 'T' },
		{ "api-url", required_argument, NULL, 'U' },
		{ "api-ca", required_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	cmd->opt.config_path = ISSUE_DEFAULT_CONFIG;
	while ((c = getopt_long(argc, argv, "+c:i:k:t:h", options,
	    NULL)) != -1) {
		if (c == 'c')
			cmd->opt.config_path = optarg;
		else if (c == 'i')
			cmd->opt.issuer = optarg;
		else if (c == 'k')
			cmd->opt.key_type = optarg;
		else if (c == 't')
			cmd->opt.tenant = optarg;
		else if (c == 'C')
			cmd->chain_path = optarg;
		else if (c == 'K')
			cmd->key_id = optarg;
		else if (c == 'T')
			cmd->token_file = optarg;
		else if (c == 'U')
			cmd->api_url = optarg;
		else if (c == 'A')
			cmd->api_ca = optarg;
		else
			return c == 'h' ? 1 : -1;
	}
	return 0;
}

/* Drops to the broker user and opens the database as that user. */
static int
open_state(struct cert_cmd *cmd)
{
	char *path;
	int rc;

	if (privdrop_to_user(cmd->config->broker.user, cmd->config->path,
	    cmd->err, sizeof(cmd->err)) != 0)
		return -1;
	path = daemon_state_path(cmd->config);
	if (path == NULL)
		return snprintf(cmd->err, sizeof(cmd->err), "out of memory"),
		    -1;
	rc = state_open(path, &cmd->state, cmd->err, sizeof(cmd->err));
	free(path);
	return rc;
}

static void
print_denial(const char *line, void *arg)
{
	log_error("tenant %s: %s", (const char *)arg, line);
}

/* The policy check of custos issue, on the request in cert. */
static int
check_request(struct cert_cmd *cmd, char *const *written, size_t count,
    const struct acme_names *names, struct state_cert *cert)
{
	const struct policy_tenant *tenant;
	struct gate_request request = { written, names, NULL, NULL, NULL, 0,
	    NULL, 0 };
	const struct config_issuer *issuer;
	struct policy *policy = NULL;
	struct caller caller = { 0 };
	int rc = -1;

	(void)count;
	issuer = config_find_issuer(cmd->config, cmd->opt.issuer);
	request.key_type = cmd->config->acme.certificate_key_type;
	if (issuer == NULL)
		snprintf(cmd->err, sizeof(cmd->err), "issuer not found in %s "
		    "(choose one with --issuer)", cmd->opt.config_path);
	else if (cmd->opt.key_type != NULL &&
	    key_type_parse(cmd->opt.key_type, &request.key_type) != 0)
		snprintf(cmd->err, sizeof(cmd->err), "invalid --key-type "
		    "\"%s\" (use ec-p256, ec-p384, rsa-2048, rsa-3072 or "
		    "rsa-4096)", cmd->opt.key_type);
	else if (policy_load(cmd->config->policy.file, policy_name_normalize,
	    &policy, cmd->err, sizeof(cmd->err)) == 0 &&
	    caller_identify(&caller, cmd->err, sizeof(cmd->err)) == 0 &&
	    tenant_select(policy, &caller, cmd->opt.tenant, &tenant,
	    cmd->err, sizeof(cmd->err)) == 0) {
		request.issuer = issuer->name;
		request.account = issuer->account;
		request.challenge = challenge_gate_type(cmd->config, tenant);
		if (gate_check_request(tenant, &request, print_denial,
		    (void *)tenant->name) > 0)
			snprintf(cmd->err, sizeof(cmd->err), "the policy of "
			    "tenant %s denies the request", tenant->name);
		else
			rc = 0;
		if (rc == 0 && ((cert->tenant = strdup(tenant->name)) == NULL ||
		    (cert->issuer = strdup(issuer->name)) == NULL ||
		    (cert->key_type = strdup(key_type_name(
		    request.key_type))) == NULL))
			rc = -1;
	}
	caller_clear(&caller);
	policy_free(policy);
	return rc;
}

/* Joins the canonical names with spaces. */
static char *
join_names(const struct acme_names *names)
{
	size_t len = 1, i;
	char *text;

	for (i = 0; i < names->count; i++)
		len += strlen(names->items[i].value) + 1;
	text = calloc(1, len);
	for (i = 0; text != NULL && i < names->count; i++) {
		if (i > 0)
			strcat(text, " ");
		strcat(text, names->items[i].value);
	}
	return text;
}

static int
cert_add(struct cert_cmd *cmd, char *const *written, size_t count)
{
	struct state_cert cert = { 0 };
	struct acme_names names = { 0 };
	int64_t id = 0;
	int rc = -1;

	if (names_parse(written, count, &names, cmd->err,
	    sizeof(cmd->err)) != 0 ||
	    check_request(cmd, written, count, &names, &cert) != 0)
		goto out;
	cert.names = join_names(&names);
	cert.label = names_store_label(names.items[0].value);
	cert.settings = strdup("{}");
	cert.created = time(NULL);
	if (cert.names == NULL || cert.label == NULL || cert.settings == NULL) {
		snprintf(cmd->err, sizeof(cmd->err), "out of memory");
		goto out;
	}
	if (open_state(cmd) != 0 || state_cert_add(cmd->state, &cert,
	    cert.created, &id, cmd->err, sizeof(cmd->err)) != 0)
		goto out;
	printf("added certificate %lld for tenant %s: %s\n", (long long)id,
	    cert.tenant, cert.names);
	rc = 0;
out:
	audit_cert_command("cert add", id, cert.tenant, cert.names,
	    rc == 0 ? "success" : "failure", rc == 0 ? NULL : cmd->err);
	state_cert_clear(&cert);
	names_clear(&names);
	return rc;
}

static void
format_time(int64_t when, char *out, size_t size)
{
	time_t t = (time_t)when;
	struct tm tm;

	if (when <= 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, size, "-");
}

static void
print_row(const struct state_cert *cert, void *arg)
{
	char due[32], expires[32];

	(void)arg;
	if (cert->imported)
		snprintf(due, sizeof(due), "imported");
	else
		format_time(cert->due, due, sizeof(due));
	format_time(cert->not_after, expires, sizeof(expires));
	printf("%lld\t%s\t%s\t%s\t%s\n", (long long)cert->id, cert->tenant,
	    due, expires, cert->names);
}

static void
print_version(const struct state_version *v, void *arg)
{
	char not_after[32];

	(void)arg;
	format_time(v->not_after, not_after, sizeof(not_after));
	printf("version: %s %s serial %s not-after %s\n", v->name, v->status,
	    v->serial, not_after);
}

static int
cert_show(struct cert_cmd *cmd, int64_t id)
{
	struct state_cert cert;
	char due[32];

	if (state_cert_get(cmd->state, id, &cert, cmd->err,
	    sizeof(cmd->err)) != 0)
		return -1;
	format_time(cert.due, due, sizeof(due));
	printf("id: %lld\ntenant: %s\nnames: %s\nkey-type: %s\nissuer: %s\n"
	    "request: %lld\nremoved: %s\nnext-run: %s\nfailures: %d\n",
	    (long long)cert.id, cert.tenant, cert.names, cert.key_type,
	    cert.issuer, (long long)cert.generation, cert.removed ? "yes" :
	    "no", due, cert.failures);
	if (cert.last_error != NULL)
		printf("last-error: %s\n", cert.last_error);
	format_time(cert.not_after, due, sizeof(due));
	printf("imported: %s\nexpires: %s\n", cert.imported ? "yes" : "no",
	    due);
	state_cert_clear(&cert);
	return state_version_list(cmd->state, id, print_version, NULL,
	    cmd->err, sizeof(cmd->err));
}

/* Finds the newest version that was current before the current one. */
static void
find_previous(const struct state_version *v, void *arg)
{
	struct state_version *found = arg;

	if (found->id == 0 && strcmp(v->status, VERSION_PREVIOUS) == 0) {
		found->id = v->id;
		found->name = strdup(v->name);
	}
}

static int
cert_rollback(struct cert_cmd *cmd, int64_t id)
{
	struct state_version current = { 0 }, previous = { 0 };
	struct state_cert cert = { 0 };
	struct deploy_info info;
	int rc = -1;

	if (state_cert_get(cmd->state, id, &cert, cmd->err,
	    sizeof(cmd->err)) != 0 ||
	    state_version_current(cmd->state, id, &current, cmd->err,
	    sizeof(cmd->err)) != 0 ||
	    state_version_list(cmd->state, id, find_previous, &previous,
	    cmd->err, sizeof(cmd->err)) != 0)
		goto out;
	if (previous.name == NULL) {
		snprintf(cmd->err, sizeof(cmd->err), "certificate %lld has no "
		    "earlier version to roll back to", (long long)id);
		goto out;
	}
	/* The database first: a crash after it leaves the deploy pending,
	 * and the daemon's worker runs it at its next start. */
	info = (struct deploy_info){ cmd->config->store.directory,
	    cert.tenant, cert.label, previous.name, cert.names, id, 1 };
	if (state_version_restore(cmd->state, id, previous.id, current.id,
	    VERSION_ROLLED_BACK, cmd->err, sizeof(cmd->err)) != 0 ||
	    versions_switch(info.store_dir, cert.tenant, cert.label,
	    previous.name, cmd->err, sizeof(cmd->err)) != 0)
		goto out;
	printf("certificate %lld: %s is current again (was %s)\n",
	    (long long)id, previous.name, current.name);
	rc = versions_deploy(&cmd->config->daemon, &info, cmd->err,
	    sizeof(cmd->err));
	if (rc == 0)
		rc = state_version_deployed(cmd->state, previous.id, cmd->err,
		    sizeof(cmd->err));
out:
	if (current.name != NULL)
		audit_record_rollback(id, cert.tenant, current.name,
		    previous.name, "command", rc == 0 ? "success" : "failure",
		    rc == 0 ? NULL : cmd->err);
	free(previous.name);
	state_version_clear(&current);
	state_cert_clear(&cert);
	return rc;
}

static int
parse_id(const char *text, int64_t *id)
{
	char *end;
	long long value = strtoll(text, &end, 10);

	if (*text == '\0' || *end != '\0' || value <= 0)
		return -1;
	*id = value;
	return 0;
}

/* An imported certificate has no request to reissue. */
static int
check_not_imported(struct cert_cmd *cmd, int64_t id)
{
	struct state_cert cert;
	int imported;

	if (state_cert_get(cmd->state, id, &cert, cmd->err,
	    sizeof(cmd->err)) != 0)
		return -1;
	imported = cert.imported;
	state_cert_clear(&cert);
	if (!imported)
		return 0;
	snprintf(cmd->err, sizeof(cmd->err), "certificate %lld was imported, "
	    "so custos cannot reissue it (import its successor with custos "
	    "cert import)", (long long)id);
	return -1;
}

static int
change_by_id(struct cert_cmd *cmd, const char *action, int64_t id)
{
	if (open_state(cmd) != 0)
		return -1;
	if (strcmp(action, "show") == 0)
		return cert_show(cmd, id);
	if (strcmp(action, "rollback") == 0)
		return cert_rollback(cmd, id);
	if (strcmp(action, "remove") == 0 && state_cert_remove(cmd->state,
	    id, cmd->err, sizeof(cmd->err)) == 0) {
		printf("removed certificate %lld\n", (long long)id);
		return 0;
	}
	if (strcmp(action, "reissue") == 0 && check_not_imported(cmd,
	    id) == 0 && state_cert_reissue(cmd->state, id, time(NULL),
	    cmd->err, sizeof(cmd->err)) == 0) {
		printf("certificate %lld is due for a new request now\n",
		    (long long)id);
		return 0;
	}
	return -1;
}

/* Runs show, reissue, remove or rollback; records all but show. */
static int
run_by_id(struct cert_cmd *cmd, const char *action, const char *arg)
{
	char command[32];
	int64_t id = 0;
	int rc = -1;

	if (parse_id(arg, &id) != 0)
		snprintf(cmd->err, sizeof(cmd->err), "invalid certificate id "
		    "\"%s\" (use a number from custos cert list)", arg);
	else
		rc = change_by_id(cmd, action, id);
	if (strcmp(action, "show") == 0)
		return rc;
	snprintf(command, sizeof(command), "cert %s", action);
	audit_cert_command(command, id, NULL, NULL, rc == 0 ? "success" :
	    "failure", rc == 0 ? NULL : cmd->err);
	return rc;
}

/*
 * Opens the audit log for a command that changes the database, before
 * open_state() drops privileges, and sets the caller as its actor.
 */
static int
open_audit(struct cert_cmd *cmd, const char *action)
{
	struct caller caller = { 0 };

	if (strcmp(action, "list") == 0 || strcmp(action, "show") == 0)
		return 0;
	if (audit_open(&cmd->config->audit, &cmd->audit, cmd->err,
	    sizeof(cmd->err)) != 0 ||
	    caller_identify(&caller, cmd->err, sizeof(cmd->err)) != 0)
		return -1;
	audit_set_current(cmd->audit);
	audit_set_actor(cmd->audit, NULL, caller.user, caller.uid, NULL);
	caller_clear(&caller);
	return 0;
}

static int
dispatch(struct cert_cmd *cmd, const char *action, int argc, char **argv)
{
	if (strcmp(action, "import") == 0) {
		if (argc != 0)
			return snprintf(cmd->err, sizeof(cmd->err), "import "
			    "takes no arguments, only --chain and --key-id"),
			    -1;
		return cert_import_command(cmd->config, &cmd->opt,
		    cmd->chain_path, cmd->key_id, cmd->err,
		    sizeof(cmd->err));
	}
	if (strcmp(action, "add") == 0) {
		if (argc < 1)
			return snprintf(cmd->err, sizeof(cmd->err), "missing "
			    "NAME to add a certificate for"), -1;
		return cert_add(cmd, argv, (size_t)argc);
	}
	if (strcmp(action, "list") == 0) {
		if (open_state(cmd) != 0)
			return -1;
		return state_cert_list(cmd->state, print_row, NULL, cmd->err,
		    sizeof(cmd->err));
	}
	if (argc != 1)
		return snprintf(cmd->err, sizeof(cmd->err), "%s needs exactly "
		    "one certificate ID", action), -1;
	return run_by_id(cmd, action, argv[0]);
}

/*
 * Runs the command through the API with the token of --token-file: at
 * --api-url, or on the socket of the configuration, where a daemon must
 * answer.
 */
static int
run_with_token(struct cert_cmd *cmd, const char *action, int argc,
    char **argv)
{
	struct api_endpoint endpoint = { 0 };
	int rc;

	if (strcmp(action, "import") == 0)
		return snprintf(cmd->err, sizeof(cmd->err), "import runs as "
		    "root on the daemon's machine, so it takes no --token-file "
		    "or --api-url (use POST /v1/certificates/import)"), -1;
	if (cmd->token_file == NULL)
		return snprintf(cmd->err, sizeof(cmd->err), "--api-url needs "
		    "--token-file, because the API on TCP knows callers by "
		    "their bearer token only"), -1;
	if (cmd->api_url != NULL) {
		if (api_client_check_url(cmd->api_url, cmd->err,
		    sizeof(cmd->err)) != 0)
			return -1;
		endpoint.url = cmd->api_url;
		endpoint.ca_file = cmd->api_ca;
	} else {
		if (config_load(cmd->opt.config_path, &cmd->config, cmd->err,
		    sizeof(cmd->err)) != 0)
			return -1;
		rc = api_client_probe(cmd->config, cmd->err,
		    sizeof(cmd->err));
		if (rc < 0)
			return -1;
		if (rc == 0) {
			snprintf(cmd->err, sizeof(cmd->err), "--token-file "
			    "needs a daemon that serves the API, and none "
			    "answers on the socket of %s (start custos daemon "
			    "or leave out --token-file)",
			    cmd->opt.config_path);
			return -1;
		}
		endpoint.socket = cmd->config->api.socket;
	}
	if (api_client_read_token(&endpoint, cmd->token_file, cmd->err,
	    sizeof(cmd->err)) != 0)
		return -1;
	rc = api_client_cert(&endpoint, &cmd->opt, action, argc, argv,
	    cmd->err, sizeof(cmd->err));
	api_client_endpoint_clear(&endpoint);
	return rc;
}

int
cert_command(int argc, char **argv)
{
	static const char *const actions[] = { "add", "import", "list",
	    "show", "reissue", "remove", "rollback" };
	struct cert_cmd cmd;
	const char *action;
	size_t i;
	int rc;

	memset(&cmd, 0, sizeof(cmd));
	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		fputs(cert_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 1 : 0;
	}
	action = argv[1];
	for (i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (strcmp(action, actions[i]) == 0)
			break;
	if (i == sizeof(actions) / sizeof(actions[0])) {
		fprintf(stderr, "custos: error: unknown cert command \"%s\"\n"
		    "\n%s", action, cert_usage);
		return 1;
	}
	rc = parse_options(argc - 1, argv + 1, &cmd);
	if (rc != 0) {
		fputs(cert_usage, rc > 0 ? stdout : stderr);
		return rc > 0 ? 0 : 1;
	}
	if (cmd.api_url == NULL && cmd.api_ca != NULL) {
		snprintf(cmd.err, sizeof(cmd.err), "--api-ca applies only with "
		    "--api-url (add --api-url https://HOST:PORT)");
		rc = -1;
	} else if (cmd.token_file != NULL || cmd.api_url != NULL)
		rc = run_with_token(&cmd, action, argc - 1 - optind,
		    argv + 1 + optind);
	else if (config_load(cmd.opt.config_path, &cmd.config, cmd.err,
	    sizeof(cmd.err)) != 0)
		rc = -1;
	else if (strcmp(action, "import") != 0 &&
	    (rc = api_client_probe(cmd.config, cmd.err, sizeof(cmd.err))) > 0)
		rc = api_client_cert(&(struct api_endpoint){
		    .socket = cmd.config->api.socket }, &cmd.opt, action,
		    argc - 1 - optind, argv + 1 + optind, cmd.err,
		    sizeof(cmd.err));
	else if (rc == 0 && (rc = open_audit(&cmd, action)) == 0)
		rc = dispatch(&cmd, action, argc - 1 - optind,
		    argv + 1 + optind);
	/* A failed audit write is the cause to report, even after others. */
	if (audit_status(cmd.err, sizeof(cmd.err)) != 0)
		rc = -1;
	if (rc != 0)
		log_error("%s", cmd.err);
	audit_close(cmd.audit);
	state_close(cmd.state);
	config_free(cmd.config);
	return rc == 0 ? 0 : 1;
}
