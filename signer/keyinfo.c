/*
 * Public-key facts for the key types Custos supports: the type name, the
 * JWK (RFC 7517), its RFC 7638 thumbprint and the RFC 7512 PKCS#11 URI.
 * Everything here works with any EVP_PKEY, so the unit tests use software
 * keys and the signer uses libp11's token keys.
 */
#include "signer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/x509.h>

#include "encoding/base64url.h"

/*
 * Returns a software copy of the public half of pkey. libp11 0.4.12 hands
 * out legacy keys whose parameters OpenSSL 3 cannot always query, but their
 * SubjectPublicKeyInfo encodes normally.
 */
EVP_PKEY *
key_public_copy(EVP_PKEY *pkey)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	EVP_PKEY *copy;
	int len;

	len = i2d_PUBKEY(pkey, &der);
	if (len <= 0)
		return NULL;
	p = der;
	copy = d2i_PUBKEY(NULL, &p, len);
	OPENSSL_free(der);
	return copy;
}

static int
ec_type(EVP_PKEY *pub, enum key_type *type)
{
	char group[64];

	if (!EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME,
	    group, sizeof(group), NULL))
		return -1;
	if (strcmp(group, "prime256v1") == 0)
		*type = KEY_TYPE_EC_P256;
	else if (strcmp(group, "secp384r1") == 0)
		*type = KEY_TYPE_EC_P384;
	else
		return -1;
	return 0;
}

static int
rsa_type(EVP_PKEY *pub, enum key_type *type)
{
	switch (EVP_PKEY_get_bits(pub)) {
	case 2048:
		*type = KEY_TYPE_RSA_2048;
		return 0;
	case 3072:
		*type = KEY_TYPE_RSA_3072;
		return 0;
	case 4096:
		*type = KEY_TYPE_RSA_4096;
		return 0;
	default:
		return -1;
	}
}

static int
classify(EVP_PKEY *pkey, enum key_type *type)
{
	if (EVP_PKEY_is_a(pkey, "EC"))
		return ec_type(pkey, type);
	if (EVP_PKEY_is_a(pkey, "RSA"))
		return rsa_type(pkey, type);
	return -1;
}

/*
 * Returns 0 and the key's type, or -1 for a key Custos does not use. The
 * key itself is queried first, because the software copy costs a DER decode,
 * which was 45% of the signer's CPU time per jws-sign (bench/signer_rate.c,
 * perf, SoftHSM2 2.6.1 and libp11 0.4.12).
 */
int
key_type_of(EVP_PKEY *pkey, enum key_type *type)
{
	EVP_PKEY *pub;
	int rc;

	if (classify(pkey, type) == 0)
		return 0;
	pub = key_public_copy(pkey);
	if (pub == NULL)
		return -1;
	rc = classify(pub, type);
	EVP_PKEY_free(pub);
	return rc;
}

/* Sets member name of jwk to the base64url form of a big number. */
static int
set_bn_member(json_t *jwk, const char *name, const BIGNUM *bn,
    size_t pad_len)
{
	unsigned char buf[512];
	char *text;
	int len;

	if (pad_len > sizeof(buf) || (size_t)BN_num_bytes(bn) > sizeof(buf))
		return -1;
	if (pad_len > 0)
		len = BN_bn2binpad(bn, buf, (int)pad_len);
	else
		len = BN_bn2bin(bn, buf);
	if (len < 0)
		return -1;
	text = base64url_encode_alloc(buf, (size_t)len);
	if (text == NULL)
		return -1;
	len = json_object_set_new(jwk, name, json_string(text));
	free(text);
	return len == 0 ? 0 : -1;
}

/* Members in RFC 7638 order: crv, kty, x, y. */
static json_t *
ec_jwk(EVP_PKEY *pub, enum key_type type)
{
	int p256 = type == KEY_TYPE_EC_P256;
	BIGNUM *x = NULL, *y = NULL;
	json_t *jwk = json_object();
	int rc = -1;

	if (jwk == NULL)
		goto out;
	if (!EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_EC_PUB_X, &x) ||
	    !EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_EC_PUB_Y, &y))
		goto out;
	if (json_object_set_new(jwk, "crv",
	    json_string(p256 ? "P-256" : "P-384")) != 0 ||
	    json_object_set_new(jwk, "kty", json_string("EC")) != 0)
		goto out;
	if (set_bn_member(jwk, "x", x, p256 ? 32 : 48) != 0 ||
	    set_bn_member(jwk, "y", y, p256 ? 32 : 48) != 0)
		goto out;
	rc = 0;
out:
	BN_free(x);
	BN_free(y);
	if (rc != 0) {
		json_decref(jwk);
		jwk = NULL;
	}
	return jwk;
}

/* Members in RFC 7638 order: e, kty, n. */
static json_t *
rsa_jwk(EVP_PKEY *pub)
{
	BIGNUM *n = NULL, *e = NULL;
	json_t *jwk = json_object();
	int rc = -1;

	if (jwk == NULL)
		goto out;
	if (!EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_N, &n) ||
	    !EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_E, &e))
		goto out;
	if (set_bn_member(jwk, "e", e, 0) != 0 ||
	    json_object_set_new(jwk, "kty", json_string("RSA")) != 0 ||
	    set_bn_member(jwk, "n", n, 0) != 0)
		goto out;
	rc = 0;
out:
	BN_free(n);
	BN_free(e);
	if (rc != 0) {
		json_decref(jwk);
		jwk = NULL;
	}
	return jwk;
}

/* Returns a new JWK object holding only the public members, or NULL. */
json_t *
key_jwk(EVP_PKEY *pkey)
{
	enum key_type type;
	EVP_PKEY *pub;
	json_t *jwk = NULL;

	if (key_type_of(pkey, &type) != 0)
		return NULL;
	pub = key_public_copy(pkey);
	if (pub == NULL)
		return NULL;
	if (type == KEY_TYPE_EC_P256 || type == KEY_TYPE_EC_P384)
		jwk = ec_jwk(pub, type);
	else
		jwk = rsa_jwk(pub);
	EVP_PKEY_free(pub);
	return jwk;
}

/*
 * Writes the RFC 7638 thumbprint: base64url(SHA-256(JWK with its required
 * members only, in lexicographic order, without white space)). out needs
 * 44 bytes.
 */
int
key_thumbprint(const json_t *jwk, char *out, size_t outlen)
{
	unsigned char digest[32];
	unsigned int digest_len = 0;
	char *text;
	int ok;

	if (outlen < base64url_encoded_len(sizeof(digest)) + 1)
		return -1;
	text = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS);
	if (text == NULL)
		return -1;
	ok = EVP_Digest(text, strlen(text), digest, &digest_len,
	    EVP_sha256(), NULL);
	free(text);
	if (!ok || digest_len != sizeof(digest))
		return -1;
	base64url_encode(digest, sizeof(digest), out);
	return 0;
}

/* Appends text percent-encoded, keeping only RFC 3986 unreserved bytes. */
static int
append_pct(char *out, size_t outlen, size_t *pos, const unsigned char *in,
    size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = in[i];
		int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~';

		if (*pos + (plain ? 1 : 3) >= outlen)
			return -1;
		if (plain) {
			out[(*pos)++] = (char)c;
			continue;
		}
		out[(*pos)++] = '%';
		out[(*pos)++] = hex[c >> 4];
		out[(*pos)++] = hex[c & 15];
	}
	out[*pos] = '\0';
	return 0;
}

static int
append_text(char *out, size_t outlen, size_t *pos, const char *text)
{
	size_t len = strlen(text);

	if (*pos + len >= outlen)
		return -1;
	memcpy(out + *pos, text, len + 1);
	*pos += len;
	return 0;
}

/*
 * Writes "pkcs11:token=T;id=%..;object=O;type=private" (RFC 7512). The id
 * is always fully percent-encoded; labels keep unreserved characters.
 */
int
key_uri(const char *token_label, const unsigned char id[KEY_ID_BYTES],
    const char *object_label, char *out, size_t outlen)
{
	size_t pos = 0;
	size_t i;

	if (outlen == 0)
		return -1;
	out[0] = '\0';
	if (append_text(out, outlen, &pos, "pkcs11:token=") != 0 ||
	    append_pct(out, outlen, &pos, (const unsigned char *)token_label,
	    strlen(token_label)) != 0 ||
	    append_text(out, outlen, &pos, ";id=") != 0)
		return -1;
	for (i = 0; i < KEY_ID_BYTES; i++) {
		char byte[4];

		snprintf(byte, sizeof(byte), "%%%02X", id[i]);
		if (append_text(out, outlen, &pos, byte) != 0)
			return -1;
	}
	if (append_text(out, outlen, &pos, ";object=") != 0 ||
	    append_pct(out, outlen, &pos, (const unsigned char *)object_label,
	    strlen(object_label)) != 0 ||
	    append_text(out, outlen, &pos, ";type=private") != 0)
		return -1;
	return 0;
}

void
key_id_to_hex(const unsigned char id[KEY_ID_BYTES],
    char hex[2 * KEY_ID_BYTES + 1])
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < KEY_ID_BYTES; i++) {
		hex[2 * i] = digits[id[i] >> 4];
		hex[2 * i + 1] = digits[id[i] & 15];
	}
	hex[2 * KEY_ID_BYTES] = '\0';
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Parses exactly 32 lowercase hex digits. Returns 0 or -1. */
int
key_id_from_hex(const char *hex, unsigned char id[KEY_ID_BYTES])
{
	size_t i;

	if (strlen(hex) != 2 * KEY_ID_BYTES)
		return -1;
	for (i = 0; i < KEY_ID_BYTES; i++) {
		int hi = hex_value(hex[2 * i]);
		int lo = hex_value(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		id[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}
