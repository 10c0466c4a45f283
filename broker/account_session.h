/*
 * The setup that "custos account" and "custos revoke" share: the
 * configuration, the caller's tenant and its policy check of the issuer
 * and account, the signer, the privilege drop and the issuer's directory.
 */
#ifndef CUSTOS_BROKER_ACCOUNT_SESSION_H
#define CUSTOS_BROKER_ACCOUNT_SESSION_H

#include "broker/account.h"
#include "broker/acme.h"
#include "broker/audit.h"
#include "broker/signer_client.h"
#include "broker/tenant.h"
#include "policy/policy.h"

struct account_session_options {
	const char *config_path;
	const char *tenant;	/* NULL: the tenant that lists the caller */
	const char *issuer;	/* NULL: the tenant's first usable issuer */
	const char *account;	/* NULL: the issuer's first usable account */
};

struct account_session {
	struct custos_config *config;
	struct policy *policy;
	struct caller caller;
	const struct policy_tenant *tenant;
	struct account_plan plan;
	struct signer_client signer;
	struct acme_client acme;
	struct audit_log *audit;	/* the process's audit log */
};

/*
 * Loads the configuration and policy, opens the audit log and chooses
 * the issuer and account the caller's tenant may use (both checked
 * against its policy). Returns 0, or -1 with a message in
 * session->acme.err.
 */
int account_session_prepare(struct account_session *session,
    const struct account_session_options *options);

/*
 * Starts the signer, drops privileges to the broker user and fetches the
 * issuer's directory.
 */
int account_session_connect(struct account_session *session);

/*
 * Signs a final audit checkpoint when the signer runs and releases
 * everything. Returns -1 when the checkpoint or an audit write failed or
 * the signer exited with an error.
 */
int account_session_close(struct account_session *session);

/* Prints the session's error to stderr and returns exit status 1. */
int account_session_fail(struct account_session *session);

#endif
