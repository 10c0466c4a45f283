/*
 * Tests of the dns-01 pieces that need no server: finding the record and
 * zone from canned DNS answers, TSIG secret files, hook command lines,
 * journal lines and the TXT value.
 */
#include "broker/challenge_dns.h"
#include "broker/dns_hook.h"
#include "broker/dns_journal.h"
#include "broker/dns_update.h"
#include "broker/dns_zone.h"
#include "tests/unit/check.h"

#include <stdlib.h>
#include <string.h>

/* One canned reply: the question it answers and its records. */
struct canned {
	const char *name;
	ldns_rr_type type;
	ldns_pkt_rcode rcode;
	const char *answer[3];
	const char *authority;
};

struct server {
	const struct canned *replies;
	size_t count;
	int queries;
};

static void
push(ldns_pkt *pkt, ldns_pkt_section section, const char *text)
{
	ldns_rr *rr = NULL;

	if (text != NULL && ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL) ==
	    LDNS_STATUS_OK)
		ldns_pkt_push_rr(pkt, section, rr);
}

/*
 * Answers from the table; a question not in it gets NXDOMAIN with the
 * SOA of example.org, as a server for that zone would send.
 */
static int
canned_query(void *arg, const char *name, ldns_rr_type type,
    ldns_pkt **answer, char *err, size_t errlen)
{
	struct server *server = arg;
	const struct canned *reply = NULL;
	ldns_pkt *pkt = ldns_pkt_new();

	(void)err;
	(void)errlen;
	server->queries++;
	for (size_t i = 0; i < server->count; i++)
		if (strcmp(server->replies[i].name, name) == 0 &&
		    server->replies[i].type == type)
			reply = &server->replies[i];
	if (reply == NULL) {
		ldns_pkt_set_rcode(pkt, LDNS_RCODE_NXDOMAIN);
		push(pkt, LDNS_SECTION_AUTHORITY, "example.org. 60 IN SOA "
		    "ns.example.org. admin.example.org. 1 60 60 60 60");
	} else {
		ldns_pkt_set_rcode(pkt, reply->rcode);
		for (size_t i = 0; i < 3; i++)
			push(pkt, LDNS_SECTION_ANSWER, reply->answer[i]);
		push(pkt, LDNS_SECTION_AUTHORITY, reply->authority);
	}
	*answer = pkt;
	return 0;
}

static char err[1024];

static int
find(const struct canned *replies, size_t count, const char *name,
    struct dns_target *target)
{
	struct server server = { replies, count, 0 };

	err[0] = '\0';
	return dns_find_target(name, canned_query, &server, target, err,
	    sizeof(err));
}

#define SOA_ORG "example.org. 60 IN SOA ns.example.org. a.example.org. " \
	"1 60 60 60 60"
#define SOA_NET "acme.example.net. 60 IN SOA ns.example.net. " \
	"a.example.net. 1 60 60 60 60"

static void
test_zone_from_negative_answer(void)
{
	struct dns_target target;

	CHECK_INT(find(NULL, 0, "www.example.org", &target), 0);
	CHECK_STR(target.record, "_acme-challenge.www.example.org");
	CHECK_STR(target.zone, "example.org");
	CHECK_INT(target.cname_hops, 0);
}

static void
test_zone_from_soa_answer(void)
{
	static const struct canned replies[] = {
		{ "_acme-challenge.sub.example.org", LDNS_RR_TYPE_SOA,
		    LDNS_RCODE_NOERROR, { "_acme-challenge.sub.example.org. "
		    "60 IN SOA ns.example.org. a.example.org. 1 60 60 60 60" },
		    NULL },
	};
	struct dns_target target;

	CHECK_INT(find(replies, 1, "sub.example.org", &target), 0);
	CHECK_STR(target.zone, "_acme-challenge.sub.example.org");
}

static void
test_zone_walks_up_without_authority(void)
{
	static const struct canned replies[] = {
		{ "_acme-challenge.a.b.example.org", LDNS_RR_TYPE_SOA,
		    LDNS_RCODE_NOERROR, { NULL }, NULL },
		{ "a.b.example.org", LDNS_RR_TYPE_SOA, LDNS_RCODE_NOERROR,
		    { NULL }, NULL },
		{ "b.example.org", LDNS_RR_TYPE_SOA, LDNS_RCODE_NOERROR,
		    { "b.example.org. 60 IN SOA ns.example.org. a.example.org. "
		    "1 60 60 60 60" }, NULL },
	};
	struct dns_target target;

	CHECK_INT(find(replies, 3, "a.b.example.org", &target), 0);
	CHECK_STR(target.zone, "b.example.org");
}

static void
test_cname_one_hop(void)
{
	static const struct canned replies[] = {
		{ "_acme-challenge.www.example.org", LDNS_RR_TYPE_CNAME,
		    LDNS_RCODE_NOERROR, { "_acme-challenge.www.example.org. 60 "
		    "IN CNAME WWW.Acme.Example.NET." }, NULL },
		{ "www.acme.example.net", LDNS_RR_TYPE_SOA,
		    LDNS_RCODE_NOERROR, { NULL }, SOA_NET },
	};
	struct dns_target target;

	CHECK_INT(find(replies, 2, "www.example.org", &target), 0);
	CHECK_STR(target.record, "www.acme.example.net");
	CHECK_STR(target.zone, "acme.example.net");
	CHECK_INT(target.cname_hops, 1);
}

static void
test_cname_two_hops(void)
{
	static const struct canned replies[] = {
		{ "_acme-challenge.www.example.org", LDNS_RR_TYPE_CNAME,
		    LDNS_RCODE_NOERROR, { "_acme-challenge.www.example.org. 60 "
		    "IN CNAME hop.example.org." }, NULL },
		{ "hop.example.org", LDNS_RR_TYPE_CNAME, LDNS_RCODE_NOERROR,
		    { "hop.example.org. 60 IN CNAME x.acme.example.net." },
		    NULL },
		{ "x.acme.example.net", LDNS_RR_TYPE_SOA, LDNS_RCODE_NXDOMAIN,
		    { NULL }, SOA_NET },
	};
	struct dns_target target;

	CHECK_INT(find(replies, 3, "www.example.org", &target), 0);
	CHECK_STR(target.record, "x.acme.example.net");
	CHECK_STR(target.zone, "acme.example.net");
	CHECK_INT(target.cname_hops, 2);
}

static void
test_cname_loop_rejected(void)
{
	static const struct canned replies[] = {
		{ "_acme-challenge.www.example.org", LDNS_RR_TYPE_CNAME,
		    LDNS_RCODE_NOERROR, { "_acme-challenge.www.example.org. 60 "
		    "IN CNAME a.example.org." }, NULL },
		{ "a.example.org", LDNS_RR_TYPE_CNAME, LDNS_RCODE_NOERROR,
		    { "a.example.org. 60 IN CNAME "
		    "_acme-challenge.www.example.org." }, NULL },
	};
	struct dns_target target;

	CHECK_INT(find(replies, 2, "www.example.org", &target), -1);
	CHECK_STR(err, "the CNAME records from _acme-challenge.www.example.org"
	    " loop back to _acme-challenge.www.example.org (fix the CNAME "
	    "chain)");
}

/* Each name n<i> points to n<i+1>, so the chain never ends. */
static void
test_cname_chain_too_long(void)
{
	struct canned replies[DNS_CNAME_MAX_HOPS + 2];
	char names[DNS_CNAME_MAX_HOPS + 2][64];
	char records[DNS_CNAME_MAX_HOPS + 2][160];
	struct dns_target target;

	for (int i = 0; i < DNS_CNAME_MAX_HOPS + 2; i++) {
		if (i == 0)
			snprintf(names[i], sizeof(names[i]),
			    "_acme-challenge.www.example.org");
		else
			snprintf(names[i], sizeof(names[i]),
			    "n%d.example.org", i);
		snprintf(records[i], sizeof(records[i]), "%.63s. 60 IN CNAME "
		    "n%d.example.org.", names[i], i + 1);
		replies[i] = (struct canned){ names[i], LDNS_RR_TYPE_CNAME,
		    LDNS_RCODE_NOERROR, { records[i] }, NULL };
	}
	CHECK_INT(find(replies, DNS_CNAME_MAX_HOPS + 2, "www.example.org",
	    &target), -1);
	CHECK_STR(err, "more than 8 CNAME records follow "
	    "_acme-challenge.www.example.org (shorten the CNAME chain)");
}

static void
test_servfail_is_an_error(void)
{
	static const struct canned replies[] = {
		{ "_acme-challenge.www.example.org", LDNS_RR_TYPE_CNAME,
		    LDNS_RCODE_SERVFAIL, { NULL }, NULL },
	};
	struct dns_target target;

	CHECK_INT(find(replies, 1, "www.example.org", &target), -1);
	CHECK_STR(err, "DNS lookup of _acme-challenge.www.example.org CNAME "
	    "failed with SERVFAIL (check challenge dns-resolver and the "
	    "zone's name servers)");
}

static void
test_soa_of_unrelated_zone_ignored(void)
{
	static const struct canned replies[] = {
		{ "_acme-challenge.www.example.org", LDNS_RR_TYPE_SOA,
		    LDNS_RCODE_NXDOMAIN, { NULL }, SOA_NET },
		{ "www.example.org", LDNS_RR_TYPE_SOA, LDNS_RCODE_NXDOMAIN,
		    { NULL }, SOA_ORG },
	};
	struct dns_target target;

	CHECK_INT(find(replies, 2, "www.example.org", &target), 0);
	CHECK_STR(target.zone, "example.org");
}

static void
test_name_too_long(void)
{
	char name[260];
	struct dns_target target;

	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	for (size_t i = 60; i < sizeof(name) - 1; i += 61)
		name[i] = '.';
	CHECK_INT(find(NULL, 0, name, &target), -1);
	CHECK(strstr(err, "longer than 253 bytes") != NULL);
}

static void
test_tsig_parse_forms(void)
{
	char out[128];

	CHECK_INT(dns_tsig_parse("c2VjcmV0Cg==\n", out, sizeof(out)), 0);
	CHECK_STR(out, "c2VjcmV0Cg==");
	CHECK_INT(dns_tsig_parse("key \"k\" {\n\talgorithm hmac-sha256;\n"
	    "\tsecret \"AbC+/9==\";\n};\n", out, sizeof(out)), 0);
	CHECK_STR(out, "AbC+/9==");
	CHECK_INT(dns_tsig_parse("two words\n", out, sizeof(out)), -1);
	CHECK_INT(dns_tsig_parse("", out, sizeof(out)), -1);
	CHECK_INT(dns_tsig_parse("secret \"open", out, sizeof(out)), -1);
	CHECK_INT(dns_tsig_parse("not*base64", out, sizeof(out)), -1);
	CHECK_INT(dns_tsig_parse("QUJD", out, 4), -1);
}

static void
test_hook_command(void)
{
	struct config_dns_zone zone = { .name = "example.org",
	    .hook = "/usr/local/bin/dns-hook", .ttl = 120 };
	struct dns_hook_request req = { "add", "www.example.org",
	    "_acme-challenge.www.example.org", "61rBZ_4knHb", "lab" };
	struct dns_hook_command cmd;

	CHECK_INT(dns_hook_build(&zone, &req, &cmd, err, sizeof(err)), 0);
	CHECK_STR(cmd.argv[0], "/usr/local/bin/dns-hook");
	CHECK_STR(cmd.argv[1], "add");
	CHECK_STR(cmd.argv[2], "www.example.org");
	CHECK_STR(cmd.argv[3], "_acme-challenge.www.example.org");
	CHECK_STR(cmd.argv[4], "61rBZ_4knHb");
	CHECK_STR(cmd.argv[5], "lab");
	CHECK(cmd.argv[6] == NULL);
	CHECK_STR(cmd.envp[0], "CUSTOS_DNS_ACTION=add");
	CHECK_STR(cmd.envp[3], "CUSTOS_DNS_VALUE=61rBZ_4knHb");
	CHECK_STR(cmd.envp[4], "CUSTOS_TENANT=lab");
	CHECK_STR(cmd.envp[5], "CUSTOS_DNS_ZONE=example.org");
	CHECK_STR(cmd.envp[6], "CUSTOS_DNS_TTL=120");
	CHECK_STR(cmd.envp[7], "PATH=/usr/local/bin:/usr/bin:/bin");
	CHECK(cmd.envp[8] == NULL);
}

static void
test_hook_command_rejects_control_bytes(void)
{
	struct config_dns_zone zone = { .name = "example.org",
	    .hook = "/bin/true", .ttl = 60 };
	struct dns_hook_request req = { "remove", "www.example.org",
	    "_acme-challenge.www.example.org", "value", "bad\ntenant" };
	struct dns_hook_command cmd;

	CHECK_INT(dns_hook_build(&zone, &req, &cmd, err, sizeof(err)), -1);
	req.tenant = NULL;
	CHECK_INT(dns_hook_build(&zone, &req, &cmd, err, sizeof(err)), 0);
	CHECK_STR(cmd.argv[5], "");
}

static void
test_journal_lines(void)
{
	char good[] = "add example.org _acme-challenge.www.example.org Ab-_9";
	char bad_action[] = "put example.org x.example.org Ab";
	char bad_value[] = "add example.org x.example.org Ab=";
	char extra[] = "add example.org x.example.org Ab more";
	char upper[] = "remove Example.org x.example.org Ab";
	char *action, *zone, *record, *value;

	CHECK_INT(dns_journal_parse_line(good, &action, &zone, &record,
	    &value), 0);
	CHECK_STR(action, "add");
	CHECK_STR(zone, "example.org");
	CHECK_STR(record, "_acme-challenge.www.example.org");
	CHECK_STR(value, "Ab-_9");
	CHECK_INT(dns_journal_parse_line(bad_action, &action, &zone, &record,
	    &value), -1);
	CHECK_INT(dns_journal_parse_line(bad_value, &action, &zone, &record,
	    &value), -1);
	CHECK_INT(dns_journal_parse_line(extra, &action, &zone, &record,
	    &value), -1);
	CHECK_INT(dns_journal_parse_line(upper, &action, &zone, &record,
	    &value), -1);
}

static void
test_txt_value(void)
{
	char value[CHALLENGE_DNS_VALUE_LEN + 1];

	CHECK_INT(challenge_dns_value("token.thumbprint", value), 0);
	CHECK_STR(value, "61rBZ_4knHblO0MNoxFsXZ_eTFUHum0B6IVRbhvUn5I");
}

int
main(void)
{
	RUN(test_zone_from_negative_answer);
	RUN(test_zone_from_soa_answer);
	RUN(test_zone_walks_up_without_authority);
	RUN(test_cname_one_hop);
	RUN(test_cname_two_hops);
	RUN(test_cname_loop_rejected);
	RUN(test_cname_chain_too_long);
	RUN(test_servfail_is_an_error);
	RUN(test_soa_of_unrelated_zone_ignored);
	RUN(test_name_too_long);
	RUN(test_tsig_parse_forms);
	RUN(test_hook_command);
	RUN(test_hook_command_rejects_control_bytes);
	RUN(test_journal_lines);
	RUN(test_txt_value);
	return check_done();
}
