/*
 * JWS assembly for ACME requests (RFC 8555 section 6.2). The signer builds
 * the protected header itself and signs its own compact serialisation of
 * the payload, so a caller can choose the URL, nonce and payload content
 * but cannot make the signer sign arbitrary bytes.
 */
#include "signer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/ecdsa.h>

#include "encoding/base64url.h"

#define URL_MAX 2048
#define NONCE_MAX 512

int
jws_check_url(const char *url, char *err, size_t errlen)
{
	size_t len = strlen(url);
	size_t start, i;

	if (strncasecmp(url, "https://", 8) == 0)
		start = 8;
	else if (strncasecmp(url, "http://", 7) == 0)
		start = 7;
	else {
		snprintf(err, errlen, "URL does not start with https:// or "
		    "http://");
		return -1;
	}
	if (len == start || len > URL_MAX) {
		snprintf(err, errlen, "URL length %zu is not between %zu and "
		    "%d bytes", len, start + 1, URL_MAX);
		return -1;
	}
	/* Bytes up to and including space cannot appear in a URL. */
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)url[i];

		if (c <= 0x20 || c == 0x7f) {
			snprintf(err, errlen, "URL contains a control "
			    "character or space at offset %zu", i);
			return -1;
		}
	}
	return 0;
}

int
jws_check_nonce(const char *nonce, char *err, size_t errlen)
{
	size_t len = strlen(nonce);
	size_t i;

	if (len == 0 || len > NONCE_MAX) {
		snprintf(err, errlen, "nonce length %zu is not between 1 and "
		    "%d", len, NONCE_MAX);
		return -1;
	}
	for (i = 0; i < len; i++) {
		char c = nonce[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_')) {
			snprintf(err, errlen, "nonce contains a character "
			    "outside the base64url alphabet at offset %zu", i);
			return -1;
		}
	}
	return 0;
}

/*
 * Parses payload text and returns in *out the compact serialisation that
 * will be signed: "" for POST-as-GET, otherwise one JSON object. The
 * caller frees *out.
 */
int
jws_canonical_payload(const char *text, char **out, char *err,
    size_t errlen)
{
	json_error_t error;
	json_t *obj;

	*out = NULL;
	if (text[0] == '\0') {
		*out = strdup("");
		return *out == NULL ? -1 : 0;
	}
	obj = json_loads(text, JSON_REJECT_DUPLICATES, &error);
	if (obj == NULL || !json_is_object(obj)) {
		snprintf(err, errlen, "payload is not one JSON object: %s",
		    obj == NULL ? error.text : "another JSON type");
		json_decref(obj);
		return -1;
	}
	*out = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (*out == NULL) {
		snprintf(err, errlen, "payload cannot be serialised");
		return -1;
	}
	return 0;
}

/*
 * Converts an ECDSA signature from OpenSSL's DER form to the fixed-size
 * r || s form of JWA (RFC 7518 section 3.4): out receives 2 * field_len
 * bytes. Returns 0, or -1 for invalid DER or a value too large.
 */
int
jws_ecdsa_der_to_raw(const unsigned char *der, size_t derlen,
    size_t field_len, unsigned char *out)
{
	const unsigned char *p = der;
	const BIGNUM *r, *s;
	ECDSA_SIG *sig;
	int rc = -1;

	if (derlen > 1024)
		return -1;
	sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
	if (sig == NULL)
		return -1;
	if (p != der + derlen)
		goto out;
	ECDSA_SIG_get0(sig, &r, &s);
	if ((size_t)BN_num_bytes(r) > field_len ||
	    (size_t)BN_num_bytes(s) > field_len)
		goto out;
	if (BN_bn2binpad(r, out, (int)field_len) < 0 ||
	    BN_bn2binpad(s, out + field_len, (int)field_len) < 0)
		goto out;
	rc = 0;
out:
	ECDSA_SIG_free(sig);
	return rc;
}

struct jws_alg {
	const char *name;
	const EVP_MD *(*md)(void);
	size_t ec_field_len;		/* 0 for RSA */
};

static int
jws_alg_for(EVP_PKEY *pkey, struct jws_alg *alg)
{
	enum key_type type;

	if (key_type_of(pkey, &type) != 0)
		return -1;
	switch (type) {
	case KEY_TYPE_EC_P256:
		*alg = (struct jws_alg){ "ES256", EVP_sha256, 32 };
		return 0;
	case KEY_TYPE_EC_P384:
		*alg = (struct jws_alg){ "ES384", EVP_sha384, 48 };
		return 0;
	default:
		*alg = (struct jws_alg){ "RS256", EVP_sha256, 0 };
		return 0;
	}
}

/* Returns the protected header as a new JSON object, or NULL. */
static json_t *
jws_protected(EVP_PKEY *pkey, const struct jws_alg *alg,
    const struct jws_input *in)
{
	json_t *header = json_object();
	json_t *key;
	int rc = 0;

	if (header == NULL)
		return NULL;
	rc |= json_object_set_new(header, "alg", json_string(alg->name));
	if (in->kid != NULL) {
		rc |= json_object_set_new(header, "kid", json_string(in->kid));
	} else {
		key = key_jwk(pkey);
		rc |= key == NULL ? -1 :
		    json_object_set_new(header, "jwk", key);
	}
	if (in->nonce != NULL)
		rc |= json_object_set_new(header, "nonce",
		    json_string(in->nonce));
	rc |= json_object_set_new(header, "url", json_string(in->url));
	if (rc != 0) {
		json_decref(header);
		return NULL;
	}
	return header;
}

/* Signs input and returns the base64url signature in JWA form. */
static char *
jws_signature(EVP_PKEY *pkey, const struct jws_alg *alg, const char *input)
{
	EVP_MD_CTX *md_ctx = EVP_MD_CTX_new();
	unsigned char *sig = NULL;
	unsigned char raw[2 * 66];
	size_t siglen = 0;
	char *text = NULL;

	if (md_ctx == NULL ||
	    EVP_DigestSignInit(md_ctx, NULL, alg->md(), NULL, pkey) != 1 ||
	    EVP_DigestSign(md_ctx, NULL, &siglen,
	    (const unsigned char *)input, strlen(input)) != 1)
		goto out;
	sig = OPENSSL_malloc(siglen);
	if (sig == NULL || EVP_DigestSign(md_ctx, sig, &siglen,
	    (const unsigned char *)input, strlen(input)) != 1)
		goto out;
	if (alg->ec_field_len == 0) {
		text = base64url_encode_alloc(sig, siglen);
		goto out;
	}
	if (jws_ecdsa_der_to_raw(sig, siglen, alg->ec_field_len, raw) == 0)
		text = base64url_encode_alloc(raw, 2 * alg->ec_field_len);
out:
	OPENSSL_free(sig);
	EVP_MD_CTX_free(md_ctx);
	return text;
}

/*
 * Checks the input, builds the protected header {"alg", "kid" or "jwk",
 * "nonce", "url"}, signs and returns the flattened JWS in *out. A NULL
 * nonce leaves "nonce" out, as the inner JWS of a key change needs:
 * {"protected", "payload", "signature"}. Returns 0, or -1 with err set.
 */
int
jws_sign(EVP_PKEY *pkey, const struct jws_input *in, json_t **out,
    char *err, size_t errlen)
{
	char *payload = NULL, *header_text = NULL, *input = NULL;
	char *b64_header = NULL, *b64_payload = NULL, *signature = NULL;
	json_t *header = NULL;
	struct jws_alg alg;
	size_t len;
	int rc = -1;

	*out = NULL;
	if (jws_check_url(in->url, err, errlen) != 0 ||
	    (in->nonce != NULL &&
	    jws_check_nonce(in->nonce, err, errlen) != 0) ||
	    (in->kid != NULL && jws_check_url(in->kid, err, errlen) != 0) ||
	    jws_canonical_payload(in->payload, &payload, err, errlen) != 0)
		goto out;
	snprintf(err, errlen, "key type not supported for JWS");
	if (jws_alg_for(pkey, &alg) != 0)
		goto out;

	snprintf(err, errlen, "building the JWS failed");
	header = jws_protected(pkey, &alg, in);
	header_text = header ? json_dumps(header, JSON_COMPACT) : NULL;
	if (header_text == NULL)
		goto out;
	b64_header = base64url_encode_alloc((unsigned char *)header_text,
	    strlen(header_text));
	b64_payload = base64url_encode_alloc((unsigned char *)payload,
	    strlen(payload));
	if (b64_header == NULL || b64_payload == NULL)
		goto out;
	len = strlen(b64_header) + 1 + strlen(b64_payload) + 1;
	input = malloc(len);
	if (input == NULL)
		goto out;
	snprintf(input, len, "%s.%s", b64_header, b64_payload);

	snprintf(err, errlen, "signing with the key failed");
	signature = jws_signature(pkey, &alg, input);
	if (signature == NULL)
		goto out;
	*out = json_pack("{s:s, s:s, s:s}", "protected", b64_header,
	    "payload", b64_payload, "signature", signature);
	rc = *out == NULL ? -1 : 0;
out:
	json_decref(header);
	free(payload);
	free(header_text);
	free(input);
	free(b64_header);
	free(b64_payload);
	free(signature);
	return rc;
}
