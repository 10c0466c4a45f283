/*
 * The broker's side of the signer's account requests (ipc/ipc.h, types
 * 10 to 13, and account key generation for a named account). Each
 * function sends one request and checks every member of the reply.
 */
#include "broker/account_signer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const jws_members[] = {
	"protected", "payload", "signature", NULL,
};
static const char *const key_members[] = {
	"key_id", "type", "jwk", "thumbprint", "uri", NULL,
};
static const char *const destroy_members[] = { "key_id", NULL };

/* Sends request and takes a flattened JWS result as *jws (a new object). */
static int
request_jws(struct signer_client *signer, uint16_t type, json_t *request,
    json_t **jws, char *err, size_t errlen)
{
	json_t *result = NULL;
	const char *name;
	const json_t *value;
	int rc = -1;

	*jws = NULL;
	if (request == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (signer_request(signer, type, request, jws_members, &result, err,
	    errlen) != 0)
		goto out;
	json_object_foreach(result, name, value) {
		if (!json_is_string(value) || json_string_length(value) == 0) {
			snprintf(err, errlen, "invalid signer reply to %s: "
			    "member \"%s\" is not a non-empty string",
			    ipc_type_name(type), name);
			goto out;
		}
	}
	if (json_object_size(result) != 3) {
		snprintf(err, errlen, "invalid signer reply to %s: not a "
		    "flattened JWS", ipc_type_name(type));
		goto out;
	}
	*jws = json_incref(result);
	rc = 0;
out:
	json_decref(request);
	json_decref(result);
	return rc;
}

int
signer_account_key_generate(struct signer_client *signer,
    const char *issuer, const char *account, const char *type,
    char key_id[IPC_KEY_ID_LEN + 1], char *err, size_t errlen)
{
	json_t *request, *result = NULL;
	const char *id;
	char why[128];
	int rc = -1;

	request = json_pack("{s:s, s:s, s:s, s:s, s:s}", "purpose", "account",
	    "tenant", signer->tenant, "issuer", issuer, "account", account,
	    "type", type);
	if (request == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (signer_request(signer, IPC_KEY_GENERATE, request, key_members,
	    &result, err, errlen) != 0)
		goto out;
	if (ipc_get_key_id(result, "key_id", &id, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "invalid signer reply to key-generate: "
		    "%s", why);
		goto out;
	}
	memcpy(key_id, id, IPC_KEY_ID_LEN + 1);
	rc = 0;
out:
	json_decref(request);
	json_decref(result);
	return rc;
}

int
signer_eab_sign(struct signer_client *signer, const char *key_id,
    const char *url, json_t **jws, char *err, size_t errlen)
{
	return request_jws(signer, IPC_EAB_SIGN, json_pack("{s:s, s:s, s:s}",
	    "key_id", key_id, "tenant", signer->tenant, "url", url), jws, err,
	    errlen);
}

int
signer_key_change(struct signer_client *signer, const char *old_key_id,
    const char *new_key_id, const char *url, const char *account_url,
    json_t **jws, char *err, size_t errlen)
{
	return request_jws(signer, IPC_KEY_CHANGE, json_pack("{s:s, s:s, s:s, "
	    "s:s, s:s}", "key_id", old_key_id, "new_key_id", new_key_id,
	    "tenant", signer->tenant, "url", url, "account", account_url),
	    jws, err, errlen);
}

int
signer_key_destroy(struct signer_client *signer, const char *key_id,
    char *err, size_t errlen)
{
	json_t *request, *result = NULL;
	int rc;

	request = json_pack("{s:s, s:s}", "key_id", key_id, "tenant",
	    signer->tenant);
	if (request == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rc = signer_request(signer, IPC_KEY_DESTROY, request, destroy_members,
	    &result, err, errlen);
	json_decref(request);
	json_decref(result);
	return rc;
}

int
signer_revoke_sign(struct signer_client *signer, const char *key_id,
    const char *url, const char *nonce, const char *issuer,
    const char *certificate, int reason, char **jws, char *err,
    size_t errlen)
{
	json_t *request, *result = NULL;
	int rc;

	*jws = NULL;
	request = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "key_id",
	    key_id, "tenant", signer->tenant, "url", url, "nonce", nonce,
	    "issuer", issuer, "certificate", certificate);
	if (request != NULL && reason >= 0 && json_object_set_new(request,
	    "reason", json_integer(reason)) != 0) {
		json_decref(request);
		request = NULL;
	}
	rc = request_jws(signer, IPC_REVOKE_SIGN, request, &result, err,
	    errlen);
	if (rc == 0 && (*jws = json_dumps(result, JSON_COMPACT)) == NULL) {
		snprintf(err, errlen, "out of memory");
		rc = -1;
	}
	json_decref(result);
	return rc;
}
