/*
 * ACME Renewal Information (RFC 9773): the certificate identifier, RFC
 * 3339 times, the renewalInfo body and the poll delay.
 */
#include <string.h>

#include <openssl/x509v3.h>

#include "broker/renewal_info.h"
#include "tests/unit/check.h"

/* The example of RFC 9773 section 4.1. */
static const unsigned char rfc_key_id[] = {
	0x69, 0x88, 0x5b, 0x6b, 0x87, 0x46, 0x40, 0x41, 0xe1, 0xb3,
	0x7b, 0x84, 0x7b, 0xa0, 0xae, 0x2c, 0xde, 0x01, 0xc8, 0xd4,
};
static const char rfc_id[] = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE";

static void
test_id_rfc_example_bytes(void)
{
	static const unsigned char serial[] = { 0x00, 0x87, 0x65, 0x43, 0x21 };
	char out[ARI_ID_MAX + 1];

	CHECK_INT(ari_id_encode(rfc_key_id, sizeof(rfc_key_id), serial,
	    sizeof(serial), out, sizeof(out)), 0);
	CHECK_STR(out, rfc_id);
}

/* A certificate with serial 0x87654321 and the example's key id. */
static X509 *
example_certificate(void)
{
	ASN1_OCTET_STRING *key_id = ASN1_OCTET_STRING_new();
	AUTHORITY_KEYID *aki = AUTHORITY_KEYID_new();
	X509 *cert = X509_new();

	if (cert == NULL || aki == NULL || key_id == NULL ||
	    ASN1_OCTET_STRING_set(key_id, rfc_key_id,
	    sizeof(rfc_key_id)) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(cert), 0x87654321L) != 1)
		goto fail;
	aki->keyid = key_id;
	key_id = NULL;
	if (X509_add1_ext_i2d(cert, NID_authority_key_identifier, aki, 0,
	    X509V3_ADD_DEFAULT) != 1)
		goto fail;
	AUTHORITY_KEYID_free(aki);
	return cert;
fail:
	ASN1_OCTET_STRING_free(key_id);
	AUTHORITY_KEYID_free(aki);
	X509_free(cert);
	return NULL;
}

static void
test_id_rfc_example_certificate(void)
{
	X509 *cert = example_certificate();
	char out[ARI_ID_MAX + 1], err[256];

	CHECK(cert != NULL);
	if (cert == NULL)
		return;
	CHECK_INT(ari_cert_id(cert, out, sizeof(out), err, sizeof(err)), 0);
	CHECK_STR(out, rfc_id);
	X509_free(cert);
}

static void
test_id_without_key_id(void)
{
	X509 *cert = X509_new();
	char out[ARI_ID_MAX + 1], err[256] = "";

	CHECK_INT(ari_cert_id(cert, out, sizeof(out), err, sizeof(err)), -1);
	CHECK(strstr(err, "Authority Key Identifier") != NULL);
	X509_free(cert);
}

static void
test_id_small_serial(void)
{
	static const unsigned char serial[] = { 0x01 };
	char out[ARI_ID_MAX + 1];

	CHECK_INT(ari_id_encode(rfc_key_id, sizeof(rfc_key_id), serial,
	    sizeof(serial), out, sizeof(out)), 0);
	CHECK_STR(out, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AQ");
}

static void
test_id_buffer_too_small(void)
{
	static const unsigned char serial[] = { 0x01 };
	char out[20];

	CHECK_INT(ari_id_encode(rfc_key_id, sizeof(rfc_key_id), serial,
	    sizeof(serial), out, sizeof(out)), -1);
}

static void
test_time_utc(void)
{
	int64_t t = 0;

	CHECK_INT(ari_time_parse("2025-01-02T04:00:00Z", &t), 0);
	CHECK_INT(t, 1735790400);
}

static void
test_time_fraction_and_offset(void)
{
	int64_t t = 0;

	CHECK_INT(ari_time_parse("2025-01-02T06:30:00.123456+02:30", &t), 0);
	CHECK_INT(t, 1735790400);
	CHECK_INT(ari_time_parse("2025-01-01t23:00:00-05:00", &t), 0);
	CHECK_INT(t, 1735790400);
	CHECK_INT(ari_time_parse("2025-01-02t04:00:00z", &t), 0);
	CHECK_INT(t, 1735790400);
}

static void
test_time_invalid(void)
{
	static const char *const bad[] = {
		"", "2025-01-02", "2025-01-02T04:00:00", "2025-01-02 04:00:00Z",
		"2025-13-02T04:00:00Z", "2025-02-30T04:00:00Z",
		"2025-01-02T24:00:00Z", "2025-01-02T04:00:00.Z",
		"2025-01-02T04:00:00Zjunk", "2025-01-02T04:00:00+2:00",
		"yesterday", "2025-01-02T04:00:00+24:00",
	};
	int64_t t;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ari_time_parse(bad[i], &t) != -1) {
			printf("#   accepted \"%s\"\n", bad[i]);
			check_failed_in_test = 1;
		}
	}
}

static int
parse(const char *body, struct ari_window *window, char *err,
    size_t errlen)
{
	return ari_window_parse(body, strlen(body), window, err, errlen);
}

static void
test_window_valid(void)
{
	struct ari_window w = { .poll_delay = 77 };
	char err[256];

	CHECK_INT(parse("{\"suggestedWindow\": {\"start\": "
	    "\"2025-01-02T04:00:00Z\", \"end\": \"2025-01-03T04:00:00Z\"}, "
	    "\"explanationURL\": \"https://ca.test/why\"}", &w, err,
	    sizeof(err)), 0);
	CHECK_INT(w.start, 1735790400);
	CHECK_INT(w.end, 1735790400 + 86400);
	CHECK_STR(w.explanation, "https://ca.test/why");
	CHECK_INT(w.poll_delay, 77);
}

static void
test_window_end_before_start(void)
{
	struct ari_window w;
	char err[256] = "";

	CHECK_INT(parse("{\"suggestedWindow\": {\"start\": "
	    "\"2025-01-03T04:00:00Z\", \"end\": \"2025-01-02T04:00:00Z\"}}",
	    &w, err, sizeof(err)), -1);
	CHECK(strstr(err, "\"2025-01-02T04:00:00Z\"") != NULL);
	CHECK(strstr(err, "not after its start") != NULL);
}

static void
test_window_bad_time(void)
{
	struct ari_window w;
	char err[256] = "";

	CHECK_INT(parse("{\"suggestedWindow\": {\"start\": \"soon\", "
	    "\"end\": \"2025-01-02T04:00:00Z\"}}", &w, err, sizeof(err)), -1);
	CHECK(strstr(err, "suggestedWindow.start \"soon\"") != NULL);
}

static void
test_window_missing(void)
{
	struct ari_window w;
	char err[256] = "";

	CHECK_INT(parse("{\"explanationURL\": \"https://ca.test/\"}", &w, err,
	    sizeof(err)), -1);
	CHECK(strstr(err, "suggestedWindow") != NULL);
	CHECK_INT(parse("[1, 2]", &w, err, sizeof(err)), -1);
	CHECK(strstr(err, "not a JSON object") != NULL);
	CHECK_INT(parse("{\"suggestedWindow\": {\"start\": 5, \"end\": 6}}",
	    &w, err, sizeof(err)), -1);
	CHECK(strstr(err, "not a string") != NULL);
}

static void
test_window_too_large(void)
{
	struct ari_window w;
	char err[256] = "";
	static char body[ARI_BODY_MAX + 2];

	memset(body, ' ', sizeof(body) - 1);
	CHECK_INT(ari_window_parse(body, sizeof(body) - 1, &w, err,
	    sizeof(err)), -1);
	CHECK(strstr(err, "65537 bytes") != NULL);
}

static void
test_poll_delay_clamped(void)
{
	CHECK_INT(ari_poll_delay(-1), ARI_POLL_MIN);
	CHECK_INT(ari_poll_delay(0), ARI_POLL_MIN);
	CHECK_INT(ari_poll_delay(7200), 7200);
	CHECK_INT(ari_poll_delay(10 * 86400), ARI_POLL_MAX);
}

static void
test_choose_inside_window(void)
{
	struct ari_window w = { .start = 1000, .end = 2000 };

	CHECK_INT(ari_choose(&w, 0.0), 1000);
	CHECK_INT(ari_choose(&w, 0.5), 1500);
	CHECK_INT(ari_choose(&w, 0.9999), 1999);
}

int
main(void)
{
	RUN(test_id_rfc_example_bytes);
	RUN(test_id_rfc_example_certificate);
	RUN(test_id_without_key_id);
	RUN(test_id_small_serial);
	RUN(test_id_buffer_too_small);
	RUN(test_time_utc);
	RUN(test_time_fraction_and_offset);
	RUN(test_time_invalid);
	RUN(test_window_valid);
	RUN(test_window_end_before_start);
	RUN(test_window_bad_time);
	RUN(test_window_missing);
	RUN(test_window_too_large);
	RUN(test_poll_delay_clamped);
	RUN(test_choose_inside_window);
	return check_done();
}
