/*
 * Account records, cooldowns, the order in which an issuance tries issuers
 * and accounts, and the facts kept from a failed ACME response.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "broker/account.h"
#include "broker/acme.h"
#include "tests/unit/check.h"

static char state_dir[] = "/tmp/custos-test-account.XXXXXX";
static char err[1024];

static const char policy_text[] =
    "tenant web {\n"
    "\tallow .example.com\n"
    "\tissuers second first\n"
    "\taccounts a b c\n"
    "}\n";

static struct custos_config *
load_config(void)
{
	struct custos_config *config = NULL;
	char text[2048];

	snprintf(text, sizeof(text),
	    "hsm {\n\tmodule /m.so\n\ttoken-label t\n\tpin-file /p\n}\n"
	    "broker {\n\tstate-dir %s\n}\n"
	    "issuer first {\n\tdirectory https://one/dir\n\taccount a b\n}\n"
	    "issuer second {\n\tdirectory https://two/dir\n"
	    "\taccount c d\n}\n"
	    "issuer third {\n\tdirectory https://three/dir\n\taccount a\n}\n"
	    "policy {\n\tfile /etc/custos/policy.conf\n}\n", state_dir);
	if (config_load_string("t.conf", text, &config, err,
	    sizeof(err)) != 0)
		printf("#   config: %s\n", err);
	return config;
}

static struct policy *
load_policy(void)
{
	struct policy *policy = NULL;

	if (policy_load_string("t.policy", policy_text, policy_name_normalize,
	    &policy, err, sizeof(err)) != 0)
		printf("#   policy: %s\n", err);
	return policy;
}

/* Writes a record with last_used and cooldown_until. */
static int
write_record(const char *issuer, const char *account, long long last_used,
    long long cooldown_until)
{
	struct account_record record = { 0 };
	char *dir = NULL, *path = NULL;
	int rc;

	record.last_used = last_used;
	record.cooldown_until = cooldown_until;
	snprintf(record.cooldown_reason, sizeof(record.cooldown_reason),
	    "test");
	rc = account_record_path(state_dir, issuer, account, &dir, &path, err,
	    sizeof(err));
	if (rc == 0)
		rc = account_record_save(dir, path, &record, err, sizeof(err));
	free(dir);
	free(path);
	return rc;
}

static void
test_account_record_roundtrip(void)
{
	struct account_record in = { 0 }, out;
	char *dir = NULL, *path = NULL;

	CHECK_INT(account_record_path(state_dir, "first", "a", &dir, &path,
	    err, sizeof(err)), 0);
	strcpy(in.key_id, "0123456789abcdef0123456789abcdef");
	in.url = strdup("https://one/acct/1");
	strcpy(in.status, "valid");
	in.created = 1000;
	in.last_used = 2000;
	CHECK_INT(account_record_save(dir, path, &in, err, sizeof(err)), 0);
	CHECK_INT(account_record_load(path, &out, err, sizeof(err)), 0);
	CHECK_STR(out.key_id, "0123456789abcdef0123456789abcdef");
	CHECK_STR(out.url, "https://one/acct/1");
	CHECK_STR(out.status, "valid");
	CHECK_INT(out.created, 1000);
	CHECK_INT(out.last_used, 2000);
	CHECK_INT(out.cooldown_until, 0);
	account_record_clear(&in);
	account_record_clear(&out);
	unlink(path);
	free(dir);
	free(path);
}

static void
test_account_record_errors(void)
{
	struct account_record record;
	char *path = NULL;
	FILE *file;

	CHECK_INT(account_record_path(state_dir, "first", "../x", NULL, &path,
	    err, sizeof(err)), -1);
	CHECK(path == NULL);
	CHECK_INT(account_record_path(state_dir, "first", "missing", NULL,
	    &path, err, sizeof(err)), 0);
	CHECK_INT(account_record_load(path, &record, err, sizeof(err)), 0);
	CHECK_STR(record.key_id, "");
	CHECK(record.url == NULL);
	account_record_clear(&record);
	file = fopen(path, "w");
	CHECK(file != NULL);
	if (file != NULL) {
		fputs("{\"key_id\":\"0123456789abcdef0123456789abcdef\","
		    "\"url\":\"http://one/acct\"}", file);
		fclose(file);
	}
	CHECK_INT(account_record_load(path, &record, err, sizeof(err)), -1);
	CHECK(strstr(err, "member \"url\" is not https://") != NULL);
	CHECK(strstr(err, "(remove it to register a new account)") != NULL);
	unlink(path);
	free(path);
}

static void
test_account_plan_order(void)
{
	struct custos_config *config = load_config();
	struct policy *policy = load_policy();
	const struct policy_tenant *tenant;
	struct account_plan plan;
	time_t now = time(NULL);

	CHECK(config != NULL && policy != NULL);
	if (config == NULL || policy == NULL)
		goto out;
	tenant = policy_find_tenant(policy, "web");
	/* b was used before a, so b comes first within issuer first. */
	CHECK_INT(write_record("first", "a", 300, 0), 0);
	CHECK_INT(write_record("first", "b", 100, 0), 0);
	CHECK_INT(account_plan_build(config, tenant, NULL, now, &plan, err,
	    sizeof(err)), 0);
	CHECK_INT(plan.count, 3);
	if (plan.count == 3) {
		CHECK_STR(plan.items[0].issuer->name, "second");
		CHECK_STR(plan.items[0].account, "c");
		CHECK_STR(plan.items[1].issuer->name, "first");
		CHECK_STR(plan.items[1].account, "b");
		CHECK_STR(plan.items[2].account, "a");
	}
	account_plan_clear(&plan);

	CHECK_INT(account_plan_build(config, tenant, "first", now, &plan,
	    err, sizeof(err)), 0);
	CHECK_INT(plan.count, 2);
	account_plan_clear(&plan);

	/* third is not among the tenant's issuers. */
	CHECK_INT(account_plan_build(config, tenant, "third", now, &plan,
	    err, sizeof(err)), -1);
	CHECK(strstr(err, "tenant web has no usable issuer and account for "
	    "issuer third") != NULL);
out:
	policy_free(policy);
	config_free(config);
}

static void
test_account_plan_cooldowns(void)
{
	struct custos_config *config = load_config();
	struct policy *policy = load_policy();
	const struct policy_tenant *tenant;
	struct account_plan plan;
	time_t now = time(NULL);

	CHECK(config != NULL && policy != NULL);
	if (config == NULL || policy == NULL)
		goto out;
	tenant = policy_find_tenant(policy, "web");
	CHECK_INT(write_record("first", "a", 0, now + 60), 0);
	CHECK_INT(write_record("first", "b", 0, now - 1), 0);
	CHECK_INT(account_cooldown(state_dir, "second", NULL, 30, "503", err,
	    sizeof(err)), 0);
	/* Cooling candidates come last, the earliest cooldown end first. */
	CHECK_INT(account_plan_build(config, tenant, NULL, now, &plan, err,
	    sizeof(err)), 0);
	CHECK_INT(plan.count, 3);
	if (plan.count == 3) {
		CHECK_STR(plan.items[0].account, "b");
		CHECK_STR(plan.items[1].issuer->name, "second");
		CHECK_STR(plan.items[1].account, "c");
		CHECK_INT(plan.items[1].cooldown_until > now, 1);
		CHECK_STR(plan.items[2].account, "a");
		CHECK_INT(plan.items[2].cooldown_until, now + 60);
	}
	account_plan_clear(&plan);

	/* A cooldown is capped at ACCOUNT_COOLDOWN_MAX. */
	CHECK_INT(account_cooldown(state_dir, "first", "b", 999999, "429",
	    err, sizeof(err)), 0);
	CHECK_INT(account_plan_build(config, tenant, "first",
	    now + ACCOUNT_COOLDOWN_MAX - 5, &plan, err, sizeof(err)), 0);
	CHECK_INT(plan.count, 2);
	if (plan.count == 2) {
		CHECK_STR(plan.items[0].account, "a");
		CHECK_STR(plan.items[1].account, "b");
	}
	account_plan_clear(&plan);
	CHECK_INT(account_plan_build(config, tenant, "first",
	    now + ACCOUNT_COOLDOWN_MAX + 5, &plan, err, sizeof(err)), 0);
	CHECK_INT(plan.count, 2);
	account_plan_clear(&plan);
out:
	policy_free(policy);
	config_free(config);
}

static void
test_acme_failure_note(void)
{
	struct http_header headers[] = {
		{ "Retry-After", "90" },
		{ "Content-Type", "application/problem+json" },
	};
	char body[] = "{\"type\":\"urn:ietf:params:acme:error:rateLimited\","
	    "\"detail\":\"too many\"}";
	struct http_response resp = {
		.status = 400, .body = body, .body_len = sizeof(body) - 1,
		.headers = headers, .header_count = 2,
	};
	struct acme_client client;

	memset(&client, 0, sizeof(client));
	acme_failure_note(&client, &resp);
	CHECK_INT(client.fail_status, 400);
	CHECK_STR(client.fail_type, "rateLimited");
	CHECK_INT(client.fail_retry_after, 90);
	CHECK_INT(acme_failure_rate_limited(&client), 1);

	resp.status = 429;
	resp.body_len = 0;
	resp.header_count = 0;
	acme_failure_note(&client, &resp);
	CHECK_STR(client.fail_type, "");
	CHECK_INT(client.fail_retry_after, -1);
	CHECK_INT(acme_failure_rate_limited(&client), 1);

	resp.status = 503;
	acme_failure_note(&client, &resp);
	CHECK_INT(acme_failure_rate_limited(&client), 0);
	acme_failure_clear(&client);
	CHECK_INT(client.fail_status, 0);
}

int
main(void)
{
	char command[64];
	int rc;

	if (mkdtemp(state_dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_account_record_roundtrip);
	RUN(test_account_record_errors);
	RUN(test_account_plan_order);
	RUN(test_account_plan_cooldowns);
	RUN(test_acme_failure_note);
	rc = check_done();
	snprintf(command, sizeof(command), "rm -rf '%s'", state_dir);
	if (system(command) != 0)
		printf("# removing %s failed\n", state_dir);
	return rc;
}
