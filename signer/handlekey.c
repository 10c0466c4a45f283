/*
 * An EVP_PKEY for an EC key that the signer has just generated, which
 * signs through the key's PKCS#11 object handle. libp11 0.4.12 makes such
 * a key only after two searches of the token: one lists every private
 * key, the other looks for a public key object. SoftHSM2 reads every
 * object file of the token in a search, so both grow with the number of
 * keys. The handle that C_GenerateKeyPair returns needs no search. Keys
 * found later, as after a restart, still come from libp11
 * (signer/keystore.c).
 */
/* The EC_KEY_METHOD functions are marked deprecated in OpenSSL 3. */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "signer.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>

/* The token and object handle of a key, freed with its EC_KEY. */
struct handle_key {
	struct signer_token *token;
	CK_OBJECT_HANDLE handle;
};

static int ex_index = -1;
static EC_KEY_METHOD *method;

static void
free_handle_key(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	free(ptr);
}

/*
 * Signs with the token's session for handle keys, opened at the first
 * use. The user is logged in already: libp11 logged in when the token
 * was opened, and a login covers every session of the application.
 */
static int
sign_digest(struct handle_key *hk, const unsigned char *dgst, int dlen,
    unsigned char *out, CK_ULONG *outlen)
{
	struct signer_token *token = hk->token;
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };

	if (token->sign_session == CK_INVALID_HANDLE &&
	    token->p11->C_OpenSession(token->slot_id, CKF_SERIAL_SESSION,
	    NULL, NULL, &token->sign_session) != CKR_OK) {
		token->sign_session = CK_INVALID_HANDLE;
		return -1;
	}
	if (token->p11->C_SignInit(token->sign_session, &mech,
	    hk->handle) != CKR_OK)
		return -1;
	return token->p11->C_Sign(token->sign_session,
	    (CK_BYTE_PTR)dgst, (CK_ULONG)dlen, out, outlen) == CKR_OK ? 0 : -1;
}

/* Signs dgst in the token and returns r and s of its raw signature. */
static ECDSA_SIG *
sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv,
    const BIGNUM *r_in, EC_KEY *ec)
{
	struct handle_key *hk = EC_KEY_get_ex_data(ec, ex_index);
	unsigned char raw[2 * 66];
	CK_ULONG len = sizeof(raw);
	BIGNUM *r = NULL, *s = NULL;
	ECDSA_SIG *sig;

	(void)kinv;
	(void)r_in;
	if (hk == NULL || sign_digest(hk, dgst, dlen, raw, &len) != 0 ||
	    len == 0 || len % 2 != 0)
		return NULL;
	r = BN_bin2bn(raw, (int)(len / 2), NULL);
	s = BN_bin2bn(raw + len / 2, (int)(len / 2), NULL);
	sig = ECDSA_SIG_new();
	if (r == NULL || s == NULL || sig == NULL ||
	    ECDSA_SIG_set0(sig, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(sig);
		return NULL;
	}
	return sig;
}

/* Makes the method and the ex_data index once; returns 0 or -1. */
static int
setup(void)
{
	int (*sign)(int, const unsigned char *, int, unsigned char *,
	    unsigned int *, const BIGNUM *, const BIGNUM *, EC_KEY *) = NULL;
	int (*sign_setup)(EC_KEY *, BN_CTX *, BIGNUM **, BIGNUM **) = NULL;

	if (method != NULL)
		return 0;
	ex_index = EC_KEY_get_ex_new_index(0, NULL, NULL, NULL,
	    free_handle_key);
	if (ex_index < 0)
		return -1;
	method = EC_KEY_METHOD_new(EC_KEY_get_default_method());
	if (method == NULL)
		return -1;
	/* The default sign encodes what sign_sig returns as DER. */
	EC_KEY_METHOD_get_sign(method, &sign, &sign_setup, NULL);
	EC_KEY_METHOD_set_sign(method, sign, sign_setup, sign_sig);
	return 0;
}

EVP_PKEY *
token_handle_key(struct signer_token *token, CK_OBJECT_HANDLE handle,
    EVP_PKEY *pub)
{
	unsigned char point[160];
	char group[64];
	struct handle_key *hk;
	EC_POINT *pt = NULL;
	EVP_PKEY *pkey;
	EC_KEY *ec;
	size_t len;
	int nid;

	if (setup() != 0 || !EVP_PKEY_is_a(pub, "EC") ||
	    !EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME,
	    group, sizeof(group), NULL) ||
	    !EVP_PKEY_get_octet_string_param(pub, OSSL_PKEY_PARAM_PUB_KEY,
	    point, sizeof(point), &len))
		return NULL;
	nid = OBJ_txt2nid(group);
	ec = nid != NID_undef ? EC_KEY_new_by_curve_name(nid) : NULL;
	if (ec != NULL)
		pt = EC_POINT_new(EC_KEY_get0_group(ec));
	hk = calloc(1, sizeof(*hk));
	pkey = EVP_PKEY_new();
	if (pt == NULL || hk == NULL || pkey == NULL ||
	    EC_POINT_oct2point(EC_KEY_get0_group(ec), pt, point, len,
	    NULL) != 1 || EC_KEY_set_public_key(ec, pt) != 1 ||
	    EC_KEY_set_method(ec, method) != 1)
		goto fail;
	hk->token = token;
	hk->handle = handle;
	if (EC_KEY_set_ex_data(ec, ex_index, hk) != 1)
		goto fail;
	hk = NULL;		/* freed with ec from here on */
	if (EVP_PKEY_assign_EC_KEY(pkey, ec) != 1)
		goto fail;
	EC_POINT_free(pt);
	return pkey;
fail:
	free(hk);
	EC_POINT_free(pt);
	EC_KEY_free(ec);
	EVP_PKEY_free(pkey);
	return NULL;
}
