/*
 * The audit records of "custos issue" (docs/audit.md lists each action
 * and its members). Without an open audit log each call does nothing.
 */
#ifndef CUSTOS_BROKER_AUDIT_ISSUE_H
#define CUSTOS_BROKER_AUDIT_ISSUE_H

#include "broker/audit.h"
#include "broker/names.h"
#include "broker/state.h"

/* The facts an issuance has gathered so far; NULL members are left out. */
struct issue_facts {
	const struct acme_names *names;
	const char *issuer;
	const char *account_url;
	const char *order_url;
	const char *key_id;
	const char *serial;
	const char *stored;	/* the store directory of this version */
};

int audit_issue_account(const char *issuer, const char *account_url);
int audit_issue_order(const struct acme_names *names, const char *issuer,
    const char *account_url, const char *order_url);
int audit_issue_authorized(const struct acme_names *names,
    const char *order_url);
/* The certificate.issue record; outcome "success" or "failure". */
int audit_issue_done(const struct issue_facts *facts, const char *outcome,
    const char *reason);
/* A caller that no tenant lists, or that may not act for the tenant. */
int audit_issue_tenant_denied(const char *requested, const char *reason);

/*
 * Makes log the process's log for the daemon's worker and records the
 * configuration it loaded, which after a reload is the new one.
 */
int audit_daemon_start(struct audit_log *log,
    const struct custos_config *config);
/* The certificate.issue record of one daemon task. */
int audit_daemon_result(const struct state_cert *cert, const char *outcome,
    const char *reason);

/*
 * The admin.command record of "custos cert COMMAND" run without the
 * daemon's API: certificate_id 0 and NULL strings are left out, names
 * are separated by spaces.
 */
int audit_cert_command(const char *command, long long certificate_id,
    const char *tenant, const char *names, const char *outcome,
    const char *reason);

#endif
