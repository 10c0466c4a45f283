/*
 * Where a dns-01 TXT record goes (RFC 8555 section 8.4): the record name
 * _acme-challenge.NAME, after following CNAME records to a validation zone
 * that may be delegated elsewhere, and the zone that holds that name, as
 * its SOA record tells.
 *
 * The lookups go through a query function, so that tests can answer with
 * canned packets. Functions return 0, or -1 with a one-line message in err.
 */
#ifndef CUSTOS_BROKER_DNS_ZONE_H
#define CUSTOS_BROKER_DNS_ZONE_H

#include <stddef.h>

#include <ldns/ldns.h>

#define DNS_NAME_BUFSIZE 256	/* 253 bytes of name, a dot and a NUL */
#define DNS_CNAME_MAX_HOPS 8
#define DNS_CHALLENGE_LABEL "_acme-challenge"

/*
 * Sends one query for name and type and sets *answer to the reply, which
 * the caller frees with ldns_pkt_free. Returns 0, or -1 with a message.
 */
typedef int (*dns_query_fn)(void *arg, const char *name, ldns_rr_type type,
    ldns_pkt **answer, char *err, size_t errlen);

struct dns_target {
	char record[DNS_NAME_BUFSIZE];	/* owner of the TXT record */
	char zone[DNS_NAME_BUFSIZE];	/* zone that holds record */
	int cname_hops;			/* CNAME records followed */
};

/*
 * Finds the record and zone for name, a canonical DNS name without "*.".
 * Names are written in lower case without the trailing dot.
 */
int dns_find_target(const char *name, dns_query_fn query, void *arg,
    struct dns_target *target, char *err, size_t errlen);

/*
 * Writes the owner name of rdf in lower case without the trailing dot.
 * Returns -1 for a name with characters other than letters, digits, '-',
 * '_' and '.', which Custos does not pass to files or programs.
 */
int dns_name_text(const ldns_rdf *rdf, char *out, size_t size);

#endif
