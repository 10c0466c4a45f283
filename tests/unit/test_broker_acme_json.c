/* Tests for broker/acme_json.c: checks of directory, order, authorization
 * and challenge documents from the CA. */
#include <string.h>

#include <jansson.h>

#include "broker/acme.h"
#include "tests/unit/check.h"

#define DIRECTORY_OK \
	"{\"newNonce\": \"https://ca.test/nonce\"," \
	"\"newAccount\": \"https://ca.test/account\"," \
	"\"newOrder\": \"https://ca.test/order\"," \
	"\"meta\": {\"termsOfService\": \"https://ca.test/tos\"," \
	"\"externalAccountRequired\": true}}"

#define ORDER_OK \
	"{\"status\": \"pending\", \"expires\": \"2026-12-05T00:00:00Z\"," \
	"\"identifiers\": [{\"type\": \"dns\", \"value\": \"a.test\"}]," \
	"\"authorizations\": [\"https://ca.test/authz/1\"]," \
	"\"finalize\": \"https://ca.test/order/1/finalize\"}"

static json_t *
load(const char *text)
{
	json_t *doc = json_loads(text, 0, NULL);

	if (doc == NULL)
		printf("#   test JSON does not parse: %s\n", text);
	return doc;
}

/* Parses text as a directory and returns the result, with err filled. */
static int
parse_directory(const char *text, char *err, size_t errlen)
{
	struct acme_directory dir;
	json_t *doc = load(text);
	int rc;

	err[0] = '\0';
	rc = acme_directory_parse(doc, &dir, err, errlen);
	if (rc == 0)
		acme_directory_clear(&dir);
	json_decref(doc);
	return rc;
}

static int
parse_order(const char *text, char *err, size_t errlen)
{
	struct acme_order order;
	json_t *doc = load(text);
	int rc;

	err[0] = '\0';
	rc = acme_order_parse(doc, &order, err, errlen);
	if (rc == 0)
		acme_order_clear(&order);
	json_decref(doc);
	return rc;
}

static void
test_directory_valid(void)
{
	struct acme_directory dir;
	json_t *doc = load(DIRECTORY_OK);
	char err[256] = "";

	CHECK_INT(acme_directory_parse(doc, &dir, err, sizeof(err)), 0);
	CHECK_STR(dir.new_nonce, "https://ca.test/nonce");
	CHECK_STR(dir.new_account, "https://ca.test/account");
	CHECK_STR(dir.new_order, "https://ca.test/order");
	CHECK_STR(dir.terms_of_service, "https://ca.test/tos");
	CHECK_INT(dir.external_account_required, 1);
	json_decref(doc);
	/* The directory keeps its own reference to the document. */
	CHECK_STR(dir.new_order, "https://ca.test/order");
	acme_directory_clear(&dir);
}

static void
test_directory_without_meta(void)
{
	char err[256];

	CHECK_INT(parse_directory("{\"newNonce\": \"https://ca.test/n\","
	    "\"newAccount\": \"https://ca.test/a\", \"newOrder\": "
	    "\"https://ca.test/o\", \"keyChange\": 5}", err, sizeof(err)), 0);
}

static void
test_directory_missing_new_order(void)
{
	char err[256];

	CHECK_INT(parse_directory("{\"newNonce\": \"https://ca.test/n\","
	    "\"newAccount\": \"https://ca.test/a\"}", err, sizeof(err)), -1);
	CHECK_STR(err, "invalid directory from the CA: member \"newOrder\" "
	    "is missing");
}

static void
test_directory_http_url_rejected(void)
{
	char err[256];

	CHECK_INT(parse_directory("{\"newNonce\": \"http://ca.test/n\","
	    "\"newAccount\": \"https://ca.test/a\", \"newOrder\": "
	    "\"https://ca.test/o\"}", err, sizeof(err)), -1);
	CHECK_STR(err, "invalid directory from the CA: member \"newNonce\" "
	    "is not an https:// URL: \"http://ca.test/n\"");
}

static void
test_directory_wrong_types(void)
{
	char err[256];

	CHECK_INT(parse_directory("{\"newNonce\": 1, \"newAccount\": "
	    "\"https://ca.test/a\", \"newOrder\": \"https://ca.test/o\"}",
	    err, sizeof(err)), -1);
	CHECK_STR(err, "invalid directory from the CA: member \"newNonce\" "
	    "is not a non-empty string");
	CHECK_INT(parse_directory("{\"newNonce\": \"https://ca.test/n\","
	    "\"newAccount\": \"https://ca.test/a\", \"newOrder\": "
	    "\"https://ca.test/o\", \"meta\": []}", err, sizeof(err)), -1);
	CHECK_STR(err, "invalid directory from the CA: member \"meta\" is "
	    "not an object");
	CHECK_INT(parse_directory("{\"newNonce\": \"https://ca.test/n\","
	    "\"newAccount\": \"https://ca.test/a\", \"newOrder\": "
	    "\"https://ca.test/o\", \"meta\": {\"externalAccountRequired\": "
	    "\"yes\"}}", err, sizeof(err)), -1);
	CHECK_STR(err, "invalid directory meta from the CA: member "
	    "\"externalAccountRequired\" is not a boolean");
}

static void
test_directory_url_without_host(void)
{
	char err[256];

	CHECK_INT(parse_directory("{\"newNonce\": \"https://\","
	    "\"newAccount\": \"https://ca.test/a\", \"newOrder\": "
	    "\"https://ca.test/o\"}", err, sizeof(err)), -1);
	CHECK(strstr(err, "\"newNonce\" is not an https:// URL") != NULL);
}

static void
test_order_valid_pending(void)
{
	struct acme_order order;
	json_t *doc = load(ORDER_OK);
	char err[256] = "";

	CHECK_INT(acme_order_parse(doc, &order, err, sizeof(err)), 0);
	CHECK_STR(order.status, "pending");
	CHECK_STR(order.finalize, "https://ca.test/order/1/finalize");
	CHECK(order.certificate == NULL);
	CHECK(order.error == NULL);
	CHECK_INT(order.authorization_count, 1);
	CHECK_STR(acme_order_authorization(&order, 0),
	    "https://ca.test/authz/1");
	acme_order_clear(&order);
	json_decref(doc);
}

static void
test_order_valid_needs_certificate(void)
{
	char err[256];

	CHECK_INT(parse_order("{\"status\": \"valid\", \"identifiers\": "
	    "[{\"type\": \"dns\", \"value\": \"a.test\"}], "
	    "\"authorizations\": [], \"finalize\": \"https://ca.test/f\"}",
	    err, sizeof(err)), -1);
	CHECK_STR(err, "invalid order from the CA: member \"certificate\" "
	    "is missing");
	CHECK_INT(parse_order("{\"status\": \"valid\", \"identifiers\": "
	    "[{\"type\": \"dns\", \"value\": \"a.test\"}], "
	    "\"authorizations\": [], \"finalize\": \"https://ca.test/f\", "
	    "\"certificate\": \"https://ca.test/c\"}", err, sizeof(err)), 0);
}

static void
test_order_unknown_status(void)
{
	char err[256];

	CHECK_INT(parse_order("{\"status\": \"done\", \"identifiers\": "
	    "[{\"type\": \"dns\", \"value\": \"a.test\"}], "
	    "\"authorizations\": [], \"finalize\": \"https://ca.test/f\"}",
	    err, sizeof(err)), -1);
	CHECK_STR(err, "invalid order from the CA: unknown status \"done\"");
}

static void
test_order_bad_lists(void)
{
	char err[256];

	CHECK_INT(parse_order("{\"status\": \"pending\", \"identifiers\": [],"
	    "\"authorizations\": [], \"finalize\": \"https://ca.test/f\"}",
	    err, sizeof(err)), -1);
	CHECK_STR(err, "invalid order from the CA: member \"identifiers\" is "
	    "missing or not a non-empty array");
	CHECK_INT(parse_order("{\"status\": \"pending\", \"identifiers\": "
	    "[{\"type\": \"dns\"}], \"authorizations\": [], "
	    "\"finalize\": \"https://ca.test/f\"}", err, sizeof(err)), -1);
	CHECK_STR(err, "invalid order from the CA: member \"value\" is "
	    "missing");
	CHECK_INT(parse_order("{\"status\": \"pending\", \"identifiers\": "
	    "[{\"type\": \"dns\", \"value\": \"a.test\"}], "
	    "\"authorizations\": \"https://ca.test/z\", "
	    "\"finalize\": \"https://ca.test/f\"}", err, sizeof(err)), -1);
	CHECK_STR(err, "invalid order from the CA: member \"authorizations\" "
	    "is missing or not an array");
	CHECK_INT(parse_order("{\"status\": \"pending\", \"identifiers\": "
	    "[{\"type\": \"dns\", \"value\": \"a.test\"}], "
	    "\"authorizations\": [\"https://ca.test/z\", 4], "
	    "\"finalize\": \"https://ca.test/f\"}", err, sizeof(err)), -1);
	CHECK_STR(err, "invalid order from the CA: authorizations[1] is not "
	    "an https:// URL");
}

static void
test_order_missing_finalize(void)
{
	char err[256];

	CHECK_INT(parse_order("{\"status\": \"ready\", \"identifiers\": "
	    "[{\"type\": \"dns\", \"value\": \"a.test\"}], "
	    "\"authorizations\": []}", err, sizeof(err)), -1);
	CHECK_STR(err, "invalid order from the CA: member \"finalize\" is "
	    "missing");
}

static void
test_order_error_must_be_object(void)
{
	char err[256];

	CHECK_INT(parse_order("{\"status\": \"invalid\", \"identifiers\": "
	    "[{\"type\": \"dns\", \"value\": \"a.test\"}], "
	    "\"authorizations\": [], \"finalize\": \"https://ca.test/f\", "
	    "\"error\": \"failed\"}", err, sizeof(err)), -1);
	CHECK_STR(err, "invalid order from the CA: member \"error\" is not "
	    "an object");
}

static void
test_authz_with_http01(void)
{
	json_t *doc = load("{\"status\": \"pending\", \"identifier\": "
	    "{\"type\": \"dns\", \"value\": \"a.test\"}, \"challenges\": ["
	    "{\"type\": \"dns-01\", \"url\": \"https://ca.test/c/1\", "
	    "\"status\": \"pending\", \"token\": \"dG9rZW4\"},"
	    "{\"type\": \"http-01\", \"url\": \"https://ca.test/c/2\", "
	    "\"status\": \"pending\", "
	    "\"token\": \"LoqXcYV8q5ONbJQxbmR7SC\"}]}");
	struct acme_challenge chall;
	struct acme_authz authz;
	char err[256] = "";

	CHECK_INT(acme_authz_parse(doc, &authz, err, sizeof(err)), 0);
	CHECK_STR(authz.status, "pending");
	CHECK_STR(authz.identifier_value, "a.test");
	CHECK_INT(authz.wildcard, 0);
	CHECK_INT(authz.challenge_count, 2);
	CHECK_INT(acme_authz_challenge(&authz, 1, &chall, err, sizeof(err)),
	    0);
	CHECK_STR(chall.type, "http-01");
	CHECK_STR(chall.url, "https://ca.test/c/2");
	CHECK_STR(chall.token, "LoqXcYV8q5ONbJQxbmR7SC");
	acme_authz_clear(&authz);
	json_decref(doc);
}

static void
test_challenge_token_checked(void)
{
	static const char *const bad_tokens[] = {
		"\"../../etc/passwd\"", "\"a/b\"", "\"\"", "7", "\"abc=\"",
		NULL,
	};
	struct acme_challenge chall;
	char text[256], err[256];
	json_t *obj;

	for (size_t i = 0; bad_tokens[i] != NULL; i++) {
		snprintf(text, sizeof(text), "{\"type\": \"http-01\", \"url\": "
		    "\"https://ca.test/c\", \"status\": \"pending\", "
		    "\"token\": %s}", bad_tokens[i]);
		obj = load(text);
		CHECK_INT(acme_challenge_parse(obj, &chall, err, sizeof(err)),
		    -1);
		json_decref(obj);
	}
	obj = load("{\"type\": \"http-01\", \"url\": \"https://ca.test/c\", "
	    "\"status\": \"pending\"}");
	CHECK_INT(acme_challenge_parse(obj, &chall, err, sizeof(err)), -1);
	CHECK_STR(err, "invalid http-01 challenge from the CA: member "
	    "\"token\" is missing");
	json_decref(obj);
}

static void
test_authz_bad_challenges(void)
{
	struct acme_authz authz;
	char err[256];
	json_t *doc;

	doc = load("{\"status\": \"pending\", \"identifier\": {\"type\": "
	    "\"dns\", \"value\": \"a.test\"}}");
	CHECK_INT(acme_authz_parse(doc, &authz, err, sizeof(err)), -1);
	CHECK_STR(err, "invalid authorization from the CA: member "
	    "\"challenges\" is missing or not an array");
	json_decref(doc);

	doc = load("{\"status\": \"pending\", \"identifier\": {\"type\": "
	    "\"dns\", \"value\": \"a.test\"}, \"challenges\": [{\"type\": "
	    "\"http-01\", \"url\": \"https://ca.test/c\", \"status\": "
	    "\"waiting\", \"token\": \"abcd\"}]}");
	CHECK_INT(acme_authz_parse(doc, &authz, err, sizeof(err)), -1);
	CHECK_STR(err, "invalid challenge from the CA: unknown status "
	    "\"waiting\"");
	json_decref(doc);

	doc = load("{\"status\": \"pending\", \"identifier\": \"a.test\", "
	    "\"challenges\": []}");
	CHECK_INT(acme_authz_parse(doc, &authz, err, sizeof(err)), -1);
	CHECK_STR(err, "invalid authorization from the CA: an identifier is "
	    "not an object");
	json_decref(doc);
}

static void
test_account_status(void)
{
	json_t *valid = load("{\"status\": \"valid\"}");
	json_t *revoked = load("{\"status\": \"revoked\"}");
	char err[256];

	CHECK_INT(acme_account_check(valid, err, sizeof(err)), 0);
	CHECK_INT(acme_account_check(revoked, err, sizeof(err)), -1);
	CHECK_STR(err, "the CA reports the account as \"revoked\" (remove "
	    "the account record to register a new one)");
	json_decref(valid);
	json_decref(revoked);
}

int
main(void)
{
	RUN(test_directory_valid);
	RUN(test_directory_without_meta);
	RUN(test_directory_missing_new_order);
	RUN(test_directory_http_url_rejected);
	RUN(test_directory_wrong_types);
	RUN(test_directory_url_without_host);
	RUN(test_order_valid_pending);
	RUN(test_order_valid_needs_certificate);
	RUN(test_order_unknown_status);
	RUN(test_order_bad_lists);
	RUN(test_order_missing_finalize);
	RUN(test_order_error_must_be_object);
	RUN(test_authz_with_http01);
	RUN(test_challenge_token_checked);
	RUN(test_authz_bad_challenges);
	RUN(test_account_status);
	return check_done();
}
