/*
 * Wrapped export of a certificate key: the private key leaves the token
 * only as C_WrapKey output, encrypted to an edge node's RSA recipient
 * key. The blob is what PKCS#11 CKM_RSA_AES_KEY_WRAP defines:
 *
 *	RSA-OAEP(recipient, K) || AES-KWP(K, PKCS#8 PrivateKeyInfo)
 *
 * with K a fresh AES-256 key. SoftHSM2 2.6.1 has no CKM_RSA_AES_KEY_WRAP
 * and accepts CKM_RSA_PKCS_OAEP only with SHA-1 (CKR_ARGUMENTS_BAD for
 * SHA-256), so the signer makes the same bytes in two C_WrapKey calls:
 * CKM_AES_KEY_WRAP_PAD of the private key under K, then
 * CKM_RSA_PKCS_OAEP of K, trying SHA-256 first. K and the imported
 * recipient key are session objects, destroyed before returning.
 */
#include "signer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

/* The PKCS#8 of an RSA-4096 key is about 2,400 bytes; an estimate. */
#define WRAP_PART_MAX 8192
#define RSA_BYTES_MAX 512

struct wrap_session {
	CK_FUNCTION_LIST *p11;
	CK_SESSION_HANDLE session;
	CK_OBJECT_HANDLE aes;		/* CK_INVALID_HANDLE: none */
	CK_OBJECT_HANDLE recipient;
};

/* Finds the private key object with CKA_ID id. */
static CK_RV
find_private_key(struct wrap_session *ws, const unsigned char *id,
    CK_OBJECT_HANDLE *key, CK_ULONG *found)
{
	CK_OBJECT_CLASS class = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE search[] = {
		{ CKA_CLASS, &class, sizeof(class) },
		{ CKA_ID, (void *)id, KEY_ID_BYTES },
	};
	CK_RV rv;

	*found = 0;
	rv = ws->p11->C_FindObjectsInit(ws->session, search, 2);
	if (rv != CKR_OK)
		return rv;
	rv = ws->p11->C_FindObjects(ws->session, key, 1, found);
	ws->p11->C_FindObjectsFinal(ws->session);
	return rv;
}

/* Generates K: AES-256, a session object that can only wrap. */
static CK_RV
generate_aes_key(struct wrap_session *ws)
{
	CK_MECHANISM mechanism = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_OBJECT_CLASS class = CKO_SECRET_KEY;
	CK_KEY_TYPE type = CKK_AES;
	CK_ULONG len = 32;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE attrs[] = {
		{ CKA_CLASS, &class, sizeof(class) },
		{ CKA_KEY_TYPE, &type, sizeof(type) },
		{ CKA_VALUE_LEN, &len, sizeof(len) },
		{ CKA_TOKEN, &no, 1 },
		{ CKA_PRIVATE, &yes, 1 },
		{ CKA_SENSITIVE, &yes, 1 },
		/* Only so that the recipient key can wrap K itself. */
		{ CKA_EXTRACTABLE, &yes, 1 },
		{ CKA_WRAP, &yes, 1 },
		{ CKA_UNWRAP, &no, 1 },
		{ CKA_ENCRYPT, &no, 1 },
		{ CKA_DECRYPT, &no, 1 },
		{ CKA_SIGN, &no, 1 },
		{ CKA_VERIFY, &no, 1 },
		{ CKA_DERIVE, &no, 1 },
	};

	return ws->p11->C_GenerateKey(ws->session, &mechanism, attrs,
	    sizeof(attrs) / sizeof(attrs[0]), &ws->aes);
}

/* Imports the recipient as a session public key that can only wrap. */
static CK_RV
import_recipient(struct wrap_session *ws, const unsigned char *der,
    size_t der_len, size_t *modulus_len)
{
	CK_OBJECT_CLASS class = CKO_PUBLIC_KEY;
	CK_KEY_TYPE type = CKK_RSA;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	unsigned char n[RSA_BYTES_MAX], e[16];
	const unsigned char *p = der;
	BIGNUM *bn_n = NULL, *bn_e = NULL;
	EVP_PKEY *key;
	int n_len = -1, e_len = -1;
	CK_RV rv = CKR_ARGUMENTS_BAD;

	key = d2i_PUBKEY(NULL, &p, (long)der_len);
	if (key != NULL && EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA &&
	    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &bn_n) == 1 &&
	    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &bn_e) == 1 &&
	    BN_num_bytes(bn_n) <= (int)sizeof(n) &&
	    BN_num_bytes(bn_e) <= (int)sizeof(e)) {
		n_len = BN_bn2bin(bn_n, n);
		e_len = BN_bn2bin(bn_e, e);
	}
	if (n_len > 0 && e_len > 0) {
		CK_ATTRIBUTE attrs[] = {
			{ CKA_CLASS, &class, sizeof(class) },
			{ CKA_KEY_TYPE, &type, sizeof(type) },
			{ CKA_TOKEN, &no, 1 },
			{ CKA_MODULUS, n, (CK_ULONG)n_len },
			{ CKA_PUBLIC_EXPONENT, e, (CK_ULONG)e_len },
			{ CKA_WRAP, &yes, 1 },
			{ CKA_ENCRYPT, &no, 1 },
			{ CKA_VERIFY, &no, 1 },
			{ CKA_DERIVE, &no, 1 },
		};

		*modulus_len = (size_t)n_len;
		rv = ws->p11->C_CreateObject(ws->session, attrs,
		    sizeof(attrs) / sizeof(attrs[0]), &ws->recipient);
	}
	BN_free(bn_n);
	BN_free(bn_e);
	EVP_PKEY_free(key);
	return rv;
}

/*
 * Wraps K with RSA-OAEP, SHA-256 when the module accepts it, else SHA-1,
 * MGF1 with the same hash and an empty label.
 */
static CK_RV
wrap_aes_key(struct wrap_session *ws, unsigned char *out, CK_ULONG *len,
    struct wrapped_key *wk)
{
	CK_RSA_PKCS_OAEP_PARAMS params = {
		CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0,
	};
	CK_MECHANISM mechanism = {
		CKM_RSA_PKCS_OAEP, &params, sizeof(params),
	};
	CK_ULONG room = *len;
	CK_RV rv;

	rv = ws->p11->C_WrapKey(ws->session, &mechanism, ws->recipient,
	    ws->aes, out, len);
	if (rv == CKR_OK) {
		snprintf(wk->oaep_hash, sizeof(wk->oaep_hash), "sha256");
		return rv;
	}
	if (rv != CKR_ARGUMENTS_BAD && rv != CKR_MECHANISM_PARAM_INVALID)
		return rv;
	params.hashAlg = CKM_SHA_1;
	params.mgf = CKG_MGF1_SHA1;
	*len = room;
	rv = ws->p11->C_WrapKey(ws->session, &mechanism, ws->recipient,
	    ws->aes, out, len);
	if (rv == CKR_OK)
		snprintf(wk->oaep_hash, sizeof(wk->oaep_hash), "sha1");
	return rv;
}

/* Writes the two parts into wk->blob, RSA part first. */
static int
assemble(struct wrapped_key *wk, const unsigned char *rsa_part,
    size_t rsa_len, const unsigned char *kwp_part, size_t kwp_len)
{
	wk->blob = malloc(rsa_len + kwp_len);
	if (wk->blob == NULL)
		return -ENOMEM;
	memcpy(wk->blob, rsa_part, rsa_len);
	memcpy(wk->blob + rsa_len, kwp_part, kwp_len);
	wk->blob_len = rsa_len + kwp_len;
	return 0;
}

/* Runs the steps inside an open session; returns 0 or -errno. */
static int
wrap_in_session(struct wrap_session *ws, const unsigned char *id,
    const unsigned char *recipient_der, size_t recipient_len,
    struct wrapped_key *wk, char *err, size_t errlen)
{
	unsigned char rsa_part[RSA_BYTES_MAX], kwp_part[WRAP_PART_MAX];
	CK_ULONG rsa_len = sizeof(rsa_part), kwp_len = sizeof(kwp_part);
	CK_MECHANISM kwp = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_BBOOL extractable = CK_FALSE;
	CK_ATTRIBUTE attr = { CKA_EXTRACTABLE, &extractable, 1 };
	CK_OBJECT_HANDLE key;
	CK_ULONG found;
	size_t modulus_len = 0;
	CK_RV rv;
	int rc;

	rv = find_private_key(ws, id, &key, &found);
	if (rv == CKR_OK && found == 0)
		return -ENOENT;
	if (rv == CKR_OK)
		rv = ws->p11->C_GetAttributeValue(ws->session, key, &attr, 1);
	if (rv != CKR_OK) {
		snprintf(err, errlen, "reading the key failed: CKR 0x%lx",
		    (unsigned long)rv);
		return -EIO;
	}
	if (extractable != CK_TRUE)
		return -EPERM;
	rv = generate_aes_key(ws);
	if (rv != CKR_OK) {
		snprintf(err, errlen, "generating the AES key failed: "
		    "CKR 0x%lx", (unsigned long)rv);
		return -EIO;
	}
	rv = ws->p11->C_WrapKey(ws->session, &kwp, ws->aes, key, kwp_part,
	    &kwp_len);
	if (rv != CKR_OK) {
		snprintf(err, errlen, "CKM_AES_KEY_WRAP_PAD of the key failed: "
		    "CKR 0x%lx", (unsigned long)rv);
		return -EIO;
	}
	rv = import_recipient(ws, recipient_der, recipient_len,
	    &modulus_len);
	if (rv != CKR_OK) {
		snprintf(err, errlen, "importing the recipient key failed: "
		    "CKR 0x%lx", (unsigned long)rv);
		return -EIO;
	}
	rv = wrap_aes_key(ws, rsa_part, &rsa_len, wk);
	if (rv != CKR_OK || rsa_len != modulus_len) {
		snprintf(err, errlen, "CKM_RSA_PKCS_OAEP of the AES key "
		    "failed: CKR 0x%lx", (unsigned long)rv);
		return -EIO;
	}
	rc = assemble(wk, rsa_part, rsa_len, kwp_part, kwp_len);
	OPENSSL_cleanse(kwp_part, sizeof(kwp_part));
	if (rc != 0)
		snprintf(err, errlen, "out of memory");
	return rc;
}

/*
 * Wraps the private key with CKA_ID id to the RSA public key in
 * recipient_der (DER SubjectPublicKeyInfo). Returns 0 and the blob in wk,
 * -ENOENT when no such key exists, -EPERM when the key is not extractable,
 * or another -errno with err set.
 */
int
token_wrap_key(struct signer_token *token,
    const unsigned char id[KEY_ID_BYTES], const unsigned char *recipient_der,
    size_t recipient_len, struct wrapped_key *wk, char *err, size_t errlen)
{
	struct wrap_session ws = {
		.p11 = token->p11,
		.aes = CK_INVALID_HANDLE,
		.recipient = CK_INVALID_HANDLE,
	};
	CK_RV rv;
	int rc;

	memset(wk, 0, sizeof(*wk));
	rv = ws.p11->C_OpenSession(token->slot_id, CKF_SERIAL_SESSION, NULL,
	    NULL, &ws.session);
	if (rv != CKR_OK) {
		snprintf(err, errlen, "opening a session on token '%s' failed: "
		    "CKR 0x%lx", token->label, (unsigned long)rv);
		return -EIO;
	}
	rc = wrap_in_session(&ws, id, recipient_der, recipient_len, wk, err,
	    errlen);
	if (ws.aes != CK_INVALID_HANDLE)
		ws.p11->C_DestroyObject(ws.session, ws.aes);
	if (ws.recipient != CK_INVALID_HANDLE)
		ws.p11->C_DestroyObject(ws.session, ws.recipient);
	/* Closing the session would destroy its objects too. */
	ws.p11->C_CloseSession(ws.session);
	return rc;
}

void
wrapped_key_clear(struct wrapped_key *wk)
{
	free(wk->blob);
	memset(wk, 0, sizeof(*wk));
}
