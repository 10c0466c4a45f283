/*
 * Authorizations (RFC 8555 section 7.5) completed through http-01: the key
 * authorization is published, the challenge is triggered with an empty
 * object and the authorization is polled until the CA decides.
 */
#include "broker/acme.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/challenge_http.h"
#include "broker/problem.h"
#include "logging/log.h"

static int
publish(struct acme_client *client, const char *token,
    const char *key_authorization)
{
	if (client->responder != NULL)
		return challenge_http_publish(client->responder, token,
		    key_authorization, client->err, sizeof(client->err));
	return challenge_webroot_publish(client->config->challenge.webroot,
	    token, key_authorization, client->err, sizeof(client->err));
}

static void
withdraw(struct acme_client *client, const char *token)
{
	char err[512];

	if (client->responder != NULL) {
		challenge_http_withdraw(client->responder, token);
		return;
	}
	if (challenge_webroot_withdraw(client->config->challenge.webroot,
	    token, err, sizeof(err)) != 0)
		log_error("%s", err);
}

/* Finds the http-01 challenge; returns -1 when the CA offers none. */
static int
find_http01(struct acme_client *client, const struct acme_authz *authz,
    struct acme_challenge *chall)
{
	for (size_t i = 0; i < authz->challenge_count; i++) {
		if (acme_authz_challenge(authz, i, chall, client->err,
		    sizeof(client->err)) != 0)
			return -1;
		if (strcmp(chall->type, "http-01") == 0)
			return 0;
	}
	snprintf(client->err, sizeof(client->err), "the CA offers no http-01 "
	    "challenge for %s:%s (custos supports only http-01 so far)",
	    authz->identifier_type, authz->identifier_value);
	return -1;
}

static int
fetch_authz(struct acme_client *client, const char *url,
    struct acme_authz *authz, long *retry_after)
{
	json_t *doc;
	int rc;

	acme_authz_clear(authz);
	if (acme_fetch_object(client, url, "authorization", &doc,
	    retry_after) != 0)
		return -1;
	rc = acme_authz_parse(doc, authz, client->err, sizeof(client->err));
	json_decref(doc);
	return rc;
}

static int
trigger_challenge(struct acme_client *client, const char *url)
{
	struct http_response resp = { 0 };
	int rc;

	rc = acme_post(client, url, "{}", 0, "application/json", &resp);
	http_response_clear(&resp);
	return rc;
}

/* Describes why the CA marked the authorization invalid. */
static void
describe_failure(struct acme_client *client, const struct acme_authz *authz)
{
	struct acme_challenge chall;
	char problem[768], err[256];

	snprintf(problem, sizeof(problem), "no error given by the CA");
	for (size_t i = 0; i < authz->challenge_count; i++) {
		if (acme_authz_challenge(authz, i, &chall, err,
		    sizeof(err)) == 0 && chall.error != NULL) {
			problem_format(chall.error, 0, problem,
			    sizeof(problem));
			break;
		}
	}
	snprintf(client->err, sizeof(client->err), "validation of %s:%s "
	    "failed: %s", authz->identifier_type, authz->identifier_value,
	    problem);
}

/* Polls until the authorization leaves pending; the token stays served. */
static int
wait_authz(struct acme_client *client, const char *url,
    struct acme_authz *authz)
{
	time_t deadline = time(NULL) + client->config->acme.poll_timeout;
	long retry_after = -1;

	while (strcmp(authz->status, "pending") == 0) {
		if (acme_poll_sleep(client, retry_after, deadline,
		    "the authorization") != 0 ||
		    fetch_authz(client, url, authz, &retry_after) != 0)
			return -1;
	}
	if (strcmp(authz->status, "valid") == 0)
		return 0;
	if (strcmp(authz->status, "invalid") == 0)
		describe_failure(client, authz);
	else
		snprintf(client->err, sizeof(client->err), "authorization "
		    "for %s:%s is \"%s\" (start a new order)",
		    authz->identifier_type, authz->identifier_value,
		    authz->status);
	return -1;
}

static int
validate_pending(struct acme_client *client, const char *url,
    struct acme_authz *authz)
{
	struct acme_challenge chall;
	char *key_authorization = NULL, *token = NULL;
	int published = 0, rc = -1;

	if (find_http01(client, authz, &chall) != 0)
		return -1;
	token = strdup(chall.token);
	if (token == NULL || asprintf(&key_authorization, "%s.%s", token,
	    client->account_thumbprint) < 0) {
		free(token);
		snprintf(client->err, sizeof(client->err), "out of memory");
		return -1;
	}
	if (publish(client, token, key_authorization) != 0)
		goto out;
	published = 1;
	printf("authorization %s: serving http-01 token, asking the CA to "
	    "validate\n", authz->identifier_value);
	fflush(stdout);
	if (strcmp(chall.status, "pending") == 0 &&
	    trigger_challenge(client, chall.url) != 0)
		goto out;
	rc = wait_authz(client, url, authz);
out:
	if (published)
		withdraw(client, token);
	free(key_authorization);
	free(token);
	return rc;
}

static int
authorize_one(struct acme_client *client, const char *url)
{
	struct acme_authz authz = { 0 };
	int rc = -1;

	if (fetch_authz(client, url, &authz, NULL) != 0)
		goto out;
	printf("authorization %s: %s\n", authz.identifier_value,
	    authz.status);
	fflush(stdout);
	if (strcmp(authz.status, "valid") == 0) {
		rc = 0;
		goto out;
	}
	if (strcmp(authz.status, "pending") != 0) {
		snprintf(client->err, sizeof(client->err), "authorization for "
		    "%s:%s is \"%s\" (start a new order)",
		    authz.identifier_type, authz.identifier_value,
		    authz.status);
		goto out;
	}
	rc = validate_pending(client, url, &authz);
	if (rc == 0)
		printf("authorization %s: valid\n", authz.identifier_value);
out:
	acme_authz_clear(&authz);
	return rc;
}

int
acme_authorize_all(struct acme_client *client,
    const struct acme_order *order)
{
	for (size_t i = 0; i < order->authorization_count; i++)
		if (authorize_one(client, acme_order_authorization(order,
		    i)) != 0)
			return -1;
	return 0;
}
