/*
 * Revocation signed by a certificate's own key (RFC 8555 section 7.6).
 * The signer signs only when the certificate's public key is the token
 * key it is asked to sign with, so a certificate key cannot be used to
 * revoke a certificate of another key.
 */
#include "signer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "encoding/base64url.h"

#define CERT_DER_MAX 16384	/* bytes of one certificate */

/*
 * Checks that certificate_b64 (base64url DER, as revokeCert sends it) is
 * one X.509 certificate whose public key equals key's. Returns 0, or -1
 * with err set.
 */
int
revoke_check_certificate(EVP_PKEY *key, const char *certificate_b64,
    char *err, size_t errlen)
{
	size_t len = strlen(certificate_b64);
	const unsigned char *p;
	unsigned char *der;
	json_t *cert_jwk = NULL, *key_public = NULL;
	EVP_PKEY *cert_key;
	X509 *cert = NULL;
	long n = -1;
	int rc = -1;

	if (len == 0 || len > CERT_DER_MAX * 4 / 3 + 4) {
		snprintf(err, errlen, "the certificate is empty or larger "
		    "than %d bytes", CERT_DER_MAX);
		return -1;
	}
	der = malloc(len);
	if (der != NULL)
		n = base64url_decode(certificate_b64, len, der);
	p = der;
	if (n > 0)
		cert = d2i_X509(NULL, &p, n);
	if (cert == NULL || p != der + n) {
		snprintf(err, errlen, "member \"certificate\" is not one "
		    "base64url DER certificate");
		goto out;
	}
	/* The JWKs hold every public parameter: x and y, or n and e. */
	cert_key = X509_get0_pubkey(cert);
	cert_jwk = cert_key != NULL ? key_jwk(cert_key) : NULL;
	key_public = key_jwk(key);
	if (cert_jwk == NULL || key_public == NULL ||
	    !json_equal(cert_jwk, key_public)) {
		snprintf(err, errlen, "the certificate's public key is not "
		    "the key it would be signed with");
		goto out;
	}
	rc = 0;
out:
	json_decref(cert_jwk);
	json_decref(key_public);
	X509_free(cert);
	free(der);
	return rc;
}
