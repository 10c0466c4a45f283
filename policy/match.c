/*
 * Matching identifiers against a tenant's allow and deny rules. A deny
 * rule overrides every allow rule; a name no allow rule matches is denied.
 * docs/policy.md states the semantics these functions implement.
 */
#include "policy/policy.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int
policy_name_is_below(const char *name, const char *domain)
{
	size_t name_len = strlen(name), domain_len = strlen(domain);

	if (name_len <= domain_len + 1)
		return 0;
	return name[name_len - domain_len - 1] == '.' &&
	    strcmp(name + name_len - domain_len, domain) == 0;
}

int
policy_rule_contains_ip(const struct policy_rule *rule,
    const struct policy_ip *ip)
{
	unsigned int bytes = rule->prefix / 8, bits = rule->prefix % 8;
	unsigned char mask;

	if (rule->kind != POLICY_PATTERN_ADDRESS ||
	    rule->ip.family != ip->family)
		return 0;
	if (memcmp(rule->ip.addr, ip->addr, bytes) != 0)
		return 0;
	if (bits == 0)
		return 1;
	mask = (unsigned char)(0xff << (8 - bits));
	return (rule->ip.addr[bytes] & mask) == (ip->addr[bytes] & mask);
}

int
policy_rule_allows(const struct policy_rule *rule,
    enum policy_identifier_type type, const char *value,
    const struct policy_ip *ip)
{
	if (type == POLICY_ID_IP)
		return policy_rule_contains_ip(rule, ip);

	switch (rule->kind) {
	case POLICY_PATTERN_NAME:
	case POLICY_PATTERN_WILDCARD:
		return strcmp(rule->text, value) == 0;
	case POLICY_PATTERN_SUBTREE:
		return policy_name_is_below(value, rule->text + 1);
	case POLICY_PATTERN_ADDRESS:
		break;
	}
	return 0;
}

/*
 * Returns 1 when value is a wildcard name that covers the host name: a
 * certificate for *.example.com is valid for www.example.com.
 */
static int
wildcard_covers(const char *value, const char *host)
{
	const char *dot = strchr(host, '.');

	return strncmp(value, "*.", 2) == 0 && dot != NULL &&
	    strcmp(value + 2, dot + 1) == 0;
}

int
policy_rule_denies(const struct policy_rule *rule,
    enum policy_identifier_type type, const char *value,
    const struct policy_ip *ip)
{
	if (type == POLICY_ID_IP)
		return policy_rule_contains_ip(rule, ip);

	switch (rule->kind) {
	case POLICY_PATTERN_NAME:
		return strcmp(rule->text, value) == 0 ||
		    wildcard_covers(value, rule->text);
	case POLICY_PATTERN_WILDCARD:
		return strcmp(rule->text, value) == 0;
	case POLICY_PATTERN_SUBTREE:
		return policy_name_is_below(value, rule->text + 1);
	case POLICY_PATTERN_ADDRESS:
		break;
	}
	return 0;
}

static void __attribute__((format(printf, 5, 6)))
decide(struct policy_decision *decision, int allowed,
    const struct policy_rule *rule, const char *value, const char *fmt, ...)
{
	char quoted[POLICY_QUOTE_BUFSIZE];
	va_list ap;
	int n;

	memset(decision, 0, sizeof(*decision));
	decision->allowed = allowed;
	decision->rule = rule;
	if (rule != NULL)
		decision->origin = rule->origin;
	n = snprintf(decision->reason, sizeof(decision->reason), "%s: ",
	    policy_quote(value, quoted));
	if (n < 0 || (size_t)n >= sizeof(decision->reason))
		return;
	va_start(ap, fmt);
	vsnprintf(decision->reason + n, sizeof(decision->reason) - (size_t)n,
	    fmt, ap);
	va_end(ap);
}

/* Describes the rule that decided, as "deny .example.com at FILE:5:6". */
static void
decide_by_rule(struct policy_decision *decision, const struct policy_rule *rule,
    const char *value)
{
	int allow = rule->action == POLICY_ALLOW;
	const char *note = "";

	if (!allow && rule->kind == POLICY_PATTERN_NAME &&
	    strcmp(rule->text, value) != 0)
		note = ", a name that the wildcard covers";
	decide(decision, allow, rule, value, "%s by %s %s at %s:%d:%d%s",
	    allow ? "allowed" : "denied", allow ? "allow" : "deny",
	    rule->text, rule->origin.file, rule->origin.line,
	    rule->origin.column, note);
}

/* Checks that the identifier is canonical; parses an IP address. */
static int
check_identifier(const struct policy_identifier *id, struct policy_ip *ip,
    char *err, size_t errlen)
{
	if (id->type == POLICY_ID_DNS)
		return policy_name_check_canonical(id->value, err, errlen);
	if (policy_ip_check_canonical(id->value, err, errlen) < 0)
		return -1;
	return policy_ip_parse(id->value, ip, err, errlen);
}

static const struct policy_rule *
find_rule(const struct policy_tenant *tenant, enum policy_action action,
    const struct policy_identifier *id, const struct policy_ip *ip)
{
	const struct policy_rule *rule;
	size_t i;
	int match;

	for (i = 0; i < tenant->rule_count; i++) {
		rule = &tenant->rules[i];
		if (rule->action != action)
			continue;
		if (action == POLICY_ALLOW)
			match = policy_rule_allows(rule, id->type, id->value,
			    ip);
		else
			match = policy_rule_denies(rule, id->type, id->value,
			    ip);
		if (match)
			return rule;
	}
	return NULL;
}

void
policy_evaluate_identifier(const struct policy_tenant *tenant,
    const struct policy_identifier *id, struct policy_decision *decision)
{
	const struct policy_rule *rule;
	struct policy_ip ip;
	char err[POLICY_REASON_MAX / 2];

	if (tenant == NULL) {
		decide(decision, 0, NULL, id->value, "denied, no tenant");
		return;
	}
	memset(&ip, 0, sizeof(ip));
	if (check_identifier(id, &ip, err, sizeof(err)) < 0) {
		decide(decision, 0, NULL, id->value, "denied, %s", err);
		return;
	}

	rule = find_rule(tenant, POLICY_DENY, id, &ip);
	if (rule == NULL)
		rule = find_rule(tenant, POLICY_ALLOW, id, &ip);
	if (rule == NULL) {
		decide(decision, 0, NULL, id->value, "denied, no rule allows "
		    "it");
		return;
	}
	decide_by_rule(decision, rule, id->value);
}

int
policy_check_identifiers(const struct policy_tenant *tenant,
    const struct policy_identifier *ids, size_t count,
    struct policy_decision *decisions, struct policy_decision *result)
{
	struct policy_decision one;
	char subject[48];
	size_t i;
	int denied = 0;

	if (count == 0) {
		decide(result, 0, NULL, "(none)", "denied, the request names "
		    "no identifier");
		policy_record_decision(tenant, "(none)", result);
		return 0;
	}
	snprintf(subject, sizeof(subject), "%zu identifiers", count);
	decide(result, 1, NULL, subject, "all allowed");
	for (i = 0; i < count; i++) {
		policy_evaluate_identifier(tenant, &ids[i], &one);
		policy_record_decision(tenant, ids[i].value, &one);
		if (decisions != NULL)
			decisions[i] = one;
		if (!one.allowed && !denied) {
			*result = one;
			denied = 1;
		}
	}
	return result->allowed;
}
