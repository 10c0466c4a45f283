/*
 * JWS assembly, JWK and RFC 7638 thumbprints, with software keys: the
 * signer's code takes any EVP_PKEY, so OpenSSL verifies what it signs.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/param_build.h>

#include "encoding/base64url.h"
#include "signer/signer.h"
#include "tests/unit/check.h"

/* The example RSA key of RFC 7638 section 3.1 and its thumbprint. */
static const char rfc7638_n[] =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7"
    "aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yB"
    "XArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnY"
    "b9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu"
    "0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
static const char rfc7638_thumbprint[] =
    "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

static const char test_url[] = "https://acme.test/acme/new-order";

static EVP_PKEY *
rsa_public_key(const char *n_b64, const char *e_b64)
{
	unsigned char n[512], e[8];
	long n_len = base64url_decode(n_b64, strlen(n_b64), n);
	long e_len = base64url_decode(e_b64, strlen(e_b64), e);
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	BIGNUM *bn_n = BN_bin2bn(n, (int)n_len, NULL);
	BIGNUM *bn_e = BN_bin2bn(e, (int)e_len, NULL);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	OSSL_PARAM *params = NULL;
	EVP_PKEY *pkey = NULL;

	if (n_len > 0 && e_len > 0 && bld && bn_n && bn_e && ctx &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) &&
	    (params = OSSL_PARAM_BLD_to_param(bld)) != NULL &&
	    EVP_PKEY_fromdata_init(ctx) == 1)
		EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn_n);
	BN_free(bn_e);
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

static EVP_PKEY *
software_key(enum key_type type)
{
	switch (type) {
	case KEY_TYPE_EC_P256:
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	case KEY_TYPE_EC_P384:
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	default:
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	}
}

/* Decodes base64url text into a NUL-terminated malloc'd buffer. */
static unsigned char *
decode(const char *text, long *len)
{
	unsigned char *out = malloc(strlen(text) + 1);

	*len = out ? base64url_decode(text, strlen(text), out) : -1;
	if (*len < 0) {
		free(out);
		return NULL;
	}
	out[*len] = '\0';
	return out;
}

/* Verifies a JWS result the way an ACME server would. */
static int
verify_jws(EVP_PKEY *pkey, const json_t *jws, const EVP_MD *md,
    size_t ec_field_len)
{
	const char *prot = json_string_value(json_object_get(jws,
	    "protected"));
	const char *payload = json_string_value(json_object_get(jws,
	    "payload"));
	const char *sig_text = json_string_value(json_object_get(jws,
	    "signature"));
	unsigned char *sig, *der = NULL;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char input[8192];
	long sig_len;
	int der_len, ok = 0;

	if (jws == NULL || prot == NULL || payload == NULL ||
	    sig_text == NULL)
		return 0;
	snprintf(input, sizeof(input), "%s.%s", prot, payload);
	sig = decode(sig_text, &sig_len);
	if (sig == NULL)
		return 0;
	der_len = (int)sig_len;
	if (ec_field_len != 0) {
		ECDSA_SIG *ecsig = ECDSA_SIG_new();

		if ((size_t)sig_len != 2 * ec_field_len)
			goto out;
		ECDSA_SIG_set0(ecsig, BN_bin2bn(sig, (int)ec_field_len, NULL),
		    BN_bin2bn(sig + ec_field_len, (int)ec_field_len, NULL));
		der_len = i2d_ECDSA_SIG(ecsig, &der);
		ECDSA_SIG_free(ecsig);
	}
	ok = EVP_DigestVerifyInit(ctx, NULL, md, NULL, pkey) == 1 &&
	    EVP_DigestVerify(ctx, der ? der : sig, (size_t)der_len,
	    (unsigned char *)input, strlen(input)) == 1;
out:
	OPENSSL_free(der);
	free(sig);
	EVP_MD_CTX_free(ctx);
	return ok;
}

static json_t *
decode_json(const json_t *jws, const char *member)
{
	unsigned char *text;
	json_t *obj;
	long len;

	text = decode(json_string_value(json_object_get(jws, member)), &len);
	if (text == NULL)
		return NULL;
	obj = json_loads((char *)text, 0, NULL);
	free(text);
	return obj;
}

static void
test_rfc7638_thumbprint(void)
{
	json_t *jwk = json_pack("{s:s, s:s, s:s}", "e", "AQAB", "kty", "RSA",
	    "n", rfc7638_n);
	char thumbprint[64];

	CHECK_INT(key_thumbprint(jwk, thumbprint, sizeof(thumbprint)), 0);
	CHECK_STR(thumbprint, rfc7638_thumbprint);
	json_decref(jwk);
}

/* Member order must not change the thumbprint. */
static void
test_thumbprint_ignores_member_order(void)
{
	json_t *jwk = json_pack("{s:s, s:s, s:s}", "n", rfc7638_n, "kty",
	    "RSA", "e", "AQAB");
	char thumbprint[64];

	CHECK_INT(key_thumbprint(jwk, thumbprint, sizeof(thumbprint)), 0);
	CHECK_STR(thumbprint, rfc7638_thumbprint);
	CHECK_INT(key_thumbprint(jwk, thumbprint, 43), -1);
	json_decref(jwk);
}

static void
test_rsa_jwk_from_key(void)
{
	EVP_PKEY *pkey = rsa_public_key(rfc7638_n, "AQAB");
	json_t *jwk = pkey ? key_jwk(pkey) : NULL;
	char *text = jwk ? json_dumps(jwk, JSON_COMPACT) : NULL;
	char expected[512], thumbprint[64];
	enum key_type type = KEY_TYPE_COUNT;

	CHECK(pkey != NULL);
	CHECK_INT(pkey ? key_type_of(pkey, &type) : -1, 0);
	CHECK_INT(type, KEY_TYPE_RSA_2048);
	snprintf(expected, sizeof(expected),
	    "{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"%s\"}", rfc7638_n);
	CHECK_STR(text, expected);
	CHECK_INT(jwk ? key_thumbprint(jwk, thumbprint, sizeof(thumbprint)) :
	    -1, 0);
	CHECK_STR(thumbprint, rfc7638_thumbprint);
	free(text);
	json_decref(jwk);
	EVP_PKEY_free(pkey);
}

static void
test_ec_jwk_members(void)
{
	EVP_PKEY *pkey = software_key(KEY_TYPE_EC_P384);
	json_t *jwk = key_jwk(pkey);
	const char *key;
	json_t *value;
	const char *order[] = { "crv", "kty", "x", "y" };
	size_t i = 0;

	CHECK(jwk != NULL);
	json_object_foreach(jwk, key, value) {
		if (i < 4)
			CHECK_STR(key, order[i]);
		i++;
	}
	CHECK_INT(i, 4);
	CHECK_STR(json_string_value(json_object_get(jwk, "crv")), "P-384");
	CHECK_STR(json_string_value(json_object_get(jwk, "kty")), "EC");
	/* 48 bytes each, kept at full length even with leading zeros. */
	CHECK_INT(json_string_length(json_object_get(jwk, "x")), 64);
	CHECK_INT(json_string_length(json_object_get(jwk, "y")), 64);
	json_decref(jwk);
	EVP_PKEY_free(pkey);
}

static void
test_der_to_raw_pads(void)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	unsigned char *der = NULL, raw[64], expected[64] = { 0 };
	BIGNUM *r = BN_new(), *s = BN_new();
	int len;

	BN_set_word(r, 1);
	BN_set_word(s, 0x0102);
	ECDSA_SIG_set0(sig, r, s);
	len = i2d_ECDSA_SIG(sig, &der);
	expected[31] = 1;
	expected[62] = 1;
	expected[63] = 2;
	CHECK_INT(jws_ecdsa_der_to_raw(der, (size_t)len, 32, raw), 0);
	CHECK(memcmp(raw, expected, sizeof(raw)) == 0);
	CHECK_INT(jws_ecdsa_der_to_raw(der, (size_t)len - 1, 32, raw), -1);
	OPENSSL_free(der);
	ECDSA_SIG_free(sig);
}

static void
test_der_to_raw_rejects_large_value(void)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	unsigned char *der = NULL, raw[64];
	BIGNUM *r = BN_new(), *s = BN_new();
	int len;

	BN_set_bit(r, 256);	/* 33 bytes */
	BN_set_word(s, 1);
	ECDSA_SIG_set0(sig, r, s);
	len = i2d_ECDSA_SIG(sig, &der);
	CHECK_INT(jws_ecdsa_der_to_raw(der, (size_t)len, 32, raw), -1);
	OPENSSL_free(der);
	ECDSA_SIG_free(sig);
}

static void
test_der_to_raw_rejects_trailing_bytes(void)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	unsigned char *der = NULL, buf[128], raw[64];
	BIGNUM *r = BN_new(), *s = BN_new();
	int len;

	BN_set_word(r, 5);
	BN_set_word(s, 6);
	ECDSA_SIG_set0(sig, r, s);
	len = i2d_ECDSA_SIG(sig, &der);
	memcpy(buf, der, (size_t)len);
	buf[len] = 0;
	CHECK_INT(jws_ecdsa_der_to_raw(buf, (size_t)len + 1, 32, raw), -1);
	CHECK_INT(jws_ecdsa_der_to_raw(buf, (size_t)len, 32, raw), 0);
	OPENSSL_free(der);
	ECDSA_SIG_free(sig);
}

/* Signs with a key of each type and checks the result with OpenSSL. */
static void
sign_and_verify(enum key_type type, const char *alg, const EVP_MD *md,
    size_t ec_field_len)
{
	struct jws_input in = {
		test_url, "nonce-123_ABC", NULL, "{ \"identifiers\" : [] }",
	};
	EVP_PKEY *pkey = software_key(type);
	json_t *jws = NULL, *header = NULL;
	char err[SIGNER_ERR_MAX] = "";
	unsigned char *payload;
	long len;

	CHECK_INT(jws_sign(pkey, &in, &jws, err, sizeof(err)), 0);
	CHECK(verify_jws(pkey, jws, md, ec_field_len));
	header = jws ? decode_json(jws, "protected") : NULL;
	CHECK_STR(json_string_value(json_object_get(header, "alg")), alg);
	CHECK_STR(json_string_value(json_object_get(header, "nonce")),
	    "nonce-123_ABC");
	CHECK_STR(json_string_value(json_object_get(header, "url")),
	    test_url);
	CHECK(json_is_object(json_object_get(header, "jwk")));
	CHECK(json_object_get(header, "kid") == NULL);
	payload = jws ? decode(json_string_value(json_object_get(jws,
	    "payload")), &len) : NULL;
	CHECK_STR((char *)payload, "{\"identifiers\":[]}");
	free(payload);
	json_decref(header);
	json_decref(jws);
	EVP_PKEY_free(pkey);
}

static void
test_sign_es256(void)
{
	sign_and_verify(KEY_TYPE_EC_P256, "ES256", EVP_sha256(), 32);
}

static void
test_sign_es384(void)
{
	sign_and_verify(KEY_TYPE_EC_P384, "ES384", EVP_sha384(), 48);
}

static void
test_sign_rs256(void)
{
	sign_and_verify(KEY_TYPE_RSA_2048, "RS256", EVP_sha256(), 0);
}

static void
test_header_with_kid_in_order(void)
{
	struct jws_input in = {
		test_url, "abc", "https://acme.test/acct/7", "",
	};
	EVP_PKEY *pkey = software_key(KEY_TYPE_EC_P256);
	json_t *jws = NULL;
	unsigned char *header;
	char err[SIGNER_ERR_MAX];
	long len;

	CHECK_INT(jws_sign(pkey, &in, &jws, err, sizeof(err)), 0);
	header = jws ? decode(json_string_value(json_object_get(jws,
	    "protected")), &len) : NULL;
	CHECK_STR((char *)header, "{\"alg\":\"ES256\",\"kid\":"
	    "\"https://acme.test/acct/7\",\"nonce\":\"abc\",\"url\":"
	    "\"https://acme.test/acme/new-order\"}");
	CHECK_STR(json_string_value(json_object_get(jws, "payload")), "");
	CHECK(verify_jws(pkey, jws, EVP_sha256(), 32));
	free(header);
	json_decref(jws);
	EVP_PKEY_free(pkey);
}

static void
test_payload_rejections(void)
{
	static const char *const bad[] = {
		"[]", "\"text\"", "1", "{\"a\":1,\"a\":2}", "{} {}", "{",
		"null", " ",
	};
	char err[SIGNER_ERR_MAX], *out;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(jws_canonical_payload(bad[i], &out, err,
		    sizeof(err)), -1);
		CHECK(out == NULL);
	}
	CHECK_INT(jws_canonical_payload("{\"a\":\"\\u00e9\"}", &out, err,
	    sizeof(err)), 0);
	CHECK_STR(out, "{\"a\":\"\xc3\xa9\"}");
	free(out);
}

static void
test_url_checks(void)
{
	char err[SIGNER_ERR_MAX], url[2100];

	CHECK_INT(jws_check_url("https://a", err, sizeof(err)), 0);
	CHECK_INT(jws_check_url("http://127.0.0.1:14000/dir", err,
	    sizeof(err)), 0);
	CHECK_INT(jws_check_url("ftp://a", err, sizeof(err)), -1);
	CHECK_STR(err, "URL does not start with https:// or http://");
	CHECK_INT(jws_check_url("https://", err, sizeof(err)), -1);
	/* RFC 3986 schemes are case-insensitive. */
	CHECK_INT(jws_check_url("HTTPS://a", err, sizeof(err)), 0);
	CHECK_INT(jws_check_url("Http://a", err, sizeof(err)), 0);
	CHECK_INT(jws_check_url("https://a/\nb", err, sizeof(err)), -1);
	CHECK_INT(jws_check_url("https://a/\x7f", err, sizeof(err)), -1);
	CHECK_INT(jws_check_url("https://a b", err, sizeof(err)), -1);
	memset(url, 'a', sizeof(url));
	memcpy(url, "https://", 8);
	url[2048] = '\0';
	CHECK_INT(jws_check_url(url, err, sizeof(err)), 0);
	url[2048] = 'a';
	url[2049] = '\0';
	CHECK_INT(jws_check_url(url, err, sizeof(err)), -1);
	CHECK_STR(err, "URL length 2049 is not between 9 and 2048 bytes");
}

static void
test_nonce_checks(void)
{
	char err[SIGNER_ERR_MAX], nonce[600];

	CHECK_INT(jws_check_nonce("aZ09-_", err, sizeof(err)), 0);
	CHECK_INT(jws_check_nonce("", err, sizeof(err)), -1);
	CHECK_INT(jws_check_nonce("abc=", err, sizeof(err)), -1);
	CHECK_INT(jws_check_nonce("ab+c", err, sizeof(err)), -1);
	CHECK_INT(jws_check_nonce("ab\"c", err, sizeof(err)), -1);
	memset(nonce, 'n', sizeof(nonce));
	nonce[512] = '\0';
	CHECK_INT(jws_check_nonce(nonce, err, sizeof(err)), 0);
	nonce[512] = 'n';
	nonce[513] = '\0';
	CHECK_INT(jws_check_nonce(nonce, err, sizeof(err)), -1);
}

static void
test_sign_rejects_bad_input(void)
{
	struct jws_input in = { test_url, "abc", NULL, "{}" };
	EVP_PKEY *pkey = software_key(KEY_TYPE_EC_P256);
	char err[SIGNER_ERR_MAX];
	json_t *jws = NULL;

	in.kid = "not a url";
	CHECK_INT(jws_sign(pkey, &in, &jws, err, sizeof(err)), -1);
	CHECK(jws == NULL);
	in.kid = NULL;
	in.payload = "[1]";
	CHECK_INT(jws_sign(pkey, &in, &jws, err, sizeof(err)), -1);
	CHECK(jws == NULL);
	in.payload = "{}";
	in.nonce = "a.b";
	CHECK_INT(jws_sign(pkey, &in, &jws, err, sizeof(err)), -1);
	CHECK(jws == NULL);
	EVP_PKEY_free(pkey);
}

static void
test_unsupported_key_type(void)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	enum key_type type;

	CHECK(pkey != NULL);
	CHECK_INT(key_type_of(pkey, &type), -1);
	CHECK(key_jwk(pkey) == NULL);
	EVP_PKEY_free(pkey);
}

static void
test_key_uri_encoding(void)
{
	unsigned char id[KEY_ID_BYTES];
	char uri[256];
	size_t i;

	for (i = 0; i < KEY_ID_BYTES; i++)
		id[i] = (unsigned char)(i * 17);
	CHECK_INT(key_uri("my token;x", id, "custos-account-00", uri,
	    sizeof(uri)), 0);
	CHECK_STR(uri, "pkcs11:token=my%20token%3Bx;id=%00%11%22%33%44%55"
	    "%66%77%88%99%AA%BB%CC%DD%EE%FF;object=custos-account-00;"
	    "type=private");
	CHECK_INT(key_uri("t", id, "o", uri, 40), -1);
}

static void
test_key_id_hex(void)
{
	unsigned char id[KEY_ID_BYTES];
	char hex[2 * KEY_ID_BYTES + 1];

	CHECK_INT(key_id_from_hex("00ff10a0000000000000000000000001", id),
	    0);
	CHECK_INT(id[1], 0xff);
	key_id_to_hex(id, hex);
	CHECK_STR(hex, "00ff10a0000000000000000000000001");
	CHECK_INT(key_id_from_hex("00FF10a0000000000000000000000001", id),
	    -1);
	CHECK_INT(key_id_from_hex("00ff10a000000000000000000000001", id),
	    -1);
}

int
main(void)
{
	RUN(test_rfc7638_thumbprint);
	RUN(test_thumbprint_ignores_member_order);
	RUN(test_rsa_jwk_from_key);
	RUN(test_ec_jwk_members);
	RUN(test_der_to_raw_pads);
	RUN(test_der_to_raw_rejects_large_value);
	RUN(test_der_to_raw_rejects_trailing_bytes);
	RUN(test_sign_es256);
	RUN(test_sign_es384);
	RUN(test_sign_rs256);
	RUN(test_header_with_kid_in_order);
	RUN(test_payload_rejections);
	RUN(test_url_checks);
	RUN(test_nonce_checks);
	RUN(test_sign_rejects_bad_input);
	RUN(test_unsupported_key_type);
	RUN(test_key_uri_encoding);
	RUN(test_key_id_hex);
	return check_done();
}
