/*
 * The audit key: an EC P-256 key pair in the token, labelled
 * "custos/audit/KEYID", generated on first use. Its private half is
 * sensitive, not extractable and can only sign. The signer uses it only
 * for the checkpoint text it builds itself, so the broker chooses nothing
 * it signs beyond a record hash.
 */
#include "audit.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "audit/checkpoint.h"
#include "ipc/ipc.h"
#include "logging/log.h"

#define AUDIT_LABEL_PREFIX "custos/audit/"
#define PEM_MAX 1024

/* DER of the P-256 curve OID, for CKA_EC_PARAMS. */
static const CK_BYTE oid_p256[] = {
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
};

/*
 * Finds the audit key: the private key whose label is the prefix and
 * the hex of its own CKA_ID. Returns 0, -1 when there is none, or -2
 * when the token cannot be read.
 */
static int
find_audit_key(struct signer_token *token, EVP_PKEY **pkey,
    char hex[2 * KEY_ID_BYTES + 1])
{
	size_t prefix = strlen(AUDIT_LABEL_PREFIX);
	PKCS11_KEY *keys;
	unsigned int count;

	*pkey = NULL;
	/* The fuzz harness runs the request loop with no token loaded. */
	if (token->slot == NULL ||
	    PKCS11_enumerate_keys(token->slot->token, &keys, &count) != 0)
		return -2;
	for (unsigned int i = 0; i < count; i++) {
		if (keys[i].label == NULL || keys[i].id_len != KEY_ID_BYTES ||
		    strncmp(keys[i].label, AUDIT_LABEL_PREFIX, prefix) != 0)
			continue;
		key_id_to_hex(keys[i].id, hex);
		if (strcmp(keys[i].label + prefix, hex) != 0)
			continue;
		*pkey = PKCS11_get_private_key(&keys[i]);
		return *pkey == NULL ? -2 : 0;
	}
	return -1;
}

static void
add_attr(CK_ATTRIBUTE *attrs, CK_ULONG *count, CK_ATTRIBUTE_TYPE type,
    const void *value, CK_ULONG len)
{
	attrs[(*count)++] = (CK_ATTRIBUTE){ type, (void *)value, len };
}

/* Generates the audit key pair with every usage attribute set. */
static int
generate_audit_key(struct signer_token *token, char *err, size_t errlen)
{
	CK_MECHANISM mechanism = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE pub[9], priv[10];
	CK_ULONG pub_count = 0, priv_count = 0;
	CK_OBJECT_HANDLE pub_handle, priv_handle;
	CK_SESSION_HANDLE session;
	unsigned char id[KEY_ID_BYTES];
	char hex[2 * KEY_ID_BYTES + 1], label[64];
	CK_RV rv;

	if (RAND_bytes(id, sizeof(id)) != 1) {
		snprintf(err, errlen, "no random bytes for the audit key id");
		return -1;
	}
	key_id_to_hex(id, hex);
	snprintf(label, sizeof(label), "%s%s", AUDIT_LABEL_PREFIX, hex);

	add_attr(pub, &pub_count, CKA_TOKEN, &yes, 1);
	add_attr(pub, &pub_count, CKA_PRIVATE, &no, 1);
	add_attr(pub, &pub_count, CKA_VERIFY, &yes, 1);
	add_attr(pub, &pub_count, CKA_ENCRYPT, &no, 1);
	add_attr(pub, &pub_count, CKA_WRAP, &no, 1);
	add_attr(pub, &pub_count, CKA_DERIVE, &no, 1);
	add_attr(pub, &pub_count, CKA_ID, id, sizeof(id));
	add_attr(pub, &pub_count, CKA_LABEL, label, strlen(label));
	add_attr(pub, &pub_count, CKA_EC_PARAMS, oid_p256, sizeof(oid_p256));

	add_attr(priv, &priv_count, CKA_TOKEN, &yes, 1);
	add_attr(priv, &priv_count, CKA_PRIVATE, &yes, 1);
	add_attr(priv, &priv_count, CKA_SENSITIVE, &yes, 1);
	add_attr(priv, &priv_count, CKA_EXTRACTABLE, &no, 1);
	add_attr(priv, &priv_count, CKA_SIGN, &yes, 1);
	add_attr(priv, &priv_count, CKA_DECRYPT, &no, 1);
	add_attr(priv, &priv_count, CKA_UNWRAP, &no, 1);
	add_attr(priv, &priv_count, CKA_DERIVE, &no, 1);
	add_attr(priv, &priv_count, CKA_ID, id, sizeof(id));
	add_attr(priv, &priv_count, CKA_LABEL, label, strlen(label));

	rv = token->p11->C_OpenSession(token->slot_id,
	    CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &session);
	if (rv == CKR_OK) {
		rv = token->p11->C_GenerateKeyPair(session, &mechanism, pub,
		    pub_count, priv, priv_count, &pub_handle, &priv_handle);
		token->p11->C_CloseSession(session);
	}
	if (rv != CKR_OK) {
		snprintf(err, errlen, "generating the audit key in token "
		    "'%s' failed: CKR 0x%lx", token->label, (unsigned long)rv);
		return -1;
	}
	key_cache_forget(&token->keys, id);
	log_info("generated audit key %s in token '%s'", hex, token->label);
	signer_audit_send(json_pack("{s:s, s:s, s:s, s:s, s:s}", "action",
	    "audit.key-generate", "outcome", "success", "key_id", hex,
	    "key_type", "ec-p256", "purpose", "audit"));
	return 0;
}

/* Finds the audit key, generating it when the token has none. */
static int
load_audit_key(struct signer_token *token, EVP_PKEY **pkey,
    char hex[2 * KEY_ID_BYTES + 1], char *err, size_t errlen)
{
	int rc = find_audit_key(token, pkey, hex);

	if (rc == -1) {
		if (generate_audit_key(token, err, errlen) != 0)
			return -1;
		rc = find_audit_key(token, pkey, hex);
	}
	if (rc != 0) {
		snprintf(err, errlen, "reading the audit key from token '%s' "
		    "failed", token->label);
		return -1;
	}
	return 0;
}

/* Signs text with SHA-256 and writes the DER signature as base64. */
static int
sign_base64(EVP_PKEY *pkey, const char *text, char *out, size_t outlen)
{
	unsigned char der[256];
	size_t derlen = sizeof(der);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	ok = ctx != NULL &&
	    EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1 &&
	    EVP_DigestSign(ctx, der, &derlen, (const unsigned char *)text,
	    strlen(text)) == 1 && (derlen + 2) / 3 * 4 < outlen;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -1;
	EVP_EncodeBlock((unsigned char *)out, der, (int)derlen);
	return 0;
}

static const char *const checkpoint_members[] = { "head", NULL };

int
audit_handle_checkpoint_sign(struct signer_context *ctx, const json_t *body,
    json_t **result, const char **code, char *message, size_t messagelen)
{
	char hex[2 * KEY_ID_BYTES + 1], signed_at[32], text[160], sig[400];
	const char *head;
	EVP_PKEY *pkey = NULL;
	struct tm tm;
	time_t now = time(NULL);
	int rc = SIGNER_REPLY_ERROR;

	if (ipc_check_members(body, checkpoint_members, message,
	    messagelen) != 0 ||
	    ipc_get_string(body, "head", AUDIT_HASH_HEX, 0, &head, message,
	    messagelen) != 0)
		return SIGNER_PROTOCOL_ERROR;
	if (!audit_is_hash_hex(head)) {
		snprintf(message, messagelen, "member \"head\" is not 64 "
		    "lowercase hex digits");
		return SIGNER_PROTOCOL_ERROR;
	}
	gmtime_r(&now, &tm);
	strftime(signed_at, sizeof(signed_at), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (audit_checkpoint_text(head, signed_at, text, sizeof(text)) < 0) {
		*code = "internal";
		snprintf(message, messagelen, "the checkpoint text does not "
		    "fit");
		return SIGNER_REPLY_ERROR;
	}

	*code = "hsm-failure";
	if (load_audit_key(ctx->token, &pkey, hex, message, messagelen) != 0)
		goto out;
	if (sign_base64(pkey, text, sig, sizeof(sig)) != 0) {
		snprintf(message, messagelen, "signing the checkpoint with "
		    "audit key %s failed", hex);
		goto out;
	}
	*result = json_pack("{s:s, s:s, s:s, s:s}", "key_id", hex,
	    "algorithm", AUDIT_CHECKPOINT_ALGORITHM, "signed_at", signed_at,
	    "signature", sig);
	*code = "internal";
	if (*result == NULL) {
		snprintf(message, messagelen, "out of memory");
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_free(pkey);
	return rc;
}

/* Writes the public half of pkey as PEM into out. */
static int
public_pem(EVP_PKEY *pkey, char *out, size_t outlen)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long len;
	int rc = -1;

	if (bio != NULL && PEM_write_bio_PUBKEY(bio, pkey) == 1) {
		len = BIO_get_mem_data(bio, &data);
		if (len > 0 && (size_t)len < outlen) {
			memcpy(out, data, (size_t)len);
			out[len] = '\0';
			rc = 0;
		}
	}
	BIO_free(bio);
	return rc;
}

static const char *const key_public_members[] = { NULL };

int
audit_handle_key_public(struct signer_context *ctx, const json_t *body,
    json_t **result, const char **code, char *message, size_t messagelen)
{
	char hex[2 * KEY_ID_BYTES + 1], pem[PEM_MAX];
	EVP_PKEY *pkey = NULL;
	int rc = SIGNER_REPLY_ERROR;

	if (ipc_check_members(body, key_public_members, message,
	    messagelen) != 0)
		return SIGNER_PROTOCOL_ERROR;
	*code = "hsm-failure";
	if (load_audit_key(ctx->token, &pkey, hex, message, messagelen) != 0)
		goto out;
	*code = "unsupported-key";
	if (public_pem(pkey, pem, sizeof(pem)) != 0) {
		snprintf(message, messagelen, "audit key %s has no usable "
		    "public key", hex);
		goto out;
	}
	*code = "internal";
	*result = json_pack("{s:s, s:s}", "key_id", hex, "pem", pem);
	if (*result == NULL) {
		snprintf(message, messagelen, "out of memory");
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_free(pkey);
	return rc;
}
