/*
 * Warnings for rules that can never decide anything: an allow that a deny
 * always overrides, a duplicate, a subtree inside another allowed subtree,
 * a deny that no allow could reach, and tenants without rules or issuers.
 */
#include "policy/policy.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int __attribute__((format(printf, 3, 4)))
warn(struct policy *policy, const struct config_origin *origin,
    const char *fmt, ...)
{
	char line[POLICY_REASON_MAX];
	char **warnings;
	va_list ap;
	int n;

	n = snprintf(line, sizeof(line), "%s:%d:%d: warning: ", origin->file,
	    origin->line, origin->column);
	if (n < 0 || (size_t)n >= sizeof(line))
		return -1;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);

	warnings = realloc(policy->warnings,
	    (policy->warning_count + 1) * sizeof(*warnings));
	if (warnings == NULL)
		return -1;
	policy->warnings = warnings;
	warnings[policy->warning_count] = strdup(line);
	if (warnings[policy->warning_count] == NULL)
		return -1;
	policy->warning_count++;
	return 0;
}

/* Returns 1 when range b lies inside range a (both address rules). */
static int
range_inside(const struct policy_rule *a, const struct policy_rule *b)
{
	return a->prefix <= b->prefix && policy_rule_contains_ip(a, &b->ip);
}

/* Returns 1 when the deny rule denies every name the allow rule allows. */
static int
deny_covers_allow(const struct policy_rule *deny,
    const struct policy_rule *allow)
{
	const char *domain = allow->text + 1;

	switch (allow->kind) {
	case POLICY_PATTERN_NAME:
	case POLICY_PATTERN_WILDCARD:
		return policy_rule_denies(deny, POLICY_ID_DNS, allow->text,
		    NULL);
	case POLICY_PATTERN_SUBTREE:
		return deny->kind == POLICY_PATTERN_SUBTREE &&
		    (strcmp(deny->text + 1, domain) == 0 ||
		    policy_name_is_below(domain, deny->text + 1));
	case POLICY_PATTERN_ADDRESS:
		return deny->kind == POLICY_PATTERN_ADDRESS &&
		    range_inside(deny, allow);
	}
	return 0;
}

/* Returns 1 when some name is both allowed by allow and denied by deny. */
static int
rules_overlap(const struct policy_rule *allow, const struct policy_rule *deny)
{
	const char *a = allow->text + 1, *d = deny->text + 1;

	if ((allow->kind == POLICY_PATTERN_ADDRESS) !=
	    (deny->kind == POLICY_PATTERN_ADDRESS))
		return 0;
	if (allow->kind == POLICY_PATTERN_ADDRESS)
		return range_inside(allow, deny) || range_inside(deny, allow);
	if (allow->kind != POLICY_PATTERN_SUBTREE)
		return policy_rule_denies(deny, POLICY_ID_DNS, allow->text,
		    NULL);

	/*
	 * Below a subtree lie the names and wildcards below a denied name,
	 * so reaching its wildcard is the same as reaching the name.
	 */
	if (deny->kind != POLICY_PATTERN_SUBTREE)
		return policy_name_is_below(deny->text, a);
	return strcmp(a, d) == 0 || policy_name_is_below(a, d) ||
	    policy_name_is_below(d, a);
}

static const struct policy_rule *
find_duplicate(const struct policy_tenant *tenant, size_t index)
{
	const struct policy_rule *rule = &tenant->rules[index];
	size_t i;

	for (i = 0; i < index; i++)
		if (tenant->rules[i].action == rule->action &&
		    strcmp(tenant->rules[i].text, rule->text) == 0)
			return &tenant->rules[i];
	return NULL;
}

/* Finds another allow whose subtree or range contains this one. */
static const struct policy_rule *
find_enclosing_allow(const struct policy_tenant *tenant,
    const struct policy_rule *rule)
{
	const struct policy_rule *other;
	size_t i;

	for (i = 0; i < tenant->rule_count; i++) {
		other = &tenant->rules[i];
		if (other == rule || other->action != POLICY_ALLOW ||
		    other->kind != rule->kind)
			continue;
		if (rule->kind == POLICY_PATTERN_SUBTREE &&
		    policy_name_is_below(rule->text + 1, other->text + 1))
			return other;
		if (rule->kind == POLICY_PATTERN_ADDRESS &&
		    other->prefix < rule->prefix &&
		    range_inside(other, rule))
			return other;
	}
	return NULL;
}

static int
lint_allow(struct policy *policy, const struct policy_tenant *tenant,
    const struct policy_rule *rule)
{
	const struct policy_rule *other;
	size_t i;

	for (i = 0; i < tenant->rule_count; i++) {
		other = &tenant->rules[i];
		if (other->action == POLICY_DENY &&
		    deny_covers_allow(other, rule))
			return warn(policy, &rule->origin, "allow %s can never "
			    "match: deny %s at line %d denies every name it "
			    "allows", rule->text, other->text,
			    other->origin.line);
	}
	/* A single address inside an allowed range is as usual as a name. */
	other = find_enclosing_allow(tenant, rule);
	if (other != NULL && (rule->kind == POLICY_PATTERN_SUBTREE ||
	    rule->prefix < (rule->ip.family == AF_INET6 ? 128u : 32u)))
		return warn(policy, &rule->origin, "allow %s is redundant: "
		    "allow %s at line %d already allows every name in it",
		    rule->text, other->text, other->origin.line);
	return 0;
}

static int
lint_deny(struct policy *policy, const struct policy_tenant *tenant,
    const struct policy_rule *rule)
{
	size_t i;

	for (i = 0; i < tenant->rule_count; i++)
		if (tenant->rules[i].action == POLICY_ALLOW &&
		    rules_overlap(&tenant->rules[i], rule))
			return 0;
	return warn(policy, &rule->origin, "deny %s has no effect: no allow "
	    "rule allows a name it denies", rule->text);
}

static int
lint_tenant(struct policy *policy, const struct policy_tenant *tenant)
{
	const struct policy_rule *rule, *first;
	size_t i, allows = 0;

	for (i = 0; i < tenant->rule_count; i++) {
		rule = &tenant->rules[i];
		allows += rule->action == POLICY_ALLOW;
		first = find_duplicate(tenant, i);
		if (first != NULL) {
			if (warn(policy, &rule->origin, "%s %s duplicates "
			    "the one at line %d",
			    rule->action == POLICY_ALLOW ? "allow" : "deny",
			    rule->text, first->origin.line) < 0)
				return -1;
			continue;
		}
		if ((rule->action == POLICY_ALLOW ?
		    lint_allow(policy, tenant, rule) :
		    lint_deny(policy, tenant, rule)) < 0)
			return -1;
	}
	if (allows == 0 && warn(policy, &tenant->origin, "tenant %s has no "
	    "allow rule, so every name is denied", tenant->name) < 0)
		return -1;
	if (tenant->issuer_count == 0 && warn(policy, &tenant->origin,
	    "tenant %s has no issuers statement, so every order is denied",
	    tenant->name) < 0)
		return -1;
	return 0;
}

/* Finds a node of an earlier tenant with the recipient key of node. */
static const struct policy_node *
find_shared_recipient(const struct policy *policy, size_t tenant_index,
    const struct policy_node *node, const struct policy_tenant **owner)
{
	const struct policy_tenant *t;
	size_t i, j;

	for (i = 0; i < tenant_index; i++) {
		t = &policy->tenants[i];
		for (j = 0; j < t->node_count; j++) {
			if (t->nodes[j].recipient_der != NULL &&
			    strcmp(t->nodes[j].recipient_fingerprint,
			    node->recipient_fingerprint) == 0) {
				*owner = t;
				return &t->nodes[j];
			}
		}
	}
	return NULL;
}

/*
 * Warns about a recipient key registered for nodes of two tenants: the
 * holder of its private key can unwrap the keys of both, so the broker,
 * which chooses where blobs go, could hand one tenant's key to the
 * other's node. Sharing is intended only when one host serves both
 * tenants.
 */
static int
lint_shared_recipients(struct policy *policy, size_t tenant_index)
{
	const struct policy_tenant *tenant = &policy->tenants[tenant_index];
	const struct policy_tenant *owner;
	const struct policy_node *node, *other;
	size_t i;

	for (i = 0; i < tenant->node_count; i++) {
		node = &tenant->nodes[i];
		if (node->recipient_der == NULL)
			continue;
		other = find_shared_recipient(policy, tenant_index, node,
		    &owner);
		if (other != NULL && warn(policy, &node->recipient_origin,
		    "the recipient key of node %s is also that of node %s of "
		    "tenant %s (line %d), so either node can unwrap the "
		    "other tenant's keys; give each tenant's node its own key "
		    "pair unless one host serves both tenants", node->name,
		    other->name, owner->name, other->recipient_origin.line) < 0)
			return -1;
	}
	return 0;
}

int
policy_lint(struct policy *policy)
{
	size_t i;

	for (i = 0; i < policy->tenant_count; i++)
		if (lint_tenant(policy, &policy->tenants[i]) < 0 ||
		    lint_shared_recipients(policy, i) < 0)
			return -1;
	return 0;
}
