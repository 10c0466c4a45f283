/*
 * The signer's own policy checks. The broker names the tenant of every
 * request, but the signer decides from what it can verify itself. That is
 * the binding in the key's label, the issuer's directory URL in the
 * configuration, the payload's shape and content, and the CSRs it built.
 * Each function records every decision through policy_record_decision()
 * and returns 1 when allowed, or 0 with the reason in decision.
 */
#include "signer.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * Fills and records a denial that no policy library check makes, with the
 * reason "SUBJECT: denied, DETAIL". Returns 0.
 */
static int __attribute__((format(printf, 4, 5)))
deny(const struct policy_tenant *tenant, const char *subject,
    struct policy_decision *decision, const char *fmt, ...)
{
	va_list ap;
	int n;

	memset(decision, 0, sizeof(*decision));
	n = snprintf(decision->reason, sizeof(decision->reason), "%s: denied, ",
	    subject);
	if (n > 0 && (size_t)n < sizeof(decision->reason)) {
		va_start(ap, fmt);
		vsnprintf(decision->reason + n,
		    sizeof(decision->reason) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	policy_record_decision(tenant, subject, decision);
	return 0;
}

/* Fills and records "SUBJECT: allowed". Returns 1. */
static int
allow(const struct policy_tenant *tenant, const char *subject,
    struct policy_decision *decision)
{
	memset(decision, 0, sizeof(*decision));
	decision->allowed = 1;
	snprintf(decision->reason, sizeof(decision->reason), "%s: allowed",
	    subject);
	policy_record_decision(tenant, subject, decision);
	return 1;
}

int
authorize_tenant(const struct policy *policy, const char *name,
    const struct policy_tenant **tenant, struct policy_decision *decision)
{
	char quoted[POLICY_QUOTE_BUFSIZE], subject[POLICY_QUOTE_BUFSIZE + 8];

	snprintf(subject, sizeof(subject), "tenant %s",
	    policy_quote(name, quoted));
	*tenant = policy_find_tenant(policy, name);
	if (*tenant == NULL)
		return deny(NULL, subject, decision, "no such tenant in "
		    "%s", policy->file);
	return allow(*tenant, subject, decision);
}

/* Finds the issuer that a key or request names in the configuration. */
static const struct config_issuer *
find_issuer(const struct custos_config *config,
    const struct policy_tenant *tenant, const char *name,
    struct policy_decision *decision)
{
	const struct config_issuer *issuer = NULL;
	char subject[KEY_NAME_MAX + 16];
	size_t i;

	for (i = 0; i < config->issuer_count; i++)
		if (strcmp(config->issuers[i].name, name) == 0)
			issuer = &config->issuers[i];
	snprintf(subject, sizeof(subject), "issuer %s", name);
	if (issuer == NULL)
		deny(tenant, subject, decision, "no issuer block of that "
		    "name in %s", config->path);
	return issuer;
}

/*
 * Decides a KEY_GENERATE request and fills the binding that the new key's
 * label records. issuer_name is NULL for a certificate key; account_name
 * NULL means the issuer's first account.
 */
int
authorize_key_generate(const struct custos_config *config,
    const struct policy_tenant *tenant, enum key_purpose purpose,
    const char *issuer_name, const char *account_name, enum key_type type,
    struct key_binding *binding, struct policy_decision *decision)
{
	const struct config_issuer *issuer;
	char quoted[POLICY_QUOTE_BUFSIZE], subject[POLICY_QUOTE_BUFSIZE + 8];

	memset(binding, 0, sizeof(*binding));
	binding->purpose = purpose;
	if (purpose == KEY_PURPOSE_CERTIFICATE) {
		snprintf(binding->tenant, sizeof(binding->tenant), "%s",
		    tenant->name);
		return policy_check_key_type(tenant, type, decision);
	}
	issuer = find_issuer(config, tenant, issuer_name, decision);
	if (issuer == NULL)
		return 0;
	if (account_name == NULL)
		account_name = issuer->account;
	snprintf(subject, sizeof(subject), "account %s",
	    policy_quote(account_name, quoted));
	if (!config_issuer_has_account(issuer, account_name))
		return deny(tenant, subject, decision, "issuer %s lists no "
		    "such account in %s", issuer->name, config->path);
	if (!policy_check_issuer(tenant, issuer->name, decision) ||
	    !policy_check_account(tenant, account_name, decision))
		return 0;
	snprintf(binding->issuer, sizeof(binding->issuer), "%s",
	    issuer->name);
	snprintf(binding->account, sizeof(binding->account), "%s",
	    account_name);
	return 1;
}

/* Reads the binding from a key's label; a key without one is denied. */
static int
read_binding(const struct policy_tenant *tenant, const char *label,
    const char *hex, enum key_purpose purpose, struct key_binding *binding,
    struct policy_decision *decision)
{
	const char *expected = purpose == KEY_PURPOSE_ACCOUNT ?
	    "an account key" : "a certificate key";
	char quoted[POLICY_QUOTE_BUFSIZE], subject[48];

	snprintf(subject, sizeof(subject), "key %s", hex);
	if (key_label_parse(label, hex, binding) != 0)
		return deny(tenant, subject, decision, "its label \"%s\" "
		    "binds it to nothing, expected %s", policy_quote(label,
		    quoted), expected);
	if (binding->purpose != purpose)
		return deny(tenant, subject, decision, "not %s (label "
		    "\"%s\")", expected, policy_quote(label, quoted));
	return 1;
}

/* Checks that url has the origin of the issuer's directory URL. */
static int
check_origin(const struct policy_tenant *tenant,
    const struct config_issuer *issuer, const char *url,
    struct policy_decision *decision)
{
	struct url_origin want, got;
	char want_text[300], got_text[300], err[128];
	char quoted[POLICY_QUOTE_BUFSIZE], subject[POLICY_QUOTE_BUFSIZE + 8];

	snprintf(subject, sizeof(subject), "URL %s",
	    policy_quote(url, quoted));
	if (url_origin_parse(issuer->directory, &want, err,
	    sizeof(err)) != 0)
		return deny(tenant, subject, decision, "the directory "
		    "URL of issuer %s is invalid: %s", issuer->name, err);
	if (url_origin_parse(url, &got, err, sizeof(err)) != 0)
		return deny(tenant, subject, decision, "%s", err);
	url_origin_format(&want, want_text, sizeof(want_text));
	url_origin_format(&got, got_text, sizeof(got_text));
	if (!url_origin_equal(&want, &got))
		return deny(tenant, subject, decision, "origin %.128s is "
		    "not %.128s, the origin of issuer %s", got_text,
		    want_text, issuer->name);
	return allow(tenant, subject, decision);
}

/*
 * Decides whether tenant may sign for url with the account key whose
 * label and hex id are given, and fills binding from the label.
 */
int
authorize_account_key(const struct custos_config *config,
    const struct policy_tenant *tenant, const char *label, const char *hex,
    const char *url, struct key_binding *binding,
    struct policy_decision *decision)
{
	const struct config_issuer *issuer;

	if (!read_binding(tenant, label, hex, KEY_PURPOSE_ACCOUNT, binding,
	    decision))
		return 0;
	issuer = find_issuer(config, tenant, binding->issuer, decision);
	if (issuer == NULL)
		return 0;
	if (!config_issuer_has_account(issuer, binding->account))
		return deny(tenant, "account", decision, "key %s belongs to "
		    "account %s, which issuer %s no longer lists", hex,
		    binding->account, issuer->name);
	if (!check_origin(tenant, issuer, url, decision))
		return 0;
	return policy_check_issuer(tenant, binding->issuer, decision) &&
	    policy_check_account(tenant, binding->account, decision);
}

/* Decides whether tenant may use the certificate key of that label. */
int
authorize_certificate_key(const struct policy_tenant *tenant,
    const char *label, const char *hex, struct policy_decision *decision)
{
	struct key_binding binding;
	char subject[48];

	if (!read_binding(tenant, label, hex, KEY_PURPOSE_CERTIFICATE,
	    &binding, decision))
		return 0;
	snprintf(subject, sizeof(subject), "key %s", hex);
	if (strcmp(binding.tenant, tenant->name) != 0)
		return deny(tenant, subject, decision, "bound to tenant "
		    "%s, not %s", binding.tenant, tenant->name);
	return allow(tenant, subject, decision);
}

/*
 * Decides whether a key of tenant may be wrapped for node_name: the
 * tenant's key-export must list wrapped, and the node must be one of the
 * tenant's with a recipient key. The caller checks the key's binding.
 */
int
authorize_key_wrap(const struct policy_tenant *tenant, const char *node_name,
    const struct policy_node **node, struct policy_decision *decision)
{
	char quoted[POLICY_QUOTE_BUFSIZE], subject[POLICY_QUOTE_BUFSIZE + 8];

	*node = NULL;
	if (!policy_check_key_export(tenant, POLICY_EXPORT_WRAPPED, decision))
		return 0;
	snprintf(subject, sizeof(subject), "node %s",
	    policy_quote(node_name, quoted));
	*node = policy_find_node(tenant, node_name);
	if (*node == NULL)
		return deny(tenant, subject, decision, "not a node of tenant "
		    "%s", tenant->name);
	if ((*node)->recipient_der == NULL)
		return deny(tenant, subject, decision, "it has no recipient "
		    "key (add recipient \"PATH\" to its node block)");
	return allow(tenant, subject, decision);
}

/* Checks the names and their count, and the lifetime when requested. */
static int
check_order(const struct policy_tenant *tenant,
    const struct acme_payload *payload, struct policy_decision *decision)
{
	struct timespec now;
	long long start;

	if (!policy_check_identifiers(tenant, payload->ids,
	    payload->id_count, NULL, decision) ||
	    !policy_check_name_count(tenant, payload->id_count, decision))
		return 0;
	/*
	 * NOTE: without notAfter the issuer chooses the lifetime, so
	 * max-lifetime binds only orders that request one.
	 */
	if (!payload->has_not_after)
		return 1;
	if (clock_gettime(CLOCK_REALTIME, &now) != 0)
		now.tv_sec = 0;
	start = payload->has_not_before ? payload->not_before : now.tv_sec;
	return policy_check_lifetime(tenant,
	    (long)(payload->not_after - start), decision);
}

static int
check_finalize(const struct policy_tenant *tenant,
    const struct csr_table *csrs, const char *csr,
    struct policy_decision *decision)
{
	const struct csr_record *record;

	switch (csr_table_find(csrs, tenant->name, csr, &record)) {
	case CSR_FOUND:
		return allow(tenant, "finalize CSR", decision);
	case CSR_OTHER_TENANT:
		return deny(tenant, "finalize CSR", decision, "it was "
		    "built for tenant %s (names %s), not %s", record->tenant,
		    record->names, tenant->name);
	case CSR_INVALID:
		return deny(tenant, "finalize CSR", decision, "member "
		    "\"csr\" is not base64url");
	default:
		return deny(tenant, "finalize CSR", decision, "this "
		    "signer did not build it");
	}
}

/*
 * Checks the names of the certificate that a revokeCert payload names:
 * with an account key the CA revokes any certificate whose names the
 * account controls, so each name must pass the tenant's policy.
 */
static int
check_revocation(const struct policy_tenant *tenant,
    const struct acme_payload *payload, struct policy_decision *decision)
{
	struct policy_identifier *ids;
	char err[POLICY_REASON_MAX / 2];
	int count, allowed;

	count = revoke_certificate_identifiers(json_string_value(
	    json_object_get(payload->object, "certificate")), &ids, err,
	    sizeof(err));
	if (count < 0)
		return deny(tenant, "revoked certificate", decision, "%s",
		    err);
	allowed = policy_check_identifiers(tenant, ids, (size_t)count, NULL,
	    decision);
	revoke_identifiers_free(ids, (size_t)count);
	return allowed;
}

/*
 * Classifies a JWS payload and decides its content: the identifiers,
 * their count and the lifetime of a new order or authorization, the CSR
 * of a finalize request and the names of a revoked certificate.
 */
int
authorize_payload(const struct policy_tenant *tenant,
    const struct csr_table *csrs, const char *text, int has_kid,
    struct acme_payload *payload, struct policy_decision *decision)
{
	char err[POLICY_REASON_MAX / 2], subject[48];

	if (acme_payload_classify(text, has_kid, payload, err,
	    sizeof(err)) != 0)
		return deny(tenant, "payload", decision, "%s", err);
	snprintf(subject, sizeof(subject), "%s payload",
	    acme_shape_name(payload->shape));
	allow(tenant, subject, decision);
	if (payload->shape == ACME_SHAPE_NEW_ORDER ||
	    payload->shape == ACME_SHAPE_NEW_AUTHZ)
		return check_order(tenant, payload, decision);
	if (payload->shape == ACME_SHAPE_FINALIZE)
		return check_finalize(tenant, csrs, payload->csr, decision);
	if (payload->shape == ACME_SHAPE_REVOCATION)
		return check_revocation(tenant, payload, decision);
	return 1;
}

/* Decides the names of a CSR_BUILD request (checked by csr_check_names). */
int
authorize_csr_names(const struct policy_tenant *tenant, const json_t *names,
    struct policy_decision *decision)
{
	size_t count = json_array_size(names), i;
	struct policy_identifier *ids;
	unsigned char addr[16];
	int allowed;

	ids = calloc(count, sizeof(*ids));
	if (ids == NULL)
		return deny(tenant, "CSR names", decision, "out of "
		    "memory");
	for (i = 0; i < count; i++) {
		ids[i].value = json_string_value(json_array_get(names, i));
		ids[i].type = inet_pton(AF_INET, ids[i].value, addr) == 1 ||
		    inet_pton(AF_INET6, ids[i].value, addr) == 1 ?
		    POLICY_ID_IP : POLICY_ID_DNS;
	}
	allowed = policy_check_identifiers(tenant, ids, count, NULL,
	    decision) && policy_check_name_count(tenant, count, decision);
	free(ids);
	return allowed;
}
