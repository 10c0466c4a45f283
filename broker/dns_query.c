#include "broker/dns_query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

const char *
dns_server_text(const char *address, int port, char *buf, size_t size)
{
	if (strchr(address, ':') != NULL)
		snprintf(buf, size, "[%s]:%d", address, port);
	else
		snprintf(buf, size, "%s:%d", address, port);
	return buf;
}

static void
set_limits(ldns_resolver *res, int recursive)
{
	struct timeval timeout = { .tv_sec = DNS_QUERY_TIMEOUT };

	ldns_resolver_set_timeout(res, timeout);
	ldns_resolver_set_retry(res, 2);
	ldns_resolver_set_retrans(res, 1);
	ldns_resolver_set_recursive(res, recursive ? true : false);
	ldns_resolver_set_dnssec(res, false);
	ldns_resolver_set_fail(res, false);
	ldns_resolver_set_random(res, false);
	ldns_resolver_set_defnames(res, false);
	ldns_resolver_set_dnsrch(res, false);
}

static int
add_server(ldns_resolver *res, const char *address, int port, char *err,
    size_t errlen)
{
	ldns_rdf *rdf;
	ldns_status status;

	rdf = ldns_rdf_new_frm_str(strchr(address, ':') != NULL ?
	    LDNS_RDF_TYPE_AAAA : LDNS_RDF_TYPE_A, address);
	if (rdf == NULL) {
		snprintf(err, errlen, "invalid DNS server address \"%s\"",
		    address);
		return -1;
	}
	status = ldns_resolver_push_nameserver(res, rdf);
	ldns_rdf_deep_free(rdf);
	if (status != LDNS_STATUS_OK) {
		snprintf(err, errlen, "cannot use DNS server %s: %s",
		    address, ldns_get_errorstr_by_id(status));
		return -1;
	}
	ldns_resolver_set_port(res, (uint16_t)port);
	return 0;
}

int
dns_resolver_new(const struct config_dns_server *servers, size_t count,
    int recursive, ldns_resolver **out, char *err, size_t errlen)
{
	ldns_resolver *res = NULL;
	ldns_status status;

	*out = NULL;
	if (count == 0) {
		status = ldns_resolver_new_frm_file(&res, NULL);
		if (status != LDNS_STATUS_OK) {
			snprintf(err, errlen, "cannot read /etc/resolv.conf: "
			    "%s (set challenge dns-resolver)",
			    ldns_get_errorstr_by_id(status));
			return -1;
		}
	} else {
		res = ldns_resolver_new();
		if (res == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		/*
		 * NOTE: ldns keeps one port for all servers of a resolver,
		 * so the list shares the port of its last server.
		 */
		for (size_t i = 0; i < count; i++)
			if (add_server(res, servers[i].address,
			    servers[i].port, err, errlen) != 0) {
				ldns_resolver_deep_free(res);
				return -1;
			}
	}
	set_limits(res, recursive);
	*out = res;
	return 0;
}

int
dns_query(void *arg, const char *name, ldns_rr_type type,
    ldns_pkt **answer, char *err, size_t errlen)
{
	ldns_resolver *res = arg;
	ldns_status status;
	ldns_rdf *dname;

	*answer = NULL;
	dname = ldns_dname_new_frm_str(name);
	if (dname == NULL) {
		snprintf(err, errlen, "invalid DNS name \"%s\"", name);
		return -1;
	}
	status = ldns_resolver_query_status(answer, res, dname, type,
	    LDNS_RR_CLASS_IN, ldns_resolver_recursive(res) ? LDNS_RD : 0);
	ldns_rdf_deep_free(dname);
	if (status != LDNS_STATUS_OK || *answer == NULL) {
		snprintf(err, errlen, "DNS lookup of %s failed: %s (check "
		    "that the DNS server is reachable)", name,
		    ldns_get_errorstr_by_id(status));
		ldns_pkt_free(*answer);
		*answer = NULL;
		return -1;
	}
	return 0;
}

/* Returns 1 when a TXT record of the reply is the one string value. */
static int
answer_has_txt(const ldns_pkt *answer, const char *value)
{
	const ldns_rr_list *list = ldns_pkt_answer(answer);
	size_t len = strlen(value);

	for (size_t i = 0; i < ldns_rr_list_rr_count(list); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(list, i);
		const ldns_rdf *rdf;

		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_TXT ||
		    ldns_rr_rd_count(rr) != 1)
			continue;
		rdf = ldns_rr_rdf(rr, 0);
		/* A character-string is a length byte and the text. */
		if (ldns_rdf_size(rdf) == len + 1 &&
		    ldns_rdf_data(rdf)[0] == len &&
		    memcmp(ldns_rdf_data(rdf) + 1, value, len) == 0)
			return 1;
	}
	return 0;
}

int
dns_txt_present(const char *address, int port, const char *name,
    const char *value, int *found, char *err, size_t errlen)
{
	struct config_dns_server server = { (char *)address, port };
	ldns_resolver *res;
	ldns_pkt *answer;
	int rc;

	*found = 0;
	if (dns_resolver_new(&server, 1, 0, &res, err, errlen) != 0)
		return -1;
	rc = dns_query(res, name, LDNS_RR_TYPE_TXT, &answer, err, errlen);
	if (rc == 0) {
		*found = answer_has_txt(answer, value);
		ldns_pkt_free(answer);
	}
	ldns_resolver_deep_free(res);
	return rc;
}
