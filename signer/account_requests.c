/*
 * The account lifecycle requests of ipc/ipc.h: the External Account
 * Binding MAC, the inner JWS of a key rollover, the destruction of the
 * rolled-over key and a revocation signed by a certificate key. Each one
 * decides from what the signer can verify: key labels, the issuer's
 * directory origin, the tenant's policy and what this signer built.
 */
#include "signer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/ipc.h"
#include "signer/audit.h"
#include "signer/request.h"

#define LABEL_MAX 256
#define NAME_TEXT_MAX 256
#define CERTIFICATE_TEXT_MAX (IPC_MAX_PAYLOAD / 2)
#define REASON_MAX 10			/* RFC 5280 reason codes 0 to 10 */
#define REASON_UNUSED 7

const char *const eab_sign_request_members[] = {
	"key_id", "tenant", "url", NULL,
};
const char *const key_change_request_members[] = {
	"key_id", "new_key_id", "tenant", "url", "account", NULL,
};
const char *const key_destroy_request_members[] = {
	"key_id", "tenant", NULL,
};
const char *const revoke_sign_request_members[] = {
	"key_id", "tenant", "url", "nonce", "issuer", "certificate",
	"reason", NULL,
};

/* Records a denial that no policy library check makes. Returns 0. */
static int
deny(const struct policy_tenant *tenant, const char *subject,
    struct policy_decision *decision, const char *reason)
{
	memset(decision, 0, sizeof(*decision));
	snprintf(decision->reason, sizeof(decision->reason), "%s: denied, %s",
	    subject, reason);
	policy_record_decision(tenant, subject, decision);
	return 0;
}

/* Gets a required URL member and checks its form. */
static int
get_url(struct request *req, const char *name, const char **url)
{
	if (ipc_get_string(req->body, name, 4096, 0, url, req->message,
	    sizeof(req->message)) != 0 ||
	    jws_check_url(*url, req->message, sizeof(req->message)) != 0)
		return SIGNER_PROTOCOL_ERROR;
	return 0;
}

/* Loads an account key and decides whether tenant may use it for url. */
static int
load_account_key(struct request *req, const struct policy_tenant *tenant,
    const char *url, EVP_PKEY **pkey, unsigned char id[KEY_ID_BYTES],
    struct key_binding *binding)
{
	struct policy_decision decision;
	char label[LABEL_MAX];
	int rc, allowed;

	rc = load_key(req, pkey, id, label, sizeof(label));
	if (rc != 0)
		return rc;
	allowed = authorize_account_key(req->ctx->config, tenant, label,
	    req->key_id, url, binding, &decision);
	snprintf(req->account, sizeof(req->account), "%s", binding->account);
	return allowed ? 0 : reply_denied(req, &decision);
}

int
handle_eab_sign(struct request *req)
{
	const struct config_issuer *issuer;
	const struct policy_tenant *tenant;
	struct key_binding binding;
	unsigned char id[KEY_ID_BYTES];
	char err[SIGNER_ERR_MAX];
	EVP_PKEY *pkey = NULL;
	const char *url;
	int rc;

	rc = get_url(req, "url", &url);
	if (rc == 0)
		rc = get_tenant(req, &tenant);
	if (rc == 0)
		rc = load_account_key(req, tenant, url, &pkey, id, &binding);
	if (rc != 0)
		goto out;
	issuer = config_find_issuer(req->ctx->config, binding.issuer);
	if (issuer == NULL || issuer->eab_key_id == NULL) {
		rc = reply_error(req, "unknown-key", "issuer %s has no "
		    "eab-key-id in %s", binding.issuer,
		    req->ctx->config->path);
		goto out;
	}
	rc = eab_sign(req->ctx->token, issuer, pkey, url, &req->result, err,
	    sizeof(err));
	if (rc == -ENOENT)
		rc = reply_error(req, "unknown-key", "%s", err);
	else if (rc != 0)
		rc = reply_error(req, "hsm-failure", "%s", err);
out:
	EVP_PKEY_free(pkey);
	return rc;
}

/* Loads the key named by "new_key_id". */
static int
load_new_key(struct request *req, EVP_PKEY **pkey,
    unsigned char id[KEY_ID_BYTES], char *label, size_t labellen)
{
	const char *hex;
	int rc;

	if (ipc_get_key_id(req->body, "new_key_id", &hex, req->message,
	    sizeof(req->message)) != 0 || key_id_from_hex(hex, id) != 0)
		return SIGNER_PROTOCOL_ERROR;
	rc = token_find_key(req->ctx->token, id, pkey, label, labellen);
	if (rc == -ENOENT)
		return reply_error(req, "unknown-key", "no key with id %s in "
		    "token '%s'", hex, req->ctx->token->label);
	if (rc == -EBADMSG)
		return reply_error(req, "hsm-failure", "key %s in token '%s' "
		    "has no valid public key: its public key object or "
		    "CKA_PUBLIC_KEY_INFO is missing, invalid or another "
		    "key's",
		    hex, req->ctx->token->label);
	if (rc != 0)
		return reply_error(req, "hsm-failure", "reading key %s from "
		    "token '%s' failed", hex, req->ctx->token->label);
	return 0;
}

/*
 * Checks that the new key belongs to the old key's issuer and account,
 * and that the account URL has the key-change URL's origin.
 */
static int
check_rollover(struct request *req, const struct policy_tenant *tenant,
    const struct key_binding *old, const char *label, const char *url,
    const char *account_url)
{
	struct policy_decision decision;
	struct key_binding new;
	struct url_origin a, b;
	char hex[2 * KEY_ID_BYTES + 1];
	const char *p = strrchr(label, '/');

	snprintf(hex, sizeof(hex), "%s", p != NULL ? p + 1 : "");
	if (key_label_parse(label, hex, &new) != 0 ||
	    new.purpose != KEY_PURPOSE_ACCOUNT ||
	    strcmp(new.issuer, old->issuer) != 0 ||
	    strcmp(new.account, old->account) != 0) {
		deny(tenant, "new key", &decision, "it is not a key of the "
		    "same issuer and account as the old key");
		return reply_denied(req, &decision);
	}
	if (url_origin_parse(url, &a, req->message,
	    sizeof(req->message)) != 0 ||
	    url_origin_parse(account_url, &b, req->message,
	    sizeof(req->message)) != 0 || !url_origin_equal(&a, &b)) {
		deny(tenant, "account URL", &decision, "its origin is not "
		    "the key-change URL's");
		return reply_denied(req, &decision);
	}
	return 0;
}

int
handle_key_change(struct request *req)
{
	const struct policy_tenant *tenant;
	struct key_binding binding;
	unsigned char old_id[KEY_ID_BYTES], new_id[KEY_ID_BYTES];
	char label[LABEL_MAX], err[SIGNER_ERR_MAX];
	EVP_PKEY *old_key = NULL, *new_key = NULL;
	const char *url, *account_url;
	int rc;

	rc = get_url(req, "url", &url);
	if (rc == 0)
		rc = get_url(req, "account", &account_url);
	if (rc == 0)
		rc = get_tenant(req, &tenant);
	if (rc == 0)
		rc = load_account_key(req, tenant, url, &old_key, old_id,
		    &binding);
	if (rc == 0)
		rc = load_new_key(req, &new_key, new_id, label,
		    sizeof(label));
	if (rc == 0 && memcmp(old_id, new_id, KEY_ID_BYTES) == 0)
		rc = reply_error(req, "policy-denied", "the new key is the "
		    "old key");
	if (rc == 0)
		rc = check_rollover(req, tenant, &binding, label, url,
		    account_url);
	if (rc == 0 && keychange_inner_jws(new_key, old_key, url,
	    account_url, &req->result, err, sizeof(err)) != 0)
		rc = reply_error(req, "hsm-failure", "%s", err);
	if (rc == 0 && keychange_remember(&req->ctx->keychange, tenant->name,
	    old_id, new_id, req->result) != 0)
		rc = reply_error(req, "internal", "recording the key change "
		    "failed");
	EVP_PKEY_free(old_key);
	EVP_PKEY_free(new_key);
	return rc;
}

/*
 * Decides the inner JWS of a keyChange payload signed with the old key
 * key_id: it must be the one handle_key_change() built last. Returns 1
 * when allowed, 0 with the reason in decision.
 */
int
authorize_key_change_payload(struct request *req,
    const struct policy_tenant *tenant,
    const unsigned char key_id[KEY_ID_BYTES], const json_t *inner,
    struct policy_decision *decision)
{
	char err[POLICY_REASON_MAX / 2];

	if (keychange_check_outer(&req->ctx->keychange, tenant->name, key_id,
	    inner, err, sizeof(err)) != 0)
		return deny(tenant, "keyChange payload", decision, err);
	req->ctx->keychange.outer_signed = 1;
	return 1;
}

/*
 * Destroys the old key of the last rollover, once its outer JWS was
 * signed. NOTE: the signer cannot see the CA's reply, so it relies on the
 * broker to ask only after the CA confirmed the key change.
 */
int
handle_key_destroy(struct request *req)
{
	struct keychange_record *record = &req->ctx->keychange;
	const struct policy_tenant *tenant;
	struct policy_decision decision;
	unsigned char id[KEY_ID_BYTES];
	char err[SIGNER_ERR_MAX], why[POLICY_REASON_MAX / 2];
	const char *hex, *purpose;
	int rc;

	if (ipc_get_key_id(req->body, "key_id", &hex, req->message,
	    sizeof(req->message)) != 0 || key_id_from_hex(hex, id) != 0)
		return SIGNER_PROTOCOL_ERROR;
	snprintf(req->key_id, sizeof(req->key_id), "%s", hex);
	rc = get_tenant(req, &tenant);
	if (rc != 0)
		return rc;
	if (record->used && record->outer_signed &&
	    strcmp(record->tenant, tenant->name) == 0 &&
	    memcmp(record->old_id, id, KEY_ID_BYTES) == 0) {
		purpose = "account";
	} else if (fresh_keys_check_discard(req->ctx->fresh_keys,
	    tenant->name, id, why, sizeof(why)) == 0) {
		purpose = "certificate";
	} else {
		deny(tenant, "key destroy", &decision, why);
		return reply_denied(req, &decision);
	}
	rc = token_destroy_key(req->ctx->token, id, err, sizeof(err));
	if (rc == -ENOENT)
		return reply_error(req, "unknown-key", "%s", err);
	if (rc != 0)
		return reply_error(req, "hsm-failure", "%s", err);
	if (strcmp(purpose, "account") == 0)
		memset(record, 0, sizeof(*record));
	else
		fresh_keys_forget(req->ctx->fresh_keys, id);
	signer_audit_send(json_pack("{s:s, s:s, s:s, s:s, s:s}", "action",
	    "key.destroy", "outcome", "success", "tenant", tenant->name,
	    "key_id", hex, "purpose", purpose));
	req->result = json_pack("{s:s}", "key_id", hex);
	return req->result != NULL ? 0 :
	    reply_error(req, "internal", "out of memory");
}

/* Reads the revocation members: issuer, certificate and reason. */
static int
get_revocation(struct request *req, const char **issuer,
    const char **certificate, json_int_t *reason)
{
	const json_t *value = json_object_get(req->body, "reason");

	if (ipc_get_string(req->body, "issuer", NAME_TEXT_MAX, 0, issuer,
	    req->message, sizeof(req->message)) != 0 ||
	    ipc_get_string(req->body, "certificate", CERTIFICATE_TEXT_MAX, 0,
	    certificate, req->message, sizeof(req->message)) != 0)
		return SIGNER_PROTOCOL_ERROR;
	*reason = -1;
	if (value == NULL)
		return 0;
	if (!json_is_integer(value) || json_integer_value(value) < 0 ||
	    json_integer_value(value) > REASON_MAX ||
	    json_integer_value(value) == REASON_UNUSED) {
		snprintf(req->message, sizeof(req->message), "member "
		    "\"reason\" is not an RFC 5280 reason code");
		return SIGNER_PROTOCOL_ERROR;
	}
	*reason = json_integer_value(value);
	return 0;
}

/* Decides the certificate key, the issuer and the URL's origin. */
static int
authorize_revocation(struct request *req, const struct policy_tenant *tenant,
    const char *issuer_name, const char *url, EVP_PKEY **pkey)
{
	const struct config_issuer *issuer;
	struct policy_decision decision;
	unsigned char id[KEY_ID_BYTES];
	struct url_origin a, b;
	char label[LABEL_MAX];
	int rc;

	rc = load_key(req, pkey, id, label, sizeof(label));
	if (rc != 0)
		return rc;
	if (!authorize_certificate_key(tenant, label, req->key_id, &decision))
		return reply_denied(req, &decision);
	issuer = config_find_issuer(req->ctx->config, issuer_name);
	if (issuer == NULL) {
		deny(tenant, "issuer", &decision, "no issuer block of that "
		    "name");
		return reply_denied(req, &decision);
	}
	if (!policy_check_issuer(tenant, issuer->name, &decision))
		return reply_denied(req, &decision);
	if (url_origin_parse(issuer->directory, &a, req->message,
	    sizeof(req->message)) != 0 ||
	    url_origin_parse(url, &b, req->message,
	    sizeof(req->message)) != 0 || !url_origin_equal(&a, &b)) {
		deny(tenant, "URL", &decision, "its origin is not the "
		    "issuer's");
		return reply_denied(req, &decision);
	}
	return 0;
}

int
handle_revoke_sign(struct request *req)
{
	const struct policy_tenant *tenant;
	struct policy_decision decision;
	struct jws_input in = { 0 };
	const char *issuer, *certificate;
	EVP_PKEY *pkey = NULL;
	json_int_t reason;
	char problem[POLICY_REASON_MAX / 2], *text = NULL;
	json_t *payload;
	int rc;

	rc = get_url(req, "url", &in.url);
	if (rc == 0 && (ipc_get_string(req->body, "nonce", 1024, 0,
	    &in.nonce, req->message, sizeof(req->message)) != 0 ||
	    jws_check_nonce(in.nonce, req->message,
	    sizeof(req->message)) != 0))
		rc = SIGNER_PROTOCOL_ERROR;
	if (rc == 0)
		rc = get_revocation(req, &issuer, &certificate, &reason);
	if (rc == 0)
		rc = get_tenant(req, &tenant);
	if (rc == 0)
		rc = authorize_revocation(req, tenant, issuer, in.url, &pkey);
	if (rc == 0 && revoke_check_certificate(pkey, certificate, problem,
	    sizeof(problem)) != 0) {
		deny(tenant, "certificate", &decision, problem);
		rc = reply_denied(req, &decision);
	}
	if (rc != 0)
		goto out;
	payload = json_pack("{s:s}", "certificate", certificate);
	if (payload != NULL && reason >= 0)
		json_object_set_new(payload, "reason", json_integer(reason));
	text = payload != NULL ? json_dumps(payload, JSON_COMPACT) : NULL;
	json_decref(payload);
	in.payload = text;
	if (text == NULL)
		rc = reply_error(req, "internal", "out of memory");
	else if (jws_sign(pkey, &in, &req->result, problem,
	    sizeof(problem)) != 0)
		rc = reply_error(req, "hsm-failure", "%s", problem);
out:
	free(text);
	EVP_PKEY_free(pkey);
	return rc;
}
