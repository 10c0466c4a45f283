/*
 * The process's audit log and the functions that record one kind of
 * event each. Hooks cannot return an error, so the first failure is kept
 * and audit_status() returns it before the command reports success.
 */
#include "broker/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Maximum decisions held; a further one appends those held first. */
#define HELD_MAX 32

static struct audit_log *current_log;
static char first_error[AUDIT_ERR_MAX];

/*
 * Decisions of this thread between audit_hold_decisions() and
 * audit_release_decisions(), appended together with one write.
 */
struct held_decision {
	json_t *object;
	const char *outcome;
	char *reason;
};
static _Thread_local struct held_decision held[HELD_MAX];
static _Thread_local size_t held_count;
static _Thread_local int holding;

void
audit_set_current(struct audit_log *log)
{
	current_log = log;
}

struct audit_log *
audit_current(void)
{
	return current_log;
}

int
audit_status(char *err, size_t errlen)
{
	if (first_error[0] == '\0')
		return 0;
	snprintf(err, errlen, "%s", first_error);
	return -1;
}

int
audit_record_from(const char *source, const char *action, json_t *object,
    const char *outcome, const char *reason)
{
	char err[AUDIT_ERR_MAX];
	int rc;

	if (current_log == NULL) {
		json_decref(object);
		return 0;
	}
	rc = audit_append(current_log, source, action, object, outcome,
	    reason, err, sizeof(err));
	json_decref(object);
	if (rc != 0) {
		if (first_error[0] == '\0')
			snprintf(first_error, sizeof(first_error), "%s", err);
	}
	return rc;
}

int
audit_record_many(const struct audit_entry *entries, size_t count)
{
	char err[AUDIT_ERR_MAX];

	if (current_log == NULL ||
	    audit_append_many(current_log, entries, count, err,
	    sizeof(err)) == 0)
		return 0;
	if (first_error[0] == '\0')
		snprintf(first_error, sizeof(first_error), "%s", err);
	return -1;
}

int
audit_record_event(const char *action, json_t *object, const char *outcome,
    const char *reason)
{
	return audit_record_from("broker", action, object, outcome, reason);
}

void
audit_hold_decisions(void)
{
	holding = 1;
}

int
audit_release_decisions(void)
{
	struct audit_entry entries[HELD_MAX];
	int rc = 0;

	holding = 0;
	for (size_t i = 0; i < held_count; i++)
		entries[i] = (struct audit_entry){ "broker",
		    "policy.decision", held[i].object, held[i].outcome,
		    held[i].reason };
	if (held_count > 0)
		rc = audit_record_many(entries, held_count);
	for (size_t i = 0; i < held_count; i++) {
		json_decref(held[i].object);
		free(held[i].reason);
	}
	held_count = 0;
	return rc;
}

/* Keeps one decision for the release; returns -1 when it cannot. */
static int
hold(json_t *object, const char *outcome, const char *reason)
{
	char *copy;

	if (held_count == HELD_MAX) {
		audit_release_decisions();
		holding = 1;
	}
	copy = strdup(reason);
	if (copy == NULL)
		return -1;
	held[held_count++] = (struct held_decision){ object, outcome, copy };
	return 0;
}

void
audit_record_decision(const struct policy_tenant *tenant,
    const char *subject, const struct policy_decision *decision,
    void *arg)
{
	json_t *object = json_object();
	char origin[POLICY_REASON_MAX];

	(void)arg;
	if (object == NULL)
		return;
	if (tenant != NULL)
		json_object_set_new(object, "tenant",
		    json_string(tenant->name));
	json_object_set_new(object, "subject", json_string(subject));
	if (decision->origin.line > 0 && decision->origin.file != NULL) {
		snprintf(origin, sizeof(origin), "%s:%d:%d",
		    decision->origin.file, decision->origin.line,
		    decision->origin.column);
		json_object_set_new(object, "rule", json_string(origin));
	}
	if (holding && current_log != NULL &&
	    hold(object, decision->allowed ? "allowed" : "denied",
	    decision->reason) == 0)
		return;
	audit_record_event("policy.decision", object,
	    decision->allowed ? "allowed" : "denied", decision->reason);
}

/* Sets key to a string value when value is not NULL. */
static void
set_string(json_t *object, const char *key, const char *value)
{
	if (object != NULL && value != NULL)
		json_object_set_new(object, key, json_string(value));
}

int
audit_record_revocation(const struct audit_revocation *revocation,
    const char *outcome, const char *reason)
{
	json_t *object = json_object();

	set_string(object, "serial", revocation->serial);
	set_string(object, "issuer", revocation->issuer);
	set_string(object, "account", revocation->account_url);
	set_string(object, "signed_by", revocation->signed_by);
	set_string(object, "key_id", revocation->key_id);
	set_string(object, "stored", revocation->stored);
	if (object != NULL && revocation->reason_code >= 0)
		json_object_set_new(object, "revocation_reason",
		    json_integer(revocation->reason_code));
	return audit_record_event("certificate.revoke", object, outcome,
	    reason);
}

int
audit_record_account(const char *action, const char *account_url,
    const char *issuer, const char *key_id, const char *outcome,
    const char *reason)
{
	json_t *object = json_object();

	set_string(object, "account", account_url);
	set_string(object, "issuer", issuer);
	set_string(object, "key_id", key_id);
	return audit_record_event(action, object, outcome, reason);
}

int
audit_record_rollover(const char *account_url, const char *issuer,
    const char *old_key_id, const char *new_key_id, const char *outcome,
    const char *reason)
{
	json_t *object = json_object();

	set_string(object, "account", account_url);
	set_string(object, "issuer", issuer);
	set_string(object, "old_key_id", old_key_id);
	set_string(object, "key_id", new_key_id);
	return audit_record_event("account.rollover", object, outcome,
	    reason);
}

int
audit_record_key_destroy(const char *key_id, const char *purpose,
    const char *outcome, const char *reason)
{
	json_t *object = json_object();

	set_string(object, "key_id", key_id);
	set_string(object, "purpose", purpose);
	return audit_record_event("key.destroy", object, outcome, reason);
}

int
audit_record_rollback(long long certificate_id, const char *tenant,
    const char *from_version, const char *to_version, const char *trigger,
    const char *outcome, const char *reason)
{
	json_t *object = json_object();

	if (object != NULL)
		json_object_set_new(object, "certificate_id",
		    json_integer(certificate_id));
	set_string(object, "tenant", tenant);
	set_string(object, "from_version", from_version);
	set_string(object, "to_version", to_version);
	set_string(object, "trigger", trigger);
	return audit_record_event("certificate.rollback", object, outcome,
	    reason);
}

int
audit_record_import(const char *name, const char *serial,
    const char *outcome, const char *reason)
{
	json_t *object = json_object();

	set_string(object, "name", name);
	set_string(object, "serial", serial);
	return audit_record_event("certificate.import", object, outcome,
	    reason);
}

int
audit_record_command(const char *command, json_t *details,
    const char *outcome, const char *reason)
{
	json_t *object = json_object();

	set_string(object, "command", command);
	if (object != NULL && details != NULL)
		json_object_update(object, details);
	json_decref(details);
	return audit_record_event("admin.command", object, outcome, reason);
}
