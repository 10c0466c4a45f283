/*
 * Decisions of the policy library for one policy text: exact names,
 * wildcard permissions, subtrees, deny over allow, IP addresses and
 * ranges, and identifiers that are not in canonical form.
 */
#include <stdlib.h>
#include <string.h>

#include "logging/log.h"
#include "policy/policy.h"
#include "tests/unit/check.h"

/* One rule per line, so that a line number names the deciding rule. */
static const char policy_text[] =
	"tenant web {\n"				/* 1 */
	"	allow www.example.com\n"		/* 2 */
	"	allow .example.com\n"			/* 3 */
	"	allow *.example.com\n"			/* 4 */
	"	allow xn--bcher-kva.example\n"	/* 5 */
	"	allow .shop.example.net\n"		/* 6 */
	"	allow api.example.org\n"		/* 7 */
	"	allow *.dev.example.org\n"		/* 8 */
	"	allow 192.0.2.0/24\n"			/* 9 */
	"	allow 198.51.100.7\n"			/* 10 */
	"	allow 2001:db8::/32\n"			/* 11 */
	"	allow 2001:db8:ffff::1\n"		/* 12 */
	"	deny secret.example.com\n"		/* 13 */
	"	deny .internal.example.com\n"		/* 14 */
	"	deny 192.0.2.128/25\n"			/* 15 */
	"	deny 2001:db8:dead::/48\n"		/* 16 */
	"	deny *.shop.example.net\n"		/* 17 */
	"	deny Admin.Example.COM.\n"		/* 18 */
	"	issuers pebble\n"			/* 19 */
	"}\n"						/* 20 */
	"tenant all {\n"				/* 21 */
	"	allow 0.0.0.0/0\n"			/* 22 */
	"	allow ::/0\n"				/* 23 */
	"	allow .test\n"				/* 24 */
	"	issuers pebble\n"			/* 25 */
	"}\n"						/* 26 */
	"tenant hosts {\n"				/* 27 */
	"	allow 203.0.113.9/32\n"			/* 28 */
	"	allow 2001:db8::1/128\n"		/* 29 */
	"	allow *.xn--bcher-kva.example\n"	/* 30 */
	"	allow a.b.c.d.e.f.example\n"		/* 31 */
	"	issuers pebble\n"			/* 32 */
	"}\n"						/* 33 */
	"tenant empty {\n"				/* 34 */
	"}\n";						/* 35 */

#define DNS POLICY_ID_DNS
#define IP POLICY_ID_IP

struct match_case {
	const char *tenant;
	enum policy_identifier_type type;
	const char *value;
	int allowed;
	int line;		/* the deciding rule's line; 0 for none */
};

static const struct match_case cases[] = {
	/* Exact names, subtrees and the apex. */
	{ "web", DNS, "www.example.com", 1, 2 },
	{ "web", DNS, "example.com", 0, 0 },
	{ "web", DNS, "mail.example.com", 1, 3 },
	{ "web", DNS, "ww.example.com", 1, 3 },
	{ "web", DNS, "a.b.c.example.com", 1, 3 },
	{ "web", DNS, "wwwexample.com", 0, 0 },
	{ "web", DNS, "badexample.com", 0, 0 },
	{ "web", DNS, "example.com.evil.example", 0, 0 },
	{ "web", DNS, "www.example.co", 0, 0 },
	{ "web", DNS, "xn--bcher-kva.example.com", 1, 3 },
	/* Wildcard names: a deny of a name covers the wildcard above it. */
	{ "web", DNS, "*.example.com", 0, 13 },
	{ "web", DNS, "*.a.example.com", 1, 3 },
	{ "web", DNS, "*.secret.example.com", 1, 3 },
	{ "web", DNS, "secret.example.com", 0, 13 },
	{ "web", DNS, "x.secret.example.com", 1, 3 },
	/* A denied subtree, its apex and its wildcard. */
	{ "web", DNS, "internal.example.com", 1, 3 },
	{ "web", DNS, "db.internal.example.com", 0, 14 },
	{ "web", DNS, "a.b.internal.example.com", 0, 14 },
	{ "web", DNS, "*.internal.example.com", 0, 14 },
	{ "web", DNS, "*.a.internal.example.com", 0, 14 },
	/* A deny written in upper case with a trailing dot. */
	{ "web", DNS, "admin.example.com", 0, 18 },
	{ "web", DNS, "x.admin.example.com", 1, 3 },
	/* Internationalised names match by their A-labels. */
	{ "web", DNS, "xn--bcher-kva.example", 1, 5 },
	{ "web", DNS, "www.xn--bcher-kva.example", 0, 0 },
	{ "web", DNS, "*.xn--bcher-kva.example", 0, 0 },
	/* A denied wildcard inside an allowed subtree. */
	{ "web", DNS, "shop.example.net", 0, 0 },
	{ "web", DNS, "a.shop.example.net", 1, 6 },
	{ "web", DNS, "*.shop.example.net", 0, 17 },
	{ "web", DNS, "*.x.shop.example.net", 1, 6 },
	/* A wildcard permission allows only the wildcard name. */
	{ "web", DNS, "api.example.org", 1, 7 },
	{ "web", DNS, "*.api.example.org", 0, 0 },
	{ "web", DNS, "x.api.example.org", 0, 0 },
	{ "web", DNS, "*.dev.example.org", 1, 8 },
	{ "web", DNS, "x.dev.example.org", 0, 0 },
	{ "web", DNS, "dev.example.org", 0, 0 },
	{ "web", DNS, "*.x.dev.example.org", 0, 0 },
	/* Names not in canonical form are denied, not converted. */
	{ "web", DNS, "WWW.example.com", 0, 0 },
	{ "web", DNS, "www.example.com.", 0, 0 },
	{ "web", DNS, "b\xc3\xbc" "cher.example", 0, 0 },
	{ "web", DNS, "*.*.example.com", 0, 0 },
	{ "web", DNS, "www.*.example.com", 0, 0 },
	{ "web", DNS, "w*w.example.com", 0, 0 },
	{ "web", DNS, "*", 0, 0 },
	{ "web", DNS, "", 0, 0 },
	{ "web", DNS, "-a.example.com", 0, 0 },
	{ "web", DNS, "a-.example.com", 0, 0 },
	{ "web", DNS, "a_b.example.com", 0, 0 },
	{ "web", DNS, "a..example.com", 0, 0 },
	{ "web", DNS, ".example.com", 0, 0 },
	{ "web", DNS, "ab--c.example.com", 0, 0 },
	{ "web", DNS, "192.0.2.1", 0, 0 },
	/* IPv4 addresses and ranges, with a denied half. */
	{ "web", IP, "192.0.2.0", 1, 9 },
	{ "web", IP, "192.0.2.1", 1, 9 },
	{ "web", IP, "192.0.2.127", 1, 9 },
	{ "web", IP, "192.0.2.128", 0, 15 },
	{ "web", IP, "192.0.2.255", 0, 15 },
	{ "web", IP, "192.0.3.0", 0, 0 },
	{ "web", IP, "192.0.1.255", 0, 0 },
	{ "web", IP, "198.51.100.7", 1, 10 },
	{ "web", IP, "198.51.100.8", 0, 0 },
	{ "web", IP, "010.1.1.1", 0, 0 },
	{ "web", IP, "192.0.2.1/32", 0, 0 },
	{ "web", IP, "www.example.com", 0, 0 },
	/* IPv6 addresses and ranges. */
	{ "web", IP, "2001:db8::1", 1, 11 },
	{ "web", IP, "2001:db8:ffff::1", 1, 11 },
	{ "web", IP, "2001:db8:dead::1", 0, 16 },
	{ "web", IP, "2001:db8:dead:ffff::1", 0, 16 },
	{ "web", IP, "2001:db8:deae::1", 1, 11 },
	{ "web", IP, "2001:db9::1", 0, 0 },
	{ "web", IP, "2001:db8:0:0:0:0:0:1", 0, 0 },
	{ "web", IP, "2001:DB8::1", 0, 0 },
	{ "web", IP, "::ffff:192.0.2.1", 0, 0 },
	{ "web", IP, "[2001:db8::1]", 0, 0 },
	/* /0 ranges and a subtree of a one-label domain. */
	{ "all", IP, "0.0.0.0", 1, 22 },
	{ "all", IP, "255.255.255.255", 1, 22 },
	{ "all", IP, "::", 1, 23 },
	{ "all", IP, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1, 23 },
	{ "all", DNS, "anything.test", 1, 24 },
	{ "all", DNS, "*.test", 1, 24 },
	{ "all", DNS, "test", 0, 0 },
	{ "all", DNS, "www.example.com", 0, 0 },
	{ "all", DNS, "xn--bcher-kva.example", 0, 0 },
	/* /32 and /128 ranges, a Unicode wildcard and a deep name. */
	{ "hosts", IP, "203.0.113.9", 1, 28 },
	{ "hosts", IP, "203.0.113.8", 0, 0 },
	{ "hosts", IP, "203.0.113.10", 0, 0 },
	{ "hosts", IP, "2001:db8::1", 1, 29 },
	{ "hosts", IP, "2001:db8::2", 0, 0 },
	{ "hosts", IP, "2001:db8::", 0, 0 },
	{ "hosts", DNS, "*.xn--bcher-kva.example", 1, 30 },
	{ "hosts", DNS, "x.xn--bcher-kva.example", 0, 0 },
	{ "hosts", DNS, "a.b.c.d.e.f.example", 1, 31 },
	{ "hosts", DNS, "b.c.d.e.f.example", 0, 0 },
	{ "hosts", DNS, "x.a.b.c.d.e.f.example", 0, 0 },
	/* A tenant with no rules, and no tenant at all. */
	{ "empty", DNS, "www.example.com", 0, 0 },
	{ "empty", IP, "192.0.2.1", 0, 0 },
	{ "missing", DNS, "www.example.com", 0, 0 },
};

static struct policy *
load_policy(void)
{
	struct policy *policy = NULL;
	char err[CONFIG_ERR_MAX] = "";

	if (policy_load_string("match.policy", policy_text,
	    policy_name_normalize, &policy, err, sizeof(err)) != 0)
		printf("# load failed: %s\n", err);
	return policy;
}

static void
test_match_table(void)
{
	struct policy *policy = load_policy();
	const struct policy_tenant *tenant;
	struct policy_identifier id;
	struct policy_decision d;
	size_t i;

	CHECK(policy != NULL);
	if (policy == NULL)
		return;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tenant = policy_find_tenant(policy, cases[i].tenant);
		id.type = cases[i].type;
		id.value = cases[i].value;
		policy_evaluate_identifier(tenant, &id, &d);
		if (d.allowed != cases[i].allowed ||
		    d.origin.line != cases[i].line)
			printf("# case %zu: %s %s: %s\n", i, cases[i].tenant,
			    cases[i].value, d.reason);
		CHECK_INT(d.allowed, cases[i].allowed);
		CHECK_INT(d.origin.line, cases[i].line);
		CHECK((d.rule != NULL) == (cases[i].line != 0));
	}
	CHECK(sizeof(cases) / sizeof(cases[0]) >= 80);
	policy_free(policy);
}

/* Builds "LABEL.LABEL....example.com" of exactly len characters. */
static void
build_name(char *out, size_t len, size_t label_len)
{
	const char *suffix = "example.com";
	size_t pos = 0, body = len - strlen(suffix), n;

	while (pos < body) {
		n = body - pos - 1;
		if (n > label_len)
			n = label_len;
		if (body - pos - n - 1 == 1)
			n--;
		memset(out + pos, 'a', n);
		pos += n;
		out[pos++] = '.';
	}
	strcpy(out + pos, suffix);
}

static void
evaluate(const struct policy *policy, const char *value,
    struct policy_decision *d)
{
	struct policy_identifier id = { POLICY_ID_DNS, value };

	policy_evaluate_identifier(policy_find_tenant(policy, "web"), &id, d);
}

static void
test_match_length_limits(void)
{
	struct policy *policy = load_policy();
	struct policy_decision d;
	char name[400];

	CHECK(policy != NULL);
	if (policy == NULL)
		return;

	memset(name, 'a', 63);
	strcpy(name + 63, ".example.com");
	evaluate(policy, name, &d);
	CHECK_INT(d.allowed, 1);
	CHECK_INT(d.origin.line, 3);

	memset(name, 'a', 64);
	strcpy(name + 64, ".example.com");
	evaluate(policy, name, &d);
	CHECK_INT(d.allowed, 0);
	CHECK_STR(d.reason, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaa...: denied, invalid name \""
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaa...\": label \"aaaaaaaaaaaaaaaa...\" is "
	    "64 characters long, over the maximum of 63");

	build_name(name, 253, 63);
	CHECK_INT(strlen(name), 253);
	evaluate(policy, name, &d);
	CHECK_INT(d.allowed, 1);
	CHECK_INT(d.origin.line, 3);

	build_name(name, 254, 63);
	CHECK_INT(strlen(name), 254);
	evaluate(policy, name, &d);
	CHECK_INT(d.allowed, 0);
	CHECK_INT(d.origin.line, 0);
	CHECK(strstr(d.reason, "254 characters long, over the maximum of "
	    "253") != NULL);
	policy_free(policy);
}

static void
test_match_reasons(void)
{
	struct policy *policy = load_policy();
	struct policy_decision d;

	CHECK(policy != NULL);
	if (policy == NULL)
		return;
	evaluate(policy, "mail.example.com", &d);
	CHECK_STR(d.reason, "mail.example.com: allowed by allow .example.com "
	    "at match.policy:3:8");
	evaluate(policy, "db.internal.example.com", &d);
	CHECK_STR(d.reason, "db.internal.example.com: denied by deny "
	    ".internal.example.com at match.policy:14:7");
	evaluate(policy, "*.example.com", &d);
	CHECK_STR(d.reason, "*.example.com: denied by deny "
	    "secret.example.com at match.policy:13:7, a name that the "
	    "wildcard covers");
	evaluate(policy, "example.com", &d);
	CHECK_STR(d.reason, "example.com: denied, no rule allows it");
	evaluate(policy, "WWW.example.com", &d);
	CHECK_STR(d.reason, "WWW.example.com: denied, invalid name "
	    "\"WWW.example.com\": upper-case letter 'W'; canonical names "
	    "are lower case");
	evaluate(policy, "www.example.com.", &d);
	CHECK_STR(d.reason, "www.example.com.: denied, invalid name "
	    "\"www.example.com.\": trailing dot; canonical names have none");
	policy_free(policy);
}

static int hook_calls;
static char hook_last[POLICY_REASON_MAX];

static void
count_decision(const struct policy_tenant *tenant, const char *subject,
    const struct policy_decision *decision, void *arg)
{
	(void)tenant;
	(void)subject;
	*(int *)arg += 1;
	hook_calls++;
	snprintf(hook_last, sizeof(hook_last), "%s", decision->reason);
}

static void
test_match_conjunction(void)
{
	struct policy *policy = load_policy();
	const struct policy_tenant *web;
	struct policy_identifier ids[3] = {
		{ POLICY_ID_DNS, "www.example.com" },
		{ POLICY_ID_IP, "192.0.2.10" },
		{ POLICY_ID_DNS, "secret.example.com" },
	};
	struct policy_decision each[3], result;
	int recorded = 0;

	CHECK(policy != NULL);
	if (policy == NULL)
		return;
	web = policy_find_tenant(policy, "web");
	policy_set_decision_hook(count_decision, &recorded);

	CHECK_INT(policy_check_identifiers(web, ids, 2, each, &result), 1);
	CHECK_INT(result.allowed, 1);
	CHECK_STR(result.reason, "2 identifiers: all allowed");
	CHECK_INT(each[0].origin.line, 2);
	CHECK_INT(each[1].origin.line, 9);
	CHECK_INT(recorded, 2);

	CHECK_INT(policy_check_identifiers(web, ids, 3, each, &result), 0);
	CHECK_INT(result.allowed, 0);
	CHECK_INT(result.origin.line, 13);
	CHECK_INT(each[0].allowed, 1);
	CHECK_INT(each[1].allowed, 1);
	CHECK_INT(each[2].allowed, 0);
	CHECK_INT(recorded, 5);
	CHECK_STR(hook_last, "secret.example.com: denied by deny "
	    "secret.example.com at match.policy:13:7");

	CHECK_INT(policy_check_identifiers(web, ids, 0, NULL, &result), 0);
	CHECK_STR(result.reason, "(none): denied, the request names no "
	    "identifier");
	CHECK_INT(policy_check_identifiers(NULL, ids, 1, NULL, &result), 0);
	CHECK_STR(result.reason, "www.example.com: denied, no tenant");
	CHECK_INT(recorded, 7);

	policy_set_decision_hook(NULL, NULL);
	policy_free(policy);
}

int
main(void)
{
	log_init("test_policy_match", LOG_LEVEL_ERROR);
	RUN(test_match_table);
	RUN(test_match_length_limits);
	RUN(test_match_reasons);
	RUN(test_match_conjunction);
	return check_done();
}
