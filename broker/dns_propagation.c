#include "broker/dns_propagation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "broker/dns_query.h"
#include "broker/dns_zone.h"
#include "logging/log.h"

struct server_list {
	struct config_dns_server items[DNS_NAMESERVERS_MAX];
	char addresses[DNS_NAMESERVERS_MAX][64];
	size_t count;
};

static void
add_address(struct server_list *list, const ldns_rdf *rdf)
{
	char *text;

	if (list->count == DNS_NAMESERVERS_MAX)
		return;
	text = ldns_rdf2str(rdf);
	if (text == NULL)
		return;
	snprintf(list->addresses[list->count],
	    sizeof(list->addresses[list->count]), "%s", text);
	free(text);
	for (size_t i = 0; i < list->count; i++)
		if (strcmp(list->addresses[i],
		    list->addresses[list->count]) == 0)
			return;
	list->items[list->count].address = list->addresses[list->count];
	list->items[list->count].port = 53;
	list->count++;
}

/* Adds the A and AAAA addresses of host. */
static void
resolve_host(ldns_resolver *resolver, const char *host,
    struct server_list *list)
{
	static const ldns_rr_type types[] = { LDNS_RR_TYPE_A,
	    LDNS_RR_TYPE_AAAA };
	char err[512];
	ldns_pkt *answer;

	for (size_t t = 0; t < 2; t++) {
		const ldns_rr_list *rrs;

		if (dns_query(resolver, host, types[t], &answer, err,
		    sizeof(err)) != 0)
			continue;
		rrs = ldns_pkt_answer(answer);
		for (size_t i = 0; i < ldns_rr_list_rr_count(rrs); i++) {
			const ldns_rr *rr = ldns_rr_list_rr(rrs, i);

			if (ldns_rr_get_type(rr) == types[t])
				add_address(list, ldns_rr_rdf(rr, 0));
		}
		ldns_pkt_free(answer);
	}
}

static int
find_nameservers(const struct config_dns_zone *zone,
    ldns_resolver *resolver, struct server_list *list, char *err,
    size_t errlen)
{
	char host[DNS_NAME_BUFSIZE];
	const ldns_rr_list *rrs;
	ldns_pkt *answer;

	list->count = 0;
	if (zone->nameserver_count > 0) {
		for (size_t i = 0; i < zone->nameserver_count &&
		    i < DNS_NAMESERVERS_MAX; i++)
			list->items[list->count++] = zone->nameservers[i];
		return 0;
	}
	if (dns_query(resolver, zone->name, LDNS_RR_TYPE_NS, &answer, err,
	    errlen) != 0)
		return -1;
	rrs = ldns_pkt_answer(answer);
	for (size_t i = 0; i < ldns_rr_list_rr_count(rrs); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(rrs, i);

		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_NS &&
		    dns_name_text(ldns_rr_rdf(rr, 0), host, sizeof(host)) == 0)
			resolve_host(resolver, host, list);
	}
	ldns_pkt_free(answer);
	if (list->count == 0) {
		snprintf(err, errlen, "found no address of a name server of "
		    "zone %s (set nameserver ADDRESS PORT in its dns-zone "
		    "block)", zone->name);
		return -1;
	}
	return 0;
}

/*
 * Asks each server for each value once. Returns the number of (server,
 * value) pairs missing and names the first in lagging.
 */
static size_t
check_round(const struct server_list *list,
    const struct dns_expected *expected, size_t count, char *lagging,
    size_t size)
{
	char server[80], err[512];
	size_t missing = 0;
	int found;

	for (size_t s = 0; s < list->count; s++) {
		const struct config_dns_server *srv = &list->items[s];

		dns_server_text(srv->address, srv->port, server,
		    sizeof(server));
		for (size_t i = 0; i < count; i++) {
			if (dns_txt_present(srv->address, srv->port,
			    expected[i].record, expected[i].value, &found,
			    err, sizeof(err)) != 0)
				found = 0;
			if (found)
				continue;
			if (missing++ == 0)
				snprintf(lagging, size, "server %s does not "
				    "return TXT %s \"%s\" yet", server,
				    expected[i].record, expected[i].value);
		}
	}
	return missing;
}

int
dns_propagation_wait(const struct config_dns_zone *zone,
    ldns_resolver *resolver, const struct dns_expected *expected,
    size_t count, char *err, size_t errlen)
{
	time_t deadline = time(NULL) + zone->propagation_timeout;
	struct server_list list;
	char lagging[768];
	size_t missing;

	if (find_nameservers(zone, resolver, &list, err, errlen) != 0)
		return -1;
	for (;;) {
		missing = check_round(&list, expected, count, lagging,
		    sizeof(lagging));
		if (missing == 0) {
			log_info("dns-01: %zu servers of zone %s return all "
			    "%zu values", list.count, zone->name, count);
			return 0;
		}
		log_info("dns-01: waiting for zone %s: %s (%zu missing)",
		    zone->name, lagging, missing);
		if (time(NULL) + zone->propagation_interval > deadline)
			break;
		sleep((unsigned)zone->propagation_interval);
	}
	if (zone->propagation == DNS_PROPAGATION_ADVISORY) {
		log_warn("dns-01: zone %s did not propagate within %ds: %s "
		    "(propagation is advisory, asking the CA anyway)",
		    zone->name, zone->propagation_timeout, lagging);
		return 0;
	}
	snprintf(err, errlen, "zone %s did not propagate within %ds: %s "
	    "(raise propagation-timeout or check the zone transfer to that "
	    "server)", zone->name, zone->propagation_timeout, lagging);
	return -1;
}
