/*
 * The public half of a key that has no public key object in the token.
 * For an account key the signer keeps only the private key object, and
 * writes the public key to its CKA_PUBLIC_KEY_INFO (PKCS#11 2.40). To
 * SoftHSM2 each object is a file, and a second file per key raised the
 * CPU time of one P-256 generation from 5.0 to 7.6 ms (bench/p11_rate
 * --keygen, 100 keys). A certificate key keeps its public key object,
 * which servers using the key through libp11's engine need.
 */
/*
 * libp11 0.4.12 hands out legacy EC_KEYs; completing one needs the EC_KEY
 * functions that OpenSSL 3 marks deprecated.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "signer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "logging/log.h"

/* Reads one attribute of obj into a new buffer; NULL when it fails. */
static unsigned char *
get_attribute(CK_FUNCTION_LIST *p11, CK_SESSION_HANDLE session,
    CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type, CK_ULONG *len)
{
	CK_ATTRIBUTE attr = { type, NULL, 0 };
	unsigned char *value;

	if (p11->C_GetAttributeValue(session, obj, &attr, 1) != CKR_OK ||
	    attr.ulValueLen == 0 || attr.ulValueLen > 8192)
		return NULL;
	value = malloc(attr.ulValueLen);
	if (value == NULL)
		return NULL;
	attr.pValue = value;
	if (p11->C_GetAttributeValue(session, obj, &attr, 1) != CKR_OK) {
		free(value);
		return NULL;
	}
	*len = attr.ulValueLen;
	return value;
}

/* Makes an EC public key from CKA_EC_POINT, a DER OCTET STRING. */
static EVP_PKEY *
ec_public(const unsigned char *point_der, CK_ULONG len, enum key_type type)
{
	const unsigned char *p = point_der;
	ASN1_OCTET_STRING *point;
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *pkey = NULL;
	char group[16];

	point = d2i_ASN1_OCTET_STRING(NULL, &p, (long)len);
	if (point == NULL)
		return NULL;
	snprintf(group, sizeof(group), "%s",
	    type == KEY_TYPE_EC_P256 ? "P-256" : "P-384");
	params[0] = OSSL_PARAM_construct_utf8_string(
	    OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(
	    OSSL_PKEY_PARAM_PUB_KEY, point->data, (size_t)point->length);
	params[2] = OSSL_PARAM_construct_end();
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	ASN1_OCTET_STRING_free(point);
	return pkey;
}

/* Makes an RSA public key from CKA_MODULUS and CKA_PUBLIC_EXPONENT. */
static EVP_PKEY *
rsa_public(const unsigned char *n_bytes, CK_ULONG n_len,
    const unsigned char *e_bytes, CK_ULONG e_len)
{
	BIGNUM *n = BN_bin2bn(n_bytes, (int)n_len, NULL);
	BIGNUM *e = BN_bin2bn(e_bytes, (int)e_len, NULL);
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;

	if (n != NULL && e != NULL && bld != NULL &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
		params = OSSL_PARAM_BLD_to_param(bld);
	if (params != NULL)
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return pkey;
}

/* Returns the public key of the public key object pub; NULL on failure. */
static EVP_PKEY *
read_public(CK_FUNCTION_LIST *p11, CK_SESSION_HANDLE session,
    CK_OBJECT_HANDLE pub, enum key_type type)
{
	unsigned char *a, *b = NULL;
	CK_ULONG a_len = 0, b_len = 0;
	EVP_PKEY *pkey = NULL;

	if (type == KEY_TYPE_EC_P256 || type == KEY_TYPE_EC_P384) {
		a = get_attribute(p11, session, pub, CKA_EC_POINT, &a_len);
		if (a != NULL)
			pkey = ec_public(a, a_len, type);
	} else {
		a = get_attribute(p11, session, pub, CKA_MODULUS, &a_len);
		b = get_attribute(p11, session, pub, CKA_PUBLIC_EXPONENT,
		    &b_len);
		if (a != NULL && b != NULL)
			pkey = rsa_public(a, a_len, b, b_len);
	}
	free(a);
	free(b);
	return pkey;
}

/*
 * Copies a session public key object into the token, where libp11 finds
 * it, for a module that rejects CKA_PUBLIC_KEY_INFO on a private key.
 * NOTE: SoftHSM2 2.6.1 accepts the attribute, so no test reaches this.
 */
static CK_RV
keep_public_object(CK_FUNCTION_LIST *p11, CK_SESSION_HANDLE session,
    CK_OBJECT_HANDLE pub)
{
	CK_BBOOL on_token = CK_FALSE, yes = CK_TRUE;
	CK_ATTRIBUTE get = { CKA_TOKEN, &on_token, sizeof(on_token) };
	CK_ATTRIBUTE set = { CKA_TOKEN, &yes, sizeof(yes) };
	CK_OBJECT_HANDLE copy;
	CK_RV rv;

	rv = p11->C_GetAttributeValue(session, pub, &get, 1);
	if (rv != CKR_OK || on_token)
		return rv;
	log_warn("the token rejected CKA_PUBLIC_KEY_INFO on a private key; "
	    "keeping the public key object instead");
	return p11->C_CopyObject(session, pub, &set, 1, &copy);
}

int
token_store_public_info(struct signer_token *token, CK_SESSION_HANDLE session,
    CK_OBJECT_HANDLE pub, CK_OBJECT_HANDLE priv, enum key_type type,
    const unsigned char id[KEY_ID_BYTES], int write_info)
{
	CK_ATTRIBUTE attr = { CKA_PUBLIC_KEY_INFO, NULL, 0 };
	unsigned char *der = NULL;
	EVP_PKEY *pkey;
	CK_RV rv;
	int len;

	pkey = read_public(token->p11, session, pub, type);
	if (pkey == NULL)
		return -1;
	len = i2d_PUBKEY(pkey, &der);
	if (len <= 0) {
		EVP_PKEY_free(pkey);
		return -1;
	}
	attr.pValue = der;
	attr.ulValueLen = (CK_ULONG)len;
	/* Each attribute written is one more rewrite of a SoftHSM2 file. */
	rv = write_info ? token->p11->C_SetAttributeValue(session, priv,
	    &attr, 1) : CKR_OK;
	OPENSSL_free(der);
	if (rv != CKR_OK)
		rv = keep_public_object(token->p11, session, pub);
	if (rv != CKR_OK) {
		EVP_PKEY_free(pkey);
		return -1;
	}
	EVP_PKEY_free(token->fresh_public);
	token->fresh_public = pkey;
	memcpy(token->fresh_id, id, KEY_ID_BYTES);
	return 0;
}

/*
 * Finds the private key object with CKA_ID id in session. Two objects
 * with that id are an error, because libp11 may sign with the other one.
 */
static int
find_private(CK_FUNCTION_LIST *p11, CK_SESSION_HANDLE session,
    const unsigned char id[KEY_ID_BYTES], CK_OBJECT_HANDLE *obj)
{
	CK_OBJECT_CLASS class = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE query[] = {
		{ CKA_CLASS, &class, sizeof(class) },
		{ CKA_ID, (void *)id, KEY_ID_BYTES },
	};
	CK_OBJECT_HANDLE found[2];
	CK_ULONG count = 0;
	CK_RV rv;

	rv = p11->C_FindObjectsInit(session, query, 2);
	if (rv != CKR_OK)
		return -1;
	rv = p11->C_FindObjects(session, found, 2, &count);
	p11->C_FindObjectsFinal(session);
	if (rv != CKR_OK || count != 1)
		return -1;
	*obj = found[0];
	return 0;
}

/* Reads CKA_PUBLIC_KEY_INFO of the private key id; NULL when it fails. */
static EVP_PKEY *
public_from_info(struct signer_token *token,
    const unsigned char id[KEY_ID_BYTES])
{
	CK_FUNCTION_LIST *p11 = token->p11;
	CK_SESSION_HANDLE session;
	CK_OBJECT_HANDLE obj;
	const unsigned char *p;
	unsigned char *der = NULL;
	EVP_PKEY *pub = NULL;
	CK_ULONG len = 0;

	if (p11 == NULL || p11->C_OpenSession(token->slot_id,
	    CKF_SERIAL_SESSION, NULL, NULL, &session) != CKR_OK)
		return NULL;
	if (find_private(p11, session, id, &obj) == 0)
		der = get_attribute(p11, session, obj, CKA_PUBLIC_KEY_INFO,
		    &len);
	p11->C_CloseSession(session);
	if (der != NULL) {
		p = der;
		pub = d2i_PUBKEY(NULL, &p, (long)len);
	}
	free(der);
	return pub;
}

/* Sets the point of the EC key pkey to that of pub, on the same curve. */
static int
set_ec_point(EVP_PKEY *pkey, EVP_PKEY *pub)
{
	EC_KEY *ec = EVP_PKEY_get1_EC_KEY(pkey);
	const EC_GROUP *group = ec != NULL ? EC_KEY_get0_group(ec) : NULL;
	unsigned char buf[160];
	EC_POINT *point = NULL;
	size_t len;
	int rc = -1;

	if (group != NULL && EVP_PKEY_get_octet_string_param(pub,
	    OSSL_PKEY_PARAM_PUB_KEY, buf, sizeof(buf), &len))
		point = EC_POINT_new(group);
	/* oct2point rejects a point that is not on this key's curve. */
	if (point != NULL &&
	    EC_POINT_oct2point(group, point, buf, len, NULL) == 1 &&
	    EC_KEY_set_public_key(ec, point) == 1)
		rc = 0;
	EC_POINT_free(point);
	EC_KEY_free(ec);
	return rc;
}

/*
 * Checks that the token's private key pkey and the public key pub are one
 * pair, with one signature in the token. Any user of the token may
 * rewrite CKA_PUBLIC_KEY_INFO or add a public key object with the key's
 * CKA_ID, and a JWK or CSR must never carry that other key. Returns 0,
 * -EIO when the token fails to sign, or -EBADMSG when pub does not verify
 * the signature.
 */
static int
check_pair(EVP_PKEY *pkey, EVP_PKEY *pub)
{
	unsigned char digest[32], sig[160];
	size_t siglen = sizeof(sig);
	EVP_PKEY_CTX *ctx;
	int ok;

	if (RAND_bytes(digest, sizeof(digest)) != 1)
		return -EIO;
	ctx = EVP_PKEY_CTX_new(pkey, NULL);
	ok = ctx != NULL && EVP_PKEY_sign_init(ctx) == 1 &&
	    EVP_PKEY_sign(ctx, sig, &siglen, digest, sizeof(digest)) == 1;
	EVP_PKEY_CTX_free(ctx);
	if (!ok)
		return -EIO;
	ctx = EVP_PKEY_CTX_new(pub, NULL);
	ok = ctx != NULL && EVP_PKEY_verify_init(ctx) == 1 &&
	    EVP_PKEY_verify(ctx, sig, siglen, digest, sizeof(digest)) == 1;
	EVP_PKEY_CTX_free(ctx);
	return ok ? 0 : -EBADMSG;
}

/*
 * Checks the public point of an EC key that libp11 found, and sets it
 * from CKA_PUBLIC_KEY_INFO when libp11 found none. Returns 0, -EBADMSG
 * when the key has no public key of its own, or -EIO when the token
 * fails to sign.
 */
int
token_complete_public(struct signer_token *token,
    const unsigned char id[KEY_ID_BYTES], EVP_PKEY *pkey)
{
	char hex[2 * KEY_ID_BYTES + 1];
	EC_KEY *ec;
	EVP_PKEY *pub;
	int missing, fresh = 0, rc;

	if (!EVP_PKEY_is_a(pkey, "EC"))
		return 0;
	ec = EVP_PKEY_get1_EC_KEY(pkey);
	if (ec == NULL)
		return -EIO;
	missing = EC_KEY_get0_public_key(ec) == NULL;
	EC_KEY_free(ec);
	if (!missing) {
		/* libp11 took the point from a public key object. */
		pub = key_public_copy(pkey);
	} else if (token->fresh_public != NULL &&
	    memcmp(token->fresh_id, id, KEY_ID_BYTES) == 0) {
		pub = token->fresh_public;
		token->fresh_public = NULL;
		fresh = 1;
	} else {
		pub = public_from_info(token, id);
	}
	key_id_to_hex(id, hex);
	if (pub == NULL) {
		log_error("key %s in token '%s' has no public key object and "
		    "no valid CKA_PUBLIC_KEY_INFO", hex, token->label);
		return -EBADMSG;
	}
	/*
	 * The key just generated needs no check, because its point came
	 * from the public key object of its generation. The check comes
	 * before set_ec_point(): libp11 hands out the same EVP_PKEY on every
	 * lookup, so a point once set would stay after a failure.
	 */
	rc = EVP_PKEY_is_a(pub, "EC") ? 0 : -EBADMSG;
	if (rc == 0 && !fresh)
		rc = check_pair(pkey, pub);
	if (rc == 0 && missing && set_ec_point(pkey, pub) != 0)
		rc = -EBADMSG;
	EVP_PKEY_free(pub);
	if (rc == -EIO)
		log_error("signing with key %s in token '%s' failed", hex,
		    token->label);
	else if (rc != 0)
		log_error("the public key that key %s in token '%s' has in "
		    "its public key object or CKA_PUBLIC_KEY_INFO is not that "
		    "of its private key", hex, token->label);
	return rc;
}
