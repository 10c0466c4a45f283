/*
 * The audit records of "custos issue": one call per step, so that the
 * command's code stays a list of steps. Each returns 0 or -1 like
 * audit_record_event().
 */
#include "broker/audit_issue.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Starts an object with the names and the issuer of a request. */
static json_t *
request_object(const struct acme_names *names, const char *issuer)
{
	json_t *object = json_object(), *list = json_array();

	if (object == NULL || list == NULL) {
		json_decref(object);
		json_decref(list);
		return NULL;
	}
	for (size_t i = 0; names != NULL && i < names->count; i++)
		json_array_append_new(list, json_string(names->items[i].value));
	json_object_set_new(object, "names", list);
	if (issuer != NULL)
		json_object_set_new(object, "issuer", json_string(issuer));
	return object;
}

static void
set_string(json_t *object, const char *key, const char *value)
{
	if (object != NULL && value != NULL)
		json_object_set_new(object, key, json_string(value));
}

int
audit_issue_account(const char *issuer, const char *account_url)
{
	return audit_record_account("account.ensure", account_url, issuer,
	    NULL, "success", NULL);
}

int
audit_issue_order(const struct acme_names *names, const char *issuer,
    const char *account_url, const char *order_url)
{
	json_t *object = request_object(names, issuer);

	set_string(object, "account", account_url);
	set_string(object, "order", order_url);
	return audit_record_event("order.create", object, "success", NULL);
}

int
audit_issue_authorized(const struct acme_names *names, const char *order_url)
{
	json_t *object = request_object(names, NULL);

	set_string(object, "order", order_url);
	return audit_record_event("order.authorize", object, "success", NULL);
}

int
audit_issue_done(const struct issue_facts *facts, const char *outcome,
    const char *reason)
{
	json_t *object = request_object(facts->names, facts->issuer);

	set_string(object, "account", facts->account_url);
	set_string(object, "order", facts->order_url);
	set_string(object, "key_id", facts->key_id);
	set_string(object, "serial", facts->serial);
	set_string(object, "stored", facts->stored);
	return audit_record_event("certificate.issue", object, outcome,
	    reason);
}

int
audit_issue_tenant_denied(const char *requested, const char *reason)
{
	json_t *object = json_object();

	set_string(object, "subject", "tenant selection");
	set_string(object, "requested_tenant", requested);
	return audit_record_event("policy.decision", object, "denied",
	    reason);
}

int
audit_daemon_start(struct audit_log *log, const struct custos_config *config)
{
	json_t *object = json_object();

	audit_set_current(log);
	audit_set_actor(log, NULL, config->broker.user, getuid(), NULL);
	set_string(object, "file", config->path);
	return audit_record_event("config.load", object, "success", NULL);
}

/* Splits the space-separated names of a managed certificate. */
static json_t *
split_names(const char *text)
{
	json_t *list = json_array();
	const char *p = text;
	size_t len;

	while (list != NULL && p != NULL && *p != '\0') {
		len = strcspn(p, " ");
		if (len > 0)
			json_array_append_new(list, json_stringn(p, len));
		p += len;
		p += strspn(p, " ");
	}
	return list;
}

int
audit_daemon_result(const struct state_cert *cert, const char *outcome,
    const char *reason)
{
	json_t *object = json_object();

	if (object != NULL) {
		json_object_set_new(object, "certificate_id",
		    json_integer(cert->id));
		json_object_set_new(object, "generation",
		    json_integer(cert->generation));
		json_object_set_new(object, "names", split_names(cert->names));
	}
	set_string(object, "tenant", cert->tenant);
	set_string(object, "issuer", cert->issuer);
	return audit_record_event("certificate.issue", object, outcome,
	    reason);
}

int
audit_cert_command(const char *command, long long certificate_id,
    const char *tenant, const char *names, const char *outcome,
    const char *reason)
{
	json_t *details = json_pack("{s:s}", "interface", "cli");

	if (details != NULL && certificate_id > 0)
		json_object_set_new(details, "certificate_id",
		    json_integer(certificate_id));
	set_string(details, "tenant", tenant);
	if (details != NULL && names != NULL)
		json_object_set_new(details, "names", split_names(names));
	return audit_record_command(command, details, outcome, reason);
}
