/*
 * The audit requests to the signer: a checkpoint signature over the log's
 * head and the audit key's public half. Each reply member is checked
 * before the broker writes it into the log or hands it to an auditor.
 */
#include "broker/audit_signer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const sign_members[] = {
	"key_id", "algorithm", "signed_at", "signature", NULL,
};
static const char *const key_members[] = { "key_id", "pem", NULL };

/* Checks the members of a checkpoint-sign result and copies them. */
static int
read_signature(const json_t *result, struct audit_signature *sig,
    char *why, size_t whylen)
{
	const char *key_id, *algorithm, *signed_at, *signature;
	long long seconds;

	if (ipc_get_key_id(result, "key_id", &key_id, why, whylen) != 0 ||
	    ipc_get_string(result, "algorithm", 31, 0, &algorithm, why,
	    whylen) != 0 ||
	    ipc_get_string(result, "signed_at", AUDIT_SIGNED_AT_MAX, 0,
	    &signed_at, why, whylen) != 0 ||
	    ipc_get_string(result, "signature", 512, 0, &signature, why,
	    whylen) != 0)
		return -1;
	if (strcmp(algorithm, AUDIT_CHECKPOINT_ALGORITHM) != 0 ||
	    audit_time_parse(signed_at, &seconds) != 0 ||
	    strspn(signature, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrs"
	    "tuvwxyz0123456789+/=") != strlen(signature)) {
		snprintf(why, whylen, "member \"algorithm\", \"signed_at\" or "
		    "\"signature\" has an invalid value");
		return -1;
	}
	snprintf(sig->key_id, sizeof(sig->key_id), "%s", key_id);
	snprintf(sig->algorithm, sizeof(sig->algorithm), "%s", algorithm);
	snprintf(sig->signed_at, sizeof(sig->signed_at), "%s", signed_at);
	sig->signature = strdup(signature);
	if (sig->signature == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	return 0;
}

int
audit_signer_sign(void *arg, const char *head, struct audit_signature *sig,
    char *err, size_t errlen)
{
	struct signer_client *signer = arg;
	json_t *request, *result = NULL;
	char why[128];
	int rc = -1;

	memset(sig, 0, sizeof(*sig));
	request = json_pack("{s:s}", "head", head);
	if (request == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (signer_request(signer, IPC_AUDIT_CHECKPOINT_SIGN, request,
	    sign_members, &result, err, errlen) != 0)
		goto out;
	if (read_signature(result, sig, why, sizeof(why)) != 0) {
		audit_signature_clear(sig);
		snprintf(err, errlen, "invalid signer reply to "
		    "audit-checkpoint-sign: %s", why);
		goto out;
	}
	rc = 0;
out:
	json_decref(request);
	json_decref(result);
	return rc;
}

int
audit_signer_key_public(struct signer_client *signer,
    char key_id[IPC_KEY_ID_LEN + 1], char **pem, char *err, size_t errlen)
{
	json_t *request, *result = NULL;
	const char *id, *text;
	char why[128];
	int rc = -1;

	*pem = NULL;
	request = json_object();
	if (request == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (signer_request(signer, IPC_AUDIT_KEY_PUBLIC, request, key_members,
	    &result, err, errlen) != 0)
		goto out;
	if (ipc_get_key_id(result, "key_id", &id, why, sizeof(why)) != 0 ||
	    ipc_get_string(result, "pem", 4096, 0, &text, why,
	    sizeof(why)) != 0) {
		snprintf(err, errlen, "invalid signer reply to "
		    "audit-key-public: %s", why);
		goto out;
	}
	if (strncmp(text, "-----BEGIN PUBLIC KEY-----\n", 27) != 0) {
		snprintf(err, errlen, "invalid signer reply to "
		    "audit-key-public: member \"pem\" is not a PEM public key");
		goto out;
	}
	memcpy(key_id, id, IPC_KEY_ID_LEN + 1);
	*pem = strdup(text);
	if (*pem == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = 0;
out:
	json_decref(request);
	json_decref(result);
	return rc;
}
