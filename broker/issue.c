/*
 * The "custos issue" command: one certificate, one process run.
 */
#include "broker/issue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "broker/account.h"
#include "broker/account_signer.h"
#include "broker/acme.h"
#include "broker/audit_issue.h"
#include "broker/audit_signer.h"
#include "broker/certificate.h"
#include "broker/chain.h"
#include "broker/challenge.h"
#include "broker/challenge_http.h"
#include "broker/interrupt.h"
#include "broker/issue_limits.h"
#include "broker/names.h"
#include "broker/policy_gate.h"
#include "broker/privdrop.h"
#include "broker/run_lock.h"
#include "broker/signer_client.h"
#include "broker/store.h"
#include "broker/tenant.h"
#include "logging/log.h"
#include "policy/policy.h"

/* Everything one issuance holds, released by issue_cleanup. */
struct issue {
	const struct issue_options *options;
	struct custos_config *config;
	struct policy *policy;
	struct caller caller;
	const struct policy_tenant *tenant;
	size_t denials;		/* policy denials, each printed already */
	struct acme_names names;
	enum key_type key_type;
	struct signer_client signer;
	struct acme_client acme;
	struct challenge_set challenges;
	struct acme_order order;
	char *order_url;
	struct signer_key cert_key;
	char *csr;
	char *pem;
	size_t pem_len;
	struct cert_chain chain;
	char *stored;
	/* The issuers and accounts to try, and why none is usable. */
	struct account_plan plan;
	char plan_err[ACME_ERR_MAX];
	struct audit_log *audit;
	int lock_fd;		/* run lock on the state directory */
};

static int
load_settings(struct issue *is)
{
	const struct issue_options *opt = is->options;
	struct acme_client *acme = &is->acme;

	if (config_load(opt->config_path, &is->config, acme->err,
	    sizeof(acme->err)) != 0)
		return -1;
	acme->config = is->config;
	if (names_parse(opt->names, opt->name_count, &is->names, acme->err,
	    sizeof(acme->err)) != 0)
		return -1;

	/* Without --issuer, plan_accounts() follows the tenant's issuers. */
	acme->issuer = config_find_issuer(is->config, opt->issuer);
	if (acme->issuer == NULL && opt->issuer != NULL) {
		snprintf(acme->err, sizeof(acme->err), "issuer \"%s\" not "
		    "found in %s (check --issuer)", opt->issuer,
		    opt->config_path);
		return -1;
	}
	is->key_type = is->config->acme.certificate_key_type;
	if (opt->key_type != NULL &&
	    key_type_parse(opt->key_type, &is->key_type) != 0) {
		snprintf(acme->err, sizeof(acme->err), "invalid --key-type "
		    "\"%s\" (use ec-p256, ec-p384, rsa-2048, rsa-3072 or "
		    "rsa-4096)", opt->key_type);
		return -1;
	}
	return 0;
}

static void
print_denial(const char *line, void *arg)
{
	const struct issue *is = arg;

	log_error("tenant %s: %s", is->tenant->name, line);
}

/*
 * Lists the issuers and accounts the order may use and takes the first.
 * When the tenant may use none, the pinned or only issuer stays, so that
 * the policy check names what it denies. connect_issuer() then reports
 * the plan's error.
 */
static int
plan_accounts(struct issue *is, struct gate_request *request)
{
	struct acme_client *acme = &is->acme;

	if (account_plan_build(is->config, is->tenant, is->options->issuer,
	    time(NULL), &is->plan, is->plan_err,
	    sizeof(is->plan_err)) == 0) {
		acme->issuer = is->plan.items[0].issuer;
		acme->account_name = is->plan.items[0].account;
		is->plan.next = 1;
	} else if (acme->issuer == NULL) {
		snprintf(acme->err, sizeof(acme->err), "%s", is->plan_err);
		return -1;
	}
	request->issuer = acme->issuer->name;
	request->account = acme->account_name != NULL ?
	    acme->account_name : acme->issuer->account;
	return 0;
}

static int
open_audit(struct issue *is, char *err, size_t errlen)
{
	if (audit_open(&is->config->audit, &is->audit, err, errlen) != 0)
		return -1;
	audit_set_current(is->audit);
	audit_set_actor(is->audit, is->tenant ? is->tenant->name : NULL,
	    is->caller.user, is->caller.uid, NULL);
	return 0;
}

/*
 * Finds the caller's tenant, then opens the audit log, which needs the
 * broker's rights. So a caller in no tenant gets the tenant error, and
 * the denial is recorded only when this process can open the log.
 */
static int
select_tenant(struct issue *is)
{
	struct acme_client *acme = &is->acme;
	char audit_err[ACME_ERR_MAX];

	if (policy_load(is->config->policy.file, policy_name_normalize,
	    &is->policy, acme->err, sizeof(acme->err)) != 0 ||
	    caller_identify(&is->caller, acme->err, sizeof(acme->err)) != 0)
		return -1;
	if (tenant_select(is->policy, &is->caller, is->options->tenant,
	    &is->tenant, acme->err, sizeof(acme->err)) != 0) {
		if (open_audit(is, audit_err, sizeof(audit_err)) == 0)
			audit_issue_tenant_denied(is->options->tenant,
			    acme->err);
		else
			log_info("the denial was not recorded in the audit "
			    "log: %s", audit_err);
		return -1;
	}
	return open_audit(is, acme->err, sizeof(acme->err));
}

/*
 * Checks the whole request against the tenant's policy. Runs before the
 * signer starts, so a denied request generates no key and sends nothing
 * to the CA.
 */
static int
check_policy(struct issue *is)
{
	struct acme_client *acme = &is->acme;
	struct gate_request request = {
		.written = is->options->names,
		.names = &is->names,
		.key_type = is->key_type,
	};
	struct store_usage usage;
	int count_usage;

	if (plan_accounts(is, &request) != 0 ||
	    issue_limits_usage(is->config->store.directory, is->tenant,
	    &is->names, &usage, &count_usage, acme->err,
	    sizeof(acme->err)) != 0)
		return -1;
	request.usage = count_usage ? &usage : NULL;
	request.challenge = challenge_gate_type(is->config, is->tenant);
	is->denials = gate_check_request(is->tenant, &request, print_denial,
	    is);
	if (is->denials > 0) {
		snprintf(acme->err, sizeof(acme->err), "the policy of tenant "
		    "%s denies the request", is->tenant->name);
		return -1;
	}
	printf("policy: tenant %s may request %zu %s from %s (account %s, "
	    "%s, %s key)\n", is->tenant->name, is->names.count,
	    is->names.count == 1 ? "name" : "names", acme->issuer->name,
	    request.account, request.challenge,
	    key_type_name(is->key_type));
	is->signer.tenant = is->tenant->name;
	return 0;
}

/* Binds the listener, starts the signer and drops privileges, in order. */
static int
start_processes(struct issue *is)
{
	const struct custos_config *config = is->config;
	struct acme_client *acme = &is->acme;
	char *program = config->signer.program;
	const char *user = config->broker.user != NULL ?
	    config->broker.user : "custos";
	int rc;

	is->challenges.config = config;
	is->challenges.tenant = is->tenant;
	acme->challenges = &is->challenges;
	if (config_challenge_enabled(config, CHALLENGE_HTTP01) &&
	    config->challenge.http01_mode == HTTP01_LISTEN &&
	    challenge_http_bind(config->challenge.http01_address,
	    config->challenge.http01_port, &acme->responder, acme->err,
	    sizeof(acme->err)) != 0)
		return -1;
	if (challenge_set_bind(&is->challenges, acme->err,
	    sizeof(acme->err)) != 0)
		return -1;

	if (program == NULL)
		program = signer_default_program(acme->err,
		    sizeof(acme->err));
	if (program == NULL)
		return -1;
	rc = signer_spawn(program, config->path, &is->signer, acme->err,
	    sizeof(acme->err));
	if (program != config->signer.program)
		free(program);
	if (rc != 0)
		return -1;
	acme->signer = &is->signer;
	interrupt_watch_signer(&is->signer);

	if (privdrop_to_user(user, config->path, acme->err,
	    sizeof(acme->err)) != 0)
		return -1;
	if (acme->responder != NULL &&
	    challenge_http_start(acme->responder, acme->err,
	    sizeof(acme->err)) != 0)
		return -1;
	if (challenge_set_start(&is->challenges, acme->err,
	    sizeof(acme->err)) != 0)
		return -1;
	return http_client_new(acme->issuer->trust_bundle,
	    config->acme.http_timeout, &acme->http, acme->err,
	    sizeof(acme->err));
}

static int
create_order(struct issue *is)
{
	struct acme_client *acme = &is->acme;

	acme->not_after = issue_limits_not_after(is->tenant, time(NULL));
	if (acme_order_new(acme, &is->names, &is->order, &is->order_url) != 0 ||
	    audit_issue_order(&is->names, acme->issuer->name,
	    acme->account_url, is->order_url) != 0)
		return -1;
	printf("order: %s (%s, %zu authorizations)\n", is->order_url,
	    is->order.status, is->order.authorization_count);
	if (acme_authorize_all(acme, &is->order) != 0 ||
	    audit_issue_authorized(&is->names, is->order_url) != 0)
		return -1;

	/* The order turns ready once every authorization is valid. */
	if (acme_order_refresh(acme, is->order_url, &is->order) != 0 ||
	    acme_order_wait(acme, is->order_url, "pending", &is->order) != 0)
		return -1;
	if (strcmp(is->order.status, "ready") != 0) {
		snprintf(acme->err, sizeof(acme->err), "the order is \"%s\" "
		    "after authorization, expected \"ready\"",
		    is->order.status);
		return -1;
	}
	return 0;
}

static int
finalize_order(struct issue *is)
{
	struct acme_client *acme = &is->acme;
	const char **values;
	char key_id[IPC_KEY_ID_LEN + 1];
	int rc;

	printf("finalize: generating a %s certificate key\n",
	    key_type_name(is->key_type));
	if (signer_key_generate(acme->signer, NULL,
	    key_type_name(is->key_type), key_id, acme->err,
	    sizeof(acme->err)) != 0 ||
	    signer_key_public(acme->signer, key_id, &is->cert_key, acme->err,
	    sizeof(acme->err)) != 0)
		return -1;

	values = calloc(is->names.count, sizeof(*values));
	if (values == NULL) {
		snprintf(acme->err, sizeof(acme->err), "out of memory");
		return -1;
	}
	for (size_t i = 0; i < is->names.count; i++)
		values[i] = is->names.items[i].value;
	rc = signer_csr_build(acme->signer, key_id, values, is->names.count,
	    &is->csr, acme->err, sizeof(acme->err));
	free(values);
	if (rc != 0)
		return -1;
	return acme_order_finalize(acme, is->order_url, &is->order, is->csr);
}

/* Appends the certificate.issue record with what the issuance knows. */
static int
record_issue(struct issue *is, const char *outcome, const char *reason)
{
	struct issue_facts facts = {
		.names = &is->names,
		.issuer = is->acme.issuer ? is->acme.issuer->name : NULL,
		.account_url = is->acme.account_url,
		.order_url = is->order_url,
		.key_id = is->cert_key.key_id[0] ? is->cert_key.key_id : NULL,
		.serial = is->chain.serial_hex,
		.stored = is->stored,
	};

	if (audit_issue_done(&facts, outcome, reason) != 0) {
		audit_status(is->acme.err, sizeof(is->acme.err));
		return -1;
	}
	return 0;
}

/*
 * Appends a signed checkpoint when the signer runs and, unless final is
 * set, only once checkpoint-interval has passed.
 */
static int
checkpoint(struct issue *is, int final)
{
	if (is->audit == NULL || is->signer.pid <= 0 ||
	    (!final && !audit_checkpoint_due(is->audit)))
		return 0;
	return audit_checkpoint(is->audit, audit_signer_sign, &is->signer,
	    is->acme.err, sizeof(is->acme.err));
}

static int
download_and_store(struct issue *is)
{
	struct acme_client *acme = &is->acme;
	struct store_files files;
	char version[128], *label;
	int rc;

	printf("download: %s\n", is->order.certificate);
	if (chain_download(acme, &is->order, &is->pem,
	    &is->pem_len) != 0 ||
	    cert_chain_parse(is->pem, is->pem_len, &is->chain, acme->err,
	    sizeof(acme->err)) != 0 ||
	    cert_check_key(&is->chain, is->cert_key.jwk, acme->err,
	    sizeof(acme->err)) != 0 ||
	    cert_check_names(&is->chain, &is->names, acme->err,
	    sizeof(acme->err)) != 0 ||
	    issue_limits_check_lifetime(is->tenant, &is->chain,
	    acme->not_after, acme->err, sizeof(acme->err)) != 0)
		return -1;

	if (store_version_name(time(NULL), is->chain.serial_hex, version,
	    sizeof(version)) != 0 ||
	    (label = names_store_label(is->names.items[0].value)) == NULL) {
		snprintf(acme->err, sizeof(acme->err), "out of memory");
		return -1;
	}
	files.cert_pem = is->chain.leaf_pem;
	files.chain_pem = is->chain.chain_pem;
	files.fullchain_pem = is->chain.fullchain_pem;
	files.key_uri = is->cert_key.uri;
	rc = store_certificate(is->config->store.directory, is->tenant->name,
	    label, version, &files, &is->stored, acme->err,
	    sizeof(acme->err));
	free(label);
	if (rc == 0)
		rc = record_issue(is, "success", NULL);
	return rc;
}

/*
 * Fetches the directory; an issuer that cannot be reached gives way to
 * the tenant's next issuer.
 */
static int
connect_issuer(struct issue *is)
{
	if (is->plan.count == 0) {
		snprintf(is->acme.err, sizeof(is->acme.err), "%s",
		    is->plan_err);
		return -1;
	}
	while (acme_directory_fetch(&is->acme) != 0)
		if (account_fallback(&is->acme, &is->plan, 1) != 0)
			return -1;
	return 0;
}

/* Loads or registers the account, moving on after a rate limit. */
static int
ensure_account(struct issue *is)
{
	while (acme_account_ensure(&is->acme) != 0)
		if (account_fallback(&is->acme, &is->plan, 0) != 0 ||
		    connect_issuer(is) != 0)
			return -1;
	return 0;
}

/*
 * Creates the order and completes its authorizations. A rate limit or a
 * 503 moves the order to the next account or issuer of the plan.
 */
static int
order_with_fallback(struct issue *is)
{
	while (create_order(is) != 0) {
		if (account_fallback(&is->acme, &is->plan, 0) != 0 ||
		    connect_issuer(is) != 0 || ensure_account(is) != 0)
			return -1;
		acme_order_clear(&is->order);
		free(is->order_url);
		is->order_url = NULL;
	}
	return 0;
}

/*
 * Checks that the store can take the certificate, as the broker user and
 * before the first request to the CA, so that a store problem costs no
 * order, no key and no certificate thrown away.
 */
static int
check_store(struct issue *is)
{
	struct acme_client *acme = &is->acme;
	char *label;
	int rc;

	label = names_store_label(is->names.items[0].value);
	if (label == NULL) {
		snprintf(acme->err, sizeof(acme->err), "out of memory");
		return -1;
	}
	rc = store_check_writable(is->config->store.directory,
	    is->tenant->name, label, acme->err, sizeof(acme->err));
	free(label);
	return rc;
}

static int
run_steps(struct issue *is)
{
	struct acme_client *acme = &is->acme;

	if (load_settings(is) != 0 || select_tenant(is) != 0)
		return -1;
	is->lock_fd = run_lock_acquire(is->config->broker.state_dir,
	    RUN_LOCK_ISSUE, acme->err, sizeof(acme->err));
	if (is->lock_fd < 0 || check_policy(is) != 0 ||
	    start_processes(is) != 0 || check_store(is) != 0)
		return -1;
	printf("issuer %s: %s\n", acme->issuer->name,
	    acme->issuer->directory);
	if (connect_issuer(is) != 0 ||
	    ensure_account(is) != 0 ||
	    audit_issue_account(acme->issuer->name, acme->account_url) != 0 ||
	    checkpoint(is, 0) != 0 ||
	    order_with_fallback(is) != 0 ||
	    checkpoint(is, 0) != 0 ||
	    finalize_order(is) != 0 ||
	    download_and_store(is) != 0)
		return -1;
	printf("stored: %s (serial %s)\n", is->stored, is->chain.serial_hex);
	return 0;
}

/*
 * Destroys the certificate key of a failed issuance. The signer allows it
 * only while no finalize request with the key's CSR was signed, so a key
 * that a CA may have certified stays in the token.
 */
static void
discard_key(struct issue *is)
{
	const char *key_id = is->cert_key.key_id;
	char err[512];

	if (key_id[0] == '\0' || is->stored != NULL || is->signer.pid <= 0)
		return;
	if (signer_key_destroy(&is->signer, key_id, err, sizeof(err)) == 0)
		printf("discarded the unused certificate key %s\n", key_id);
	else
		log_info("kept certificate key %s: %s", key_id, err);
}

/* Releases everything; failed is 1 when an error line was printed. */
static int
issue_cleanup(struct issue *is, int failed)
{
	char err[512];
	int rc = 0;

	challenge_set_free(&is->challenges);
	challenge_http_free(is->acme.responder);
	http_client_free(is->acme.http);
	acme_directory_clear(&is->acme.directory);
	acme_order_clear(&is->order);
	if (is->signer.pid > 0 &&
	    signer_finish(&is->signer, err, sizeof(err)) != 0) {
		if (failed || is->signer.printed_error)
			log_info("%s", err);
		else
			log_error("%s", err);
		rc = -1;
	}
	free(is->acme.nonce);
	free(is->acme.account_url);
	free(is->acme.account_thumbprint);
	free(is->order_url);
	signer_key_clear(&is->cert_key);
	free(is->csr);
	free(is->pem);
	cert_chain_clear(&is->chain);
	free(is->stored);
	names_clear(&is->names);
	account_plan_clear(&is->plan);
	caller_clear(&is->caller);
	policy_free(is->policy);
	audit_close(is->audit);
	config_free(is->config);
	if (is->lock_fd >= 0)
		close(is->lock_fd);
	interrupt_watch_signer(NULL);
	return rc;
}

int
issue_run(const struct issue_options *options)
{
	struct issue is;
	int rc;

	memset(&is, 0, sizeof(is));
	is.options = options;
	is.signer.fd = -1;
	is.signer.pid = -1;
	is.lock_fd = -1;
	interrupt_install();
	rc = run_steps(&is);
	if (rc != 0 && is.tenant != NULL)
		record_issue(&is, "failure", is.acme.err);
	if (rc != 0)
		discard_key(&is);
	if (rc == 0)
		rc = checkpoint(&is, 1);
	else
		checkpoint(&is, 1);
	/* A failed audit write is the cause to report, even after others. */
	if (audit_status(is.acme.err, sizeof(is.acme.err)) != 0)
		rc = -1;
	fflush(stdout);
	/*
	 * A signer that exited with an error has printed the cause, and each
	 * policy denial has its own error line.
	 */
	if (rc != 0 && (is.signer.printed_error || is.denials > 0))
		log_info("%s", is.acme.err);
	else if (rc != 0)
		log_error("%s", is.acme.err);
	if (issue_cleanup(&is, rc != 0) != 0)
		rc = -1;
	return rc == 0 ? 0 : 1;
}
