#include "broker/challenge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/challenge_dns.h"
#include "broker/challenge_http.h"
#include "broker/challenge_tlsalpn.h"
#include "broker/policy_gate.h"
#include "logging/log.h"

/* Asks the policy without recording the decision. */
static int
tenant_allows(const struct policy_tenant *tenant, enum challenge_type type)
{
	struct policy_decision decision;
	int allowed;

	if (tenant == NULL)
		return 1;
	gate_quiet_decisions();
	allowed = policy_check_challenge(tenant, challenge_type_name(type),
	    &decision);
	gate_restore_decisions();
	return allowed;
}

const char *
challenge_gate_type(const struct custos_config *config,
    const struct policy_tenant *tenant)
{
	const struct config_challenge *ch = &config->challenge;

	for (size_t i = 0; i < ch->type_count; i++)
		if (tenant_allows(tenant, ch->types[i]))
			return challenge_type_name(ch->types[i]);
	return challenge_type_name(ch->types[0]);
}

int
challenge_set_bind(struct challenge_set *set, char *err, size_t errlen)
{
	const struct config_challenge *ch = &set->config->challenge;

	if (!config_challenge_enabled(set->config, CHALLENGE_TLSALPN01))
		return 0;
	return challenge_tlsalpn_bind(ch->tlsalpn01_address,
	    ch->tlsalpn01_port, &set->tlsalpn, err, errlen);
}

int
challenge_set_start(struct challenge_set *set, char *err, size_t errlen)
{
	if (set->tlsalpn != NULL &&
	    challenge_tlsalpn_start(set->tlsalpn, err, errlen) != 0)
		return -1;
	if (!config_challenge_enabled(set->config, CHALLENGE_DNS01))
		return 0;
	return challenge_dns_new(set->config, set->tenant != NULL ?
	    set->tenant->name : NULL, &set->dns, err, errlen);
}

void
challenge_set_free(struct challenge_set *set)
{
	challenge_dns_free(set->dns);
	set->dns = NULL;
	challenge_tlsalpn_free(set->tlsalpn);
	set->tlsalpn = NULL;
}

/* Finds the challenge of type in authz; returns -1 when not offered. */
static int
find_offered(const struct acme_authz *authz, enum challenge_type type,
    struct acme_challenge *chall, char *err, size_t errlen)
{
	for (size_t i = 0; i < authz->challenge_count; i++) {
		if (acme_authz_challenge(authz, i, chall, err, errlen) != 0)
			continue;
		if (strcmp(chall->type, challenge_type_name(type)) == 0)
			return 0;
	}
	return -1;
}

/* Returns NULL when the identifier may use type, or why it may not. */
static const char *
identifier_excludes(const struct acme_authz *authz, enum challenge_type type)
{
	if (authz->wildcard && type != CHALLENGE_DNS01)
		return "a wildcard name needs dns-01";
	if (strcmp(authz->identifier_type, "ip") == 0 &&
	    type == CHALLENGE_DNS01)
		return "an IP address cannot use dns-01";
	return NULL;
}

/* Lists the types the CA offers, for the error message. */
static void
list_offered(const struct acme_authz *authz, char *out, size_t size)
{
	struct acme_challenge chall;
	char err[128];
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < authz->challenge_count && used < size; i++) {
		if (acme_authz_challenge(authz, i, &chall, err,
		    sizeof(err)) != 0)
			continue;
		used += (size_t)snprintf(out + used, size - used, "%s%s",
		    used == 0 ? "" : ", ", chall.type);
	}
	if (used == 0)
		snprintf(out, size, "none");
}

static void
describe_no_choice(const struct challenge_set *set,
    const struct acme_authz *authz, char *err, size_t errlen)
{
	const struct config_challenge *ch = &set->config->challenge;
	char offered[256], usable[128] = "";
	size_t used = 0;

	list_offered(authz, offered, sizeof(offered));
	for (size_t i = 0; i < ch->type_count && used < sizeof(usable); i++)
		if (tenant_allows(set->tenant, ch->types[i]))
			used += (size_t)snprintf(usable + used,
			    sizeof(usable) - used, "%s%s",
			    used == 0 ? "" : ", ",
			    challenge_type_name(ch->types[i]));
	snprintf(err, errlen, "no usable challenge for %s:%s%s: the CA "
	    "offers %s; challenge types and the tenant's policy allow %s "
	    "(%s)", authz->identifier_type, authz->wildcard ? "*." : "",
	    authz->identifier_value, offered, used == 0 ? "none" : usable,
	    authz->wildcard ? "a wildcard name needs dns-01: add it to both" :
	    "add an offered type to challenge types and the tenant's "
	    "challenges");
}

int
challenge_choose(const struct challenge_set *set,
    const struct acme_authz *authz, struct acme_challenge *chall,
    enum challenge_type *type, char *err, size_t errlen)
{
	const struct config_challenge *ch = &set->config->challenge;
	char ignored[256];

	for (size_t i = 0; i < ch->type_count; i++) {
		if (identifier_excludes(authz, ch->types[i]) != NULL ||
		    !tenant_allows(set->tenant, ch->types[i]) ||
		    find_offered(authz, ch->types[i], chall, ignored,
		    sizeof(ignored)) != 0)
			continue;
		*type = ch->types[i];
		return 0;
	}
	describe_no_choice(set, authz, err, errlen);
	return -1;
}

static int
publish_http(struct acme_client *client, const char *token,
    const char *key_authorization)
{
	if (client->responder != NULL)
		return challenge_http_publish(client->responder, token,
		    key_authorization, client->err, sizeof(client->err));
	return challenge_webroot_publish(client->config->challenge.webroot,
	    token, key_authorization, client->err, sizeof(client->err));
}

int
challenge_publish(struct acme_client *client, struct challenge_set *set,
    enum challenge_type type, const char *name, const char *token,
    const char *key_authorization)
{
	switch (type) {
	case CHALLENGE_HTTP01:
		return publish_http(client, token, key_authorization);
	case CHALLENGE_TLSALPN01:
		return challenge_tlsalpn_publish(set->tlsalpn, name,
		    key_authorization, client->err, sizeof(client->err));
	case CHALLENGE_DNS01:
		return challenge_dns_publish(set->dns, name,
		    key_authorization, client->err, sizeof(client->err));
	default:
		snprintf(client->err, sizeof(client->err), "unknown "
		    "challenge type %d", (int)type);
		return -1;
	}
}

int
challenge_wait_published(struct acme_client *client,
    struct challenge_set *set)
{
	if (set->dns == NULL)
		return 0;
	return challenge_dns_wait(set->dns, client->err,
	    sizeof(client->err));
}

void
challenge_withdraw(struct acme_client *client, struct challenge_set *set,
    enum challenge_type type, const char *name, const char *token)
{
	char err[512];

	if (type == CHALLENGE_TLSALPN01) {
		challenge_tlsalpn_withdraw(set->tlsalpn, name);
		return;
	}
	if (type != CHALLENGE_HTTP01)
		return;
	if (client->responder != NULL) {
		challenge_http_withdraw(client->responder, token);
		return;
	}
	if (challenge_webroot_withdraw(client->config->challenge.webroot,
	    token, err, sizeof(err)) != 0)
		log_error("%s", err);
}

void
challenge_withdraw_dns(struct challenge_set *set)
{
	if (set->dns != NULL)
		challenge_dns_withdraw_all(set->dns);
}
