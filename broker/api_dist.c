/*
 * The distribution endpoint: an edge node, authenticated by its own
 * bearer token from the policy (node NAME { ... } inside a tenant),
 * fetches the current chain of a certificate it is granted, the RFC 7512
 * URI of the certificate's key in the HSM (or, for a certificate whose
 * key is exported wrapped, the key encrypted to the node's recipient
 * key), and the version's name as an ETag. Every certificate the node
 * may not fetch (unknown, removed, not granted, another tenant's) gets
 * the same 404.
 */
#include "broker/api_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "broker/key_export.h"

#include "logging/log.h"

/* Largest PEM file or key URI file read from the store. */
#define DIST_FILE_MAX (1024 * 1024)
#define DIST_PATH_MAX 4096

/* A certificate found by its label while listing the tenant's ones. */
struct label_search {
	const char *tenant;
	const char *label;
	int64_t id;
};

static void
match_label(const struct state_cert *cert, void *arg)
{
	struct label_search *search = arg;

	if (search->id == 0 && strcmp(cert->tenant, search->tenant) == 0 &&
	    strcmp(cert->label, search->label) == 0)
		search->id = cert->id;
}

/* Returns 1 when ref is a certificate id: 1 to 18 digits, no leading 0. */
static int
ref_is_id(const char *ref, int64_t *id)
{
	size_t len = strspn(ref, "0123456789");

	if (len == 0 || len > 18 || ref[len] != '\0' || ref[0] == '0')
		return 0;
	*id = strtoll(ref, NULL, 10);
	return 1;
}

static void
not_found(struct api_reply *reply, const char *ref)
{
	api_problem(reply, API_ERR_NOT_FOUND, "no certificate \"%.128s\" for "
	    "this node (check the id or label, and the node's certificates "
	    "in the policy)", ref);
}

/*
 * Loads the certificate ref (an id or a label of the node's tenant) when
 * the node is granted it. Returns 0, or -1 after setting reply.
 */
static int
load_granted(const struct api_call *call, const char *ref,
    struct state_cert *cert, struct api_reply *reply)
{
	const struct caller *caller = call->caller;
	struct label_search search = { caller->node_tenant->name, ref, 0 };
	char err[512];
	int64_t id = 0;
	int rc;

	if (!ref_is_id(ref, &id)) {
		if (state_cert_list(call->ctx->state, match_label, &search,
		    err, sizeof(err)) != 0) {
			log_error("api: %s", err);
			api_problem(reply, API_ERR_INTERNAL, "%s", err);
			return -1;
		}
		id = search.id;
	}
	rc = id > 0 ? state_cert_get(call->ctx->state, id, cert, err,
	    sizeof(err)) : STATE_NOT_FOUND;
	if (rc != 0 && rc != STATE_NOT_FOUND) {
		log_error("api: %s", err);
		api_problem(reply, API_ERR_INTERNAL, "%s", err);
		return -1;
	}
	if (rc == STATE_NOT_FOUND || cert->removed ||
	    strcmp(cert->tenant, caller->node_tenant->name) != 0 ||
	    !policy_node_grants(caller->node, (long long)cert->id,
	    cert->label)) {
		if (rc == 0)
			state_cert_clear(cert);
		not_found(reply, ref);
		return -1;
	}
	return 0;
}

/* Reads a whole file of the version; NULL with a message in err. */
static char *
read_store_file(const char *dir, const char *name, char *err,
    size_t errlen)
{
	char path[DIST_PATH_MAX + 32], *text = NULL;
	size_t len = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "re");
	if (f == NULL) {
		snprintf(err, errlen, "cannot open %s: %s", path,
		    strerror(errno));
		return NULL;
	}
	text = malloc(DIST_FILE_MAX + 1);
	if (text != NULL)
		len = fread(text, 1, DIST_FILE_MAX + 1, f);
	if (text == NULL || ferror(f) || len > DIST_FILE_MAX) {
		snprintf(err, errlen, "cannot read %s: %s", path, text ==
		    NULL ? "out of memory" : len > DIST_FILE_MAX ?
		    "larger than 1 MiB" : strerror(errno));
		free(text);
		text = NULL;
	} else {
		text[len] = '\0';
	}
	fclose(f);
	return text;
}

/* Returns 1 when an If-None-Match list contains tag or is "*". */
static int
tag_matches(const char *header, const char *tag)
{
	size_t taglen = strlen(tag), len;
	const char *p = header;

	while (*p != '\0') {
		p += strspn(p, " \t,");
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		len = strcspn(p, " \t,");
		if ((len == 1 && *p == '*') ||
		    (len == taglen && strncmp(p, tag, len) == 0))
			return 1;
		p += len;
	}
	return 0;
}

/* The key reference: the key.uri file without its newline. */
static json_t *
key_json(char *uri)
{
	uri[strcspn(uri, "\r\n")] = '\0';
	return json_pack("{s:s, s:s}", "uri", uri, "export", "hsm");
}

/* Splits the space-separated names into a JSON array. */
static json_t *
names_json(const char *names)
{
	json_t *array = json_array();
	size_t len;

	while (array != NULL && *names != '\0') {
		len = strcspn(names, " ");
		if (len > 0 && json_array_append_new(array,
		    json_stringn(names, len)) != 0) {
			json_decref(array);
			return NULL;
		}
		names += len + strspn(names + len, " ");
	}
	return array;
}

/* The key member of a wrapped certificate, in the fixed wire format. */
static json_t *
wrapped_key_json(const struct state_wrapped_key *wk)
{
	return json_pack("{s:s, s:{s:s, s:s, s:s, s:s, s:s}}", "export",
	    "wrapped", "wrapped", "format", "rsa-oaep-aes-kwp", "oaep_hash",
	    wk->oaep_hash, "recipient", wk->recipient, "key_type",
	    wk->key_type, "data", wk->data);
}

/*
 * Builds the body from the version's files; NULL with err set. wrapped
 * is the node's wrapped key for a wrapped certificate, else NULL.
 */
static json_t *
dist_json(const struct state_cert *cert, const struct state_version *v,
    const char *dir, const struct state_wrapped_key *wrapped, char *err,
    size_t errlen)
{
	char *files[4] = { NULL, NULL, NULL, NULL };
	static const char *const names[4] = {
		"cert.pem", "chain.pem", "fullchain.pem", "key.uri",
	};
	json_t *doc = NULL;
	size_t i;

	for (i = 0; i < 4; i++)
		if ((files[i] = read_store_file(dir, names[i], err,
		    errlen)) == NULL)
			goto out;
	doc = json_pack("{s:I, s:s, s:s, s:o, s:s, s:s, s:o, s:o, s:s, "
	    "s:s, s:s, s:o}", "id", (json_int_t)cert->id, "tenant",
	    cert->tenant, "label", cert->label, "names",
	    names_json(cert->names),
	    "version", v->name, "serial", v->serial, "not_before",
	    api_time_json(v->not_before), "not_after",
	    api_time_json(v->not_after), "certificate", files[0], "chain",
	    files[1], "fullchain", files[2], "key", wrapped != NULL ?
	    wrapped_key_json(wrapped) : key_json(files[3]));
	if (doc == NULL)
		snprintf(err, errlen, "out of memory");
out:
	for (i = 0; i < 4; i++)
		free(files[i]);
	return doc;
}

/*
 * Loads the node's wrapped key of version v. A tenant whose key-export
 * no longer lists wrapped gets 403, a node without a recipient key 409
 * no-recipient, and a version not wrapped for the node's current
 * recipient key yet 404. Returns 0, or -1 with reply set.
 */
static int
load_wrapped(const struct api_call *call, const struct state_cert *cert,
    const struct state_version *v, struct state_wrapped_key *wrapped,
    struct api_reply *reply)
{
	const struct policy_node *node = call->caller->node;
	struct policy_decision decision;
	char err[512];
	int rc;

	if (!policy_check_key_export(call->caller->node_tenant,
	    POLICY_EXPORT_WRAPPED, &decision)) {
		api_problem(reply, API_ERR_POLICY_DENIED, "certificate %lld "
		    "exports its key wrapped, which the policy no longer "
		    "allows: %s", (long long)cert->id, decision.reason);
		return -1;
	}
	if (node->recipient_der == NULL) {
		api_problem(reply, API_ERR_NO_RECIPIENT, "certificate %lld "
		    "exports its key wrapped, and node %s has no recipient "
		    "key (add recipient \"PATH\" with the node's RSA public "
		    "key to node %s in the policy, then reload)",
		    (long long)cert->id, node->name, node->name);
		return -1;
	}
	rc = state_wrapped_get(call->ctx->state, v->id, node->name,
	    node->recipient_fingerprint, wrapped, err, sizeof(err));
	if (rc == STATE_NOT_FOUND) {
		api_problem(reply, API_ERR_NOT_FOUND, "certificate %lld has no "
		    "key wrapped for node %s and its recipient key yet (the "
		    "worker wraps it after issuance and at its start; poll "
		    "again)", (long long)cert->id, node->name);
		return -1;
	}
	if (rc != 0) {
		log_error("api: %s", err);
		api_problem(reply, API_ERR_INTERNAL, "%s", err);
		return -1;
	}
	return 0;
}

/* Sends the current version, or 304 when the node has it already. */
static void
send_current(const struct api_call *call, const struct state_cert *cert,
    struct api_reply *reply)
{
	const char *store = call->ctx->config->store.directory;
	struct state_wrapped_key wrapped = { 0 };
	struct state_version v = { 0 };
	char dir[DIST_PATH_MAX], err[DIST_PATH_MAX + 128];
	json_t *doc;
	int rc;

	rc = state_version_current(call->ctx->state, cert->id, &v, err,
	    sizeof(err));
	if (rc == STATE_NOT_FOUND) {
		api_problem(reply, API_ERR_NOT_FOUND, "certificate %lld has no "
		    "current version yet (poll again after its issuance)",
		    (long long)cert->id);
		return;
	}
	if (rc != 0) {
		log_error("api: %s", err);
		api_problem(reply, API_ERR_INTERNAL, "%s", err);
		return;
	}
	if (cert_key_export(cert) == POLICY_EXPORT_WRAPPED &&
	    load_wrapped(call, cert, &v, &wrapped, reply) != 0)
		goto out;
	snprintf(reply->etag, sizeof(reply->etag), "\"%.90s\"", v.name);
	if (call->if_none_match != NULL &&
	    tag_matches(call->if_none_match, reply->etag)) {
		reply->status = MHD_HTTP_NOT_MODIFIED;
		goto out;
	}
	snprintf(dir, sizeof(dir), "%s/%s/%s/%s", store, cert->tenant,
	    cert->label, v.name);
	doc = dist_json(cert, &v, dir, wrapped.data != NULL ? &wrapped : NULL,
	    err, sizeof(err));
	if (doc == NULL) {
		reply->etag[0] = '\0';
		log_error("api: certificate %lld: %s", (long long)cert->id,
		    err);
		api_problem(reply, API_ERR_INTERNAL, "%s (see the daemon's "
		    "log)", err);
		goto out;
	}
	api_reply_json(reply, MHD_HTTP_OK, doc);
out:
	state_wrapped_clear(&wrapped);
	state_version_clear(&v);
}

void
api_dist_route(const struct api_call *call, struct api_reply *reply)
{
	const char *ref = call->path + strlen(API_DIST_PATH) + 1;
	struct state_cert cert = { 0 };

	if (call->caller->node == NULL && !call->has_authorization) {
		api_problem(reply, API_ERR_UNAUTHORIZED, "the distribution "
		    "endpoint needs a node's token (send \"Authorization: "
		    "Bearer TOKEN\" with the token of a node in the policy)");
		return;
	}
	if (call->caller->node == NULL) {
		api_problem(reply, API_ERR_NO_TENANT, "a tenant's token does "
		    "not open the distribution endpoint (use the token of a "
		    "node block in the policy)");
		return;
	}
	if (strcmp(call->method, "GET") != 0) {
		api_problem(reply, API_ERR_METHOD, "%s is not allowed on %s "
		    "(use GET)", call->method, call->path);
		reply->allow = "GET";
		return;
	}
	if (load_granted(call, ref, &cert, reply) != 0)
		return;
	send_current(call, &cert, reply);
	state_cert_clear(&cert);
}
