/*
 * Feeds one response body to every ACME document check in
 * broker/acme_json.c, as the broker does after an HTTP request. The body
 * goes through acme_body_object() and then through the directory,
 * account, order, authorization and challenge checks in turn, so one
 * input exercises each of them. Every URL a check accepts must be https.
 */
#include "tests/fuzz/fuzz.h"

#include "broker/acme.h"
#include "broker/http.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup("fuzz_broker_acme_json");
	return 0;
}

static void
check_directory(json_t *doc)
{
	struct acme_directory dir;
	char err[ACME_ERR_MAX];

	if (acme_directory_parse(doc, &dir, err, sizeof(err)) != 0) {
		FUZZ_ASSERT(fuzz_is_terminated(err, sizeof(err)));
		return;
	}
	FUZZ_ASSERT(http_url_is_https(dir.new_nonce));
	FUZZ_ASSERT(http_url_is_https(dir.new_account));
	FUZZ_ASSERT(http_url_is_https(dir.new_order));
	acme_directory_clear(&dir);
}

static void
check_order(json_t *doc)
{
	struct acme_order order;
	char err[ACME_ERR_MAX];
	size_t i;

	if (acme_order_parse(doc, &order, err, sizeof(err)) != 0) {
		FUZZ_ASSERT(fuzz_is_terminated(err, sizeof(err)));
		return;
	}
	FUZZ_ASSERT(http_url_is_https(order.finalize));
	FUZZ_ASSERT(strcmp(order.status, "valid") != 0 ||
	    order.certificate != NULL);
	for (i = 0; i < order.authorization_count; i++)
		FUZZ_ASSERT(http_url_is_https(acme_order_authorization(&order,
		    i)));
	FUZZ_ASSERT(acme_order_authorization(&order, i) == NULL);
	acme_order_clear(&order);
}

static void
check_authz(json_t *doc)
{
	struct acme_challenge chall;
	struct acme_authz authz;
	char err[ACME_ERR_MAX];
	size_t i;

	if (acme_authz_parse(doc, &authz, err, sizeof(err)) != 0) {
		FUZZ_ASSERT(fuzz_is_terminated(err, sizeof(err)));
		return;
	}
	FUZZ_ASSERT(authz.identifier_type != NULL);
	FUZZ_ASSERT(authz.identifier_value != NULL);
	for (i = 0; i < authz.challenge_count; i++) {
		FUZZ_ASSERT(acme_authz_challenge(&authz, i, &chall, err,
		    sizeof(err)) == 0);
		FUZZ_ASSERT(http_url_is_https(chall.url));
		/* The token becomes a file name: no '/' or '.' may pass. */
		FUZZ_ASSERT(chall.token == NULL ||
		    strpbrk(chall.token, "/.") == NULL);
	}
	FUZZ_ASSERT(acme_authz_challenge(&authz, i, &chall, err,
	    sizeof(err)) != 0);
	acme_authz_clear(&authz);
}

static void
check_challenge(const json_t *doc)
{
	struct acme_challenge chall;
	char err[ACME_ERR_MAX];

	if (acme_challenge_parse(doc, &chall, err, sizeof(err)) != 0) {
		FUZZ_ASSERT(fuzz_is_terminated(err, sizeof(err)));
		return;
	}
	FUZZ_ASSERT(http_url_is_https(chall.url));
	FUZZ_ASSERT(strcmp(chall.type, "http-01") != 0 || chall.token != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_response resp = { .status = 200 };
	char err[ACME_ERR_MAX];
	json_t *doc;

	/* The HTTP client always NUL-terminates the body it keeps. */
	resp.body = fuzz_string(data, size);
	resp.body_len = size;
	if (acme_body_object(&resp, "document", &doc, err, sizeof(err)) != 0) {
		FUZZ_ASSERT(doc == NULL);
		FUZZ_ASSERT(fuzz_is_terminated(err, sizeof(err)));
		goto out;
	}
	FUZZ_ASSERT(json_is_object(doc));

	check_directory(doc);
	acme_account_check(doc, err, sizeof(err));
	check_order(doc);
	check_authz(doc);
	check_challenge(doc);
	FUZZ_ASSERT(doc->refcount == 1);
	json_decref(doc);
out:
	free(resp.body);
	return 0;
}
