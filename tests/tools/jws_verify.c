/*
 * Verifies a flattened JWS, as the signer returns it, against a public
 * key, the way an ACME server would.
 *
 *	jws_verify PUBKEY-PEM < JWS-JSON
 *
 * Prints "alg=ALG" and then "valid" or "invalid". Exits 0 when valid, 1
 * when not, 2 on unusable input. ES256 and ES384 signatures are the JWA
 * r || s form; RS256 is PKCS#1 v1.5.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "encoding/base64url.h"

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

/* Returns the DER form of an r || s signature, or NULL. */
static unsigned char *
raw_to_der(const unsigned char *raw, long len, int *der_len)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	unsigned char *der = NULL;
	int half = (int)len / 2;

	if (sig == NULL || len % 2 != 0 || !ECDSA_SIG_set0(sig,
	    BN_bin2bn(raw, half, NULL), BN_bin2bn(raw + half, half, NULL))) {
		ECDSA_SIG_free(sig);
		return NULL;
	}
	*der_len = i2d_ECDSA_SIG(sig, &der);
	ECDSA_SIG_free(sig);
	return der;
}

static int
verify(EVP_PKEY *pkey, const char *alg, const char *input,
    const unsigned char *sig, size_t siglen)
{
	const EVP_MD *md = strcmp(alg, "ES384") == 0 ? EVP_sha384() :
	    EVP_sha256();
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	ok = ctx != NULL &&
	    EVP_DigestVerifyInit(ctx, NULL, md, NULL, pkey) == 1 &&
	    EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)input,
	    strlen(input)) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

int
main(int argc, char **argv)
{
	const char *prot, *payload, *sig_text, *alg;
	unsigned char *header_text, *sig, *der = NULL;
	json_t *jws, *header;
	EVP_PKEY *pkey;
	char input[200000];
	long header_len, sig_len;
	int der_len = 0, ok;
	FILE *f;

	if (argc != 2 || (f = fopen(argv[1], "r")) == NULL) {
		fprintf(stderr, "usage: jws_verify PUBKEY-PEM < JWS-JSON\n");
		return 2;
	}
	pkey = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	jws = json_loadf(stdin, 0, NULL);
	prot = json_string_value(json_object_get(jws, "protected"));
	payload = json_string_value(json_object_get(jws, "payload"));
	sig_text = json_string_value(json_object_get(jws, "signature"));
	if (pkey == NULL || prot == NULL || payload == NULL ||
	    sig_text == NULL)
		return 2;
	header_text = decode(prot, &header_len);
	header = header_text ? json_loads((char *)header_text, 0, NULL) :
	    NULL;
	alg = json_string_value(json_object_get(header, "alg"));
	sig = decode(sig_text, &sig_len);
	if (alg == NULL || sig == NULL)
		return 2;
	printf("alg=%s\n", alg);
	if (alg[0] == 'E' && (der = raw_to_der(sig, sig_len, &der_len)) ==
	    NULL)
		return 2;
	snprintf(input, sizeof(input), "%s.%s", prot, payload);
	ok = verify(pkey, alg, input, der ? der : sig,
	    der ? (size_t)der_len : (size_t)sig_len);
	printf("%s\n", ok ? "valid" : "invalid");
	OPENSSL_free(der);
	free(sig);
	free(header_text);
	json_decref(header);
	json_decref(jws);
	EVP_PKEY_free(pkey);
	return ok ? 0 : 1;
}
