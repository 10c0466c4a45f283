#include "broker/challenge_dns.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ldns/ldns.h>
#include <openssl/sha.h>

#include "broker/dns_hook.h"
#include "broker/dns_journal.h"
#include "broker/dns_propagation.h"
#include "broker/dns_query.h"
#include "broker/dns_update.h"
#include "broker/dns_zone.h"
#include "encoding/base64url.h"
#include "logging/log.h"

#define DNS_RECORDS_MAX 200	/* two per name of a 100-name order */

struct dns_published {
	const struct config_dns_zone *zone;
	char name[DNS_NAME_BUFSIZE];
	char record[DNS_NAME_BUFSIZE];
	char value[CHALLENGE_DNS_VALUE_LEN + 1];
	int added;
};

struct challenge_dns {
	const struct custos_config *config;
	const char *tenant;
	ldns_resolver *resolver;	/* recursive, made on first use */
	struct dns_journal journal;
	struct dns_published records[DNS_RECORDS_MAX];
	size_t count;
};

int
challenge_dns_value(const char *key_authorization,
    char value[CHALLENGE_DNS_VALUE_LEN + 1])
{
	unsigned char digest[SHA256_DIGEST_LENGTH];

	if (SHA256((const unsigned char *)key_authorization,
	    strlen(key_authorization), digest) == NULL)
		return -1;
	base64url_encode(digest, sizeof(digest), value);
	return 0;
}

/* Adds or removes one value through the zone's server or hook. */
static int
change_record(const struct config_dns_zone *zone, const char *tenant,
    int add, const char *name, const char *record, const char *value,
    char *err, size_t errlen)
{
	struct dns_hook_request req = {
		.action = add ? "add" : "remove",
		.name = name,
		.record = record,
		.value = value,
		.tenant = tenant,
	};
	struct dns_tsig tsig;
	int rc;

	if (zone->hook != NULL)
		return dns_hook_run(zone, &req, err, errlen);
	if (dns_tsig_load(zone, &tsig, err, errlen) != 0)
		return -1;
	rc = dns_update_txt(zone, &tsig, add, record, value, err, errlen);
	dns_tsig_clear(&tsig);
	return rc;
}

static int
remove_leftover(void *arg, const char *zone_name, const char *record,
    const char *value)
{
	struct challenge_dns *dns = arg;
	const struct config_dns_zone *zone;
	char err[1024];

	zone = config_find_dns_zone(dns->config, zone_name);
	if (zone == NULL) {
		log_warn("dns-01: cannot remove the TXT record %s left by an "
		    "earlier run: zone %s has no dns-zone block (remove it by "
		    "hand)", record, zone_name);
		return -1;
	}
	if (change_record(zone, dns->tenant, 0, record, record, value, err,
	    sizeof(err)) != 0) {
		log_warn("dns-01: removing a TXT record left by an earlier "
		    "run failed: %s", err);
		return -1;
	}
	log_info("dns-01: removed the TXT record %s left by an earlier run",
	    record);
	return 0;
}

int
challenge_dns_new(const struct custos_config *config, const char *tenant,
    struct challenge_dns **out, char *err, size_t errlen)
{
	struct challenge_dns *dns;
	size_t left;

	*out = NULL;
	dns = calloc(1, sizeof(*dns));
	if (dns == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	dns->config = config;
	dns->tenant = tenant;
	dns->journal.fd = -1;
	if (dns_journal_recover(config->broker.state_dir, remove_leftover,
	    dns, &left, err, errlen) != 0 ||
	    dns_journal_open(config->broker.state_dir, &dns->journal, err,
	    errlen) != 0) {
		challenge_dns_free(dns);
		return -1;
	}
	if (left > 0)
		log_warn("dns-01: %zu TXT records left by earlier runs remain; "
		    "custos retries at its next start", left);
	*out = dns;
	return 0;
}

static int
find_target(struct challenge_dns *dns, const char *name,
    struct dns_target *target, const struct config_dns_zone **zone,
    char *err, size_t errlen)
{
	const struct config_challenge *ch = &dns->config->challenge;

	if (dns->resolver == NULL &&
	    dns_resolver_new(ch->dns_resolvers, ch->dns_resolver_count, 1,
	    &dns->resolver, err, errlen) != 0)
		return -1;
	if (dns_find_target(name, dns_query, dns->resolver, target, err,
	    errlen) != 0)
		return -1;
	*zone = config_find_dns_zone(dns->config, target->zone);
	if (*zone == NULL) {
		snprintf(err, errlen, "the TXT record %s for %s lies in zone "
		    "%s, which has no dns-zone block (add 'dns-zone %s {' or "
		    "point the CNAME at a configured zone)", target->record,
		    name, target->zone, target->zone);
		return -1;
	}
	return 0;
}

int
challenge_dns_publish(struct challenge_dns *dns, const char *name,
    const char *key_authorization, char *err, size_t errlen)
{
	const struct config_dns_zone *zone;
	struct dns_published *rec;
	struct dns_target target;

	if (dns->count == DNS_RECORDS_MAX) {
		snprintf(err, errlen, "more than %d dns-01 records in one "
		    "order", DNS_RECORDS_MAX);
		return -1;
	}
	if (find_target(dns, name, &target, &zone, err, errlen) != 0)
		return -1;
	rec = &dns->records[dns->count];
	memset(rec, 0, sizeof(*rec));
	rec->zone = zone;
	snprintf(rec->name, sizeof(rec->name), "%s", name);
	memcpy(rec->record, target.record, sizeof(rec->record));
	if (challenge_dns_value(key_authorization, rec->value) != 0) {
		snprintf(err, errlen, "cannot hash the key authorization");
		return -1;
	}

	/* Journalled first, so that a crash during the update is undone. */
	if (dns_journal_write(&dns->journal, "add", zone->name, rec->record,
	    rec->value, err, errlen) != 0)
		return -1;
	dns->count++;
	if (change_record(zone, dns->tenant, 1, name, rec->record,
	    rec->value, err, errlen) != 0)
		return -1;
	rec->added = 1;
	log_info("dns-01: added TXT %s in zone %s for %s%s", rec->record,
	    zone->name, name, target.cname_hops > 0 ? " (through CNAME)" : "");
	return 0;
}

/* Checks the values of one zone; done marks the records checked. */
static int
wait_zone(struct challenge_dns *dns, const struct config_dns_zone *zone,
    int *done, char *err, size_t errlen)
{
	struct dns_expected expected[DNS_RECORDS_MAX];
	size_t count = 0;

	for (size_t i = 0; i < dns->count; i++) {
		if (dns->records[i].zone != zone)
			continue;
		expected[count].record = dns->records[i].record;
		expected[count].value = dns->records[i].value;
		count++;
		done[i] = 1;
	}
	return dns_propagation_wait(zone, dns->resolver, expected, count,
	    err, errlen);
}

int
challenge_dns_wait(struct challenge_dns *dns, char *err, size_t errlen)
{
	int done[DNS_RECORDS_MAX] = { 0 };

	for (size_t i = 0; i < dns->count; i++)
		if (!done[i] && wait_zone(dns, dns->records[i].zone, done, err,
		    errlen) != 0)
			return -1;
	return 0;
}

static void
withdraw_one(struct challenge_dns *dns, struct dns_published *rec)
{
	char err[1024];

	if (change_record(rec->zone, dns->tenant, 0, rec->name, rec->record,
	    rec->value, err, sizeof(err)) != 0) {
		log_error("dns-01: %s; custos retries at its next start", err);
		return;
	}
	if (dns_journal_write(&dns->journal, "remove", rec->zone->name,
	    rec->record, rec->value, err, sizeof(err)) != 0)
		log_error("dns-01: %s", err);
	log_info("dns-01: removed TXT %s in zone %s", rec->record,
	    rec->zone->name);
}

/*
 * Every value that was journalled is removed, including one whose add
 * failed: the update may have reached the server before the error.
 */
void
challenge_dns_withdraw_all(struct challenge_dns *dns)
{
	for (size_t i = 0; i < dns->count; i++)
		withdraw_one(dns, &dns->records[i]);
	dns->count = 0;
}

void
challenge_dns_free(struct challenge_dns *dns)
{
	if (dns == NULL)
		return;
	challenge_dns_withdraw_all(dns);
	dns_journal_close(&dns->journal);
	if (dns->resolver != NULL)
		ldns_resolver_deep_free(dns->resolver);
	free(dns);
}
