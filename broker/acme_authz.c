/*
 * Authorizations (RFC 8555 section 7.5): a challenge is chosen for each
 * pending authorization, every response is published (and dns-01 records
 * checked on the zone's servers) before any challenge is triggered,
 * because example.org and *.example.org share one TXT record name. Then
 * each challenge is triggered with an empty object, each authorization is
 * polled until the CA decides, and every response is withdrawn.
 */
#include "broker/acme.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/challenge.h"
#include "broker/problem.h"
#include "logging/log.h"

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
	long retry_after = -1, step_ms = 0;
	char resource[512];

	snprintf(resource, sizeof(resource), "authorization %.400s for %s:%s",
	    url, authz->identifier_type, authz->identifier_value);
	while (strcmp(authz->status, "pending") == 0) {
		if (acme_poll_sleep(client, retry_after, &step_ms, deadline,
		    resource) != 0 ||
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

/* One authorization of the order and the challenge chosen for it. */
struct authz_work {
	const char *url;
	struct acme_authz authz;
	int pending;		/* 1 when it needs validation */
	enum challenge_type type;
	char *challenge_url;
	char *token;
	char *key_authorization;
	int trigger;		/* 1 when the challenge is still pending */
	int published;
};

static int
choose_challenge(struct acme_client *client, struct authz_work *work)
{
	struct acme_challenge chall;

	if (challenge_choose(client->challenges, &work->authz, &chall,
	    &work->type, client->err, sizeof(client->err)) != 0)
		return -1;
	work->trigger = strcmp(chall.status, "pending") == 0;
	work->challenge_url = strdup(chall.url);
	work->token = chall.token != NULL ? strdup(chall.token) : NULL;
	if (work->challenge_url == NULL || work->token == NULL ||
	    asprintf(&work->key_authorization, "%s.%s", work->token,
	    client->account_thumbprint) < 0) {
		work->key_authorization = NULL;
		snprintf(client->err, sizeof(client->err), chall.token ==
		    NULL ? "the %s challenge for %s has no token" :
		    "out of memory", chall.type,
		    work->authz.identifier_value);
		return -1;
	}
	return 0;
}

/*
 * Returns 1 when the authorization's identifier is one of the order's,
 * which the broker already matched against the request. A CA must not
 * make Custos answer challenges, or print values, for anything else.
 */
static int
authz_in_order(const struct acme_order *order, const struct acme_authz *authz)
{
	const json_t *ids = json_object_get(order->doc, "identifiers");
	const json_t *id;
	size_t i, len = strlen(authz->identifier_value);

	json_array_foreach(ids, i, id) {
		const char *type = json_string_value(json_object_get(id,
		    "type"));
		const char *value = json_string_value(json_object_get(id,
		    "value"));

		if (type == NULL || value == NULL ||
		    strcmp(type, authz->identifier_type) != 0)
			continue;
		if (authz->wildcard && strncmp(value, "*.", 2) == 0)
			value += 2;
		else if (authz->wildcard)
			continue;
		if (strlen(value) == len &&
		    strcmp(value, authz->identifier_value) == 0)
			return 1;
	}
	return 0;
}

/* Fetches one authorization and, when pending, chooses its challenge. */
static int
prepare(struct acme_client *client, const struct acme_order *order,
    struct authz_work *work)
{
	struct acme_authz *authz = &work->authz;

	if (fetch_authz(client, work->url, authz, NULL) != 0)
		return -1;
	if (!authz_in_order(order, authz)) {
		snprintf(client->err, sizeof(client->err), "invalid "
		    "authorization from the CA at %s: its identifier is not "
		    "one of the order's", work->url);
		return -1;
	}
	printf("authorization %s%s: %s\n", authz->wildcard ? "*." : "",
	    authz->identifier_value, authz->status);
	if (strcmp(authz->status, "valid") == 0)
		return 0;
	if (strcmp(authz->status, "pending") != 0) {
		snprintf(client->err, sizeof(client->err), "authorization for "
		    "%s:%s is \"%s\" (start a new order)",
		    authz->identifier_type, authz->identifier_value,
		    authz->status);
		return -1;
	}
	work->pending = 1;
	return choose_challenge(client, work);
}

static int
publish(struct acme_client *client, struct authz_work *work)
{
	const char *type = challenge_type_name(work->type);

	if (challenge_publish(client, client->challenges, work->type,
	    work->authz.identifier_value, work->token,
	    work->key_authorization) != 0)
		return -1;
	work->published = 1;
	printf("authorization %s%s: published the %s response\n",
	    work->authz.wildcard ? "*." : "", work->authz.identifier_value,
	    type);
	return 0;
}

static int
validate(struct acme_client *client, struct authz_work *work)
{
	if (work->trigger && trigger_challenge(client,
	    work->challenge_url) != 0)
		return -1;
	if (wait_authz(client, work->url, &work->authz) != 0)
		return -1;
	printf("authorization %s%s: valid\n", work->authz.wildcard ? "*." : "",
	    work->authz.identifier_value);
	return 0;
}

/* Withdraws every response, dns-01 records included, and frees work. */
static void
finish(struct acme_client *client, struct authz_work *works, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		struct authz_work *work = &works[i];

		if (work->published)
			challenge_withdraw(client, client->challenges,
			    work->type, work->authz.identifier_value,
			    work->token);
		free(work->challenge_url);
		free(work->token);
		free(work->key_authorization);
		acme_authz_clear(&work->authz);
	}
	challenge_withdraw_dns(client->challenges);
	free(works);
}

static int
authorize_pending(struct acme_client *client, struct authz_work *works,
    size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (works[i].pending && publish(client, &works[i]) != 0)
			return -1;
	if (challenge_wait_published(client, client->challenges) != 0)
		return -1;
	fflush(stdout);
	for (size_t i = 0; i < count; i++)
		if (works[i].pending && validate(client, &works[i]) != 0)
			return -1;
	return 0;
}

int
acme_authorize_all(struct acme_client *client,
    const struct acme_order *order)
{
	size_t count = order->authorization_count;
	struct authz_work *works;
	int rc = -1;

	works = calloc(count > 0 ? count : 1, sizeof(*works));
	if (works == NULL) {
		snprintf(client->err, sizeof(client->err), "out of memory");
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		works[i].url = acme_order_authorization(order, i);
		if (prepare(client, order, &works[i]) != 0)
			goto out;
	}
	fflush(stdout);
	rc = authorize_pending(client, works, count);
out:
	finish(client, works, count);
	return rc;
}
