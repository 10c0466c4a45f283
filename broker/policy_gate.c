#include "broker/policy_gate.h"
#include "broker/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Keeps decisions off the log while the command line prints them itself.
 * The audit log still receives them when the command opened one.
 */
void
gate_quiet_decisions(void)
{
	policy_set_decision_hook(audit_record_decision, NULL);
}

void
gate_restore_decisions(void)
{
	policy_set_decision_hook(NULL, NULL);
}

/*
 * Returns the reason after its leading "SUBJECT: ", which the library
 * writes with policy_quote(), or NULL when the reason does not start so.
 */
static const char *
reason_after_subject(const char *reason, const char *subject)
{
	char quoted[POLICY_QUOTE_BUFSIZE];
	size_t len;

	policy_quote(subject, quoted);
	len = strlen(quoted);
	if (strncmp(reason, quoted, len) == 0 && reason[len] == ':' &&
	    reason[len + 1] == ' ')
		return reason + len + 2;
	return NULL;
}

void
gate_format_decision(const struct policy_tenant *tenant,
    const char *written, const char *canonical,
    const struct policy_decision *decision, char *out, size_t outlen)
{
	char where[POLICY_REASON_MAX];
	const char *rest = NULL;

	where[0] = '\0';
	if (!decision->allowed && decision->origin.line == 0 &&
	    tenant != NULL)
		snprintf(where, sizeof(where), " (tenant %s is at %s:%d:%d)",
		    tenant->name, tenant->origin.file, tenant->origin.line,
		    tenant->origin.column);
	if (written != NULL && canonical != NULL &&
	    strcmp(written, canonical) != 0)
		rest = reason_after_subject(decision->reason, canonical);
	if (rest != NULL)
		snprintf(out, outlen, "%s (%s): %s%s", written, canonical,
		    rest, where);
	else
		snprintf(out, outlen, "%s%s", decision->reason, where);
}

static void
report(const struct policy_tenant *tenant, const char *written,
    const char *canonical, const struct policy_decision *decision,
    gate_denial_fn denied, void *arg, size_t *count)
{
	char line[GATE_LINE_MAX];

	if (decision->allowed)
		return;
	gate_format_decision(tenant, written, canonical, decision, line,
	    sizeof(line));
	denied(line, arg);
	(*count)++;
}

/* Checks the identifiers; returns -1 when memory runs out. */
static int
check_names(const struct policy_tenant *tenant,
    const struct gate_request *request, gate_denial_fn denied, void *arg,
    size_t *count)
{
	const struct acme_names *names = request->names;
	struct policy_identifier *ids;
	struct policy_decision *decisions, result;

	ids = calloc(names->count, sizeof(*ids));
	decisions = calloc(names->count, sizeof(*decisions));
	if (ids == NULL || decisions == NULL) {
		free(ids);
		free(decisions);
		return -1;
	}
	for (size_t i = 0; i < names->count; i++) {
		ids[i].type = strcmp(names->items[i].type, "ip") == 0 ?
		    POLICY_ID_IP : POLICY_ID_DNS;
		ids[i].value = names->items[i].value;
	}
	policy_check_identifiers(tenant, ids, names->count, decisions,
	    &result);
	for (size_t i = 0; i < names->count; i++)
		report(tenant, request->written[i], ids[i].value,
		    &decisions[i], denied, arg, count);
	free(ids);
	free(decisions);
	return 0;
}

/*
 * Checks the key type, the number of names and, when request->usage is
 * set, max-certificates and rate, adding each denial to *count.
 */
static void
check_limits(const struct policy_tenant *tenant,
    const struct gate_request *request, gate_denial_fn denied, void *arg,
    size_t *count)
{
	struct policy_decision decision;

	policy_check_key_type(tenant, request->key_type, &decision);
	report(tenant, NULL, NULL, &decision, denied, arg, count);
	policy_check_name_count(tenant, request->names->count, &decision);
	report(tenant, NULL, NULL, &decision, denied, arg, count);
	if (request->usage == NULL)
		return;
	policy_check_certificates_held(tenant, request->usage->held,
	    &decision);
	report(tenant, NULL, NULL, &decision, denied, arg, count);
	policy_check_rate(tenant, request->usage->last_hour,
	    request->usage->last_day, &decision);
	report(tenant, NULL, NULL, &decision, denied, arg, count);
}

size_t
gate_check_request(const struct policy_tenant *tenant,
    const struct gate_request *request, gate_denial_fn denied, void *arg)
{
	struct policy_decision decision;
	size_t count = 0;

	gate_quiet_decisions();
	if (check_names(tenant, request, denied, arg, &count) != 0) {
		denied("out of memory while checking the names", arg);
		count++;
	}
	policy_check_issuer(tenant, request->issuer, &decision);
	report(tenant, NULL, NULL, &decision, denied, arg, &count);
	policy_check_account(tenant, request->account, &decision);
	report(tenant, NULL, NULL, &decision, denied, arg, &count);
	policy_check_challenge(tenant, request->challenge, &decision);
	report(tenant, NULL, NULL, &decision, denied, arg, &count);
	policy_check_key_export(tenant, request->key_export, &decision);
	report(tenant, NULL, NULL, &decision, denied, arg, &count);
	check_limits(tenant, request, denied, arg, &count);
	gate_restore_decisions();
	return count;
}

size_t
gate_check_import(const struct policy_tenant *tenant,
    const struct gate_request *request, gate_denial_fn denied, void *arg)
{
	struct policy_decision decision;
	size_t count = 0;

	gate_quiet_decisions();
	if (check_names(tenant, request, denied, arg, &count) != 0) {
		denied("out of memory while checking the names", arg);
		count++;
	}
	check_limits(tenant, request, denied, arg, &count);
	if (request->lifetime > 0) {
		policy_check_lifetime(tenant, request->lifetime, &decision);
		report(tenant, NULL, NULL, &decision, denied, arg, &count);
	}
	gate_restore_decisions();
	return count;
}
