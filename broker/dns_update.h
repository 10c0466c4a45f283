/*
 * RFC 2136 dynamic updates of TXT records, signed with TSIG (RFC 8945)
 * through ldns. The reply must carry a valid TSIG signature too.
 *
 * Functions return 0, or -1 with a one-line message in err. Messages never
 * contain the TSIG secret.
 */
#ifndef CUSTOS_BROKER_DNS_UPDATE_H
#define CUSTOS_BROKER_DNS_UPDATE_H

#include <stddef.h>

#include "config/config.h"

#define DNS_TSIG_FILE_MAX 4096	/* bytes of a secret file */
#define DNS_TSIG_FUDGE 300	/* seconds of clock skew allowed */

/* A TSIG key; secret is base64 text, wiped by dns_tsig_clear. */
struct dns_tsig {
	char name[256];		/* with the trailing dot ldns expects */
	char algorithm[32];	/* "hmac-sha256." or "hmac-sha512." */
	char *secret;
};

/*
 * Reads the zone's secret file: either the base64 secret alone or a BIND
 * key file as tsig-keygen writes it ("secret \"...\";"). The file must not
 * be readable or writable by others.
 */
int dns_tsig_load(const struct config_dns_zone *zone, struct dns_tsig *tsig,
    char *err, size_t errlen);

/* Extracts the secret from file text into out (wiped by the caller). */
int dns_tsig_parse(const char *text, char *out, size_t size);

void dns_tsig_clear(struct dns_tsig *tsig);

/*
 * Adds the TXT record name/value with the zone's TTL (add 1), or deletes
 * exactly that record and no other value of the name (add 0).
 */
int dns_update_txt(const struct config_dns_zone *zone,
    const struct dns_tsig *tsig, int add, const char *name,
    const char *value, char *err, size_t errlen);

#endif
