/*
 * The setup shared by "custos account" and "custos revoke".
 */
#include "broker/account_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/audit_issue.h"
#include "broker/audit_signer.h"
#include "broker/privdrop.h"
#include "logging/log.h"

/* Chooses the candidate that the options name, or the first one. */
static int
choose_account(struct account_session *session,
    const struct account_session_options *options)
{
	struct acme_client *acme = &session->acme;
	const struct account_candidate *candidate;

	if (account_plan_build(session->config, session->tenant,
	    options->issuer, time(NULL), &session->plan, acme->err,
	    sizeof(acme->err)) != 0)
		return -1;
	for (size_t i = 0; i < session->plan.count; i++) {
		candidate = &session->plan.items[i];
		if (options->account == NULL ||
		    strcmp(candidate->account, options->account) == 0) {
			acme->issuer = candidate->issuer;
			acme->account_name = candidate->account;
			return 0;
		}
	}
	snprintf(acme->err, sizeof(acme->err), "account \"%s\" is not one "
	    "that tenant %s may use at issuer %s (check the issuer's "
	    "account list and the tenant's accounts)",
	    options->account, session->tenant->name,
	    options->issuer != NULL ? options->issuer : "(any)");
	return -1;
}

static int
open_audit(struct account_session *session, char *err, size_t errlen)
{
	if (audit_open(&session->config->audit, &session->audit, err,
	    errlen) != 0)
		return -1;
	audit_set_current(session->audit);
	audit_set_actor(session->audit, NULL, session->caller.user,
	    session->caller.uid, NULL);
	return 0;
}

/*
 * The audit log needs the broker's rights, so it is opened only after the
 * caller's tenant is known: a caller in no tenant gets the tenant error,
 * and the denial is recorded when this process can open the log.
 */
static void
record_tenant_denied(struct account_session *session, const char *tenant)
{
	char audit_err[ACME_ERR_MAX];

	if (open_audit(session, audit_err, sizeof(audit_err)) == 0)
		audit_issue_tenant_denied(tenant, session->acme.err);
	else
		log_info("the denial was not recorded in the audit log: %s",
		    audit_err);
}

int
account_session_prepare(struct account_session *session,
    const struct account_session_options *options)
{
	struct acme_client *acme = &session->acme;

	memset(session, 0, sizeof(*session));
	session->signer.fd = -1;
	session->signer.pid = -1;
	acme_failure_clear(acme);
	if (config_load(options->config_path, &session->config, acme->err,
	    sizeof(acme->err)) != 0)
		return -1;
	acme->config = session->config;
	if (options->issuer != NULL &&
	    config_find_issuer(session->config, options->issuer) == NULL) {
		snprintf(acme->err, sizeof(acme->err), "issuer \"%s\" not "
		    "found in %s (check --issuer)", options->issuer,
		    options->config_path);
		return -1;
	}
	if (policy_load(session->config->policy.file, policy_name_normalize,
	    &session->policy, acme->err, sizeof(acme->err)) != 0 ||
	    caller_identify(&session->caller, acme->err,
	    sizeof(acme->err)) != 0)
		return -1;
	if (tenant_select(session->policy, &session->caller, options->tenant,
	    &session->tenant, acme->err, sizeof(acme->err)) != 0) {
		record_tenant_denied(session, options->tenant);
		return -1;
	}
	if (open_audit(session, acme->err, sizeof(acme->err)) != 0)
		return -1;
	audit_set_actor(session->audit, session->tenant->name,
	    session->caller.user, session->caller.uid, NULL);
	session->signer.tenant = session->tenant->name;
	return choose_account(session, options);
}

int
account_session_connect(struct account_session *session)
{
	const struct custos_config *config = session->config;
	struct acme_client *acme = &session->acme;
	char *program = config->signer.program;
	int rc;

	if (program == NULL)
		program = signer_default_program(acme->err, sizeof(acme->err));
	if (program == NULL)
		return -1;
	rc = signer_spawn(program, config->path, &session->signer, acme->err,
	    sizeof(acme->err));
	if (program != config->signer.program)
		free(program);
	if (rc != 0)
		return -1;
	acme->signer = &session->signer;
	if (privdrop_to_user(config->broker.user != NULL ?
	    config->broker.user : "custos", config->path, acme->err,
	    sizeof(acme->err)) != 0 ||
	    http_client_new(acme->issuer->trust_bundle,
	    config->acme.http_timeout, &acme->http, acme->err,
	    sizeof(acme->err)) != 0)
		return -1;
	printf("issuer %s: %s\n", acme->issuer->name,
	    acme->issuer->directory);
	return acme_directory_fetch(acme);
}

int
account_session_close(struct account_session *session)
{
	struct acme_client *acme = &session->acme;
	char err[512];
	int rc = 0;

	http_client_free(acme->http);
	acme_directory_clear(&acme->directory);
	if (session->audit != NULL && session->signer.pid > 0 &&
	    audit_checkpoint(session->audit, audit_signer_sign,
	    &session->signer, err, sizeof(err)) != 0) {
		log_error("%s", err);
		rc = -1;
	}
	if (session->signer.pid > 0 &&
	    signer_finish(&session->signer, err, sizeof(err)) != 0) {
		log_error("%s", err);
		rc = -1;
	}
	if (audit_status(err, sizeof(err)) != 0) {
		log_error("%s", err);
		rc = -1;
	}
	audit_close(session->audit);
	free(acme->nonce);
	free(acme->account_url);
	free(acme->account_thumbprint);
	account_plan_clear(&session->plan);
	caller_clear(&session->caller);
	policy_free(session->policy);
	config_free(session->config);
	return rc;
}

int
account_session_fail(struct account_session *session)
{
	fflush(stdout);
	if (session->signer.printed_error)
		log_info("%s", session->acme.err);
	else
		log_error("%s", session->acme.err);
	return 1;
}
