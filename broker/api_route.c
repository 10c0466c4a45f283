/*
 * The API's resources and their handlers. Every handler acts for the
 * peer: root may act for any tenant, any other user only for the tenants
 * whose users or groups list it. A certificate of another tenant gets
 * the same 404 as one that does not exist.
 */
#include "broker/api_internal.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "broker/challenge.h"
#include "broker/key_export.h"
#include "broker/names.h"
#include "broker/policy_gate.h"
#include "broker/versions.h"
#include "logging/log.h"

#define CERTS_PATH "/v1/certificates"
#define VERSION_NAME_MAX 256

int
api_may_act_for(const struct api_call *call, const char *tenant)
{
	const struct policy_tenant *found;
	char err[512];

	if (call->caller->uid == 0 && call->caller->token_tenant == NULL)
		return 1;
	return tenant_select(call->ctx->policy, call->caller, tenant, &found,
	    err, sizeof(err)) == 0;
}

/* Sets reply to 403 unless the peer is root or in some tenant. */
static int
check_member(const struct api_call *call, struct api_reply *reply)
{
	const struct policy *policy = call->ctx->policy;

	if (call->caller->token_tenant != NULL ||
	    call->caller->uid == 0)
		return 0;
	for (size_t i = 0; i < policy->tenant_count; i++)
		if (api_may_act_for(call, policy->tenants[i].name))
			return 0;
	api_problem(reply, API_ERR_NO_TENANT, "user %s belongs to no tenant "
	    "in %s (an administrator lists the user in a tenant's users or "
	    "groups)", call->caller->user, policy->file);
	return -1;
}

/* Asks the worker to check the database at once. */
static void
wake_worker(const struct api_call *call)
{
	if (call->ctx->worker > 0 && getppid() == call->ctx->worker)
		kill(call->ctx->worker, SIGUSR1);
}

static void
not_found_id(struct api_reply *reply, int64_t id)
{
	api_problem(reply, API_ERR_NOT_FOUND, "no certificate with id %lld "
	    "(see GET " CERTS_PATH " or custos cert list)", (long long)id);
}

static void
internal(struct api_reply *reply, const char *err)
{
	log_error("api: %s", err);
	api_problem(reply, API_ERR_INTERNAL, "%s (see the daemon's log)",
	    err);
}

struct list_arg {
	const struct api_call *call;
	json_t *array;
	int failed;
};

static void
add_row(const struct state_cert *cert, void *arg)
{
	struct list_arg *list = arg;
	const char *only = list->call->query_tenant;
	char err[64];
	json_t *row;

	if ((only != NULL && strcmp(cert->tenant, only) != 0) ||
	    !api_may_act_for(list->call, cert->tenant))
		return;
	row = api_cert_json(cert, NULL, err, sizeof(err));
	if (row == NULL || json_array_append_new(list->array, row) != 0)
		list->failed = 1;
}

static void
list_certs(const struct api_call *call, struct api_reply *reply)
{
	struct list_arg list = { call, json_array(), 0 };
	char err[512];

	if (call->query_tenant != NULL &&
	    !api_may_act_for(call, call->query_tenant)) {
		json_decref(list.array);
		api_problem(reply, API_ERR_NO_TENANT, "user %s may not act for "
		    "tenant \"%s\" (name a tenant whose users or groups list "
		    "the user, or leave out tenant)", call->caller->user,
		    call->query_tenant);
		return;
	}
	if (list.array == NULL || state_cert_list(call->ctx->state, add_row,
	    &list, err, sizeof(err)) != 0 || list.failed) {
		json_decref(list.array);
		internal(reply, list.array == NULL || list.failed ?
		    "out of memory" : err);
		return;
	}
	api_reply_json(reply, MHD_HTTP_OK, json_pack("{s:o}",
	    "certificates", list.array));
}

/* A request to add a certificate, read from the body. */
struct add_request {
	const char *names[NAMES_MAX];
	size_t count;
	const char *issuer;
	const char *key_type;
	const char *key_export;
	const char *tenant;
};

/* Reads an optional string member; another type gets 400. */
static int
read_string(json_t *doc, const char *key, const char **out,
    struct api_reply *reply)
{
	json_t *value = json_object_get(doc, key);

	if (value == NULL || json_is_null(value))
		return 0;
	if (!json_is_string(value)) {
		api_problem(reply, API_ERR_INVALID_REQUEST, "member \"%s\" "
		    "must be a string", key);
		return -1;
	}
	*out = json_string_value(value);
	return 0;
}

static int
read_add_request(json_t *doc, struct add_request *req,
    struct api_reply *reply)
{
	json_t *names = json_object_get(doc, "names"), *value;
	const char *key;
	size_t i;

	json_object_foreach(doc, key, value) {
		if (strcmp(key, "names") != 0 && strcmp(key, "issuer") != 0 &&
		    strcmp(key, "key_type") != 0 &&
		    strcmp(key, "key_export") != 0 &&
		    strcmp(key, "tenant") != 0) {
			api_problem(reply, API_ERR_INVALID_REQUEST, "unknown "
			    "member \"%.64s\" (use names, issuer, key_type, "
			    "key_export and tenant)", key);
			return -1;
		}
	}
	if (!json_is_array(names) || json_array_size(names) == 0 ||
	    json_array_size(names) > NAMES_MAX) {
		api_problem(reply, API_ERR_INVALID_REQUEST, "member \"names\" "
		    "must be an array of 1 to %d names", NAMES_MAX);
		return -1;
	}
	json_array_foreach(names, i, value) {
		if (!json_is_string(value)) {
			api_problem(reply, API_ERR_INVALID_REQUEST, "names[%zu] "
			    "is not a string (write each name as a string)",
			    i);
			return -1;
		}
		req->names[i] = json_string_value(value);
	}
	req->count = json_array_size(names);
	return read_string(doc, "issuer", &req->issuer, reply) != 0 ||
	    read_string(doc, "key_type", &req->key_type, reply) != 0 ||
	    read_string(doc, "key_export", &req->key_export, reply) != 0 ||
	    read_string(doc, "tenant", &req->tenant, reply) != 0 ? -1 : 0;
}

const struct policy_tenant *
api_select_tenant(const struct api_call *call, const char *requested,
    struct api_reply *reply)
{
	const struct policy_tenant *tenant = NULL;
	char err[512];

	if (tenant_select(call->ctx->policy, call->caller, requested, &tenant,
	    err, sizeof(err)) == 0)
		return tenant;
	if (call->caller->token_tenant != NULL)
		api_problem(reply, API_ERR_NO_TENANT, "%s", err);
	else if (requested != NULL && call->caller->uid != 0)
		api_problem(reply, API_ERR_NO_TENANT, "user %s may not act "
		    "for tenant \"%s\" (name a tenant whose users or groups "
		    "list the user, or leave out tenant)", call->caller->user,
		    requested);
	else
		api_problem(reply, API_ERR_NO_TENANT, "%s", err);
	return NULL;
}

/* Collects the policy's denial lines into a JSON array. */
static void
collect_denial(const char *line, void *arg)
{
	json_array_append_new(arg, json_string(line));
}

/* Checks the request as custos cert add does; fills cert on success. */
static int
check_add(const struct api_call *call, const struct add_request *req,
    const struct acme_names *names, struct state_cert *cert,
    struct api_reply *reply)
{
	const struct custos_config *config = call->ctx->config;
	struct gate_request gate = {
		.written = (char *const *)req->names,
		.names = names,
		.key_type = config->acme.certificate_key_type,
	};
	const struct config_issuer *issuer;
	const struct policy_tenant *tenant;
	json_t *denials;

	if (req->key_export != NULL &&
	    policy_export_parse(req->key_export, &gate.key_export) != 0) {
		api_problem(reply, API_ERR_INVALID_REQUEST, "invalid "
		    "key_export \"%.32s\" (use hsm or wrapped)",
		    req->key_export);
		return -1;
	}
	issuer = config_find_issuer(config, req->issuer);
	if (issuer == NULL) {
		api_problem(reply, API_ERR_INVALID_REQUEST, "issuer \"%s\" "
		    "not found in %s (name one of its issuer blocks in "
		    "\"issuer\")", req->issuer != NULL ? req->issuer : "",
		    config->path);
		return -1;
	}
	if (req->key_type != NULL &&
	    key_type_parse(req->key_type, &gate.key_type) != 0) {
		api_problem(reply, API_ERR_INVALID_REQUEST, "invalid key_type "
		    "\"%.32s\" (use ec-p256, ec-p384, rsa-2048, rsa-3072 or "
		    "rsa-4096)", req->key_type);
		return -1;
	}
	tenant = api_select_tenant(call, req->tenant, reply);
	if (tenant == NULL)
		return -1;
	gate.issuer = issuer->name;
	gate.account = issuer->account;
	gate.challenge = challenge_gate_type(config, tenant);
	denials = json_array();
	if (denials == NULL) {
		internal(reply, "out of memory");
		return -1;
	}
	if (gate_check_request(tenant, &gate, collect_denial, denials) > 0) {
		api_problem(reply, API_ERR_POLICY_DENIED, "the policy of tenant "
		    "%s denies the request: %s", tenant->name,
		    json_string_value(json_array_get(denials, 0)));
		json_object_set_new(reply->body, "denials", denials);
		return -1;
	}
	json_decref(denials);
	cert->settings = strdup(cert_key_export_settings(gate.key_export));
	cert->tenant = strdup(tenant->name);
	cert->issuer = strdup(issuer->name);
	cert->key_type = strdup(key_type_name(gate.key_type));
	return 0;
}

/* Joins the canonical names with spaces. */
static char *
join_names(const struct acme_names *names)
{
	size_t len = 1, used = 0;
	char *text;

	for (size_t i = 0; i < names->count; i++)
		len += strlen(names->items[i].value) + 1;
	text = calloc(1, len);
	for (size_t i = 0; text != NULL && i < names->count; i++)
		used += (size_t)snprintf(text + used, len - used, "%s%s",
		    i > 0 ? " " : "", names->items[i].value);
	return text;
}

/* Stores the checked request and responds 201 with the certificate. */
static void
store_cert(const struct api_call *call, struct state_cert *cert,
    const struct acme_names *names, struct api_reply *reply)
{
	char err[512];
	int64_t id = 0;

	cert->names = join_names(names);
	cert->label = names_store_label(names->items[0].value);
	cert->created = time(NULL);
	if (cert->tenant == NULL || cert->issuer == NULL ||
	    cert->key_type == NULL || cert->names == NULL ||
	    cert->label == NULL || cert->settings == NULL) {
		internal(reply, "out of memory");
		return;
	}
	if (state_cert_add(call->ctx->state, cert, cert->created, &id, err,
	    sizeof(err)) != 0) {
		internal(reply, err);
		return;
	}
	cert->id = id;
	cert->generation = 1;
	cert->due = cert->created;
	log_info("api: user %s added certificate %lld for tenant %s: %s",
	    call->caller->user, (long long)id, cert->tenant, cert->names);
	api_reply_json(reply, MHD_HTTP_CREATED, api_cert_json(cert, NULL,
	    err, sizeof(err)));
	snprintf(reply->location, sizeof(reply->location), CERTS_PATH "/%lld",
	    (long long)id);
	wake_worker(call);
}

static void
add_cert(const struct api_call *call, struct api_reply *reply)
{
	struct add_request req = { 0 };
	struct state_cert cert = { 0 };
	struct acme_names names = { 0 };
	char err[512];
	json_t *doc;

	doc = api_parse_object(call, reply);
	if (doc == NULL || read_add_request(doc, &req, reply) != 0)
		goto out;
	if (names_parse((char *const *)req.names, req.count, &names, err,
	    sizeof(err)) != 0) {
		api_problem(reply, API_ERR_INVALID_REQUEST, "%s", err);
		goto out;
	}
	if (check_add(call, &req, &names, &cert, reply) == 0)
		store_cert(call, &cert, &names, reply);
out:
	state_cert_clear(&cert);
	names_clear(&names);
	json_decref(doc);
}

/*
 * Reads certificate id for the peer. The reply is 404 when it does not
 * exist or belongs to a tenant the peer may not act for, with the same detail
 * in both cases.
 */
static int
load_cert(const struct api_call *call, int64_t id, struct state_cert *cert,
    struct api_reply *reply)
{
	char err[512];
	int rc;

	rc = state_cert_get(call->ctx->state, id, cert, err, sizeof(err));
	if (rc == STATE_NOT_FOUND || (rc == 0 &&
	    !api_may_act_for(call, cert->tenant))) {
		if (rc == 0)
			state_cert_clear(cert);
		not_found_id(reply, id);
		return -1;
	}
	if (rc != 0) {
		internal(reply, err);
		return -1;
	}
	return 0;
}

static void
show_cert(const struct api_call *call, const struct state_cert *cert,
    struct api_reply *reply)
{
	char err[512];
	json_t *doc;

	doc = api_cert_json(cert, call->ctx->state, err, sizeof(err));
	if (doc == NULL)
		internal(reply, err);
	else
		api_reply_json(reply, MHD_HTTP_OK, doc);
}

static void
reissue_cert(const struct api_call *call, struct state_cert *cert,
    struct api_reply *reply)
{
	int64_t id = cert->id;
	char err[512];
	int rc;

	if (cert->imported) {
		api_problem(reply, API_ERR_CONFLICT, "certificate %lld was "
		    "imported, so it cannot be reissued (import its successor "
		    "with custos cert import)", (long long)cert->id);
		return;
	}
	rc = state_cert_reissue(call->ctx->state, id, time(NULL), err,
	    sizeof(err));
	if (rc == STATE_NOT_FOUND) {
		api_problem(reply, API_ERR_CONFLICT, "certificate %lld was "
		    "removed, so it cannot be reissued (add it again with POST "
		    CERTS_PATH ")", (long long)cert->id);
		return;
	}
	if (rc != 0) {
		internal(reply, err);
		return;
	}
	log_info("api: user %s reissued certificate %lld",
	    call->caller->user, (long long)cert->id);
	state_cert_clear(cert);
	if (state_cert_get(call->ctx->state, id, cert, err,
	    sizeof(err)) != 0) {
		internal(reply, err);
		return;
	}
	api_reply_json(reply, MHD_HTTP_ACCEPTED, api_cert_json(cert, NULL,
	    err, sizeof(err)));
	wake_worker(call);
}

static void
remove_cert(const struct api_call *call, const struct state_cert *cert,
    struct api_reply *reply)
{
	char err[512];
	int rc;

	rc = state_cert_remove(call->ctx->state, cert->id, err, sizeof(err));
	if (rc == STATE_NOT_FOUND) {
		api_problem(reply, API_ERR_CONFLICT, "certificate %lld is "
		    "already removed", (long long)cert->id);
		return;
	}
	if (rc != 0) {
		internal(reply, err);
		return;
	}
	log_info("api: user %s removed certificate %lld", call->caller->user,
	    (long long)cert->id);
	api_reply_json(reply, MHD_HTTP_OK, json_pack("{s:I, s:b}", "id",
	    (json_int_t)cert->id, "removed", 1));
}

static void
rollback_cert(const struct api_call *call, const struct state_cert *cert,
    struct api_reply *reply)
{
	char restored[VERSION_NAME_MAX], replaced[VERSION_NAME_MAX];
	char err[512];
	int rc;

	rc = api_rollback(call->ctx->state, call->ctx->config, cert->id,
	    restored, replaced, sizeof(restored), err, sizeof(err));
	if (rc == STATE_NOT_FOUND || rc == API_ROLLBACK_NONE) {
		api_problem(reply, API_ERR_CONFLICT, "%s", err);
		return;
	}
	if (rc == API_ROLLBACK_DEPLOY) {
		log_error("api: certificate %lld: %s", (long long)cert->id,
		    err);
		api_problem(reply, API_ERR_DEPLOY_FAILED, "%s is current "
		    "again, but %s", restored, err);
		return;
	}
	if (rc != 0) {
		internal(reply, err);
		return;
	}
	log_info("api: user %s rolled certificate %lld back to %s (was %s)",
	    call->caller->user, (long long)cert->id, restored, replaced);
	api_reply_json(reply, MHD_HTTP_OK, json_pack("{s:I, s:s, s:s}", "id",
	    (json_int_t)cert->id, "current", restored, "replaced", replaced));
}

static void
method_not_allowed(const struct api_call *call, struct api_reply *reply,
    const char *allow)
{
	api_problem(reply, API_ERR_METHOD, "%s is not allowed on %s (use "
	    "%s)", call->method, call->path, allow);
	reply->allow = allow;
}

/* Returns 1 when allow, such as "GET, DELETE", lists method. */
static int
method_listed(const char *allow, const char *method)
{
	size_t len = strlen(method);
	const char *p = allow;

	while (len > 0 && (p = strstr(p, method)) != NULL) {
		if ((p == allow || p[-1] == ' ') &&
		    (p[len] == '\0' || p[len] == ','))
			return 1;
		p++;
	}
	return 0;
}

/* Returns 1 when the request's method is method. */
static int
is(const struct api_call *call, const char *method)
{
	return strcmp(call->method, method) == 0;
}

/* Parses "ID" or "ID/ACTION" after CERTS_PATH "/". */
static int
parse_cert_path(const char *rest, int64_t *id, const char **action)
{
	long long value = 0;
	size_t digits = 0;

	while (rest[digits] >= '0' && rest[digits] <= '9' && digits < 18)
		value = value * 10 + (rest[digits++] - '0');
	if (digits == 0 || value == 0 ||
	    (rest[digits] != '\0' && rest[digits] != '/'))
		return -1;
	*id = value;
	*action = rest[digits] == '/' ? rest + digits + 1 : "";
	return 0;
}

/* The methods each certificate path takes, for the Allow header. */
static const char *
allowed_methods(const char *action)
{
	if (action[0] == '\0')
		return "GET, DELETE";
	if (strcmp(action, "reissue") == 0 || strcmp(action, "rollback") == 0 ||
	    strcmp(action, "revoke") == 0)
		return "POST";
	return NULL;
}

static void
route_cert(const struct api_call *call, int64_t id, const char *action,
    struct api_reply *reply)
{
	const char *allow = allowed_methods(action);
	struct state_cert cert = { 0 };

	if (allow == NULL) {
		api_problem(reply, API_ERR_NOT_FOUND, "no resource at %s (a "
		    "certificate takes reissue, rollback or revoke, see "
		    "docs/api.md)", call->path);
		return;
	}
	if (!method_listed(allow, call->method)) {
		method_not_allowed(call, reply, allow);
		return;
	}
	if (load_cert(call, id, &cert, reply) != 0)
		return;
	if (action[0] == '\0' && is(call, "GET"))
		show_cert(call, &cert, reply);
	else if (action[0] == '\0')
		remove_cert(call, &cert, reply);
	else if (strcmp(action, "reissue") == 0)
		reissue_cert(call, &cert, reply);
	else if (strcmp(action, "rollback") == 0)
		rollback_cert(call, &cert, reply);
	else
		api_revoke(call, &cert, reply);
	state_cert_clear(&cert);
}

void
api_route(const struct api_call *call, struct api_reply *reply)
{
	size_t prefix = strlen(CERTS_PATH);
	const char *action;
	int64_t id;

	if (strncmp(call->path, API_DIST_PATH "/",
	    strlen(API_DIST_PATH) + 1) == 0) {
		api_dist_route(call, reply);
		return;
	}
	/* A node token opens the distribution endpoint and nothing else. */
	if (call->caller->node != NULL) {
		api_problem(reply, API_ERR_NO_TENANT, "the token of node %s "
		    "gives access to " API_DIST_PATH "/REF only (use a "
		    "tenant's token or the socket's credentials here)",
		    call->caller->node->name);
		return;
	}
	if (check_member(call, reply) != 0)
		return;
	if (strcmp(call->path, API_METRICS_PATH) == 0) {
		api_metrics_route(call, reply);
		return;
	}
	if (strcmp(call->path, CERTS_PATH) == 0) {
		if (is(call, "GET"))
			list_certs(call, reply);
		else if (is(call, "POST"))
			add_cert(call, reply);
		else
			method_not_allowed(call, reply, "GET, POST");
	} else if (strcmp(call->path, CERTS_PATH "/import") == 0) {
		if (is(call, "POST"))
			api_import(call, reply);
		else
			method_not_allowed(call, reply, "POST");
	} else if (strncmp(call->path, CERTS_PATH "/", prefix + 1) == 0 &&
	    parse_cert_path(call->path + prefix + 1, &id, &action) == 0) {
		route_cert(call, id, action, reply);
	} else {
		api_problem(reply, API_ERR_NOT_FOUND, "no resource at %s (the "
		    "API serves " CERTS_PATH ", see docs/api.md)",
		    call->path);
	}
}
