/*
 * The check before the CA is asked to validate: every authoritative name
 * server of a zone must return each TXT value that Custos added, because
 * the CA may ask any of them.
 *
 * Functions return 0, or -1 with a one-line message in err.
 */
#ifndef CUSTOS_BROKER_DNS_PROPAGATION_H
#define CUSTOS_BROKER_DNS_PROPAGATION_H

#include <stddef.h>

#include <ldns/ldns.h>

#include "config/config.h"

#define DNS_NAMESERVERS_MAX 16

struct dns_expected {
	const char *record;
	const char *value;
};

/*
 * Queries the zone's nameserver list, or the addresses of its NS records
 * (found through resolver, port 53) when the list is empty, every
 * propagation-interval until each returns every expected value or
 * propagation-timeout passes. Servers that lag are logged; with
 * propagation advisory the timeout is logged and 0 returned.
 */
int dns_propagation_wait(const struct config_dns_zone *zone,
    ldns_resolver *resolver, const struct dns_expected *expected,
    size_t count, char *err, size_t errlen);

#endif
