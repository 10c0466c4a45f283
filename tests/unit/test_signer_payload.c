/*
 * The ACME payload shape classifier and its RFC 3339 time parser. A
 * payload is recognised by its members and their JSON types only, so each
 * test names the shape it expects or the error text for what it rejects.
 */
#include <string.h>

#include "signer/signer.h"
#include "tests/unit/check.h"

#define WITH_KID 1
#define WITH_JWK 0

static char last_error[256];

/* Returns the shape of text, or -1 with the message in last_error. */
static int
shape_of(const char *text, int has_kid)
{
	struct acme_payload payload;
	int rc;

	last_error[0] = '\0';
	rc = acme_payload_classify(text, has_kid, &payload, last_error,
	    sizeof(last_error));
	if (rc == 0)
		rc = (int)payload.shape;
	acme_payload_clear(&payload);
	return rc;
}

static void
test_payload_each_shape(void)
{
	CHECK_INT(shape_of("", WITH_KID), ACME_SHAPE_POST_AS_GET);
	CHECK_INT(shape_of("{}", WITH_KID), ACME_SHAPE_CHALLENGE_RESPONSE);
	CHECK_INT(shape_of("{}", WITH_JWK), ACME_SHAPE_NEW_ACCOUNT);
	CHECK_INT(shape_of("{\"termsOfServiceAgreed\":true,\"contact\":"
	    "[\"mailto:a@b.test\"],\"onlyReturnExisting\":false,"
	    "\"externalAccountBinding\":{\"protected\":\"e30\","
	    "\"payload\":\"e30\",\"signature\":\"AA\"}}", WITH_JWK),
	    ACME_SHAPE_NEW_ACCOUNT);
	CHECK_INT(shape_of("{\"contact\":[]}", WITH_KID),
	    ACME_SHAPE_ACCOUNT_UPDATE);
	CHECK_INT(shape_of("{\"status\":\"deactivated\"}", WITH_KID),
	    ACME_SHAPE_DEACTIVATION);
	CHECK_INT(shape_of("{\"identifiers\":[{\"type\":\"dns\","
	    "\"value\":\"a.test\"}],\"notBefore\":\"2030-01-01T00:00:00Z\","
	    "\"notAfter\":\"2030-01-02T00:00:00Z\",\"replaces\":\"x.y\","
	    "\"profile\":\"short\"}", WITH_KID), ACME_SHAPE_NEW_ORDER);
	CHECK_INT(shape_of("{\"identifier\":{\"type\":\"ip\","
	    "\"value\":\"192.0.2.1\"}}", WITH_KID), ACME_SHAPE_NEW_AUTHZ);
	CHECK_INT(shape_of("{\"csr\":\"MIIB\"}", WITH_KID),
	    ACME_SHAPE_FINALIZE);
	CHECK_INT(shape_of("{\"protected\":\"a\",\"payload\":\"b\","
	    "\"signature\":\"c\"}", WITH_KID), ACME_SHAPE_KEY_CHANGE);
	CHECK_INT(shape_of("{\"certificate\":\"MIIB\"}", WITH_KID),
	    ACME_SHAPE_REVOCATION);
	CHECK_INT(shape_of("{\"certificate\":\"MIIB\",\"reason\":0}",
	    WITH_KID), ACME_SHAPE_REVOCATION);
}

static void
test_payload_order_fields(void)
{
	struct acme_payload p;
	char err[256];

	CHECK_INT(acme_payload_classify("{\"identifiers\":[{\"type\":\"dns\","
	    "\"value\":\"a.test\"},{\"type\":\"ip\",\"value\":\"::1\"}],"
	    "\"notAfter\":\"2030-01-02T00:00:00Z\"}", WITH_KID, &p, err,
	    sizeof(err)), 0);
	CHECK_INT(p.id_count, 2);
	CHECK_INT(p.ids[0].type, POLICY_ID_DNS);
	CHECK_STR(p.ids[0].value, "a.test");
	CHECK_INT(p.ids[1].type, POLICY_ID_IP);
	CHECK_STR(p.ids[1].value, "::1");
	CHECK_INT(p.has_not_before, 0);
	CHECK_INT(p.has_not_after, 1);
	CHECK_INT(p.not_after, 1893542400);
	acme_payload_clear(&p);

	CHECK_INT(acme_payload_classify("{\"csr\":\"AAAA\"}", WITH_KID, &p,
	    err, sizeof(err)), 0);
	CHECK_STR(p.csr, "AAAA");
	acme_payload_clear(&p);
}

/* Each case: payload, kid or not, and the start of the expected error. */
static const struct {
	const char *payload;
	int has_kid;
	const char *error;
} rejected[] = {
	{ "[]", WITH_KID, "a JSON array, not an object" },
	{ "\"\"", WITH_KID, "a JSON scalar, not an object" },
	{ "1", WITH_KID, "a JSON scalar, not an object" },
	{ "{", WITH_KID, "not valid JSON" },
	{ "{\"csr\":\"a\",\"csr\":\"b\"}", WITH_KID, "not valid JSON" },
	{ "{} {}", WITH_KID, "not valid JSON" },
	{ "", WITH_JWK, "POST-as-GET: needs a kid" },
	{ "{\"hello\":1}", WITH_KID,
	    "of no ACME shape: member \"hello\" belongs to none" },
	{ "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}],"
	    "\"csr\":\"x\"}", WITH_KID,
	    "newOrder: unexpected member \"csr\"" },
	{ "{\"identifiers\":\"a.test\"}", WITH_KID,
	    "newOrder: member \"identifiers\" is not an array" },
	{ "{\"identifiers\":[]}", WITH_KID,
	    "newOrder: member \"identifiers\" has 0 entries" },
	{ "{\"identifiers\":[\"a.test\"]}", WITH_KID,
	    "newOrder: identifiers[0] is not an object" },
	{ "{\"identifiers\":[[{\"type\":\"dns\",\"value\":\"a.test\"}]]}",
	    WITH_KID, "newOrder: identifiers[0] is not an object" },
	{ "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\","
	    "\"junk\":{}}]}", WITH_KID,
	    "newOrder: unexpected member \"junk\" in identifiers[0]" },
	{ "{\"identifiers\":[{\"type\":\"dns\"}]}", WITH_KID,
	    "newOrder: identifiers[0] needs string members" },
	{ "{\"identifiers\":[{\"type\":\"dns\",\"value\":1}]}", WITH_KID,
	    "newOrder: identifiers[0] needs string members" },
	{ "{\"identifiers\":[{\"type\":\"email\",\"value\":\"a@b\"}]}",
	    WITH_KID, "newOrder: identifiers[0] has type \"email\"" },
	{ "{\"identifiers\":[{\"type\":\"DNS\",\"value\":\"a.test\"}]}",
	    WITH_KID, "newOrder: identifiers[0] has type \"DNS\"" },
	{ "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a\\u0000b\"}]}",
	    WITH_KID, "not valid JSON" },
	{ "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}],"
	    "\"notAfter\":1893542400}", WITH_KID,
	    "newOrder: member \"notAfter\" is not a string" },
	{ "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}],"
	    "\"notAfter\":\"tomorrow\"}", WITH_KID,
	    "newOrder: member \"notAfter\" is not an RFC 3339 date-time" },
	{ "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}],"
	    "\"notBefore\":\"2030-01-02T00:00:00Z\","
	    "\"notAfter\":\"2030-01-01T00:00:00Z\"}", WITH_KID,
	    "newOrder: \"notAfter\" is not after \"notBefore\"" },
	{ "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}],"
	    "\"profile\":{}}", WITH_KID,
	    "newOrder: member \"profile\" is not a string" },
	{ "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}],"
	    "\"replaces\":null}", WITH_KID,
	    "newOrder: member \"replaces\" is not a string" },
	{ "{\"identifier\":[{\"type\":\"dns\",\"value\":\"a.test\"}]}",
	    WITH_KID, "newAuthz: member \"identifier\" is not an object" },
	{ "{\"identifier\":{\"type\":\"dns\",\"value\":\"a.test\"},"
	    "\"x\":1}", WITH_KID, "newAuthz: unexpected member \"x\"" },
	{ "{\"csr\":[\"MIIB\"]}", WITH_KID,
	    "finalize: member \"csr\" is not a string" },
	{ "{\"csr\":\"MIIB\",\"identifiers\":[]}", WITH_KID,
	    "newOrder: unexpected member \"csr\"" },
	{ "{\"protected\":\"a\",\"payload\":\"b\"}", WITH_KID,
	    "keyChange: \"the payload\" needs" },
	{ "{\"protected\":\"a\",\"payload\":{},\"signature\":\"c\"}",
	    WITH_KID, "keyChange: member \"the payload.payload\" is not" },
	{ "{\"certificate\":\"MIIB\",\"reason\":\"1\"}", WITH_KID,
	    "revokeCert: member \"reason\" is not an integer" },
	{ "{\"certificate\":\"MIIB\",\"reason\":1.0}", WITH_KID,
	    "revokeCert: member \"reason\" is not an integer" },
	{ "{\"certificate\":\"MIIB\",\"reason\":7}", WITH_KID,
	    "revokeCert: member \"reason\" is 7" },
	{ "{\"certificate\":\"MIIB\",\"reason\":11}", WITH_KID,
	    "revokeCert: member \"reason\" is 11" },
	{ "{\"certificate\":\"MIIB\",\"reason\":-1}", WITH_KID,
	    "revokeCert: member \"reason\" is -1" },
	{ "{\"certificate\":1}", WITH_KID,
	    "revokeCert: member \"certificate\" is not a string" },
	{ "{\"status\":\"valid\"}", WITH_KID,
	    "deactivation: member \"status\" is not \"deactivated\"" },
	{ "{\"status\":\"deactivated\",\"contact\":[]}", WITH_KID,
	    "deactivation: unexpected member \"contact\"" },
	{ "{\"contact\":\"mailto:a@b.test\"}", WITH_KID,
	    "account update: member \"contact\" is not an array" },
	{ "{\"contact\":[1]}", WITH_KID,
	    "account update: contact[0] is not a string" },
	{ "{\"contact\":[],\"extra\":1}", WITH_KID,
	    "account update: unexpected member \"extra\"" },
	{ "{\"termsOfServiceAgreed\":true}", WITH_KID,
	    "newAccount: needs an embedded JWK, not a kid" },
	{ "{\"termsOfServiceAgreed\":\"yes\"}", WITH_JWK,
	    "newAccount: member \"termsOfServiceAgreed\" is not a boolean" },
	{ "{\"onlyReturnExisting\":1}", WITH_JWK,
	    "newAccount: member \"onlyReturnExisting\" is not a boolean" },
	{ "{\"externalAccountBinding\":{\"protected\":\"a\"}}", WITH_JWK,
	    "newAccount: \"externalAccountBinding\" needs" },
	{ "{\"externalAccountBinding\":{\"protected\":\"a\","
	    "\"payload\":\"b\",\"signature\":\"c\",\"x\":\"d\"}}", WITH_JWK,
	    "newAccount: unexpected member \"x\" in" },
	{ "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}]}",
	    WITH_JWK, "newAccount: unexpected member \"identifiers\" (with "
	    "an embedded JWK" },
	{ "{\"csr\":\"MIIB\"}", WITH_JWK,
	    "newAccount: unexpected member \"csr\"" },
	{ "{\"x\\n\":1}", WITH_KID,
	    "of no ACME shape: member \"x?\" belongs to none" },
};

static void
test_payload_rejects(void)
{
	size_t i;

	for (i = 0; i < sizeof(rejected) / sizeof(rejected[0]); i++) {
		int shape = shape_of(rejected[i].payload, rejected[i].has_kid);

		if (shape != -1 || strncmp(last_error, rejected[i].error,
		    strlen(rejected[i].error)) != 0) {
			printf("#   case %zu %s: shape %d, error \"%s\"\n", i,
			    rejected[i].payload, shape, last_error);
			CHECK(shape == -1);
			CHECK(strncmp(last_error, rejected[i].error,
			    strlen(rejected[i].error)) == 0);
		}
	}
}

static void
test_payload_identifier_limit(void)
{
	static char text[64 * 1024];
	size_t pos, i;

	pos = (size_t)snprintf(text, sizeof(text), "{\"identifiers\":[");
	for (i = 0; i < 1001; i++)
		pos += (size_t)snprintf(text + pos, sizeof(text) - pos,
		    "%s{\"type\":\"dns\",\"value\":\"a.test\"}", i ? "," : "");
	snprintf(text + pos, sizeof(text) - pos, "]}");
	CHECK_INT(shape_of(text, WITH_KID), -1);
	CHECK(strstr(last_error, "has 1001 entries, expected 1 to 1000") !=
	    NULL);
}

static long long
time_of(const char *text)
{
	long long seconds;

	return acme_time_parse(text, &seconds) == 0 ? seconds : -1;
}

static void
test_time_valid(void)
{
	CHECK_INT(time_of("1970-01-01T00:00:00Z"), 0);
	CHECK_INT(time_of("2030-01-02T00:00:00Z"), 1893542400);
	CHECK_INT(time_of("2030-01-02t00:00:00z"), 1893542400);
	CHECK_INT(time_of("2030-01-02T00:00:00.999Z"), 1893542400);
	CHECK_INT(time_of("2030-01-02T01:30:00+01:30"), 1893542400);
	CHECK_INT(time_of("2030-01-01T22:00:00-02:00"), 1893542400);
	CHECK_INT(time_of("2000-02-29T00:00:00Z"), 951782400);
	CHECK_INT(time_of("2016-12-31T23:59:60Z"), 1483228800);
	CHECK_INT(time_of("1969-12-31T23:59:58Z"), -2);
}

static void
test_time_invalid(void)
{
	CHECK_INT(time_of(""), -1);
	CHECK_INT(time_of("2030-01-02"), -1);
	CHECK_INT(time_of("2030-01-02T00:00:00"), -1);
	CHECK_INT(time_of("2030-01-02 00:00:00Z"), -1);
	CHECK_INT(time_of("2030-13-02T00:00:00Z"), -1);
	CHECK_INT(time_of("2030-00-02T00:00:00Z"), -1);
	CHECK_INT(time_of("2030-02-29T00:00:00Z"), -1);
	CHECK_INT(time_of("1900-02-29T00:00:00Z"), -1);
	CHECK_INT(time_of("2030-04-31T00:00:00Z"), -1);
	CHECK_INT(time_of("2030-01-02T24:00:00Z"), -1);
	CHECK_INT(time_of("2030-01-02T00:60:00Z"), -1);
	CHECK_INT(time_of("2030-01-02T00:00:61Z"), -1);
	CHECK_INT(time_of("2030-01-02T00:00:00.Z"), -1);
	CHECK_INT(time_of("2030-01-02T00:00:00+1:00"), -1);
	CHECK_INT(time_of("2030-01-02T00:00:00+01:00x"), -1);
	CHECK_INT(time_of("2030-01-02T00:00:00+24:00"), -1);
	CHECK_INT(time_of("2030-01-02T00:00:00ZZ"), -1);
	CHECK_INT(time_of("+030-01-02T00:00:00Z"), -1);
	CHECK_INT(time_of("2030-1-02T00:00:00Z"), -1);
}

int
main(void)
{
	RUN(test_payload_each_shape);
	RUN(test_payload_order_fields);
	RUN(test_payload_rejects);
	RUN(test_payload_identifier_limit);
	RUN(test_time_valid);
	RUN(test_time_invalid);
	return check_done();
}
