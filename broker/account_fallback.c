/*
 * Moving an order to another account or issuer after a rate limit, a
 * 503 or an unreachable CA.
 */
#include "broker/account.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/acme.h"
#include "logging/log.h"

/* Returns the next candidate, of another issuer when other_issuer is 1. */
static const struct account_candidate *
next_candidate(struct account_plan *plan, const char *issuer,
    int other_issuer)
{
	const struct account_candidate *candidate;

	while (plan->next < plan->count) {
		candidate = &plan->items[plan->next++];
		if (!other_issuer || strcmp(candidate->issuer->name,
		    issuer) != 0)
			return candidate;
	}
	return NULL;
}

/* Points client at a new issuer and account, with nothing kept. */
static int
use_candidate(struct acme_client *client,
    const struct account_candidate *candidate)
{
	int same_issuer = client->issuer == candidate->issuer;

	acme_directory_clear(&client->directory);
	free(client->nonce);
	free(client->account_url);
	free(client->account_thumbprint);
	client->nonce = client->account_url = client->account_thumbprint =
	    NULL;
	client->account_key_id[0] = '\0';
	client->issuer = candidate->issuer;
	client->account_name = candidate->account;
	if (same_issuer)
		return 0;
	/* Each issuer has its own trust bundle. */
	http_client_free(client->http);
	client->http = NULL;
	return http_client_new(candidate->issuer->trust_bundle,
	    client->config->acme.http_timeout, &client->http, client->err,
	    sizeof(client->err));
}

/* Marks the cooldown that the failure calls for. */
static int
cool_down(struct acme_client *client, int issuer_wide, const char *reason)
{
	char err[ACME_ERR_MAX];
	long seconds = client->fail_retry_after >= 0 ?
	    client->fail_retry_after : ACCOUNT_COOLDOWN_DEFAULT;

	if (account_cooldown(client->config->broker.state_dir,
	    client->issuer->name, issuer_wide ? NULL :
	    (client->account_name != NULL ? client->account_name :
	    client->issuer->account), seconds, reason, err,
	    sizeof(err)) != 0) {
		log_error("%s", err);
		return -1;
	}
	return 0;
}

int
account_fallback(struct acme_client *client, struct account_plan *plan,
    int issuer_down)
{
	const struct account_candidate *next;
	char reason[ACME_ERR_MAX];
	const char *account = client->account_name != NULL ?
	    client->account_name : client->issuer->account;
	int other_issuer = 1;

	snprintf(reason, sizeof(reason), "%s", client->err);
	if (issuer_down)
		log_warn("issuer %s is unavailable: %s", client->issuer->name,
		    reason);
	else if (acme_failure_rate_limited(client))
		other_issuer = 0;
	else if (client->fail_status != 503)
		return -1;
	if (!issuer_down && cool_down(client, other_issuer, reason) != 0)
		return -1;

	next = next_candidate(plan, client->issuer->name, other_issuer);
	if (next == NULL) {
		snprintf(client->err, sizeof(client->err), "%.900s; no "
		    "other account or issuer of the tenant is usable", reason);
		return -1;
	}
	log_warn("moving the order from %s/%s to %s/%s: %s",
	    client->issuer->name, account, next->issuer->name, next->account,
	    issuer_down ? "the issuer is unavailable" :
	    other_issuer ? "the issuer answered 503" : "rate limited");
	return use_candidate(client, next);
}
