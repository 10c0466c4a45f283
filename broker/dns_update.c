#include "broker/dns_update.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "broker/dns_query.h"

#define BASE64_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" \
	"0123456789+/="

/* Copies the base64 word at text (len bytes) into out. */
static int
copy_secret(const char *text, size_t len, char *out, size_t size)
{
	if (len == 0 || len >= size)
		return -1;
	for (size_t i = 0; i < len; i++)
		if (text[i] == '\0' || strchr(BASE64_CHARS, text[i]) == NULL)
			return -1;
	memcpy(out, text, len);
	out[len] = '\0';
	return 0;
}

int
dns_tsig_parse(const char *text, char *out, size_t size)
{
	const char *start = strstr(text, "secret"), *end;

	if (start != NULL) {
		start += strlen("secret");
		start += strspn(start, " \t");
		if (*start != '"')
			return -1;
		start++;
		end = strchr(start, '"');
		if (end == NULL)
			return -1;
		return copy_secret(start, (size_t)(end - start), out, size);
	}
	start = text + strspn(text, " \t\r\n");
	end = start + strcspn(start, " \t\r\n");
	if (end[strspn(end, " \t\r\n")] != '\0')
		return -1;
	return copy_secret(start, (size_t)(end - start), out, size);
}

/* Reads at most size - 1 bytes of an open file into buf. */
static int
read_small_file(int fd, char *buf, size_t size, size_t *len)
{
	ssize_t n;

	*len = 0;
	while (*len < size - 1) {
		n = read(fd, buf + *len, size - 1 - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		*len += (size_t)n;
	}
	buf[*len] = '\0';
	return 0;
}

static int
open_secret_file(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open TSIG secret file %s: %s "
		    "(check tsig-key and that the broker's user can read it)",
		    path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size >= DNS_TSIG_FILE_MAX) {
		snprintf(err, errlen, "TSIG secret file %s is not a regular "
		    "file below %d bytes", path, DNS_TSIG_FILE_MAX);
		close(fd);
		return -1;
	}
	if ((st.st_mode & 0007) != 0) {
		snprintf(err, errlen, "TSIG secret file %s is accessible to "
		    "others (mode %04o); run chmod 0600 %s", path,
		    (unsigned)(st.st_mode & 07777), path);
		close(fd);
		return -1;
	}
	return fd;
}

int
dns_tsig_load(const struct config_dns_zone *zone, struct dns_tsig *tsig,
    char *err, size_t errlen)
{
	char buf[DNS_TSIG_FILE_MAX];
	size_t len = 0;
	int fd, rc = -1;

	memset(tsig, 0, sizeof(*tsig));
	snprintf(tsig->name, sizeof(tsig->name), "%s.", zone->tsig_name);
	snprintf(tsig->algorithm, sizeof(tsig->algorithm), "%s.",
	    zone->tsig_algorithm);
	fd = open_secret_file(zone->tsig_secret_file, err, errlen);
	if (fd < 0)
		return -1;
	if (read_small_file(fd, buf, sizeof(buf), &len) != 0) {
		snprintf(err, errlen, "cannot read TSIG secret file %s: %s",
		    zone->tsig_secret_file, strerror(errno));
		goto out;
	}
	tsig->secret = calloc(1, len + 1);
	if (tsig->secret == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (dns_tsig_parse(buf, tsig->secret, len + 1) != 0) {
		snprintf(err, errlen, "TSIG secret file %s holds neither a "
		    "base64 secret nor a key statement with 'secret \"...\";' "
		    "(write the output of tsig-keygen into it)",
		    zone->tsig_secret_file);
		goto out;
	}
	rc = 0;
out:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	if (rc != 0)
		dns_tsig_clear(tsig);
	return rc;
}

void
dns_tsig_clear(struct dns_tsig *tsig)
{
	if (tsig->secret != NULL) {
		explicit_bzero(tsig->secret, strlen(tsig->secret));
		free(tsig->secret);
	}
	tsig->secret = NULL;
}

/* Builds NAME TTL CLASS TXT "value"; class NONE and TTL 0 delete it. */
static ldns_rr *
txt_record(const char *name, const char *value, int ttl, int add)
{
	ldns_rdf *owner, *text;
	ldns_rr *rr;

	rr = ldns_rr_new();
	owner = ldns_dname_new_frm_str(name);
	text = ldns_rdf_new_frm_str(LDNS_RDF_TYPE_STR, value);
	if (rr == NULL || owner == NULL || text == NULL ||
	    !ldns_rr_push_rdf(rr, text)) {
		ldns_rr_free(rr);
		ldns_rdf_deep_free(owner);
		ldns_rdf_deep_free(text);
		return NULL;
	}
	ldns_rr_set_owner(rr, owner);
	ldns_rr_set_type(rr, LDNS_RR_TYPE_TXT);
	ldns_rr_set_class(rr, add ? LDNS_RR_CLASS_IN : LDNS_RR_CLASS_NONE);
	ldns_rr_set_ttl(rr, add ? (uint32_t)ttl : 0);
	return rr;
}

static ldns_pkt *
update_packet(const char *zone, ldns_rr *rr)
{
	ldns_rr_list *updates = ldns_rr_list_new();
	ldns_rdf *zone_rdf = ldns_dname_new_frm_str(zone);
	ldns_pkt *pkt = NULL;

	if (updates != NULL && zone_rdf != NULL &&
	    ldns_rr_list_push_rr(updates, rr))
		pkt = ldns_update_pkt_new(zone_rdf, LDNS_RR_CLASS_IN, NULL,
		    updates, NULL);
	if (pkt == NULL) {
		ldns_rdf_deep_free(zone_rdf);
		if (updates != NULL && ldns_rr_list_rr_count(updates) > 0)
			ldns_rr_list_deep_free(updates);
		else
			ldns_rr_list_free(updates);
		return NULL;
	}
	/*
	 * Free the list that carried the record. Free the record too, unless
	 * the packet's update section contains that record itself, not a copy.
	 */
	if (ldns_rr_list_contains_rr(ldns_pkt_authority(pkt), rr) &&
	    ldns_rr_list_rr(ldns_pkt_authority(pkt), 0) == rr)
		ldns_rr_list_free(updates);
	else
		ldns_rr_list_deep_free(updates);
	return pkt;
}

/* Explains a failed update in terms of what the operator can fix. */
static void
describe_failure(const struct config_dns_zone *zone, ldns_status status,
    const ldns_pkt *reply, int add, const char *name, char *err,
    size_t errlen)
{
	char server[80], *rcode = NULL;
	const char *verb = add ? "adding" : "removing";

	dns_server_text(zone->server.address, zone->server.port, server,
	    sizeof(server));
	if (status == LDNS_STATUS_CRYPTO_TSIG_BOGUS ||
	    (reply != NULL &&
	    ldns_pkt_get_rcode(reply) == LDNS_RCODE_NOTAUTH)) {
		snprintf(err, errlen, "DNS server %s rejected the TSIG "
		    "signature %s the TXT record %s (check tsig-key name, "
		    "algorithm and secret of dns-zone %s)", server, verb, name,
		    zone->name);
		return;
	}
	if (status != LDNS_STATUS_OK || reply == NULL) {
		snprintf(err, errlen, "DNS update %s the TXT record %s at %s "
		    "failed: %s (check dns-zone %s server)", verb, name,
		    server, ldns_get_errorstr_by_id(status), zone->name);
		return;
	}
	rcode = ldns_pkt_rcode2str(ldns_pkt_get_rcode(reply));
	snprintf(err, errlen, "DNS server %s answered %s to the update %s "
	    "the TXT record %s (check that it is primary for %s and that its "
	    "update-policy grants the key TXT records)", server,
	    rcode != NULL ? rcode : "an unknown rcode", verb, name,
	    zone->name);
	free(rcode);
}

/* Wipes and frees the resolver, which keeps a copy of the secret. */
static void
resolver_free(ldns_resolver *res)
{
	char *secret;

	if (res == NULL)
		return;
	secret = (char *)ldns_resolver_tsig_keydata(res);
	if (secret != NULL)
		explicit_bzero(secret, strlen(secret));
	ldns_resolver_deep_free(res);
}

int
dns_update_txt(const struct config_dns_zone *zone,
    const struct dns_tsig *tsig, int add, const char *name,
    const char *value, char *err, size_t errlen)
{
	ldns_resolver *res = NULL;
	ldns_pkt *pkt = NULL, *reply = NULL;
	ldns_status status;
	ldns_rr *rr;
	int rc = -1;

	if (dns_resolver_new(&zone->server, 1, 0, &res, err, errlen) != 0)
		return -1;
	ldns_resolver_set_tsig_keyname(res, tsig->name);
	ldns_resolver_set_tsig_algorithm(res, tsig->algorithm);
	ldns_resolver_set_tsig_keydata(res, tsig->secret);
	rr = txt_record(name, value, zone->ttl, add);
	if (rr == NULL || (pkt = update_packet(zone->name, rr)) == NULL) {
		if (pkt == NULL)
			ldns_rr_free(rr);
		snprintf(err, errlen, "cannot build the DNS update for %s",
		    name);
		goto out;
	}

	/* The id is covered by the MAC, so it is set before signing. */
	ldns_pkt_set_random_id(pkt);
	status = ldns_update_pkt_tsig_add(pkt, res);
	if (status != LDNS_STATUS_OK) {
		snprintf(err, errlen, "cannot sign the DNS update for %s: %s "
		    "(check tsig-key of dns-zone %s)", name,
		    ldns_get_errorstr_by_id(status), zone->name);
		goto out;
	}
	status = ldns_resolver_send_pkt(&reply, res, pkt);
	if (status != LDNS_STATUS_OK || reply == NULL ||
	    ldns_pkt_get_rcode(reply) != LDNS_RCODE_NOERROR) {
		describe_failure(zone, status, reply, add, name, err, errlen);
		goto out;
	}
	rc = 0;
out:
	ldns_pkt_free(reply);
	ldns_pkt_free(pkt);
	resolver_free(res);
	return rc;
}
