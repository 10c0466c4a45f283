/* Tests for broker/tenant.c and broker/policy_gate.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/names.h"
#include "broker/policy_gate.h"
#include "broker/tenant.h"
#include "tests/unit/check.h"

/* Users and groups are numbers, so no account database is needed. */
static const char policy_text[] =
    "tenant web {\n"
    "\tusers 4001\n"
    "\tgroups 5001\n"
    "\tallow .example.com xn--bcher-kva.example 192.0.2.0/24\n"
    "\tdeny secret.example.com\n"
    "\tissuers pebble\n"
    "\taccounts web-main\n"
    "\tchallenges http-01\n"
    "\tkey-types ec-p256\n"
    "\tmax-names 3\n"
    "}\n"
    "tenant api {\n"
    "\tusers 4002\n"
    "\tgroups 5002\n"
    "\tallow .api.example.org\n"
    "\tissuers pebble\n"
    "}\n"
    "tenant ops {\n"
    "\tgroups 5004\n"
    "\tallow .ops.example.org\n"
    "\tissuers pebble\n"
    "}\n";

static struct policy *
load(void)
{
	struct policy *policy = NULL;
	char err[512] = "";

	if (policy_load_string("t.policy", policy_text, policy_name_normalize,
	    &policy, err, sizeof(err)) != 0)
		printf("#   policy_load_string: %s\n", err);
	return policy;
}

static struct caller
make_caller(uid_t uid, gid_t gid, gid_t *groups, size_t count)
{
	struct caller caller;

	memset(&caller, 0, sizeof(caller));
	caller.uid = uid;
	caller.gid = gid;
	caller.groups = groups;
	caller.group_count = count;
	snprintf(caller.user, sizeof(caller.user), "uid %lu",
	    (unsigned long)uid);
	return caller;
}

/* Runs tenant_select and returns the tenant's name, or NULL. */
static const char *
select_name(const struct policy *policy, const struct caller *caller,
    const char *requested, char *err, size_t errlen)
{
	const struct policy_tenant *tenant = NULL;

	err[0] = '\0';
	if (tenant_select(policy, caller, requested, &tenant, err,
	    errlen) != 0)
		return NULL;
	return tenant != NULL ? tenant->name : "(null)";
}

static void
test_tenant_by_user(void)
{
	struct policy *policy = load();
	struct caller caller = make_caller(4001, 100, NULL, 0);
	char err[512];

	if (policy == NULL) {
		CHECK(!"policy did not load");
		return;
	}
	CHECK_STR(select_name(policy, &caller, NULL, err, sizeof(err)),
	    "web");
	policy_free(policy);
}

static void
test_tenant_by_primary_group(void)
{
	struct policy *policy = load();
	struct caller caller = make_caller(7000, 5001, NULL, 0);
	char err[512];

	if (policy == NULL) {
		CHECK(!"policy did not load");
		return;
	}
	CHECK_STR(select_name(policy, &caller, NULL, err, sizeof(err)),
	    "web");
	policy_free(policy);
}

static void
test_tenant_by_supplementary_group(void)
{
	struct policy *policy = load();
	gid_t groups[] = { 100, 5002 };
	struct caller caller = make_caller(7000, 100, groups, 2);
	char err[512];

	if (policy == NULL) {
		CHECK(!"policy did not load");
		return;
	}
	CHECK_STR(select_name(policy, &caller, NULL, err, sizeof(err)),
	    "api");
	policy_free(policy);
}

static void
test_tenant_none_names_user(void)
{
	struct policy *policy = load();
	struct caller caller = make_caller(7000, 100, NULL, 0);
	char err[512];

	if (policy == NULL) {
		CHECK(!"policy did not load");
		return;
	}
	CHECK(select_name(policy, &caller, NULL, err, sizeof(err)) == NULL);
	CHECK_STR(err, "user uid 7000 belongs to no tenant in t.policy "
	    "(list the user in a tenant's users)");
	policy_free(policy);
}

static void
test_tenant_none_root_hint(void)
{
	struct policy *policy = load();
	struct caller caller = make_caller(0, 0, NULL, 0);
	char err[512];

	if (policy == NULL) {
		CHECK(!"policy did not load");
		return;
	}
	CHECK(select_name(policy, &caller, NULL, err, sizeof(err)) == NULL);
	CHECK_STR(err, "user uid 0 belongs to no tenant in t.policy (list "
	    "the user in a tenant's users, or choose one with --tenant)");
	policy_free(policy);
}

static void
test_tenant_two_by_group(void)
{
	struct policy *policy = load();
	gid_t groups[] = { 5002, 5004 };
	struct caller caller = make_caller(7000, 100, groups, 2);
	char err[512];

	if (policy == NULL) {
		CHECK(!"policy did not load");
		return;
	}
	CHECK(select_name(policy, &caller, NULL, err, sizeof(err)) == NULL);
	CHECK(strncmp(err, "user uid 7000: ", 15) == 0);
	CHECK(strstr(err, "api") != NULL);
	CHECK(strstr(err, "ops") != NULL);
	policy_free(policy);
}

static void
test_tenant_requested_member(void)
{
	struct policy *policy = load();
	gid_t groups[] = { 5002, 5004 };
	struct caller caller = make_caller(7000, 100, groups, 2);
	char err[512];

	if (policy == NULL) {
		CHECK(!"policy did not load");
		return;
	}
	CHECK_STR(select_name(policy, &caller, "ops", err, sizeof(err)),
	    "ops");
	CHECK_STR(select_name(policy, &caller, "api", err, sizeof(err)),
	    "api");
	policy_free(policy);
}

static void
test_tenant_requested_not_member(void)
{
	struct policy *policy = load();
	struct caller caller = make_caller(4001, 100, NULL, 0);
	char err[512];

	if (policy == NULL) {
		CHECK(!"policy did not load");
		return;
	}
	CHECK(select_name(policy, &caller, "api", err, sizeof(err)) == NULL);
	CHECK_STR(err, "user uid 4001 may not act for tenant api (list the "
	    "user in the users of tenant api in t.policy, or omit --tenant)");
	policy_free(policy);
}

static void
test_tenant_requested_by_root(void)
{
	struct policy *policy = load();
	struct caller caller = make_caller(0, 0, NULL, 0);
	char err[512];

	if (policy == NULL) {
		CHECK(!"policy did not load");
		return;
	}
	CHECK_STR(select_name(policy, &caller, "api", err, sizeof(err)),
	    "api");
	policy_free(policy);
}

static void
test_tenant_requested_unknown(void)
{
	struct policy *policy = load();
	struct caller caller = make_caller(0, 0, NULL, 0);
	char err[512];

	if (policy == NULL) {
		CHECK(!"policy did not load");
		return;
	}
	CHECK(select_name(policy, &caller, "nope", err, sizeof(err)) == NULL);
	CHECK_STR(err, "tenant \"nope\" not found in t.policy (check "
	    "--tenant; tenants: web, api, ops)");
	policy_free(policy);
}

/* Collects denial lines for the gate tests. */
struct lines {
	char text[8][GATE_LINE_MAX];
	size_t count;
};

static void
collect(const char *line, void *arg)
{
	struct lines *lines = arg;

	if (lines->count < 8)
		snprintf(lines->text[lines->count], GATE_LINE_MAX, "%s", line);
	lines->count++;
}

/* Checks written names with the given settings; returns the denials. */
static size_t
run_gate(const char *tenant_name, char **written, size_t count,
    const char *account, enum key_type type, struct lines *lines)
{
	struct policy *policy = load();
	struct acme_names names;
	struct gate_request request;
	char err[512];
	size_t denials = 0;

	memset(lines, 0, sizeof(*lines));
	if (policy == NULL)
		return 99;
	if (names_parse(written, count, &names, err, sizeof(err)) != 0) {
		printf("#   names_parse: %s\n", err);
		policy_free(policy);
		return 99;
	}
	request = (struct gate_request){
		.written = written, .names = &names, .issuer = "pebble",
		.account = account, .challenge = "http-01", .key_type = type,
	};
	denials = gate_check_request(policy_find_tenant(policy, tenant_name),
	    &request, collect, lines);
	names_clear(&names);
	policy_free(policy);
	return denials;
}

static void
test_gate_allows_request(void)
{
	char *names[] = { "www.example.com", "192.0.2.9" };
	struct lines lines;

	CHECK_INT(run_gate("web", names, 2, "web-main", KEY_TYPE_EC_P256,
	    &lines), 0);
	CHECK_INT(lines.count, 0);
}

static void
test_gate_denies_by_rule(void)
{
	char *names[] = { "www.example.com", "secret.example.com" };
	struct lines lines;

	CHECK_INT(run_gate("web", names, 2, "web-main", KEY_TYPE_EC_P256,
	    &lines), 1);
	CHECK_STR(lines.text[0], "secret.example.com: denied by deny "
	    "secret.example.com at t.policy:5:7");
}

static void
test_gate_denies_without_rule(void)
{
	char *names[] = { "example.net" };
	struct lines lines;

	CHECK_INT(run_gate("web", names, 1, "web-main", KEY_TYPE_EC_P256,
	    &lines), 1);
	CHECK_STR(lines.text[0], "example.net: denied, no rule allows it "
	    "(tenant web is at t.policy:1:8)");
}

static void
test_gate_shows_canonical_name(void)
{
	char *names[] = { "Bücher.Example.", "BAD.example.org" };
	struct lines lines;

	CHECK_INT(run_gate("web", names, 2, "web-main", KEY_TYPE_EC_P256,
	    &lines), 1);
	CHECK_STR(lines.text[0], "BAD.example.org (bad.example.org): denied, "
	    "no rule allows it (tenant web is at t.policy:1:8)");
}

static void
test_gate_denies_other_checks(void)
{
	char *names[] = { "a.example.com", "b.example.com", "c.example.com",
	    "d.example.com" };
	struct lines lines;

	CHECK_INT(run_gate("web", names, 4, "other", KEY_TYPE_RSA_4096,
	    &lines), 3);
	CHECK_STR(lines.text[0], "account other: denied, not in the accounts "
	    "of tenant web (tenant web is at t.policy:1:8)");
	CHECK_STR(lines.text[1], "key type rsa-4096: denied, not in the "
	    "key-types of tenant web (tenant web is at t.policy:1:8)");
	CHECK_STR(lines.text[2], "4 names: denied by max-names 3 at "
	    "t.policy:10:12");
}

static void
test_gate_missing_statements(void)
{
	char *names[] = { "a.api.example.org" };
	struct lines lines;

	CHECK_INT(run_gate("api", names, 1, "web-main", KEY_TYPE_EC_P256,
	    &lines), 3);
	CHECK_STR(lines.text[0], "account web-main: denied, tenant api has no "
	    "accounts statement (tenant api is at t.policy:12:8)");
	CHECK_STR(lines.text[1], "challenge http-01: denied, tenant api has "
	    "no challenges statement (tenant api is at t.policy:12:8)");
	CHECK_STR(lines.text[2], "key type ec-p256: denied, tenant api has "
	    "no key-types statement (tenant api is at t.policy:12:8)");
}

int
main(void)
{
	RUN(test_tenant_by_user);
	RUN(test_tenant_by_primary_group);
	RUN(test_tenant_by_supplementary_group);
	RUN(test_tenant_none_names_user);
	RUN(test_tenant_none_root_hint);
	RUN(test_tenant_two_by_group);
	RUN(test_tenant_requested_member);
	RUN(test_tenant_requested_not_member);
	RUN(test_tenant_requested_by_root);
	RUN(test_tenant_requested_unknown);
	RUN(test_gate_allows_request);
	RUN(test_gate_denies_by_rule);
	RUN(test_gate_denies_without_rule);
	RUN(test_gate_shows_canonical_name);
	RUN(test_gate_denies_other_checks);
	RUN(test_gate_missing_statements);
	return check_done();
}
