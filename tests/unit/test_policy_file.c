/*
 * The policy file reader: every error message in full, the warnings for
 * rules that never decide, and the tenant lookups and checks of a good
 * file (tests/data/policy/example.policy, read from the source tree).
 */
#include <stdlib.h>
#include <string.h>

#include "logging/log.h"
#include "policy/policy.h"
#include "tests/unit/check.h"

#define HASH_A "sha256:cf1567dd9a1bf47c5e326ea24c877df96e3ed024ed4a783d5a7" \
	"74bb450ab428d"
#define HASH_B "sha256:30c354702371f0fa19ce986fbda1b02bb394b992c452947862d" \
	"b3aeca0a66695"

struct bad_case {
	const char *text;
	const char *error;
};

static const struct bad_case bad_cases[] = {
	{ "web {\n}\n",
	  "bad.policy:1:1: unknown key \"web\"; a policy file contains only "
	  "tenant NAME { ... } blocks" },
	{ "tenant web\n",
	  "bad.policy:1:1: tenant web needs a block: tenant web { ... }" },
	{ "tenant web api {\n}\n",
	  "bad.policy:1:1: tenant takes one name, as in tenant web { ... }" },
	{ "tenant {\n}\n",
	  "bad.policy:1:1: tenant takes one name, as in tenant web { ... }" },
	{ "tenant -web {\n}\n",
	  "bad.policy:1:8: invalid tenant name \"-web\"; use 1 to 64 letters, "
	  "digits, '-' and '_', starting with a letter or digit" },
	{ "tenant web {\n}\ntenant web {\n}\n",
	  "bad.policy:3:8: duplicate tenant \"web\"; the first is at line 1" },
	{ "tenant web {\n\tfoo bar\n}\n",
	  "bad.policy:2:2: unknown key \"foo\" in tenant web; use users, "
	  "groups, token, node, allow, deny, issuers, accounts, challenges, "
	  "key-types, key-export, max-names, max-lifetime, max-certificates "
	  "or rate" },
	{ "tenant web {\n\tallow\n}\n",
	  "bad.policy:2:2: allow needs a value" },
	{ "tenant web {\n\tallow x {\n\t}\n}\n",
	  "bad.policy:2:2: allow takes no block; remove the braces" },
	{ "tenant web {\n\tallow a..b\n}\n",
	  "bad.policy:2:8: invalid name \"a..b\": empty label; remove the "
	  "extra dot" },
	{ "tenant web {\n\tallow www.example.com a_b.example\n}\n",
	  "bad.policy:2:24: invalid name \"a_b.example\": character '_' is "
	  "not a letter, digit or hyphen" },
	{ "tenant web {\n\tdeny *.*.example.com\n}\n",
	  "bad.policy:2:7: invalid name \"*.*.example.com\": '*' is allowed "
	  "only as the whole leftmost label, as in *.example.com" },
	{ "tenant web {\n\tallow xn--zz.example\n}\n",
	  "bad.policy:2:8: invalid name \"xn--zz.example\": label \"xn--zz\" "
	  "is not a valid A-label: string contains invalid punycode data" },
	{ "tenant web {\n\tallow .\n}\n",
	  "bad.policy:2:8: invalid subtree \".\"; write a domain after the "
	  "dot, as in .example.com" },
	{ "tenant web {\n\tallow ..example.com\n}\n",
	  "bad.policy:2:8: invalid subtree \"..example.com\"; write a domain "
	  "after the dot, as in .example.com" },
	{ "tenant web {\n\tallow .*.example.com\n}\n",
	  "bad.policy:2:8: invalid subtree \".*.example.com\"; a subtree "
	  "already covers wildcard names, write .example.com" },
	{ "tenant web {\n\tallow 192.0.2.1/24\n}\n",
	  "bad.policy:2:8: \"192.0.2.1/24\" has host bits set; write "
	  "192.0.2.0/24" },
	{ "tenant web {\n\tallow 2001:db8::1/32\n}\n",
	  "bad.policy:2:8: \"2001:db8::1/32\" has host bits set; write "
	  "2001:db8::/32" },
	{ "tenant web {\n\tallow 10.0.0.1/0\n}\n",
	  "bad.policy:2:8: \"10.0.0.1/0\" has host bits set; write "
	  "0.0.0.0/0" },
	{ "tenant web {\n\tallow 192.0.2.0/33\n}\n",
	  "bad.policy:2:8: invalid prefix length \"33\" in \"192.0.2.0/33\"; "
	  "write a number from 0 to 32" },
	{ "tenant web {\n\tallow 2001:db8::/129\n}\n",
	  "bad.policy:2:8: invalid prefix length \"129\" in "
	  "\"2001:db8::/129\"; write a number from 0 to 128" },
	{ "tenant web {\n\tallow 192.0.2.0/024\n}\n",
	  "bad.policy:2:8: invalid prefix length \"024\" in "
	  "\"192.0.2.0/024\"; write a number from 0 to 32" },
	{ "tenant web {\n\tallow 192.0.2.0/\n}\n",
	  "bad.policy:2:8: invalid prefix length \"\" in \"192.0.2.0/\"; "
	  "write a number from 0 to 32" },
	{ "tenant web {\n\tallow 010.0.0.0/8\n}\n",
	  "bad.policy:2:8: invalid IP address \"010.0.0.0\": octet with a "
	  "leading zero is ambiguous (some parsers read it as octal); remove "
	  "the leading zeros" },
	{ "tenant web {\n\tallow ::ffff:192.0.2.1\n}\n",
	  "bad.policy:2:8: invalid IP address \"::ffff:192.0.2.1\": "
	  "IPv4-mapped IPv6 address; write the IPv4 address 192.0.2.1" },
	{ "tenant web {\n\tallow 1.2.3\n}\n",
	  "bad.policy:2:8: invalid IP address \"1.2.3\": not an IPv4 address "
	  "in dotted-decimal form such as 192.0.2.1" },
	{ "tenant web {\n\tchallenges http-01 http-02\n}\n",
	  "bad.policy:2:21: unknown challenge type \"http-02\"; use http-01, "
	  "dns-01 or tls-alpn-01" },
	{ "tenant web {\n\tkey-types ec-p521\n}\n",
	  "bad.policy:2:12: unknown key type \"ec-p521\"; use ec-p256, "
	  "ec-p384, rsa-2048, rsa-3072 or rsa-4096" },
	{ "tenant web {\n\tmax-names 0\n}\n",
	  "bad.policy:2:12: invalid max-names \"0\"; write a whole number "
	  "from 1 to 1000000000" },
	{ "tenant web {\n\tmax-names -1\n}\n",
	  "bad.policy:2:12: invalid max-names \"-1\"; write a whole number "
	  "from 1 to 1000000000" },
	{ "tenant web {\n\tmax-certificates 10000000000\n}\n",
	  "bad.policy:2:19: invalid max-certificates \"10000000000\"; write a "
	  "whole number from 1 to 1000000000" },
	{ "tenant web {\n\tmax-names 10\n\tmax-names 20\n}\n",
	  "bad.policy:3:2: duplicate max-names; the first is at line 2" },
	{ "tenant web {\n\tmax-names 10 20\n}\n",
	  "bad.policy:2:15: too many values for max-names" },
	{ "tenant web {\n\tmax-lifetime 90\n}\n",
	  "bad.policy:2:15: invalid max-lifetime \"90\"; write a whole number "
	  "and a unit s, m, h or d, as in 90d, at most 1000000000 seconds" },
	{ "tenant web {\n\tmax-lifetime 20000d\n}\n",
	  "bad.policy:2:15: invalid max-lifetime \"20000d\"; write a whole "
	  "number and a unit s, m, h or d, as in 90d, at most 1000000000 "
	  "seconds" },
	{ "tenant web {\n\trate 20/minute\n}\n",
	  "bad.policy:2:7: invalid rate \"20/minute\"; write COUNT/hour or "
	  "COUNT/day with COUNT from 1 to 1000000000, as in 20/hour" },
	{ "tenant web {\n\trate 20/hour 30/hour\n}\n",
	  "bad.policy:2:15: duplicate rate \"30/hour\"; give one rate per "
	  "hour and one per day" },
	{ "tenant web {\n\trate 1/hour 2/day 3/day\n}\n",
	  "bad.policy:2:20: too many values for rate" },
	{ "tenant web {\n\ttoken ci\n}\n",
	  "bad.policy:2:2: token takes an id and a hash, as in: token ci "
	  "sha256:<64 hex digits>" },
	{ "tenant web {\n\ttoken ci s3cret-ci-token\n}\n",
	  "bad.policy:2:11: invalid token hash; write sha256: and the 64 hex "
	  "digits of the token's SHA-256 (printf %s TOKEN | sha256sum)" },
	{ "tenant web {\n\ttoken ci sha256:cf15\n}\n",
	  "bad.policy:2:11: invalid token hash; write sha256: and the 64 hex "
	  "digits of the token's SHA-256 (printf %s TOKEN | sha256sum)" },
	{ "tenant web {\n\ttoken \"c i\" " HASH_A "\n}\n",
	  "bad.policy:2:8: invalid token id \"c i\"; use 1 to 64 letters, "
	  "digits, '-' and '_'" },
	{ "tenant web {\n\ttoken ci " HASH_A "\n\ttoken ci " HASH_B "\n}\n",
	  "bad.policy:3:8: duplicate token id \"ci\"; the first is at line 2" },
	{ "tenant a {\n\ttoken ci " HASH_A "\n}\ntenant b {\n\ttoken deploy "
	  HASH_A "\n}\n",
	  "bad.policy:5:15: the same hash as token ci of tenant a; give each "
	  "token its own secret" },
	{ "tenant web {\n\tnode edge1\n}\n",
	  "bad.policy:2:2: node takes a name and a block, as in: node edge1 "
	  "{ token sha256:<hex>; certificates 1; }" },
	{ "tenant web {\n\tnode\n}\n",
	  "bad.policy:2:2: node takes a name and a block, as in: node edge1 "
	  "{ token sha256:<hex>; certificates 1; }" },
	{ "tenant web {\n\tnode edge1 {\n\t\tcertificates 1\n\t}\n}\n",
	  "bad.policy:2:2: node edge1 has no token; add token sha256:<64 hex "
	  "digits>" },
	{ "tenant web {\n\tnode edge1 {\n\t\ttoken s3cret\n\t}\n}\n",
	  "bad.policy:3:3: invalid node token; write token sha256: and the 64 "
	  "hex digits of the token's SHA-256 (printf %s TOKEN | sha256sum)" },
	{ "tenant web {\n\tnode edge1 {\n\t\ttoken " HASH_A "\n\t\t"
	  "certificates WWW.example.com\n\t}\n}\n",
	  "bad.policy:4:16: invalid certificate \"WWW.example.com\"; write a "
	  "certificate id or a store label in lower case (see custos cert "
	  "list)" },
	{ "tenant web {\n\tnode edge1 {\n\t\ttoken " HASH_A "\n\t\t"
	  "pin 1234\n\t}\n}\n",
	  "bad.policy:4:3: unknown key \"pin\" in node edge1; use token, "
	  "certificates or recipient" },
	{ "tenant web {\n\tnode e {\n\t\ttoken " HASH_A "\n\t}\n\tnode e "
	  "{\n\t\ttoken " HASH_B "\n\t}\n}\n",
	  "bad.policy:5:7: duplicate node \"e\"; the first is at line 2" },
	{ "tenant a {\n\ttoken ci " HASH_A "\n}\ntenant b {\n\tnode e {\n"
	  "\t\ttoken " HASH_A "\n\t}\n}\n",
	  "bad.policy:6:9: the same hash as a token or node of tenant a; give "
	  "each node its own secret" },
	{ "tenant a {\n\tnode e {\n\t\ttoken " HASH_A "\n\t}\n}\ntenant b "
	  "{\n\ttoken ci " HASH_A "\n}\n",
	  "bad.policy:7:11: the same hash as a node of tenant a; give each "
	  "token its own secret" },
	{ "tenant web {\n\tusers no-such-user-custos\n}\n",
	  "bad.policy:2:8: unknown user \"no-such-user-custos\"; create the "
	  "user or remove it from users" },
	{ "tenant a {\n\tusers root\n}\ntenant b {\n\tusers 0\n}\n",
	  "bad.policy:5:8: user \"0\" (uid 0) is already in tenant a; a user "
	  "belongs to one tenant" },
	{ "tenant web {\n\tgroups no-such-group-custos\n}\n",
	  "bad.policy:2:9: unknown group \"no-such-group-custos\"; create the "
	  "group or remove it from groups" },
	{ "tenant a {\n\tgroups 4243\n}\ntenant b {\n\tgroups 4243\n}\n",
	  "bad.policy:5:9: group \"4243\" (gid 4243) is already in tenant a; "
	  "a group belongs to one tenant" },
};

static void
test_file_errors(void)
{
	struct policy *policy;
	char err[CONFIG_ERR_MAX];
	size_t i;
	int rc;

	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		err[0] = '\0';
		policy = NULL;
		rc = policy_load_string("bad.policy", bad_cases[i].text,
		    policy_name_normalize, &policy, err, sizeof(err));
		if (rc == 0)
			printf("# case %zu loaded\n", i);
		CHECK_INT(rc, -1);
		CHECK(policy == NULL);
		CHECK_STR(err, bad_cases[i].error);
		policy_free(policy);
	}
}

static void
test_file_errors_on_disk(void)
{
	struct policy *policy = NULL;
	char err[CONFIG_ERR_MAX];

	CHECK_INT(policy_load("tests/data/policy/bad-host-bits.policy",
	    policy_name_normalize, &policy, err, sizeof(err)), -1);
	CHECK_STR(err, "tests/data/policy/bad-host-bits.policy:2:8: "
	    "\"192.0.2.1/24\" has host bits set; write 192.0.2.0/24");
	CHECK_INT(policy_load("tests/data/policy/bad-duplicate-tenant.policy",
	    policy_name_normalize, &policy, err, sizeof(err)), -1);
	CHECK_STR(err, "tests/data/policy/bad-duplicate-tenant.policy:4:8: "
	    "duplicate tenant \"web\"; the first is at line 1");
	CHECK(policy == NULL);
}

static void
test_file_signer_normalizer(void)
{
	struct policy *policy = NULL;
	char err[CONFIG_ERR_MAX];

	/* Without libidn2 the reader asks for the A-label. */
	CHECK_INT(policy_load_string("signer.policy", "tenant web {\n"
	    "\tallow \"b\xc3\xbc" "cher.example\"\n}\n",
	    policy_name_normalize_ascii, &policy, err, sizeof(err)), -1);
	CHECK_STR(err, "signer.policy:2:8: invalid name \"b??cher.example\": "
	    "non-ASCII characters; write the name as its A-label (xn--...)");
	/* With libidn2 the broker rejects it too, naming the A-label. */
	CHECK_INT(policy_load_string("broker.policy", "tenant web {\n"
	    "\tallow \".b\xc3\xbc" "cher.example\"\n}\n",
	    policy_name_normalize, &policy, err, sizeof(err)), -1);
	CHECK_STR(err, "broker.policy:2:8: non-ASCII name \".b\xc3\xbc"
	    "cher.example\"; write its A-label .xn--bcher-kva.example, "
	    "because the signer reads policy files without IDNA");
	CHECK_INT(policy_load_string("signer.policy", "tenant web {\n"
	    "\tallow xn--bcher-kva.example\n\tissuers pebble\n}\n",
	    policy_name_normalize_ascii, &policy, err, sizeof(err)), 0);
	CHECK(policy != NULL);
	if (policy != NULL)
		CHECK_STR(policy->tenants[0].rules[0].text,
		    "xn--bcher-kva.example");
	policy_free(policy);
}

static void
test_file_warnings(void)
{
	static const char *const expected[] = {
		"tests/data/policy/warnings.policy:4:8: warning: allow "
		".a.example.com is redundant: allow .example.com at line 3 "
		"already allows every name in it",
		"tests/data/policy/warnings.policy:5:8: warning: allow "
		".example.com duplicates the one at line 3",
		"tests/data/policy/warnings.policy:6:8: warning: allow "
		"db.internal.example.com can never match: deny "
		".internal.example.com at line 8 denies every name it allows",
		"tests/data/policy/warnings.policy:7:8: warning: allow "
		"*.example.org can never match: deny secret.example.org at "
		"line 9 denies every name it allows",
		"tests/data/policy/warnings.policy:10:7: warning: deny "
		".example.net has no effect: no allow rule allows a name it "
		"denies",
		"tests/data/policy/warnings.policy:2:8: warning: tenant web "
		"has no issuers statement, so every order is denied",
	};
	struct policy *policy = NULL;
	char err[CONFIG_ERR_MAX] = "";
	size_t i, n = sizeof(expected) / sizeof(expected[0]);

	CHECK_INT(policy_load("tests/data/policy/warnings.policy",
	    policy_name_normalize, &policy, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	if (policy == NULL)
		return;
	CHECK_INT(policy->warning_count, n);
	for (i = 0; i < n && i < policy->warning_count; i++)
		CHECK_STR(policy->warnings[i], expected[i]);
	policy_free(policy);
}

static void
test_file_warnings_addresses(void)
{
	struct policy *policy = NULL;
	char err[CONFIG_ERR_MAX] = "";

	CHECK_INT(policy_load_string("w.policy", "tenant web {\n"
	    "\tallow 10.0.0.0/8 10.1.0.0/16 10.2.3.4 2001:db8::/32\n"
	    "\tdeny 2001:db8::/48 192.0.2.0/24\n"
	    "\tissuers pebble\n"
	    "}\n"
	    "tenant none {\n"
	    "\tissuers pebble\n"
	    "}\n", policy_name_normalize, &policy, err, sizeof(err)), 0);
	if (policy == NULL)
		return;
	CHECK_INT(policy->warning_count, 3);
	if (policy->warning_count == 3) {
		CHECK_STR(policy->warnings[0], "w.policy:2:19: warning: allow "
		    "10.1.0.0/16 is redundant: allow 10.0.0.0/8 at line 2 "
		    "already allows every name in it");
		CHECK_STR(policy->warnings[1], "w.policy:3:21: warning: deny "
		    "192.0.2.0/24 has no effect: no allow rule allows a name "
		    "it denies");
		CHECK_STR(policy->warnings[2], "w.policy:6:8: warning: tenant "
		    "none has no allow rule, so every name is denied");
	}
	policy_free(policy);
}

static struct policy *
load_example(void)
{
	struct policy *policy = NULL;
	char err[CONFIG_ERR_MAX] = "";

	if (policy_load("tests/data/policy/example.policy",
	    policy_name_normalize, &policy, err, sizeof(err)) != 0)
		printf("# %s\n", err);
	return policy;
}

/* Node tokens find their node and tenant; tenant tokens find none. */
static void
test_file_nodes(void)
{
	static const char text[] =
	    "tenant web {\n"
	    "\ttoken ci " HASH_B "\n"
	    "\tnode edge1 {\n"
	    "\t\ttoken " HASH_A "\n"
	    "\t\tcertificates 7 www.example.com\n"
	    "\t}\n"
	    "}\n";
	const struct policy_tenant *tenant;
	const struct policy_node *node;
	struct policy *policy = NULL;
	char err[CONFIG_ERR_MAX];

	CHECK_INT(policy_load_string("nodes.policy", text,
	    policy_name_normalize, &policy, err, sizeof(err)), 0);
	if (policy == NULL)
		return;
	CHECK_INT(policy_node_for_token(policy, "s3cret-ci-token", &tenant,
	    &node), 0);
	CHECK_STR(tenant ? tenant->name : "(null)", "web");
	CHECK_STR(node ? node->name : "(null)", "edge1");
	CHECK_INT(node ? (int)node->grant_count : -1, 2);
	CHECK_INT(node ? policy_node_grants(node, 7, "other.example") : -1,
	    1);
	CHECK_INT(node ? policy_node_grants(node, 8, "www.example.com") :
	    -1, 1);
	CHECK_INT(node ? policy_node_grants(node, 70, "example.com") : -1,
	    0);
	CHECK_INT(policy_node_for_token(policy, "deploy-token-2", &tenant,
	    &node), -1);
	CHECK(tenant == NULL);
	CHECK(node == NULL);
	CHECK_INT(policy_node_for_token(policy, "", &tenant, &node), -1);
	policy_free(policy);
}

static void
test_file_example_tenants(void)
{
	struct policy *policy = load_example();
	const struct policy_tenant *web, *tenant;
	const char *token_id;
	gid_t groups[2] = { 7, 4243 };
	char err[256];

	CHECK(policy != NULL);
	if (policy == NULL)
		return;
	CHECK_INT(policy->warning_count, 0);
	CHECK_INT(policy->tenant_count, 2);
	web = policy_find_tenant(policy, "web");
	CHECK(web != NULL);
	CHECK(policy_find_tenant(policy, "nobody") == NULL);

	CHECK_INT(policy_tenant_for_peer(policy, 0, 0, NULL, 0, &tenant, err,
	    sizeof(err)), 0);
	CHECK(tenant == web);
	CHECK_INT(policy_tenant_for_peer(policy, 4244, 0, NULL, 0, &tenant,
	    err, sizeof(err)), 0);
	CHECK_STR(tenant ? tenant->name : "(null)", "deploy");
	CHECK_INT(policy_tenant_for_peer(policy, 5000, 4243, NULL, 0,
	    &tenant, err, sizeof(err)), 0);
	CHECK(tenant == web);
	CHECK_INT(policy_tenant_for_peer(policy, 5000, 100, groups, 2,
	    &tenant, err, sizeof(err)), 0);
	CHECK(tenant == web);
	CHECK_INT(policy_tenant_for_peer(policy, 5000, 100, groups, 1,
	    &tenant, err, sizeof(err)), -1);
	CHECK(tenant == NULL);
	CHECK_STR(err, "uid 5000 belongs to no tenant; add the user or one of "
	    "its groups to a tenant in tests/data/policy/example.policy");

	CHECK_INT(policy_tenant_for_token(policy, "s3cret-ci-token", &tenant,
	    &token_id), 0);
	CHECK(tenant == web);
	CHECK_STR(token_id, "ci");
	CHECK_INT(policy_tenant_for_token(policy, "deploy-token-2", &tenant,
	    &token_id), 0);
	CHECK_STR(tenant ? tenant->name : "(null)", "deploy");
	CHECK_STR(token_id, "deploy");
	CHECK_INT(policy_tenant_for_token(policy, "s3cret-ci-tokeN", &tenant,
	    &token_id), -1);
	CHECK(tenant == NULL);
	CHECK(token_id == NULL);
	CHECK_INT(policy_tenant_for_token(policy, "", &tenant, &token_id), -1);
	policy_free(policy);
}

static void
test_file_group_ambiguous(void)
{
	struct policy *policy = NULL;
	const struct policy_tenant *tenant;
	gid_t groups[1] = { 4301 };
	char err[256];

	CHECK_INT(policy_load_string("g.policy", "tenant a {\n\tgroups 4300\n"
	    "}\ntenant b {\n\tgroups 4301\n}\n", policy_name_normalize,
	    &policy, err, sizeof(err)), 0);
	if (policy == NULL)
		return;
	CHECK_INT(policy_tenant_for_peer(policy, 5000, 4300, groups, 1,
	    &tenant, err, sizeof(err)), -1);
	CHECK_STR(err, "uid 5000 matches tenants a and b by group; list the "
	    "user in one tenant's users");
	policy_free(policy);
}

static void
test_file_example_checks(void)
{
	struct policy *policy = load_example();
	const struct policy_tenant *web, *deploy;
	struct policy_decision d;

	CHECK(policy != NULL);
	if (policy == NULL)
		return;
	web = policy_find_tenant(policy, "web");
	deploy = policy_find_tenant(policy, "deploy");

	CHECK_INT(policy_check_issuer(web, "pebble", &d), 1);
	CHECK_STR(d.reason, "issuer pebble: allowed by issuers at "
	    "tests/data/policy/example.policy:10:10");
	CHECK_INT(d.origin.line, 10);
	CHECK_INT(policy_check_issuer(web, "letsencrypt", &d), 0);
	CHECK_STR(d.reason, "issuer letsencrypt: denied, not in the issuers "
	    "of tenant web");
	CHECK_INT(policy_check_issuer(NULL, "pebble", &d), 0);
	CHECK_STR(d.reason, "issuer pebble: denied, no tenant");

	CHECK_INT(policy_check_account(web, "web-main", &d), 1);
	CHECK_INT(policy_check_account(web, "deploy", &d), 0);

	CHECK_INT(policy_check_challenge(web, "dns-01", &d), 1);
	CHECK_INT(d.origin.line, 12);
	CHECK_INT(policy_check_challenge(deploy, "http-01", &d), 0);
	CHECK_STR(d.reason, "challenge http-01: denied, not in the challenges "
	    "of tenant deploy");

	CHECK_INT(policy_check_key_type(web, KEY_TYPE_RSA_3072, &d), 1);
	CHECK_STR(d.reason, "key type rsa-3072: allowed by key-types at "
	    "tests/data/policy/example.policy:13:20");
	CHECK_INT(policy_check_key_type(web, KEY_TYPE_RSA_2048, &d), 0);
	CHECK_INT(policy_check_key_type(deploy, KEY_TYPE_EC_P384, &d), 1);

	CHECK_INT(policy_check_name_count(web, 10, &d), 1);
	CHECK_INT(policy_check_name_count(web, 11, &d), 0);
	CHECK_STR(d.reason, "11 names: denied by max-names 10 at "
	    "tests/data/policy/example.policy:14:12");
	CHECK_INT(policy_check_name_count(deploy, 1000, &d), 1);
	CHECK_STR(d.reason, "1000 names: allowed, tenant deploy has no "
	    "max-names limit");

	CHECK_INT(policy_check_lifetime(web, 90 * 86400, &d), 1);
	CHECK_INT(policy_check_lifetime(web, 90 * 86400 + 1, &d), 0);
	CHECK_STR(d.reason, "lifetime of 7776001 seconds: denied by "
	    "max-lifetime 7776000s at tests/data/policy/example.policy:15:15");

	CHECK_INT(policy_check_certificates_held(web, 499, &d), 1);
	CHECK_INT(policy_check_certificates_held(web, 500, &d), 0);
	CHECK_INT(d.origin.line, 16);

	CHECK_INT(policy_check_rate(web, 19, 99, &d), 1);
	CHECK_INT(policy_check_rate(web, 20, 0, &d), 0);
	CHECK_STR(d.reason, "one more certificate with 20 issued in the last "
	    "hour: denied by rate 20/hour at "
	    "tests/data/policy/example.policy:17:7");
	CHECK_INT(policy_check_rate(web, 0, 100, &d), 0);
	CHECK_STR(d.reason, "one more certificate with 100 issued in the last "
	    "day: denied by rate 100/day at "
	    "tests/data/policy/example.policy:17:15");
	CHECK_INT(policy_check_rate(deploy, 1000, 1000, &d), 1);
	policy_free(policy);
}

static void
test_file_example_names(void)
{
	struct policy *policy = load_example();
	struct policy_identifier ids[] = {
		{ POLICY_ID_DNS, "xn--bcher-kva.example" },
		{ POLICY_ID_DNS, "*.api.example.org" },
		{ POLICY_ID_IP, "2001:db8::5" },
	};
	struct policy_decision d;

	CHECK(policy != NULL);
	if (policy == NULL)
		return;
	policy_evaluate_identifier(policy_find_tenant(policy, "web"), &ids[0],
	    &d);
	CHECK_INT(d.allowed, 1);
	CHECK_INT(d.origin.line, 8);
	CHECK_INT(policy_check_identifiers(policy_find_tenant(policy,
	    "deploy"), ids + 1, 2, NULL, &d), 1);
	CHECK_INT(policy_check_identifiers(policy_find_tenant(policy,
	    "deploy"), ids, 3, NULL, &d), 0);
	CHECK_STR(d.reason, "xn--bcher-kva.example: denied, no rule allows "
	    "it");
	policy_free(policy);
}

int
main(void)
{
	log_init("test_policy_file", LOG_LEVEL_ERROR);
	RUN(test_file_errors);
	RUN(test_file_errors_on_disk);
	RUN(test_file_signer_normalizer);
	RUN(test_file_warnings);
	RUN(test_file_warnings_addresses);
	RUN(test_file_nodes);
	RUN(test_file_example_tenants);
	RUN(test_file_group_ambiguous);
	RUN(test_file_example_checks);
	RUN(test_file_example_names);
	return check_done();
}
