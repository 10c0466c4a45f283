/*
 * IPC_KEY_WRAP: exports a certificate key encrypted to an edge node's
 * recipient key. The signer decides from what it has itself: the key's
 * label binds it to the tenant, CKA_EXTRACTABLE says it was generated for
 * wrapped export, and the policy it loaded lists the tenant's key-export
 * modes and nodes with their recipient keys. Which certificate a node may
 * receive is the broker's decision, because the signer has no
 * certificate ids.
 */
#include "signer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ipc/ipc.h"
#include "signer/audit.h"
#include "signer/request.h"

const char *const key_wrap_request_members[] = {
	"key_id", "tenant", "node", NULL,
};

/* Records the wrap: key, node and recipient, never the blob. */
static void
audit_wrap(const struct request *req, const struct policy_node *node,
    const char *key_type)
{
	json_t *record;

	record = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "action",
	    "key.wrap", "outcome", "success", "tenant", req->tenant,
	    "key_id", req->key_id, "key_type", key_type, "node", node->name,
	    "recipient", node->recipient_fingerprint);
	signer_audit_send(record);
}

/* Builds the result from the blob: standard base64 with padding. */
static int
wrap_result(struct request *req, const struct policy_node *node,
    const struct wrapped_key *wk, const char *key_type)
{
	size_t room = 4 * ((wk->blob_len + 2) / 3) + 1;
	char *data = malloc(room);

	if (data == NULL)
		return reply_error(req, "internal", "out of memory");
	EVP_EncodeBlock((unsigned char *)data, wk->blob, (int)wk->blob_len);
	req->result = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "key_id",
	    req->key_id, "node", node->name, "recipient",
	    node->recipient_fingerprint, "oaep_hash", wk->oaep_hash,
	    "key_type", key_type, "data", data);
	free(data);
	if (req->result == NULL)
		return reply_error(req, "internal", "out of memory");
	return 0;
}

/* Wraps the loaded key and maps the token's results to replies. */
static int
wrap_loaded_key(struct request *req, const struct policy_node *node,
    const unsigned char id[KEY_ID_BYTES], EVP_PKEY *pkey)
{
	struct signer_token *token = req->ctx->token;
	struct wrapped_key wk;
	enum key_type type;
	char message[SIGNER_ERR_MAX];
	int rc;

	if (key_type_of(pkey, &type) != 0)
		return reply_error(req, "unsupported-key", "key %s is not of "
		    "a supported type", req->key_id);
	rc = token_wrap_key(token, id, node->recipient_der,
	    node->recipient_der_len, &wk, message, sizeof(message));
	if (rc == -ENOENT)
		return reply_error(req, "unknown-key", "no key with id %s in "
		    "token '%s'", req->key_id, token->label);
	if (rc == -EPERM)
		return reply_error(req, "policy-denied", "key %s is not "
		    "extractable, because it was generated for hsm export or "
		    "imported, so it is never wrapped", req->key_id);
	if (rc != 0)
		return reply_error(req, "hsm-failure", "wrapping key %s for "
		    "node %s: %s", req->key_id, node->name, message);
	rc = wrap_result(req, node, &wk, key_type_name(type));
	if (rc == 0)
		audit_wrap(req, node, key_type_name(type));
	wrapped_key_clear(&wk);
	return rc;
}

int
handle_key_wrap(struct request *req)
{
	const struct policy_tenant *tenant;
	const struct policy_node *node;
	struct policy_decision decision;
	unsigned char id[KEY_ID_BYTES];
	char label[256];
	char quoted[POLICY_QUOTE_BUFSIZE];
	const char *node_name;
	EVP_PKEY *pkey = NULL;
	int rc;

	if (ipc_get_string(req->body, "node", POLICY_TOKEN_ID_MAX, 0,
	    &node_name, req->message, sizeof(req->message)) != 0)
		return SIGNER_PROTOCOL_ERROR;
	snprintf(req->names, sizeof(req->names), "node %s",
	    policy_quote(node_name, quoted));
	rc = get_tenant(req, &tenant);
	if (rc == 0)
		rc = load_key(req, &pkey, id, label, sizeof(label));
	if (rc != 0)
		goto out;
	if (!authorize_certificate_key(tenant, label, req->key_id,
	    &decision) ||
	    !authorize_key_wrap(tenant, node_name, &node, &decision)) {
		rc = reply_denied(req, &decision);
		goto out;
	}
	rc = wrap_loaded_key(req, node, id, pkey);
out:
	EVP_PKEY_free(pkey);
	return rc;
}
