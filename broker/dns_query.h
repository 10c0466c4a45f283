/*
 * DNS queries through ldns: a resolver for a list of servers (or the
 * system's /etc/resolv.conf), the query function that dns_find_target
 * uses, and the TXT lookup of the propagation check.
 *
 * Functions return 0, or -1 with a one-line message in err.
 */
#ifndef CUSTOS_BROKER_DNS_QUERY_H
#define CUSTOS_BROKER_DNS_QUERY_H

#include <stddef.h>

#include <ldns/ldns.h>

#include "config/config.h"

#define DNS_QUERY_TIMEOUT 5	/* seconds for one query, retried once */

/*
 * Makes a resolver that sends to servers, or to the name servers of
 * /etc/resolv.conf when count is 0. recursive sets the RD bit: 1 for a
 * recursive resolver, 0 to ask an authoritative server directly.
 */
int dns_resolver_new(const struct config_dns_server *servers, size_t count,
    int recursive, ldns_resolver **out, char *err, size_t errlen);

/* A dns_query_fn; arg is an ldns_resolver. */
int dns_query(void *arg, const char *name, ldns_rr_type type,
    ldns_pkt **answer, char *err, size_t errlen);

/*
 * Asks one server (address, port) directly for the TXT records of name
 * and sets *found to 1 when one of them is value.
 */
int dns_txt_present(const char *address, int port, const char *name,
    const char *value, int *found, char *err, size_t errlen);

/* Writes "ADDRESS:PORT" or "[ADDRESS]:PORT" for messages. */
const char *dns_server_text(const char *address, int port, char *buf,
    size_t size);

#endif
