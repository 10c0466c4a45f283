/*
 * Reads one text as a policy file with policy_load_string()
 * (policy/policy_file.c), once with the broker's normaliser (libidn2) and
 * once with the signer's ASCII one. An accepted policy is linted and each
 * tenant's rules decide a DNS and an IP identifier. The name in every
 * name rule must be canonical, as policy_name_check_canonical() defines
 * it.
 */
#include "tests/fuzz/fuzz.h"

#include "policy/policy.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup("fuzz_policy_file");
	return 0;
}

/* Drops the decisions that the checks below would log. */
static void
ignore_decision(const struct policy_tenant *tenant, const char *subject,
    const struct policy_decision *decision, void *arg)
{
	(void)tenant;
	(void)subject;
	(void)decision;
	(void)arg;
}

static void
check_rules(const struct policy_tenant *tenant)
{
	const struct policy_identifier ids[] = {
		{ POLICY_ID_DNS, "www.example.com" },
		{ POLICY_ID_IP, "192.0.2.1" },
	};
	struct policy_decision result;
	char err[512];
	size_t i;

	for (i = 0; i < tenant->rule_count; i++) {
		const struct policy_rule *rule = &tenant->rules[i];
		const char *name = rule->text;

		FUZZ_ASSERT(fuzz_is_terminated(rule->text,
		    sizeof(rule->text)));
		if (rule->kind == POLICY_PATTERN_ADDRESS) {
			FUZZ_ASSERT(rule->prefix <= 128);
			continue;
		}
		/* A subtree rule is written ".example.com". */
		if (rule->kind == POLICY_PATTERN_SUBTREE) {
			FUZZ_ASSERT(name[0] == '.');
			name++;
		}
		FUZZ_ASSERT(policy_name_check_canonical(name, err,
		    sizeof(err)) == 0);
	}
	policy_check_identifiers(tenant, ids, 2, NULL, &result);
	FUZZ_ASSERT(result.allowed == 0 || result.allowed == 1);
}

static void
load(const char *text, policy_normalize_fn normalize)
{
	struct policy *policy = NULL;
	char err[512];
	size_t i;

	if (policy_load_string("fuzz.policy", text, normalize, &policy, err,
	    sizeof(err)) != 0) {
		FUZZ_ASSERT(policy == NULL);
		FUZZ_ASSERT(fuzz_is_terminated(err, sizeof(err)));
		return;
	}
	FUZZ_ASSERT(policy_lint(policy) == 0);
	for (i = 0; i < policy->tenant_count; i++) {
		FUZZ_ASSERT(policy_find_tenant(policy,
		    policy->tenants[i].name) == &policy->tenants[i]);
		check_rules(&policy->tenants[i]);
	}
	policy_free(policy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_string(data, size);

	policy_set_decision_hook(ignore_decision, NULL);
	load(text, policy_name_normalize);
	load(text, policy_name_normalize_ascii);
	free(text);
	return 0;
}
