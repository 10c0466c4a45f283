/*
 * The shapes of ACME request payloads (RFC 8555 sections 7.3 to 7.6, RFC
 * 8738 for IP identifiers). The signer recognises a payload by its
 * members and their JSON types, never by the URL it is sent to, so a
 * broker cannot relabel a new-order payload as something harmless.
 */
#include "signer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IDENTIFIERS_MAX 1000
#define REVOCATION_REASON_MAX 10
#define REVOCATION_REASON_UNUSED 7	/* RFC 5280 section 5.3.1 */

static const char *const shape_names[] = {
	[ACME_SHAPE_POST_AS_GET] = "POST-as-GET",
	[ACME_SHAPE_CHALLENGE_RESPONSE] = "challenge response",
	[ACME_SHAPE_NEW_ACCOUNT] = "newAccount",
	[ACME_SHAPE_ACCOUNT_UPDATE] = "account update",
	[ACME_SHAPE_DEACTIVATION] = "deactivation",
	[ACME_SHAPE_NEW_ORDER] = "newOrder",
	[ACME_SHAPE_NEW_AUTHZ] = "newAuthz",
	[ACME_SHAPE_FINALIZE] = "finalize",
	[ACME_SHAPE_KEY_CHANGE] = "keyChange",
	[ACME_SHAPE_REVOCATION] = "revokeCert",
};

const char *
acme_shape_name(enum acme_shape shape)
{
	if ((unsigned int)shape >= sizeof(shape_names) / sizeof(shape_names[0]))
		return "unknown";
	return shape_names[shape];
}

/* The members a shape allows; the first one is required unless noted. */
struct shape_rule {
	enum acme_shape shape;
	const char *const *members;
	int first_required;
};

static const char *const new_account_members[] = {
	"termsOfServiceAgreed", "contact", "onlyReturnExisting",
	"externalAccountBinding", NULL,
};
static const char *const account_update_members[] = { "contact", NULL };
static const char *const deactivation_members[] = { "status", NULL };
static const char *const new_order_members[] = {
	"identifiers", "notBefore", "notAfter", "replaces", "profile", NULL,
};
static const char *const new_authz_members[] = { "identifier", NULL };
static const char *const finalize_members[] = { "csr", NULL };
static const char *const key_change_members[] = {
	"protected", "payload", "signature", NULL,
};
static const char *const revocation_members[] = {
	"certificate", "reason", NULL,
};

static const struct shape_rule shape_rules[] = {
	{ ACME_SHAPE_NEW_ORDER, new_order_members, 1 },
	{ ACME_SHAPE_NEW_AUTHZ, new_authz_members, 1 },
	{ ACME_SHAPE_FINALIZE, finalize_members, 1 },
	{ ACME_SHAPE_KEY_CHANGE, key_change_members, 1 },
	{ ACME_SHAPE_REVOCATION, revocation_members, 1 },
	{ ACME_SHAPE_DEACTIVATION, deactivation_members, 1 },
	{ ACME_SHAPE_NEW_ACCOUNT, new_account_members, 0 },
	{ ACME_SHAPE_ACCOUNT_UPDATE, account_update_members, 1 },
};

static int
is_member(const char *const *members, const char *name)
{
	size_t i;

	for (i = 0; members[i] != NULL; i++)
		if (strcmp(members[i], name) == 0)
			return 1;
	return 0;
}

/* Reads n decimal digits as a number; returns -1 for anything else. */
static int
read_digits(const char *text, int n)
{
	int value = 0, i;

	for (i = 0; i < n; i++) {
		if (text[i] < '0' || text[i] > '9')
			return -1;
		value = value * 10 + (text[i] - '0');
	}
	return value;
}

/* Days from 1970-01-01 to a proleptic Gregorian date. */
static long long
days_from_civil(long long y, int m, int d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int
days_in_month(int year, int month)
{
	static const int days[] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
	};
	int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

/* Reads "Z", "z" or "+HH:MM" / "-HH:MM" as an offset in seconds. */
static int
read_offset(const char *text, long long *offset)
{
	int hours, minutes;

	if ((text[0] == 'Z' || text[0] == 'z') && text[1] == '\0') {
		*offset = 0;
		return 0;
	}
	if ((text[0] != '+' && text[0] != '-') || strlen(text) != 6 ||
	    text[3] != ':')
		return -1;
	hours = read_digits(text + 1, 2);
	minutes = read_digits(text + 4, 2);
	if (hours < 0 || hours > 23 || minutes < 0 || minutes > 59)
		return -1;
	*offset = (hours * 3600LL + minutes * 60) * (text[0] == '-' ? -1 : 1);
	return 0;
}

/*
 * Parses an RFC 3339 date-time ("2025-01-31T12:00:00Z", fractions and
 * offsets allowed) into seconds since the epoch, fractions dropped. A
 * leap second (:60) counts as the next second. Uses no time zone data,
 * so it works inside the sandbox. Returns 0 or -1.
 */
int
acme_time_parse(const char *text, long long *seconds)
{
	int year, month, day, hour, minute, second;
	const char *p = text + 19;
	long long offset;

	if (strlen(text) < 20 || text[4] != '-' || text[7] != '-' ||
	    (text[10] != 'T' && text[10] != 't') || text[13] != ':' ||
	    text[16] != ':')
		return -1;
	year = read_digits(text, 4);
	month = read_digits(text + 5, 2);
	day = read_digits(text + 8, 2);
	hour = read_digits(text + 11, 2);
	minute = read_digits(text + 14, 2);
	second = read_digits(text + 17, 2);
	if (year < 0 || month < 1 || month > 12 || day < 1 ||
	    day > days_in_month(year, month) || hour < 0 || hour > 23 ||
	    minute < 0 || minute > 59 || second < 0 || second > 60)
		return -1;
	if (*p == '.') {
		if (p[1] < '0' || p[1] > '9')
			return -1;
		for (p++; *p >= '0' && *p <= '9'; p++)
			continue;
	}
	if (read_offset(p, &offset) != 0)
		return -1;
	*seconds = days_from_civil(year, month, day) * 86400 +
	    hour * 3600LL + minute * 60 + second - offset;
	return 0;
}

#define NEW_ACCOUNT_RULE (&shape_rules[6])
#define ACCOUNT_UPDATE_RULE (&shape_rules[7])

/*
 * Returns the rule of the shape that the object's members name, or NULL
 * when no member names one. A required member names its shape; with only
 * "contact", the payload is an account update.
 */
static const struct shape_rule *
rule_for_object(const json_t *obj, int has_kid)
{
	const char *name;
	const json_t *value;
	size_t i;

	/* An embedded JWK is only for newAccount (RFC 8555 section 6.2). */
	if (!has_kid)
		return NEW_ACCOUNT_RULE;
	for (i = 0; i < sizeof(shape_rules) / sizeof(shape_rules[0]); i++)
		if (shape_rules[i].first_required && json_object_get(obj,
		    shape_rules[i].members[0]) != NULL)
			return &shape_rules[i];
	json_object_foreach((json_t *)obj, name, value)
		if (is_member(new_account_members, name) &&
		    strcmp(name, "contact") != 0)
			return NEW_ACCOUNT_RULE;
	if (json_object_get(obj, "contact") != NULL)
		return ACCOUNT_UPDATE_RULE;
	return NULL;
}

static int __attribute__((format(printf, 4, 5)))
shape_error(enum acme_shape shape, char *err, size_t errlen,
    const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(err, errlen, "%s: ", acme_shape_name(shape));
	if (n > 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Checks that every element of an array is a string. */
static int
check_string_array(const json_t *array, const char *name,
    enum acme_shape shape, char *err, size_t errlen)
{
	size_t i;

	if (!json_is_array(array))
		return shape_error(shape, err, errlen, "member \"%s\" is not "
		    "an array", name);
	for (i = 0; i < json_array_size(array); i++)
		if (!json_is_string(json_array_get(array, i)))
			return shape_error(shape, err, errlen, "%s[%zu] is not "
			    "a string", name, i);
	return 0;
}

/* Checks a flattened JWS object: exactly three string members. */
static int
check_jws_object(const json_t *obj, const char *name, enum acme_shape shape,
    char *err, size_t errlen)
{
	char quoted[POLICY_QUOTE_BUFSIZE];
	const char *member;
	const json_t *value;

	if (!json_is_object(obj))
		return shape_error(shape, err, errlen, "member \"%s\" is not "
		    "an object", name);
	json_object_foreach((json_t *)obj, member, value) {
		if (!is_member(key_change_members, member))
			return shape_error(shape, err, errlen, "unexpected "
			    "member \"%s\" in \"%s\"",
			    policy_quote(member, quoted), name);
		if (!json_is_string(value))
			return shape_error(shape, err, errlen, "member "
			    "\"%s.%s\" is not a string", name, member);
	}
	if (json_object_size(obj) != 3)
		return shape_error(shape, err, errlen, "\"%s\" needs "
		    "\"protected\", \"payload\" and \"signature\"", name);
	return 0;
}

/*
 * Reads one identifier object {"type": "dns" | "ip", "value": STRING}
 * into id, which points into the JSON.
 */
static int
read_identifier(const json_t *obj, const char *where, enum acme_shape shape,
    struct policy_identifier *id, char *err, size_t errlen)
{
	const json_t *type = json_object_get(obj, "type");
	const json_t *value = json_object_get(obj, "value");
	char quoted[POLICY_QUOTE_BUFSIZE];
	const char *name;
	const json_t *member;

	if (!json_is_object(obj))
		return shape_error(shape, err, errlen, "%s is not an object",
		    where);
	json_object_foreach((json_t *)obj, name, member)
		if (strcmp(name, "type") != 0 && strcmp(name, "value") != 0)
			return shape_error(shape, err, errlen, "unexpected "
			    "member \"%s\" in %s", policy_quote(name, quoted),
			    where);
	if (!json_is_string(type) || !json_is_string(value))
		return shape_error(shape, err, errlen, "%s needs string "
		    "members \"type\" and \"value\"", where);
	if (strcmp(json_string_value(type), "dns") == 0)
		id->type = POLICY_ID_DNS;
	else if (strcmp(json_string_value(type), "ip") == 0)
		id->type = POLICY_ID_IP;
	else
		return shape_error(shape, err, errlen, "%s has type "
		    "\"%s\", expected \"dns\" or \"ip\"", where,
		    policy_quote(json_string_value(type), quoted));
	id->value = json_string_value(value);
	if (strlen(id->value) != json_string_length(value))
		return shape_error(shape, err, errlen, "%s value contains a "
		    "NUL byte", where);
	return 0;
}

static int
read_identifiers(const json_t *array, struct acme_payload *out, char *err,
    size_t errlen)
{
	size_t count = json_array_size(array), i;
	char where[32];

	if (!json_is_array(array))
		return shape_error(out->shape, err, errlen, "member "
		    "\"identifiers\" is not an array");
	if (count == 0 || count > IDENTIFIERS_MAX)
		return shape_error(out->shape, err, errlen, "member "
		    "\"identifiers\" has %zu entries, expected 1 to %d",
		    count, IDENTIFIERS_MAX);
	out->ids = calloc(count, sizeof(*out->ids));
	if (out->ids == NULL)
		return shape_error(out->shape, err, errlen, "out of memory");
	for (i = 0; i < count; i++) {
		snprintf(where, sizeof(where), "identifiers[%zu]", i);
		if (read_identifier(json_array_get(array, i), where,
		    out->shape, &out->ids[i], err, errlen) != 0)
			return -1;
		out->id_count++;
	}
	return 0;
}

/* Reads an optional RFC 3339 time member; *set stays 0 when absent. */
static int
read_time(const json_t *obj, const char *name, enum acme_shape shape,
    long long *seconds, int *set, char *err, size_t errlen)
{
	const json_t *value = json_object_get(obj, name);

	*set = 0;
	if (value == NULL)
		return 0;
	if (!json_is_string(value))
		return shape_error(shape, err, errlen, "member \"%s\" is not "
		    "a string", name);
	if (acme_time_parse(json_string_value(value), seconds) != 0)
		return shape_error(shape, err, errlen, "member \"%s\" is not "
		    "an RFC 3339 date-time such as 2025-01-31T12:00:00Z",
		    name);
	*set = 1;
	return 0;
}

static int
check_optional_string(const json_t *obj, const char *name,
    enum acme_shape shape, char *err, size_t errlen)
{
	const json_t *value = json_object_get(obj, name);

	if (value != NULL && !json_is_string(value))
		return shape_error(shape, err, errlen, "member \"%s\" is not "
		    "a string", name);
	return 0;
}

static int
check_new_order(const json_t *obj, struct acme_payload *out, char *err,
    size_t errlen)
{
	if (read_identifiers(json_object_get(obj, "identifiers"), out, err,
	    errlen) != 0 ||
	    read_time(obj, "notBefore", out->shape, &out->not_before,
	    &out->has_not_before, err, errlen) != 0 ||
	    read_time(obj, "notAfter", out->shape, &out->not_after,
	    &out->has_not_after, err, errlen) != 0 ||
	    check_optional_string(obj, "replaces", out->shape, err,
	    errlen) != 0 ||
	    check_optional_string(obj, "profile", out->shape, err,
	    errlen) != 0)
		return -1;
	if (out->has_not_before && out->has_not_after &&
	    out->not_after <= out->not_before)
		return shape_error(out->shape, err, errlen, "\"notAfter\" is "
		    "not after \"notBefore\"");
	return 0;
}

static int
check_new_account(const json_t *obj, enum acme_shape shape, char *err,
    size_t errlen)
{
	const json_t *tos = json_object_get(obj, "termsOfServiceAgreed");
	const json_t *only = json_object_get(obj, "onlyReturnExisting");
	const json_t *contact = json_object_get(obj, "contact");
	const json_t *eab = json_object_get(obj, "externalAccountBinding");

	if (tos != NULL && !json_is_boolean(tos))
		return shape_error(shape, err, errlen, "member "
		    "\"termsOfServiceAgreed\" is not a boolean");
	if (only != NULL && !json_is_boolean(only))
		return shape_error(shape, err, errlen, "member "
		    "\"onlyReturnExisting\" is not a boolean");
	if (contact != NULL && check_string_array(contact, "contact", shape,
	    err, errlen) != 0)
		return -1;
	if (eab != NULL && check_jws_object(eab, "externalAccountBinding",
	    shape, err, errlen) != 0)
		return -1;
	return 0;
}

static int
check_revocation(const json_t *obj, enum acme_shape shape, char *err,
    size_t errlen)
{
	const json_t *reason = json_object_get(obj, "reason");
	json_int_t code;

	if (!json_is_string(json_object_get(obj, "certificate")))
		return shape_error(shape, err, errlen, "member \"certificate\" "
		    "is not a string");
	if (reason == NULL)
		return 0;
	if (!json_is_integer(reason))
		return shape_error(shape, err, errlen, "member \"reason\" is "
		    "not an integer");
	code = json_integer_value(reason);
	if (code < 0 || code > REVOCATION_REASON_MAX ||
	    code == REVOCATION_REASON_UNUSED)
		return shape_error(shape, err, errlen, "member \"reason\" is "
		    "%lld, not an RFC 5280 reason code", (long long)code);
	return 0;
}

/* Checks the member types of the shape that rule_for_object() chose. */
static int
check_members(const json_t *obj, struct acme_payload *out, char *err,
    size_t errlen)
{
	const json_t *value;

	switch (out->shape) {
	case ACME_SHAPE_NEW_ORDER:
		return check_new_order(obj, out, err, errlen);
	case ACME_SHAPE_NEW_AUTHZ:
		out->ids = calloc(1, sizeof(*out->ids));
		if (out->ids == NULL)
			return shape_error(out->shape, err, errlen,
			    "out of memory");
		out->id_count = 1;
		return read_identifier(json_object_get(obj, "identifier"),
		    "member \"identifier\"", out->shape, out->ids, err,
		    errlen);
	case ACME_SHAPE_FINALIZE:
		value = json_object_get(obj, "csr");
		if (!json_is_string(value))
			return shape_error(out->shape, err, errlen, "member "
			    "\"csr\" is not a string");
		out->csr = json_string_value(value);
		return 0;
	case ACME_SHAPE_KEY_CHANGE:
		return check_jws_object(obj, "the payload", out->shape, err,
		    errlen);
	case ACME_SHAPE_REVOCATION:
		return check_revocation(obj, out->shape, err, errlen);
	case ACME_SHAPE_DEACTIVATION:
		value = json_object_get(obj, "status");
		if (!json_is_string(value) ||
		    strcmp(json_string_value(value), "deactivated") != 0)
			return shape_error(out->shape, err, errlen, "member "
			    "\"status\" is not \"deactivated\"");
		return 0;
	case ACME_SHAPE_ACCOUNT_UPDATE:
		return check_string_array(json_object_get(obj, "contact"),
		    "contact", out->shape, err, errlen);
	case ACME_SHAPE_NEW_ACCOUNT:
		return check_new_account(obj, out->shape, err, errlen);
	default:
		return 0;
	}
}

/* Classifies a parsed object payload. */
static int
classify_object(const json_t *obj, int has_kid, struct acme_payload *out,
    char *err, size_t errlen)
{
	char quoted[POLICY_QUOTE_BUFSIZE];
	const struct shape_rule *rule;
	const char *name = "";
	const json_t *value;

	if (json_object_size(obj) == 0) {
		out->shape = has_kid ? ACME_SHAPE_CHALLENGE_RESPONSE :
		    ACME_SHAPE_NEW_ACCOUNT;
		return 0;
	}
	rule = rule_for_object(obj, has_kid);
	if (rule == NULL) {
		json_object_foreach((json_t *)obj, name, value)
			break;
		snprintf(err, errlen, "of no ACME shape: member "
		    "\"%s\" belongs to none",
		    policy_quote(name, quoted));
		return -1;
	}
	out->shape = rule->shape;
	json_object_foreach((json_t *)obj, name, value) {
		if (is_member(rule->members, name))
			continue;
		if (!has_kid)
			return shape_error(out->shape, err, errlen,
			    "unexpected member \"%s\" (with an embedded JWK, "
			    "only newAccount is allowed)",
			    policy_quote(name, quoted));
		return shape_error(out->shape, err, errlen, "unexpected "
		    "member \"%s\"", policy_quote(name, quoted));
	}
	if (rule->shape == ACME_SHAPE_NEW_ACCOUNT && has_kid)
		return shape_error(out->shape, err, errlen, "needs an "
		    "embedded JWK, not a kid");
	return check_members(obj, out, err, errlen);
}

/*
 * Classifies payload text: "" is POST-as-GET, anything else must be one
 * JSON object of an ACME shape. has_kid is 1 when the JWS names an
 * account URL, and 0 when it embeds the JWK, which only newAccount does.
 * Returns 0 with out filled, or -1 with a message that completes "the
 * payload is ...": "newOrder: unexpected member ..." names the shape that
 * failed. The caller clears out with acme_payload_clear() in both cases.
 */
int
acme_payload_classify(const char *text, int has_kid,
    struct acme_payload *out, char *err, size_t errlen)
{
	json_error_t error;

	memset(out, 0, sizeof(*out));
	if (text[0] == '\0') {
		out->shape = ACME_SHAPE_POST_AS_GET;
		if (!has_kid)
			return shape_error(out->shape, err, errlen, "needs a "
			    "kid (account URL), not an embedded JWK");
		return 0;
	}
	out->object = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
	    &error);
	if (out->object == NULL) {
		snprintf(err, errlen, "not valid JSON: %s",
		    error.text);
		return -1;
	}
	if (!json_is_object(out->object)) {
		snprintf(err, errlen, "a JSON %s, not an object",
		    json_is_array(out->object) ? "array" : "scalar");
		return -1;
	}
	return classify_object(out->object, has_kid, out, err, errlen);
}

void
acme_payload_clear(struct acme_payload *payload)
{
	json_decref(payload->object);
	free(payload->ids);
	memset(payload, 0, sizeof(*payload));
}
