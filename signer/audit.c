/*
 * The signer's audit records. Each is one IPC_AUDIT_RECORD frame on the
 * audit channel, written before the reply of the request it belongs to,
 * so that the broker has read it when the reply arrives.
 */
#include "audit.h"

#include <stdlib.h>
#include <string.h>

#include "ipc/ipc.h"
#include "logging/log.h"

static int audit_fd = -1;
static int write_failed;

/*
 * Sends a decision to the audit channel and logs it: a denial at info
 * level, an allowed decision at debug level. Each jws-sign request
 * makes five allowed decisions, and the audit channel records them all.
 */
static void
record_decision(const struct policy_tenant *tenant, const char *subject,
    const struct policy_decision *decision, void *arg)
{
	enum log_level level = decision->allowed ? LOG_LEVEL_DEBUG :
	    LOG_LEVEL_INFO;
	char quoted[POLICY_QUOTE_BUFSIZE];
	json_t *record;

	(void)arg;
	if (log_get_level() >= level)
		log_message(level, "policy: tenant %s: %s: %s",
		    tenant ? policy_quote(tenant->name, quoted) : "(none)",
		    decision->allowed ? "allow" : "deny", decision->reason);
	/* Without a channel, signer_audit_send() would only log it. */
	if (audit_fd < 0 && log_get_level() < LOG_LEVEL_DEBUG)
		return;
	record = json_pack("{s:s, s:s, s:s, s:s}", "action",
	    "policy.decision", "outcome",
	    decision->allowed ? "allowed" : "denied", "subject", subject,
	    "reason", decision->reason);
	if (record != NULL && tenant != NULL)
		json_object_set_new(record, "tenant",
		    json_string(tenant->name));
	signer_audit_send(record);
}

void
signer_audit_init(int fd)
{
	audit_fd = fd;
	policy_set_decision_hook(record_decision, NULL);
}

void
signer_audit_send(json_t *record)
{
	char *text;
	int rc;

	if (record == NULL) {
		log_warn("audit record lost: out of memory");
		return;
	}
	if (audit_fd < 0) {
		if (log_get_level() >= LOG_LEVEL_DEBUG) {
			text = json_dumps(record, JSON_COMPACT);
			log_debug("audit record (no audit channel): %s",
			    text ? text : "?");
			free(text);
		}
		json_decref(record);
		return;
	}
	rc = ipc_write_json(audit_fd, IPC_AUDIT_RECORD, record);
	json_decref(record);
	if (rc != 0 && !write_failed) {
		write_failed = 1;
		log_warn("writing to the audit channel failed: %s",
		    ipc_strerror(rc));
	}
}

/* Sets key to value when value is a non-empty string. */
static void
set_text(json_t *record, const char *key, const char *value)
{
	if (record != NULL && value != NULL && value[0] != '\0')
		json_object_set_new(record, key, json_string(value));
}

static void
send_key_generate(const char *tenant, const char *account,
    const json_t *result)
{
	json_t *record;

	record = json_pack("{s:s, s:s}", "action", "key.generate", "outcome",
	    "success");
	set_text(record, "tenant", tenant);
	set_text(record, "account", account);
	set_text(record, "key_id",
	    json_string_value(json_object_get(result, "key_id")));
	set_text(record, "key_type",
	    json_string_value(json_object_get(result, "type")));
	signer_audit_send(record);
}

void
signer_audit_request(uint16_t type, const char *code, const char *message,
    const char *tenant, const char *account, const char *key_id,
    const char *names, const json_t *result)
{
	json_t *record;

	if (code == NULL) {
		if (type == IPC_KEY_GENERATE)
			send_key_generate(tenant, account, result);
		return;
	}
	record = json_pack("{s:s, s:s, s:s, s:s}", "action",
	    "signer.refusal", "outcome",
	    strcmp(code, "policy-denied") == 0 ? "denied" : "failure",
	    "request", ipc_type_name(type), "code", code);
	set_text(record, "reason", message);
	set_text(record, "tenant", tenant);
	set_text(record, "account", account);
	set_text(record, "key_id", key_id);
	set_text(record, "subject", names);
	signer_audit_send(record);
}
