/*
 * Wrapped keys for edge nodes: which certificate goes to which node is
 * the broker's decision (the grants in the policy), while the signer
 * checks the key, the tenant and the recipient before it wraps anything.
 * The broker stores only the blob that the signer returns.
 */
#include "broker/key_export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "broker/daemon.h"
#include "logging/log.h"

enum policy_export
cert_key_export(const struct state_cert *cert)
{
	json_t *settings;
	const char *mode;
	enum policy_export result = POLICY_EXPORT_HSM;

	if (cert->settings == NULL)
		return result;
	settings = json_loads(cert->settings, 0, NULL);
	mode = json_string_value(json_object_get(settings, "key_export"));
	if (mode != NULL && strcmp(mode, "wrapped") == 0)
		result = POLICY_EXPORT_WRAPPED;
	json_decref(settings);
	return result;
}

const char *
cert_key_export_settings(enum policy_export mode)
{
	return mode == POLICY_EXPORT_WRAPPED ?
	    "{\"key_export\":\"wrapped\"}" : "{}";
}

/* Wraps key_id for one node and stores the blob; returns 0 or -1. */
static int
wrap_for_node(struct daemon_worker *w, const struct state_cert *cert,
    const struct state_version *v, const char *key_id,
    const struct policy_node *node)
{
	struct state_wrapped_key stored;
	struct signer_wrapped wrapped;
	char err[1024];
	int rc;

	rc = state_wrapped_get(w->state, v->id, node->name,
	    node->recipient_fingerprint, &stored, err, sizeof(err));
	state_wrapped_clear(&stored);
	if (rc == 0)
		return 0;
	if (rc != STATE_NOT_FOUND ||
	    signer_key_wrap(&w->signer, key_id, node->name, &wrapped, err,
	    sizeof(err)) != 0) {
		log_error("certificate %lld: wrapping the key of version %s "
		    "for node %s failed: %s", (long long)cert->id, v->name,
		    node->name, err);
		return -1;
	}
	if (strcmp(wrapped.recipient, node->recipient_fingerprint) != 0) {
		log_error("certificate %lld: the signer wrapped the key for "
		    "node %s to recipient %s, but the policy names %s "
		    "(reload both with SIGHUP)", (long long)cert->id,
		    node->name, wrapped.recipient,
		    node->recipient_fingerprint);
		signer_wrapped_clear(&wrapped);
		return -1;
	}
	stored.version_id = v->id;
	stored.node = (char *)node->name;
	stored.recipient = wrapped.recipient;
	stored.oaep_hash = wrapped.oaep_hash;
	stored.key_type = wrapped.key_type;
	stored.data = wrapped.data;
	stored.created = time(NULL);
	rc = state_wrapped_put(w->state, &stored, err, sizeof(err));
	if (rc != 0)
		log_error("certificate %lld: %s", (long long)cert->id, err);
	else
		log_info("certificate %lld: wrapped the key of version %s for "
		    "node %s (recipient %s)", (long long)cert->id, v->name,
		    node->name, wrapped.recipient);
	signer_wrapped_clear(&wrapped);
	return rc;
}

int
key_export_wrap_current(struct daemon_worker *w,
    const struct state_cert *cert)
{
	const struct policy_tenant *tenant;
	const struct policy_node *node;
	struct state_version v = { 0 };
	const char *saved_tenant = w->signer.tenant;
	char err[512], *key_id = NULL;
	int failures = 0, rc;
	size_t i;

	if (cert->removed || cert_key_export(cert) != POLICY_EXPORT_WRAPPED)
		return 0;
	tenant = policy_find_tenant(w->policy, cert->tenant);
	if (tenant == NULL)
		return 0;
	rc = state_version_current(w->state, cert->id, &v, err, sizeof(err));
	if (rc == STATE_NOT_FOUND)
		return 0;
	if (rc != 0) {
		log_error("certificate %lld: %s", (long long)cert->id, err);
		return 1;
	}
	if (state_version_key_id(w->state, v.id, &key_id, err,
	    sizeof(err)) != 0) {
		log_error("certificate %lld: %s", (long long)cert->id, err);
		state_version_clear(&v);
		return 1;
	}
	w->signer.tenant = tenant->name;
	for (i = 0; i < tenant->node_count; i++) {
		node = &tenant->nodes[i];
		if (node->recipient_der != NULL &&
		    policy_node_grants(node, (long long)cert->id,
		    cert->label) &&
		    wrap_for_node(w, cert, &v, key_id, node) != 0)
			failures++;
	}
	w->signer.tenant = saved_tenant;
	free(key_id);
	state_version_clear(&v);
	return failures;
}

void
key_export_wrap_all(struct daemon_worker *w)
{
	struct state_cert cert;
	int64_t *ids = NULL;
	size_t count = 0, i;
	char err[512];

	if (state_cert_wrapped(w->state, &ids, &count, err,
	    sizeof(err)) != 0) {
		log_error("%s", err);
		return;
	}
	for (i = 0; i < count && !daemon_stop; i++) {
		if (state_cert_get(w->state, ids[i], &cert, err,
		    sizeof(err)) != 0) {
			log_error("%s", err);
			continue;
		}
		key_export_wrap_current(w, &cert);
		daemon_count_signer_requests(w, cert.tenant);
		state_cert_clear(&cert);
	}
	free(ids);
}
