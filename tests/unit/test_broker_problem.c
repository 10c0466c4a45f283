/* Tests for broker/problem.c: RFC 7807 problem documents in one line. */
#include <string.h>

#include <jansson.h>

#include "broker/problem.h"
#include "tests/unit/check.h"

static void
format_text(const char *json, long status, char *out, size_t outlen)
{
	problem_format_body(json, strlen(json), status, out, outlen);
}

static void
test_problem_type_detail_status(void)
{
	char out[512];

	format_text("{\"type\": \"urn:ietf:params:acme:error:badNonce\","
	    "\"detail\": \"JWS has an invalid anti-replay nonce\","
	    "\"status\": 400}", 0, out, sizeof(out));
	CHECK_STR(out, "badNonce: JWS has an invalid anti-replay nonce "
	    "(HTTP 400)");
}

static void
test_problem_http_status_fallback(void)
{
	char out[512];

	format_text("{\"type\": \"urn:ietf:params:acme:error:malformed\","
	    "\"detail\": \"bad\"}", 403, out, sizeof(out));
	CHECK_STR(out, "malformed: bad (HTTP 403)");
}

static void
test_problem_foreign_type_kept(void)
{
	char out[512];

	format_text("{\"type\": \"https://ca.test/errors/quota\","
	    "\"detail\": \"too many\"}", 429, out, sizeof(out));
	CHECK_STR(out, "https://ca.test/errors/quota: too many (HTTP 429)");
}

static void
test_problem_subproblems(void)
{
	char out[512];

	format_text("{\"type\": \"urn:ietf:params:acme:error:"
	    "rejectedIdentifier\", \"detail\": \"Some identifiers rejected\","
	    "\"status\": 400, \"subproblems\": ["
	    "{\"type\": \"urn:ietf:params:acme:error:rejectedIdentifier\","
	    "\"detail\": \"blocked\", \"identifier\": {\"type\": \"dns\","
	    "\"value\": \"a.test\"}},"
	    "{\"type\": \"urn:ietf:params:acme:error:caa\","
	    "\"detail\": \"CAA forbids\", \"identifier\": {\"type\": \"ip\","
	    "\"value\": \"192.0.2.1\"}}]}", 0, out, sizeof(out));
	CHECK_STR(out, "rejectedIdentifier: Some identifiers rejected "
	    "(HTTP 400); dns:a.test: rejectedIdentifier: blocked; "
	    "ip:192.0.2.1: caa: CAA forbids");
}

static void
test_problem_wrong_types(void)
{
	char out[512];

	format_text("{\"type\": 7, \"detail\": [\"x\"], \"status\": \"400\","
	    "\"subproblems\": [3, {\"type\": null, \"identifier\": \"dns\"},"
	    "{\"detail\": \"d\", \"identifier\": {\"value\": 5}}]}", 500,
	    out, sizeof(out));
	CHECK_STR(out, "unknown problem (HTTP 500); unknown problem; "
	    "unknown problem: d");
}

static void
test_problem_subproblems_not_array(void)
{
	char out[512];

	format_text("{\"type\": \"urn:ietf:params:acme:error:caa\","
	    "\"subproblems\": {\"type\": \"x\"}, \"status\": 1000}", 0, out,
	    sizeof(out));
	CHECK_STR(out, "caa");
}

static void
test_problem_missing_members(void)
{
	char out[512];

	format_text("{}", 400, out, sizeof(out));
	CHECK_STR(out, "unknown problem (HTTP 400)");
}

static void
test_problem_not_an_object(void)
{
	char out[512];

	format_text("[1, 2]", 400, out, sizeof(out));
	CHECK_STR(out, "problem document is not a JSON object (HTTP 400)");
	format_text("<html>", 502, out, sizeof(out));
	CHECK_STR(out, "problem document is not a JSON object (HTTP 502)");
}

static void
test_problem_prefix_only(void)
{
	char out[512];

	format_text("{\"type\": \"urn:ietf:params:acme:error:\"}", 400, out,
	    sizeof(out));
	CHECK_STR(out, "urn:ietf:params:acme:error: (HTTP 400)");
}

static void
test_problem_truncated_output(void)
{
	char out[16];

	format_text("{\"type\": \"urn:ietf:params:acme:error:badNonce\","
	    "\"detail\": \"a long detail that does not fit\"}", 400, out,
	    sizeof(out));
	CHECK_INT(strlen(out), sizeof(out) - 1);
	CHECK(strncmp(out, "badNonce: a lon", sizeof(out) - 1) == 0);
}

static void
test_problem_is_matches_acme_type(void)
{
	json_t *doc = json_pack("{s:s}", "type",
	    "urn:ietf:params:acme:error:badNonce");
	json_t *other = json_pack("{s:s}", "type", "badNonce");

	CHECK_INT(problem_is(doc, "badNonce"), 1);
	CHECK_INT(problem_is(doc, "badNonc"), 0);
	CHECK_INT(problem_is(doc, "malformed"), 0);
	CHECK_INT(problem_is(other, "badNonce"), 0);
	CHECK_INT(problem_is(NULL, "badNonce"), 0);
	json_decref(doc);
	json_decref(other);
}

int
main(void)
{
	RUN(test_problem_type_detail_status);
	RUN(test_problem_http_status_fallback);
	RUN(test_problem_foreign_type_kept);
	RUN(test_problem_subproblems);
	RUN(test_problem_wrong_types);
	RUN(test_problem_subproblems_not_array);
	RUN(test_problem_missing_members);
	RUN(test_problem_not_an_object);
	RUN(test_problem_prefix_only);
	RUN(test_problem_truncated_output);
	RUN(test_problem_is_matches_acme_type);
	return check_done();
}
