#include "broker/acme.h"

#include <stdio.h>
#include <string.h>

#include "broker/headers.h"

static const char *const order_statuses[] = {
	"pending", "ready", "processing", "valid", "invalid", NULL,
};
static const char *const authz_statuses[] = {
	"pending", "valid", "invalid", "deactivated", "expired", "revoked",
	NULL,
};
static const char *const challenge_statuses[] = {
	"pending", "processing", "valid", "invalid", NULL,
};

static int
get_string(const json_t *obj, const char *kind, const char *name,
    int optional, const char **out, char *err, size_t errlen)
{
	const json_t *value = json_object_get(obj, name);

	*out = NULL;
	if (value == NULL && optional)
		return 0;
	if (value == NULL) {
		snprintf(err, errlen, "invalid %s from the CA: member \"%s\" "
		    "is missing", kind, name);
		return -1;
	}
	if (!json_is_string(value) || json_string_length(value) == 0 ||
	    strlen(json_string_value(value)) != json_string_length(value)) {
		snprintf(err, errlen, "invalid %s from the CA: member \"%s\" "
		    "is not a non-empty string", kind, name);
		return -1;
	}
	*out = json_string_value(value);
	return 0;
}

static int
get_url(const json_t *obj, const char *kind, const char *name,
    int optional, const char **out, char *err, size_t errlen)
{
	if (get_string(obj, kind, name, optional, out, err, errlen) != 0)
		return -1;
	if (*out != NULL && !http_url_is_https(*out)) {
		snprintf(err, errlen, "invalid %s from the CA: member \"%s\" "
		    "is not an https:// URL: \"%.200s\"", kind, name, *out);
		return -1;
	}
	return 0;
}

static int
get_status(const json_t *obj, const char *kind,
    const char *const *choices, const char **out, char *err, size_t errlen)
{
	if (get_string(obj, kind, "status", 0, out, err, errlen) != 0)
		return -1;
	for (size_t i = 0; choices[i] != NULL; i++)
		if (strcmp(*out, choices[i]) == 0)
			return 0;
	snprintf(err, errlen, "invalid %s from the CA: unknown status "
	    "\"%.64s\"", kind, *out);
	return -1;
}

static int
get_optional_object(const json_t *obj, const char *kind, const char *name,
    const json_t **out, char *err, size_t errlen)
{
	const json_t *value = json_object_get(obj, name);

	*out = NULL;
	if (value == NULL)
		return 0;
	if (!json_is_object(value)) {
		snprintf(err, errlen, "invalid %s from the CA: member \"%s\" "
		    "is not an object", kind, name);
		return -1;
	}
	*out = value;
	return 0;
}

static int
get_optional_boolean(const json_t *obj, const char *kind, const char *name,
    int *out, char *err, size_t errlen)
{
	const json_t *value = json_object_get(obj, name);

	*out = 0;
	if (value == NULL)
		return 0;
	if (!json_is_boolean(value)) {
		snprintf(err, errlen, "invalid %s from the CA: member \"%s\" "
		    "is not a boolean", kind, name);
		return -1;
	}
	*out = json_is_true(value);
	return 0;
}

static int
check_identifier(const json_t *obj, const char *kind, char *err,
    size_t errlen, const char **type, const char **value)
{
	if (!json_is_object(obj)) {
		snprintf(err, errlen, "invalid %s from the CA: an identifier "
		    "is not an object", kind);
		return -1;
	}
	if (get_string(obj, kind, "type", 0, type, err, errlen) != 0 ||
	    get_string(obj, kind, "value", 0, value, err, errlen) != 0)
		return -1;
	return 0;
}

int
acme_body_object(const struct http_response *resp, const char *kind,
    json_t **out, char *err, size_t errlen)
{
	json_error_t error;

	*out = NULL;
	if (resp->body == NULL) {
		snprintf(err, errlen, "invalid %s from the CA: empty body",
		    kind);
		return -1;
	}
	*out = json_loadb(resp->body, resp->body_len, JSON_REJECT_DUPLICATES,
	    &error);
	if (*out == NULL) {
		snprintf(err, errlen, "invalid %s from the CA: %s at byte %d",
		    kind, error.text, error.position);
		return -1;
	}
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		snprintf(err, errlen, "invalid %s from the CA: not a JSON "
		    "object", kind);
		return -1;
	}
	return 0;
}

void
acme_directory_clear(struct acme_directory *dir)
{
	json_decref(dir->doc);
	memset(dir, 0, sizeof(*dir));
}

int
acme_directory_parse(json_t *doc, struct acme_directory *dir, char *err,
    size_t errlen)
{
	const char *kind = "directory";
	const json_t *meta;

	memset(dir, 0, sizeof(*dir));
	if (get_url(doc, kind, "newNonce", 0, &dir->new_nonce, err,
	    errlen) != 0 ||
	    get_url(doc, kind, "newAccount", 0, &dir->new_account, err,
	    errlen) != 0 ||
	    get_url(doc, kind, "newOrder", 0, &dir->new_order, err,
	    errlen) != 0 ||
	    get_url(doc, kind, "renewalInfo", 1, &dir->renewal_info, err,
	    errlen) != 0 ||
	    get_optional_object(doc, kind, "meta", &meta, err, errlen) != 0)
		return -1;
	if (meta != NULL && (get_string(meta, "directory meta",
	    "termsOfService", 1, &dir->terms_of_service, err, errlen) != 0 ||
	    get_optional_boolean(meta, "directory meta",
	    "externalAccountRequired", &dir->external_account_required, err,
	    errlen) != 0))
		return -1;
	dir->doc = json_incref(doc);
	return 0;
}

void
acme_order_clear(struct acme_order *order)
{
	json_decref(order->doc);
	memset(order, 0, sizeof(*order));
}

static int
check_order_lists(const json_t *doc, size_t *authz_count, char *err,
    size_t errlen)
{
	const char *kind = "order", *type, *value;
	const json_t *ids = json_object_get(doc, "identifiers");
	const json_t *authzs = json_object_get(doc, "authorizations");
	size_t i;

	if (!json_is_array(ids) || json_array_size(ids) == 0) {
		snprintf(err, errlen, "invalid order from the CA: member "
		    "\"identifiers\" is missing or not a non-empty array");
		return -1;
	}
	for (i = 0; i < json_array_size(ids); i++)
		if (check_identifier(json_array_get(ids, i), kind, err, errlen,
		    &type, &value) != 0)
			return -1;

	if (!json_is_array(authzs)) {
		snprintf(err, errlen, "invalid order from the CA: member "
		    "\"authorizations\" is missing or not an array");
		return -1;
	}
	for (i = 0; i < json_array_size(authzs); i++) {
		const json_t *url = json_array_get(authzs, i);

		if (!json_is_string(url) ||
		    !http_url_is_https(json_string_value(url))) {
			snprintf(err, errlen, "invalid order from the CA: "
			    "authorizations[%zu] is not an https:// URL", i);
			return -1;
		}
	}
	*authz_count = json_array_size(authzs);
	return 0;
}

int
acme_order_parse(json_t *doc, struct acme_order *order, char *err,
    size_t errlen)
{
	const char *kind = "order";

	memset(order, 0, sizeof(*order));
	if (get_status(doc, kind, order_statuses, &order->status, err,
	    errlen) != 0 ||
	    check_order_lists(doc, &order->authorization_count, err,
	    errlen) != 0 ||
	    get_url(doc, kind, "finalize", 0, &order->finalize, err,
	    errlen) != 0 ||
	    get_url(doc, kind, "certificate",
	    strcmp(order->status, "valid") != 0, &order->certificate, err,
	    errlen) != 0 ||
	    get_optional_object(doc, kind, "error", &order->error, err,
	    errlen) != 0) {
		memset(order, 0, sizeof(*order));
		return -1;
	}
	order->doc = json_incref(doc);
	return 0;
}

const char *
acme_order_authorization(const struct acme_order *order, size_t index)
{
	json_t *authzs = json_object_get(order->doc, "authorizations");

	return json_string_value(json_array_get(authzs, index));
}

int
acme_challenge_parse(const json_t *obj, struct acme_challenge *chall,
    char *err, size_t errlen)
{
	const char *kind = "challenge";

	memset(chall, 0, sizeof(*chall));
	if (!json_is_object(obj)) {
		snprintf(err, errlen, "invalid authorization from the CA: a "
		    "challenge is not an object");
		return -1;
	}
	if (get_string(obj, kind, "type", 0, &chall->type, err, errlen) != 0 ||
	    get_url(obj, kind, "url", 0, &chall->url, err, errlen) != 0 ||
	    get_status(obj, kind, challenge_statuses, &chall->status, err,
	    errlen) != 0 ||
	    get_string(obj, kind, "token", 1, &chall->token, err,
	    errlen) != 0 ||
	    get_optional_object(obj, kind, "error", &chall->error, err,
	    errlen) != 0)
		return -1;

	/* The token becomes a file name and a URL path: base64url only. */
	if (chall->token != NULL && !header_nonce_is_valid(chall->token)) {
		snprintf(err, errlen, "invalid challenge from the CA: member "
		    "\"token\" is not base64url of at most %d characters",
		    HEADER_NONCE_MAX_LEN);
		return -1;
	}
	if (strcmp(chall->type, "http-01") == 0 && chall->token == NULL) {
		snprintf(err, errlen, "invalid http-01 challenge from the CA: "
		    "member \"token\" is missing");
		return -1;
	}
	return 0;
}

void
acme_authz_clear(struct acme_authz *authz)
{
	json_decref(authz->doc);
	memset(authz, 0, sizeof(*authz));
}

int
acme_authz_parse(json_t *doc, struct acme_authz *authz, char *err,
    size_t errlen)
{
	const char *kind = "authorization";
	const json_t *challenges = json_object_get(doc, "challenges");
	struct acme_challenge chall;
	size_t i;

	memset(authz, 0, sizeof(*authz));
	if (get_status(doc, kind, authz_statuses, &authz->status, err,
	    errlen) != 0 ||
	    check_identifier(json_object_get(doc, "identifier"), kind, err,
	    errlen, &authz->identifier_type, &authz->identifier_value) != 0 ||
	    get_optional_boolean(doc, kind, "wildcard", &authz->wildcard, err,
	    errlen) != 0)
		goto fail;
	if (!json_is_array(challenges)) {
		snprintf(err, errlen, "invalid authorization from the CA: "
		    "member \"challenges\" is missing or not an array");
		goto fail;
	}
	for (i = 0; i < json_array_size(challenges); i++)
		if (acme_challenge_parse(json_array_get(challenges, i), &chall,
		    err, errlen) != 0)
			goto fail;
	authz->challenge_count = json_array_size(challenges);
	authz->doc = json_incref(doc);
	return 0;
fail:
	memset(authz, 0, sizeof(*authz));
	return -1;
}

int
acme_authz_challenge(const struct acme_authz *authz, size_t index,
    struct acme_challenge *chall, char *err, size_t errlen)
{
	const json_t *challenges = json_object_get(authz->doc, "challenges");

	return acme_challenge_parse(json_array_get(challenges, index), chall,
	    err, errlen);
}

int
acme_account_check(const json_t *doc, char *err, size_t errlen)
{
	const char *status;

	if (get_string(doc, "account", "status", 0, &status, err, errlen) != 0)
		return -1;
	if (strcmp(status, "valid") != 0) {
		snprintf(err, errlen, "the CA reports the account as \"%.32s\" "
		    "(remove the account record to register a new one)",
		    status);
		return -1;
	}
	return 0;
}
