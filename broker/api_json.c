/*
 * JSON of the API: request bodies (size and depth checked before
 * parsing), certificates, and RFC 7807 problem documents.
 */
#include "broker/api_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

#include "broker/key_export.h"

/* The type name, HTTP status and title of each enum api_error. */
static const struct {
	const char *type;
	unsigned int status;
	const char *title;
} errors[] = {
	[API_ERR_NOT_FOUND] = { "not-found", MHD_HTTP_NOT_FOUND,
	    "Not found" },
	[API_ERR_METHOD] = { "method-not-allowed",
	    MHD_HTTP_METHOD_NOT_ALLOWED, "Method not allowed" },
	[API_ERR_MALFORMED_JSON] = { "malformed-json", MHD_HTTP_BAD_REQUEST,
	    "Malformed JSON" },
	[API_ERR_INVALID_REQUEST] = { "invalid-request",
	    MHD_HTTP_BAD_REQUEST, "Invalid request" },
	[API_ERR_BODY_TOO_LARGE] = { "body-too-large",
	    MHD_HTTP_CONTENT_TOO_LARGE, "Request body too large" },
	[API_ERR_MEDIA_TYPE] = { "unsupported-media-type",
	    MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "Unsupported media type" },
	[API_ERR_NO_TENANT] = { "no-tenant", MHD_HTTP_FORBIDDEN,
	    "No tenant for this user" },
	[API_ERR_UNAUTHORIZED] = { "unauthorized", MHD_HTTP_UNAUTHORIZED,
	    "Invalid API token" },
	[API_ERR_POLICY_DENIED] = { "policy-denied", MHD_HTTP_FORBIDDEN,
	    "Denied by the tenant's policy" },
	[API_ERR_CONFLICT] = { "conflict", MHD_HTTP_CONFLICT,
	    "Conflict with the certificate's state" },
	[API_ERR_NO_RECIPIENT] = { "no-recipient", MHD_HTTP_CONFLICT,
	    "The node has no recipient key" },
	[API_ERR_DEPLOY_FAILED] = { "deploy-failed",
	    MHD_HTTP_INTERNAL_SERVER_ERROR, "Deploy hook failed" },
	[API_ERR_NOT_IMPLEMENTED] = { "not-implemented",
	    MHD_HTTP_NOT_IMPLEMENTED, "Not implemented" },
	[API_ERR_INTERNAL] = { "internal", MHD_HTTP_INTERNAL_SERVER_ERROR,
	    "Internal error" },
};

void
api_reply_json(struct api_reply *reply, unsigned int status, json_t *body)
{
	json_decref(reply->body);
	reply->status = status;
	reply->body = body;
	reply->problem = 0;
}

void
api_problem(struct api_reply *reply, enum api_error error, const char *fmt,
    ...)
{
	char type[64], detail[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	snprintf(type, sizeof(type), "%s%s", API_PROBLEM_PREFIX,
	    errors[error].type);
	api_reply_json(reply, errors[error].status, json_pack(
	    "{s:s, s:s, s:i, s:s}", "type", type, "title",
	    errors[error].title, "status", (int)errors[error].status,
	    "detail", detail));
	reply->problem = 1;
}

int
api_json_depth(const char *text, size_t len)
{
	int depth = 0, deepest = 0, in_string = 0;

	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = 0;
		} else if (c == '"') {
			in_string = 1;
		} else if (c == '[' || c == '{') {
			if (++depth > deepest)
				deepest = depth;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return deepest;
}

json_t *
api_parse_object(const struct api_call *call, struct api_reply *reply)
{
	json_error_t error;
	json_t *doc;

	if (call->body == NULL || call->body_len == 0) {
		api_problem(reply, API_ERR_INVALID_REQUEST, "the request has "
		    "no body (send a JSON object, see docs/api.md)");
		return NULL;
	}
	if (api_json_depth(call->body, call->body_len) > API_JSON_DEPTH_MAX) {
		api_problem(reply, API_ERR_MALFORMED_JSON, "the body nests "
		    "arrays and objects deeper than %d levels (send a flat "
		    "object, see docs/api.md)", API_JSON_DEPTH_MAX);
		return NULL;
	}
	doc = json_loadb(call->body, call->body_len, JSON_REJECT_DUPLICATES,
	    &error);
	if (doc == NULL) {
		api_problem(reply, API_ERR_MALFORMED_JSON, "invalid JSON at "
		    "line %d, column %d: %s (send a JSON object)", error.line,
		    error.column, error.text);
		return NULL;
	}
	if (!json_is_object(doc)) {
		json_decref(doc);
		api_problem(reply, API_ERR_INVALID_REQUEST, "the body is not "
		    "a JSON object (send {\"names\": [...]}, see "
		    "docs/api.md)");
		return NULL;
	}
	return doc;
}

json_t *
api_time_json(int64_t when)
{
	time_t t = (time_t)when;
	char text[32];
	struct tm tm;

	if (when <= 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return json_null();
	return json_string(text);
}

/* Splits the space-separated names into a JSON array. */
static json_t *
names_json(const char *names)
{
	json_t *array = json_array();
	const char *p = names, *end;

	while (array != NULL && *p != '\0') {
		end = strchr(p, ' ');
		if (end == NULL)
			end = p + strlen(p);
		if (end > p)
			json_array_append_new(array, json_stringn(p,
			    (size_t)(end - p)));
		p = *end == ' ' ? end + 1 : end;
	}
	return array;
}

static void
append_version(const struct state_version *v, void *arg)
{
	json_array_append_new(arg, json_pack("{s:s, s:s, s:s, s:o, s:o, s:b}",
	    "name", v->name, "status", v->status, "serial",
	    v->serial != NULL ? v->serial : "", "not_before",
	    api_time_json(v->not_before), "not_after",
	    api_time_json(v->not_after), "deploy_pending",
	    v->deploy_pending != DEPLOY_NONE));
}

json_t *
api_cert_json(const struct state_cert *cert, struct state *state, char *err,
    size_t errlen)
{
	json_t *doc, *versions;

	doc = json_pack("{s:I, s:s, s:o, s:s, s:s, s:I, s:b, s:o, s:i, "
	    "s:s?}", "id", (json_int_t)cert->id, "tenant", cert->tenant,
	    "names", names_json(cert->names), "key_type", cert->key_type,
	    "issuer", cert->issuer, "request", (json_int_t)cert->generation,
	    "removed", cert->removed, "next_run", api_time_json(cert->due),
	    "failures", cert->failures, "last_error", cert->last_error);
	if (doc != NULL && (json_object_set_new(doc, "imported",
	    json_boolean(cert->imported)) != 0 || json_object_set_new(doc,
	    "key_export", json_string(policy_export_name(
	    cert_key_export(cert)))) != 0 || json_object_set_new(doc,
	    "not_after", api_time_json(cert->not_after)) != 0)) {
		json_decref(doc);
		doc = NULL;
	}
	if (doc == NULL || state == NULL) {
		if (doc == NULL)
			snprintf(err, errlen, "out of memory");
		return doc;
	}
	versions = json_array();
	if (versions == NULL || json_object_set_new(doc, "versions",
	    versions) != 0 || state_version_list(state, cert->id,
	    append_version, versions, err, errlen) != 0) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}
