#include "broker/dns_zone.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
dns_name_text(const ldns_rdf *rdf, char *out, size_t size)
{
	char *text;
	size_t len;
	int rc = -1;

	if (rdf == NULL || ldns_rdf_get_type(rdf) != LDNS_RDF_TYPE_DNAME)
		return -1;
	text = ldns_rdf2str(rdf);
	if (text == NULL)
		return -1;
	len = strlen(text);
	if (len > 0 && text[len - 1] == '.')
		len--;
	if (len == 0 || len >= size)
		goto out;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (strchr("abcdefghijklmnopqrstuvwxyz0123456789-_.", c) ==
		    NULL || c == '\0')
			goto out;
		out[i] = c;
	}
	out[len] = '\0';
	rc = 0;
out:
	free(text);
	return rc;
}

/* Returns 1 when name is zone or lies below it. */
static int
name_in_zone(const char *name, const char *zone)
{
	size_t name_len = strlen(name), zone_len = strlen(zone);

	if (name_len == zone_len)
		return strcmp(name, zone) == 0;
	return name_len > zone_len && name[name_len - zone_len - 1] == '.' &&
	    strcmp(name + name_len - zone_len, zone) == 0;
}

/* Finds an RR of type in list, owned by owner unless owner is NULL. */
static const ldns_rr *
find_rr(const ldns_rr_list *list, ldns_rr_type type, const char *owner)
{
	char text[DNS_NAME_BUFSIZE];

	for (size_t i = 0; i < ldns_rr_list_rr_count(list); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(list, i);

		if (ldns_rr_get_type(rr) != type)
			continue;
		if (owner == NULL)
			return rr;
		if (dns_name_text(ldns_rr_owner(rr), text, sizeof(text)) == 0 &&
		    strcmp(text, owner) == 0)
			return rr;
	}
	return NULL;
}

/* Sends one query and accepts NOERROR and NXDOMAIN replies only. */
static int
ask(dns_query_fn query, void *arg, const char *name, ldns_rr_type type,
    ldns_pkt **answer, char *err, size_t errlen)
{
	ldns_pkt_rcode rcode;
	char *rcode_text;

	*answer = NULL;
	if (query(arg, name, type, answer, err, errlen) != 0)
		return -1;
	rcode = ldns_pkt_get_rcode(*answer);
	if (rcode == LDNS_RCODE_NOERROR || rcode == LDNS_RCODE_NXDOMAIN)
		return 0;
	rcode_text = ldns_pkt_rcode2str(rcode);
	snprintf(err, errlen, "DNS lookup of %s %s failed with %s (check "
	    "challenge dns-resolver and the zone's name servers)", name,
	    type == LDNS_RR_TYPE_SOA ? "SOA" : "CNAME",
	    rcode_text != NULL ? rcode_text : "an unknown rcode");
	free(rcode_text);
	ldns_pkt_free(*answer);
	*answer = NULL;
	return -1;
}

static int
follow_cnames(const char *name, dns_query_fn query, void *arg,
    struct dns_target *target, char *err, size_t errlen)
{
	char seen[DNS_CNAME_MAX_HOPS + 1][DNS_NAME_BUFSIZE];
	char next[DNS_NAME_BUFSIZE];
	const ldns_rr *cname;
	ldns_pkt *answer;

	snprintf(seen[0], sizeof(seen[0]), "%s", target->record);
	for (target->cname_hops = 0;; target->cname_hops++) {
		if (ask(query, arg, target->record, LDNS_RR_TYPE_CNAME,
		    &answer, err, errlen) != 0)
			return -1;
		cname = find_rr(ldns_pkt_answer(answer), LDNS_RR_TYPE_CNAME,
		    target->record);
		if (cname != NULL && dns_name_text(ldns_rr_rdf(cname, 0), next,
		    sizeof(next)) != 0) {
			snprintf(err, errlen, "the CNAME record of %s points "
			    "to an invalid name (fix the CNAME record)",
			    target->record);
			ldns_pkt_free(answer);
			return -1;
		}
		ldns_pkt_free(answer);
		if (cname == NULL)
			return 0;
		for (int i = 0; i <= target->cname_hops; i++) {
			if (strcmp(seen[i], next) != 0)
				continue;
			snprintf(err, errlen, "the CNAME records from %s."
			    "%s loop back to %s (fix the CNAME chain)",
			    DNS_CHALLENGE_LABEL, name, next);
			return -1;
		}
		if (target->cname_hops == DNS_CNAME_MAX_HOPS) {
			snprintf(err, errlen, "more than %d CNAME records "
			    "follow %s.%s (shorten the CNAME chain)",
			    DNS_CNAME_MAX_HOPS, DNS_CHALLENGE_LABEL, name);
			return -1;
		}
		memcpy(seen[target->cname_hops + 1], next, sizeof(next));
		memcpy(target->record, next, sizeof(next));
	}
}

/*
 * Queries the SOA of the record's name, then of each parent, until a reply
 * contains the SOA of that name in its answer, or the SOA of a zone above
 * the record in its authority section (a negative reply names its zone).
 */
static int
find_zone(dns_query_fn query, void *arg, struct dns_target *target,
    char *err, size_t errlen)
{
	char name[DNS_NAME_BUFSIZE], owner[DNS_NAME_BUFSIZE];
	const ldns_rr *soa;
	ldns_pkt *answer;
	char *dot;

	memcpy(name, target->record, sizeof(name));
	for (;;) {
		if (ask(query, arg, name, LDNS_RR_TYPE_SOA, &answer, err,
		    errlen) != 0)
			return -1;
		soa = find_rr(ldns_pkt_answer(answer), LDNS_RR_TYPE_SOA, name);
		if (soa == NULL)
			soa = find_rr(ldns_pkt_authority(answer),
			    LDNS_RR_TYPE_SOA, NULL);
		if (soa != NULL && dns_name_text(ldns_rr_owner(soa), owner,
		    sizeof(owner)) == 0 && name_in_zone(target->record,
		    owner)) {
			memcpy(target->zone, owner, sizeof(owner));
			ldns_pkt_free(answer);
			return 0;
		}
		ldns_pkt_free(answer);
		dot = strchr(name, '.');
		if (dot == NULL) {
			snprintf(err, errlen, "no SOA record found for %s or "
			    "the domains above it (check challenge "
			    "dns-resolver and the zone's delegation)",
			    target->record);
			return -1;
		}
		memmove(name, dot + 1, strlen(dot + 1) + 1);
	}
}

int
dns_find_target(const char *name, dns_query_fn query, void *arg,
    struct dns_target *target, char *err, size_t errlen)
{
	int n;

	memset(target, 0, sizeof(*target));
	n = snprintf(target->record, sizeof(target->record), "%s.%s",
	    DNS_CHALLENGE_LABEL, name);
	if (n < 0 || n > 253) {
		snprintf(err, errlen, "%s.%s is longer than 253 bytes, the "
		    "limit of a DNS name (use http-01 or tls-alpn-01 for %s)",
		    DNS_CHALLENGE_LABEL, name, name);
		return -1;
	}
	if (follow_cnames(name, query, arg, target, err, errlen) != 0)
		return -1;
	return find_zone(query, arg, target, err, errlen);
}
