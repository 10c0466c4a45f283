#include "broker/renewal_info.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/x509v3.h>

#include "broker/headers.h"
#include "encoding/base64url.h"

int
ari_id_encode(const unsigned char *key_id, size_t key_id_len,
    const unsigned char *serial, size_t serial_len, char *out,
    size_t outlen)
{
	size_t used;

	if (key_id_len == 0 || serial_len == 0 ||
	    base64url_encoded_len(key_id_len) +
	    base64url_encoded_len(serial_len) + 2 > outlen)
		return -1;
	used = base64url_encode(key_id, key_id_len, out);
	out[used++] = '.';
	base64url_encode(serial, serial_len, out + used);
	return 0;
}

/* Sets *content to the content octets of the DER encoding of serial. */
static int
serial_content(const ASN1_INTEGER *serial, unsigned char *der, size_t size,
    const unsigned char **content, size_t *len)
{
	unsigned char *p = der;
	int der_len;

	der_len = i2d_ASN1_INTEGER(serial, NULL);
	if (der_len < 3 || (size_t)der_len > size)
		return -1;
	der_len = i2d_ASN1_INTEGER(serial, &p);
	/* Tag 0x02 and a one-byte length, because der has room for 64 bytes. */
	if (der_len < 3 || der[0] != 0x02 || der[1] != der_len - 2)
		return -1;
	*content = der + 2;
	*len = (size_t)der_len - 2;
	return 0;
}

int
ari_cert_id(X509 *cert, char *out, size_t outlen, char *err, size_t errlen)
{
	AUTHORITY_KEYID *aki;
	const unsigned char *serial;
	unsigned char der[64];
	size_t serial_len;
	int rc = -1;

	aki = X509_get_ext_d2i(cert, NID_authority_key_identifier, NULL, NULL);
	if (aki == NULL || aki->keyid == NULL ||
	    ASN1_STRING_length(aki->keyid) <= 0 ||
	    ASN1_STRING_length(aki->keyid) > 64) {
		snprintf(err, errlen, "the certificate has no usable Authority "
		    "Key Identifier keyIdentifier, so it has no renewalInfo "
		    "identifier");
		goto out;
	}
	if (serial_content(X509_get0_serialNumber(cert), der, sizeof(der),
	    &serial, &serial_len) != 0) {
		snprintf(err, errlen, "the certificate's serial number is not "
		    "a DER INTEGER of at most 62 bytes");
		goto out;
	}
	if (ari_id_encode(ASN1_STRING_get0_data(aki->keyid),
	    (size_t)ASN1_STRING_length(aki->keyid), serial, serial_len, out,
	    outlen) != 0) {
		snprintf(err, errlen, "the renewalInfo identifier is longer "
		    "than %zu characters", outlen - 1);
		goto out;
	}
	rc = 0;
out:
	AUTHORITY_KEYID_free(aki);
	return rc;
}

/* Reads count digits at *p into *value and advances *p. */
static int
read_digits(const char **p, int count, int *value)
{
	*value = 0;
	for (int i = 0; i < count; i++, (*p)++) {
		if (!isdigit((unsigned char)**p))
			return -1;
		*value = *value * 10 + (**p - '0');
	}
	return 0;
}

/* Expects the character c at *p and advances past it. */
static int
expect(const char **p, char c)
{
	if (toupper((unsigned char)**p) != c)
		return -1;
	(*p)++;
	return 0;
}

/* Parses "Z" or "+hh:mm" / "-hh:mm" into seconds east of UTC. */
static int
read_offset(const char *p, int64_t *offset)
{
	int sign, hours, minutes;

	if (toupper((unsigned char)*p) == 'Z')
		return p[1] == '\0' ? (*offset = 0, 0) : -1;
	if (*p != '+' && *p != '-')
		return -1;
	sign = *p++ == '-' ? -1 : 1;
	if (read_digits(&p, 2, &hours) != 0 || expect(&p, ':') != 0 ||
	    read_digits(&p, 2, &minutes) != 0 || *p != '\0' || hours > 23 ||
	    minutes > 59)
		return -1;
	*offset = sign * (hours * 3600 + minutes * 60);
	return 0;
}

int
ari_time_parse(const char *text, int64_t *out)
{
	const char *p = text;
	int year, month, day, hour, minute, second;
	int64_t offset;
	struct tm tm;
	time_t t;

	if (read_digits(&p, 4, &year) != 0 || expect(&p, '-') != 0 ||
	    read_digits(&p, 2, &month) != 0 || expect(&p, '-') != 0 ||
	    read_digits(&p, 2, &day) != 0 || expect(&p, 'T') != 0 ||
	    read_digits(&p, 2, &hour) != 0 || expect(&p, ':') != 0 ||
	    read_digits(&p, 2, &minute) != 0 || expect(&p, ':') != 0 ||
	    read_digits(&p, 2, &second) != 0)
		return -1;
	if (*p == '.') {
		if (!isdigit((unsigned char)p[1]))
			return -1;
		for (p++; isdigit((unsigned char)*p); p++)
			;
	}
	if (read_offset(p, &offset) != 0 || month < 1 || month > 12 ||
	    day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = month - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = minute;
	tm.tm_sec = second;
	t = timegm(&tm);
	/* timegm moves 30 February into March, so such dates fail here. */
	if (t == (time_t)-1 || tm.tm_mday != day || tm.tm_mon != month - 1)
		return -1;
	*out = (int64_t)t - offset;
	return 0;
}

/* Reads member name of the window as a time; messages quote the value. */
static int
window_time(const json_t *window, const char *name, int64_t *out,
    char *err, size_t errlen)
{
	const json_t *value = json_object_get(window, name);

	if (!json_is_string(value)) {
		snprintf(err, errlen, "suggestedWindow.%s is missing or not a "
		    "string", name);
		return -1;
	}
	if (ari_time_parse(json_string_value(value), out) != 0) {
		snprintf(err, errlen, "suggestedWindow.%s \"%.64s\" is not an "
		    "RFC 3339 date-time", name, json_string_value(value));
		return -1;
	}
	return 0;
}

int
ari_window_parse(const char *body, size_t len, struct ari_window *window,
    char *err, size_t errlen)
{
	const json_t *suggested, *explanation;
	json_error_t error;
	json_t *doc;
	int rc = -1;

	if (len > ARI_BODY_MAX) {
		snprintf(err, errlen, "the body has %zu bytes, more than the "
		    "%d allowed", len, ARI_BODY_MAX);
		return -1;
	}
	doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &error);
	if (!json_is_object(doc)) {
		snprintf(err, errlen, "the body is not a JSON object: %s",
		    doc == NULL ? error.text : "another JSON type");
		goto out;
	}
	suggested = json_object_get(doc, "suggestedWindow");
	if (!json_is_object(suggested)) {
		snprintf(err, errlen, "member \"suggestedWindow\" is missing "
		    "or not an object");
		goto out;
	}
	if (window_time(suggested, "start", &window->start, err,
	    errlen) != 0 || window_time(suggested, "end", &window->end, err,
	    errlen) != 0)
		goto out;
	if (window->end <= window->start) {
		snprintf(err, errlen, "suggestedWindow ends at \"%.64s\", not "
		    "after its start \"%.64s\"", json_string_value(
		    json_object_get(suggested, "end")), json_string_value(
		    json_object_get(suggested, "start")));
		goto out;
	}
	window->explanation[0] = '\0';
	explanation = json_object_get(doc, "explanationURL");
	if (json_is_string(explanation))
		snprintf(window->explanation, sizeof(window->explanation),
		    "%s", json_string_value(explanation));
	rc = 0;
out:
	json_decref(doc);
	return rc;
}

int64_t
ari_poll_delay(long retry_after)
{
	if (retry_after < ARI_POLL_MIN)
		return ARI_POLL_MIN;
	return retry_after > ARI_POLL_MAX ? ARI_POLL_MAX : retry_after;
}

int64_t
ari_choose(const struct ari_window *window, double random)
{
	return window->start + (int64_t)(random *
	    (double)(window->end - window->start));
}

/* Checks the status and type of a renewalInfo response. */
static int
check_response(const struct http_response *resp, char *err, size_t errlen)
{
	const char *type = http_response_header(resp, "Content-Type", 0);

	if (resp->status != 200) {
		snprintf(err, errlen, "HTTP %ld", resp->status);
		return -1;
	}
	if (type == NULL || !header_media_type_is(type, "application/json")) {
		snprintf(err, errlen, "the response is not application/json");
		return -1;
	}
	return 0;
}

int
ari_fetch(struct acme_client *client, const char *cert_id,
    struct ari_window *window)
{
	struct http_response resp = { 0 };
	const char *retry;
	char url[2048], reason[512];
	long retry_after = -1;
	int rc = -1;

	if (snprintf(url, sizeof(url), "%s/%s",
	    client->directory.renewal_info, cert_id) >= (int)sizeof(url)) {
		snprintf(reason, sizeof(reason), "the URL is too long");
		goto fail;
	}
	if (http_get(client->http, url, "application/json", &resp, reason,
	    sizeof(reason)) != 0 || check_response(&resp, reason,
	    sizeof(reason)) != 0 || ari_window_parse(resp.body, resp.body_len,
	    window, reason, sizeof(reason)) != 0)
		goto fail;
	retry = http_response_header(&resp, "Retry-After", 0);
	if (retry != NULL && header_retry_after(retry, time(NULL),
	    ARI_POLL_MAX, &retry_after) != 0)
		retry_after = -1;
	window->poll_delay = ari_poll_delay(retry_after);
	rc = 0;
	goto out;
fail:
	snprintf(client->err, sizeof(client->err), "issuer %s: invalid "
	    "renewalInfo response for %.400s: %.400s", client->issuer->name,
	    url, reason);
out:
	http_response_clear(&resp);
	return rc;
}
