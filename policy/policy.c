/*
 * Tenant lookup, the checks other than names, and the decision hook.
 */
#include "policy/policy.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logging/log.h"

/*
 * Per thread, because the daemon's order threads switch between logging
 * and auditing decisions independently of each other.
 */
static _Thread_local policy_decision_hook decision_hook;
static _Thread_local void *decision_hook_arg;

void
policy_set_decision_hook(policy_decision_hook hook, void *arg)
{
	decision_hook = hook;
	decision_hook_arg = arg;
}

void
policy_record_decision(const struct policy_tenant *tenant,
    const char *subject, const struct policy_decision *decision)
{
	char quoted[POLICY_QUOTE_BUFSIZE];

	if (decision_hook != NULL) {
		decision_hook(tenant, subject, decision, decision_hook_arg);
		return;
	}
	log_info("policy: tenant %s: %s: %s",
	    tenant ? policy_quote(tenant->name, quoted) : "(none)",
	    decision->allowed ? "allow" : "deny", decision->reason);
}

const struct policy_tenant *
policy_find_tenant(const struct policy *policy, const char *name)
{
	size_t i;

	for (i = 0; i < policy->tenant_count; i++)
		if (strcmp(policy->tenants[i].name, name) == 0)
			return &policy->tenants[i];
	return NULL;
}

static int
tenant_has_gid(const struct policy_tenant *tenant, gid_t gid)
{
	size_t i;

	for (i = 0; i < tenant->gid_count; i++)
		if (tenant->gids[i] == gid)
			return 1;
	return 0;
}

static int
tenant_has_group(const struct policy_tenant *tenant, gid_t gid,
    const gid_t *groups, size_t group_count)
{
	size_t i;

	if (tenant_has_gid(tenant, gid))
		return 1;
	for (i = 0; i < group_count; i++)
		if (tenant_has_gid(tenant, groups[i]))
			return 1;
	return 0;
}

int
policy_tenant_for_peer(const struct policy *policy, uid_t uid,
    gid_t gid, const gid_t *groups, size_t group_count,
    const struct policy_tenant **tenant, char *err, size_t errlen)
{
	const struct policy_tenant *t, *found = NULL;
	size_t i, j;

	*tenant = NULL;
	for (i = 0; i < policy->tenant_count; i++) {
		t = &policy->tenants[i];
		for (j = 0; j < t->uid_count; j++) {
			if (t->uids[j] == uid) {
				*tenant = t;
				return 0;
			}
		}
	}

	for (i = 0; i < policy->tenant_count; i++) {
		t = &policy->tenants[i];
		if (!tenant_has_group(t, gid, groups, group_count))
			continue;
		if (found != NULL) {
			snprintf(err, errlen, "uid %lu matches tenants %s and "
			    "%s by group; list the user in one tenant's users",
			    (unsigned long)uid, found->name, t->name);
			return -1;
		}
		found = t;
	}
	if (found == NULL) {
		snprintf(err, errlen, "uid %lu belongs to no tenant; add the "
		    "user or one of its groups to a tenant in %s",
		    (unsigned long)uid, policy->file);
		return -1;
	}
	*tenant = found;
	return 0;
}

int
policy_tenant_for_token(const struct policy *policy, const char *token,
    const struct policy_tenant **tenant, const char **token_id)
{
	unsigned char digest[POLICY_SHA256_LEN];
	const struct policy_token *tok;
	size_t i, j;
	int ret = -1;

	*tenant = NULL;
	*token_id = NULL;
	if (EVP_Digest(token, strlen(token), digest, NULL, EVP_sha256(),
	    NULL) != 1)
		goto out;

	/* Compare every hash, so the time does not depend on the match. */
	for (i = 0; i < policy->tenant_count; i++) {
		for (j = 0; j < policy->tenants[i].token_count; j++) {
			tok = &policy->tenants[i].tokens[j];
			if (CRYPTO_memcmp(tok->hash, digest,
			    sizeof(digest)) == 0 && *tenant == NULL) {
				*tenant = &policy->tenants[i];
				*token_id = tok->id;
				ret = 0;
			}
		}
	}
out:
	OPENSSL_cleanse(digest, sizeof(digest));
	return ret;
}

int
policy_node_for_token(const struct policy *policy, const char *token,
    const struct policy_tenant **tenant, const struct policy_node **node)
{
	unsigned char digest[POLICY_SHA256_LEN];
	const struct policy_node *n;
	size_t i, j;
	int ret = -1;

	*tenant = NULL;
	*node = NULL;
	if (EVP_Digest(token, strlen(token), digest, NULL, EVP_sha256(),
	    NULL) != 1)
		goto out;

	/* Compare every hash, so the time does not depend on the match. */
	for (i = 0; i < policy->tenant_count; i++) {
		for (j = 0; j < policy->tenants[i].node_count; j++) {
			n = &policy->tenants[i].nodes[j];
			if (CRYPTO_memcmp(n->hash, digest,
			    sizeof(digest)) == 0 && *node == NULL) {
				*tenant = &policy->tenants[i];
				*node = n;
				ret = 0;
			}
		}
	}
out:
	OPENSSL_cleanse(digest, sizeof(digest));
	return ret;
}

int
policy_node_grants(const struct policy_node *node, long long cert_id,
    const char *label)
{
	char id[24];
	size_t i;

	snprintf(id, sizeof(id), "%lld", cert_id);
	for (i = 0; i < node->grant_count; i++)
		if (strcmp(node->grants[i].text, id) == 0 ||
		    (label != NULL && strcmp(node->grants[i].text,
		    label) == 0))
			return 1;
	return 0;
}

/* Fills decision with "SUBJECT: allowed" or "denied" and the message. */
static int __attribute__((format(printf, 5, 6)))
decide(const char *subject, struct policy_decision *decision, int allowed,
    const struct config_origin *origin, const char *fmt, ...)
{
	char quoted[POLICY_QUOTE_BUFSIZE];
	va_list ap;
	int n;

	memset(decision, 0, sizeof(*decision));
	decision->allowed = allowed;
	if (origin != NULL)
		decision->origin = *origin;
	n = snprintf(decision->reason, sizeof(decision->reason), "%s: %s",
	    policy_quote(subject, quoted), allowed ? "allowed" : "denied");
	if (n > 0 && (size_t)n < sizeof(decision->reason)) {
		va_start(ap, fmt);
		vsnprintf(decision->reason + n,
		    sizeof(decision->reason) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return allowed;
}

static int
record(const struct policy_tenant *tenant, const char *subject,
    struct policy_decision *decision)
{
	policy_record_decision(tenant, subject, decision);
	return decision->allowed;
}

/* Checks value against one of the tenant's lists, named key in the file. */
static int
check_list(const struct policy_tenant *tenant, const char *key,
    const struct policy_word *words, size_t count, const char *value,
    const char *subject, struct policy_decision *decision)
{
	size_t i;

	if (tenant == NULL)
		return decide(subject, decision, 0, NULL, ", no "
		    "tenant");
	for (i = 0; i < count; i++)
		if (strcmp(words[i].text, value) == 0)
			return decide(subject, decision, 1,
			    &words[i].origin, " by %s at %s:%d:%d", key,
			    words[i].origin.file, words[i].origin.line,
			    words[i].origin.column);
	if (count == 0)
		return decide(subject, decision, 0, NULL, ", tenant "
		    "%s has no %s statement", tenant->name, key);
	return decide(subject, decision, 0, NULL, ", not in the "
	    "%s of tenant %s", key, tenant->name);
}

int
policy_check_issuer(const struct policy_tenant *tenant, const char *issuer,
    struct policy_decision *decision)
{
	char subject[POLICY_QUOTE_BUFSIZE + 8];

	snprintf(subject, sizeof(subject), "issuer %s", issuer);
	check_list(tenant, "issuers", tenant ? tenant->issuers : NULL,
	    tenant ? tenant->issuer_count : 0, issuer, subject, decision);
	return record(tenant, subject, decision);
}

int
policy_check_account(const struct policy_tenant *tenant,
    const char *account, struct policy_decision *decision)
{
	char subject[POLICY_QUOTE_BUFSIZE + 8];

	snprintf(subject, sizeof(subject), "account %s", account);
	check_list(tenant, "accounts", tenant ? tenant->accounts : NULL,
	    tenant ? tenant->account_count : 0, account, subject, decision);
	return record(tenant, subject, decision);
}

int
policy_check_challenge(const struct policy_tenant *tenant,
    const char *challenge, struct policy_decision *decision)
{
	char subject[POLICY_QUOTE_BUFSIZE + 16];

	snprintf(subject, sizeof(subject), "challenge %s", challenge);
	check_list(tenant, "challenges",
	    tenant ? tenant->challenges : NULL,
	    tenant ? tenant->challenge_count : 0, challenge, subject,
	    decision);
	return record(tenant, subject, decision);
}

int
policy_check_key_type(const struct policy_tenant *tenant,
    enum key_type type, struct policy_decision *decision)
{
	const char *name = "(unknown)";
	char subject[64];

	if ((unsigned int)type < KEY_TYPE_COUNT)
		name = key_type_name(type);
	snprintf(subject, sizeof(subject), "key type %s", name);
	check_list(tenant, "key-types",
	    tenant ? tenant->key_types : NULL,
	    tenant ? tenant->key_type_count : 0, name, subject, decision);
	return record(tenant, subject, decision);
}

static const char *const export_names[] = { "hsm", "wrapped" };

int
policy_export_parse(const char *text, enum policy_export *mode)
{
	size_t i;

	for (i = 0; i < sizeof(export_names) / sizeof(export_names[0]); i++)
		if (strcmp(text, export_names[i]) == 0) {
			*mode = (enum policy_export)i;
			return 0;
		}
	return -1;
}

const char *
policy_export_name(enum policy_export mode)
{
	return (unsigned int)mode < sizeof(export_names) /
	    sizeof(export_names[0]) ? export_names[mode] : "(unknown)";
}

/*
 * Allows a mode that the tenant's key-export statement lists. Without
 * that statement only hsm is allowed, so that no key becomes
 * extractable unless the policy says so.
 */
int
policy_check_key_export(const struct policy_tenant *tenant,
    enum policy_export mode, struct policy_decision *decision)
{
	const struct config_origin *origin;
	char subject[64];

	snprintf(subject, sizeof(subject), "key export %s",
	    policy_export_name(mode));
	if (tenant == NULL) {
		decide(subject, decision, 0, NULL, ", no tenant");
		return record(tenant, subject, decision);
	}
	origin = &tenant->key_export_origin;
	if (origin->line == 0)
		decide(subject, decision, mode == POLICY_EXPORT_HSM, NULL,
		    mode == POLICY_EXPORT_HSM ? " by default (tenant %s has "
		    "no key-export statement)" : ", tenant %s has no "
		    "key-export statement (add key-export hsm wrapped)",
		    tenant->name);
	else if (tenant->key_exports & (1u << mode))
		decide(subject, decision, 1, origin, " by key-export at "
		    "%s:%d:%d", origin->file, origin->line, origin->column);
	else
		decide(subject, decision, 0, origin, ", not in the "
		    "key-export of tenant %s at %s:%d", tenant->name,
		    origin->file, origin->line);
	return record(tenant, subject, decision);
}

const struct policy_node *
policy_find_node(const struct policy_tenant *tenant, const char *name)
{
	size_t i;

	for (i = 0; tenant != NULL && i < tenant->node_count; i++)
		if (strcmp(tenant->nodes[i].name, name) == 0)
			return &tenant->nodes[i];
	return NULL;
}

/* A limit, the key that sets it and the unit written after its value. */
struct limit_ref {
	const struct policy_limit *limit;
	const char *key;
	const char *unit;
};

/*
 * Checks that value does not exceed the limit (or, with strict, stays
 * below it). An unset limit allows any value.
 */
static int
check_limit(const struct policy_tenant *tenant, struct limit_ref ref,
    long value, int strict, const char *subject,
    struct policy_decision *decision)
{
	const struct config_origin *o;
	int allowed;

	if (tenant == NULL)
		return decide(subject, decision, 0, NULL, ", no tenant");
	if (!ref.limit->set)
		return decide(subject, decision, 1, NULL, ", tenant %s has no "
		    "%s limit", tenant->name, ref.key);
	o = &ref.limit->origin;
	allowed = strict ? value < ref.limit->value :
	    value <= ref.limit->value;
	return decide(subject, decision, allowed, o, " by %s %ld%s at "
	    "%s:%d:%d", ref.key, ref.limit->value, ref.unit, o->file,
	    o->line, o->column);
}

int
policy_check_name_count(const struct policy_tenant *tenant, size_t count,
    struct policy_decision *decision)
{
	char subject[48];

	snprintf(subject, sizeof(subject), "%zu names", count);
	check_limit(tenant, (struct limit_ref){
	    tenant ? &tenant->max_names : NULL, "max-names", "" },
	    (long)count, 0, subject, decision);
	return record(tenant, subject, decision);
}

int
policy_check_lifetime(const struct policy_tenant *tenant, long seconds,
    struct policy_decision *decision)
{
	char subject[48];

	snprintf(subject, sizeof(subject), "lifetime of %ld seconds",
	    seconds);
	check_limit(tenant, (struct limit_ref){
	    tenant ? &tenant->max_lifetime : NULL, "max-lifetime", "s" },
	    seconds, 0, subject, decision);
	return record(tenant, subject, decision);
}

int
policy_check_certificates_held(const struct policy_tenant *tenant,
    long held, struct policy_decision *decision)
{
	char subject[64];

	snprintf(subject, sizeof(subject), "one more certificate with %ld "
	    "held", held);
	check_limit(tenant, (struct limit_ref){
	    tenant ? &tenant->max_certificates : NULL, "max-certificates",
	    "" }, held, 1, subject, decision);
	return record(tenant, subject, decision);
}

int
policy_check_rate(const struct policy_tenant *tenant, long issued_last_hour,
    long issued_last_day, struct policy_decision *decision)
{
	char subject[96];

	snprintf(subject, sizeof(subject), "one more certificate with %ld "
	    "issued in the last hour", issued_last_hour);
	if (!check_limit(tenant, (struct limit_ref){
	    tenant ? &tenant->rate_per_hour : NULL, "rate", "/hour" },
	    issued_last_hour, 1, subject, decision))
		return record(tenant, subject, decision);
	snprintf(subject, sizeof(subject), "one more certificate with %ld "
	    "issued in the last day", issued_last_day);
	check_limit(tenant, (struct limit_ref){
	    tenant ? &tenant->rate_per_day : NULL, "rate", "/day" },
	    issued_last_day, 1, subject, decision);
	return record(tenant, subject, decision);
}

static void
free_words(struct policy_word *words, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		free(words[i].text);
	free(words);
}

static void
free_tenant(struct policy_tenant *tenant)
{
	free(tenant->name);
	free(tenant->uids);
	free(tenant->gids);
	if (tenant->tokens != NULL)
		OPENSSL_cleanse(tenant->tokens,
		    tenant->token_count * sizeof(*tenant->tokens));
	free(tenant->tokens);
	for (size_t i = 0; i < tenant->node_count; i++) {
		OPENSSL_cleanse(tenant->nodes[i].hash,
		    sizeof(tenant->nodes[i].hash));
		free_words(tenant->nodes[i].grants,
		    tenant->nodes[i].grant_count);
		free(tenant->nodes[i].recipient_der);
	}
	free(tenant->nodes);
	free(tenant->rules);
	free_words(tenant->issuers, tenant->issuer_count);
	free_words(tenant->accounts, tenant->account_count);
	free_words(tenant->challenges, tenant->challenge_count);
	free_words(tenant->key_types, tenant->key_type_count);
}

void
policy_free(struct policy *policy)
{
	size_t i;

	if (policy == NULL)
		return;
	for (i = 0; i < policy->tenant_count; i++)
		free_tenant(&policy->tenants[i]);
	free(policy->tenants);
	for (i = 0; i < policy->warning_count; i++)
		free(policy->warnings[i]);
	free(policy->warnings);
	free(policy->file);
	free(policy);
}
