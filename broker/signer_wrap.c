/*
 * The broker's side of IPC_KEY_WRAP. The reply is checked member by
 * member, so that a compromised signer cannot push arbitrary text into
 * the state database or the distribution endpoint's responses.
 */
#include "broker/signer_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

/*
 * An RSA-4096 key wrapped to an RSA-4096 recipient is about 2,900 bytes,
 * about 3,900 in base64 (an estimate from the PKCS#8 size); the limit
 * leaves room.
 */
#define WRAPPED_DATA_MAX (32 * 1024)

static const char *const wrap_members[] = {
	"key_id", "node", "recipient", "oaep_hash", "key_type", "data", NULL,
};
static const char *const oaep_hashes[] = { "sha256", "sha1", NULL };

/* Returns 1 for "sha256:" and 64 lowercase hex digits. */
static int
is_fingerprint(const char *text)
{
	return strncmp(text, "sha256:", 7) == 0 && strlen(text) == 71 &&
	    strspn(text + 7, "0123456789abcdef") == 64;
}

/* Returns 1 for standard base64 with padding, whole 4-byte groups. */
static int
is_base64(const char *text)
{
	size_t len = strlen(text), body;

	body = strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789+/");
	return len > 0 && len % 4 == 0 && len - body <= 2 &&
	    strspn(text + body, "=") == len - body;
}

/* Checks the result against the request; fills out. */
static int
read_wrapped(const json_t *result, const char *key_id, const char *node,
    struct signer_wrapped *out, char *why, size_t whylen)
{
	const char *id, *name, *recipient, *data, *type;
	enum key_type parsed;
	int hash;

	if (ipc_get_key_id(result, "key_id", &id, why, whylen) != 0 ||
	    ipc_get_string(result, "node", 64, 0, &name, why, whylen) != 0 ||
	    ipc_get_string(result, "recipient", 71, 0, &recipient, why,
	    whylen) != 0 ||
	    ipc_get_choice(result, "oaep_hash", oaep_hashes, &hash, why,
	    whylen) != 0 ||
	    ipc_get_string(result, "key_type", 15, 0, &type, why,
	    whylen) != 0 ||
	    ipc_get_string(result, "data", WRAPPED_DATA_MAX, 0, &data, why,
	    whylen) != 0)
		return -1;
	if (strcmp(id, key_id) != 0 || strcmp(name, node) != 0) {
		snprintf(why, whylen, "the reply names key %s for node %.64s, "
		    "not the key and node requested", id, name);
		return -1;
	}
	if (!is_fingerprint(recipient) || key_type_parse(type, &parsed) != 0 ||
	    !is_base64(data)) {
		snprintf(why, whylen, "member \"recipient\", \"key_type\" or "
		    "\"data\" is malformed");
		return -1;
	}
	snprintf(out->node, sizeof(out->node), "%s", name);
	snprintf(out->recipient, sizeof(out->recipient), "%s", recipient);
	snprintf(out->oaep_hash, sizeof(out->oaep_hash), "%s",
	    oaep_hashes[hash]);
	snprintf(out->key_type, sizeof(out->key_type), "%s", type);
	out->data = strdup(data);
	if (out->data == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	return 0;
}

int
signer_key_wrap(struct signer_client *signer, const char *key_id,
    const char *node, struct signer_wrapped *out, char *err, size_t errlen)
{
	json_t *request, *result = NULL;
	char why[256];
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (signer->tenant == NULL) {
		snprintf(err, errlen, "no tenant set for the signer request");
		return -1;
	}
	request = json_pack("{s:s, s:s, s:s}", "key_id", key_id, "tenant",
	    signer->tenant, "node", node);
	if (request == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (signer_request(signer, IPC_KEY_WRAP, request, wrap_members,
	    &result, err, errlen) != 0)
		goto out;
	if (read_wrapped(result, key_id, node, out, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "invalid signer reply to key-wrap: %s",
		    why);
		signer_wrapped_clear(out);
		goto out;
	}
	rc = 0;
out:
	json_decref(request);
	json_decref(result);
	return rc;
}

void
signer_wrapped_clear(struct signer_wrapped *wrapped)
{
	free(wrapped->data);
	memset(wrapped, 0, sizeof(*wrapped));
}
