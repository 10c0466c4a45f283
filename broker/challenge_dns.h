/*
 * dns-01 challenge responses (RFC 8555 section 8.4): TXT records at
 * _acme-challenge.NAME, or where its CNAME records lead, published through
 * RFC 2136 updates or a hook, checked on every authoritative server of the
 * zone, and removed again. Every value is written to the journal in
 * broker.state-dir before it is added, so that one left behind by a crash
 * is removed at the next start.
 *
 * Functions return 0, or -1 with a one-line message in err.
 */
#ifndef CUSTOS_BROKER_CHALLENGE_DNS_H
#define CUSTOS_BROKER_CHALLENGE_DNS_H

#include <stddef.h>

#include "config/config.h"

#define CHALLENGE_DNS_VALUE_LEN 43	/* base64url of a SHA-256 digest */

struct challenge_dns;

/*
 * Starts dns-01 for one run: removes the values that earlier runs left
 * behind, then opens this run's journal. tenant (NULL for none) is passed
 * to hooks. Call after dropping privileges.
 */
int challenge_dns_new(const struct custos_config *config,
    const char *tenant, struct challenge_dns **out, char *err,
    size_t errlen);

/*
 * Computes the TXT value for key_authorization and adds it for name (a DNS
 * identifier, "*." removed). Two names may share one record, as
 * example.org and *.example.org do; each value is added on its own.
 */
int challenge_dns_publish(struct challenge_dns *dns, const char *name,
    const char *key_authorization, char *err, size_t errlen);

/*
 * Waits until every authoritative server of each zone returns every value
 * published so far, up to each zone's propagation-timeout. A zone with
 * propagation advisory only logs the servers that lag.
 */
int challenge_dns_wait(struct challenge_dns *dns, char *err, size_t errlen);

/* Removes every published value; failures are logged and journalled. */
void challenge_dns_withdraw_all(struct challenge_dns *dns);

/* Withdraws what is left and closes the journal. */
void challenge_dns_free(struct challenge_dns *dns);

/* Writes base64url(SHA-256(key_authorization)), the TXT value. */
int challenge_dns_value(const char *key_authorization,
    char value[CHALLENGE_DNS_VALUE_LEN + 1]);

#endif
