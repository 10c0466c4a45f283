/*
 * The challenge responders of one run and the choice of challenge per
 * authorization. http-01 keeps its responder in acme_client->responder;
 * this set adds tls-alpn-01 and dns-01 and the tenant whose policy limits
 * the types.
 *
 * Functions return 0, or -1 with a one-line message in err.
 */
#ifndef CUSTOS_BROKER_CHALLENGE_H
#define CUSTOS_BROKER_CHALLENGE_H

#include <stddef.h>

#include "broker/acme.h"
#include "config/config.h"
#include "policy/policy.h"

struct challenge_tlsalpn;
struct challenge_dns;

struct challenge_set {
	const struct custos_config *config;
	const struct policy_tenant *tenant;	/* NULL: no policy check */
	struct challenge_tlsalpn *tlsalpn;	/* NULL unless enabled */
	struct challenge_dns *dns;		/* NULL unless enabled */
};

/*
 * Returns the first of challenge types that the tenant's policy allows,
 * or the first type when it allows none, for the policy check of the
 * whole request. Records no decision.
 */
const char *challenge_gate_type(const struct custos_config *config,
    const struct policy_tenant *tenant);

/* Binds the tls-alpn-01 listener when enabled; runs before privdrop. */
int challenge_set_bind(struct challenge_set *set, char *err,
    size_t errlen);

/*
 * Starts the tls-alpn-01 responder and dns-01 (which removes the records
 * earlier runs left behind); runs after privdrop.
 */
int challenge_set_start(struct challenge_set *set, char *err,
    size_t errlen);

/* Withdraws everything still published and stops the responders. */
void challenge_set_free(struct challenge_set *set);

/*
 * Chooses the challenge of a pending authorization: the first of
 * challenge types that the CA offers, the tenant's policy allows and the
 * identifier permits (a wildcard needs dns-01, an IP address cannot use
 * it). Sets *chall and *type, or returns -1 naming what was offered and
 * what was allowed.
 */
int challenge_choose(const struct challenge_set *set,
    const struct acme_authz *authz, struct acme_challenge *chall,
    enum challenge_type *type, char *err, size_t errlen);

/*
 * Publishes the response for one authorization. name is the identifier
 * value without "*.", token the challenge's token.
 */
int challenge_publish(struct acme_client *client,
    struct challenge_set *set, enum challenge_type type, const char *name,
    const char *token, const char *key_authorization);

/* Waits for DNS propagation of every dns-01 record published so far. */
int challenge_wait_published(struct acme_client *client,
    struct challenge_set *set);

/*
 * Withdraws the http-01 and tls-alpn-01 response for one authorization.
 * dns-01 records are removed together by challenge_withdraw_dns.
 */
void challenge_withdraw(struct acme_client *client,
    struct challenge_set *set, enum challenge_type type, const char *name,
    const char *token);
void challenge_withdraw_dns(struct challenge_set *set);

#endif
