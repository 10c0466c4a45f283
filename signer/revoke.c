/*
 * Revocation requests (RFC 8555 section 7.6). Signed by a certificate's
 * own key, the signer signs only when the certificate's public key is the
 * token key it is asked to sign with, so a certificate key cannot be used
 * to revoke a certificate of another key. Signed by an account key, the
 * certificate's names must pass the tenant's policy, so a broker cannot
 * revoke a certificate of a name outside its tenant.
 */
#include "signer.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "policy/name.h"

#include "encoding/base64url.h"

#define CERT_DER_MAX 16384	/* bytes of one certificate */

/*
 * Checks that certificate_b64 (base64url DER, as revokeCert sends it) is
 * one X.509 certificate whose public key equals key's. Returns 0, or -1
 * with err set.
 */
/*
 * Decodes certificate_b64 (base64url DER, as revokeCert sends it) into one
 * X.509 certificate. Returns it, or NULL with err set.
 */
static X509 *
decode_certificate(const char *certificate_b64, char *err, size_t errlen)
{
	size_t len = strlen(certificate_b64);
	const unsigned char *p;
	unsigned char *der;
	X509 *cert = NULL;
	long n = -1;

	if (len == 0 || len > CERT_DER_MAX * 4 / 3 + 4) {
		snprintf(err, errlen, "the certificate is empty or larger "
		    "than %d bytes", CERT_DER_MAX);
		return NULL;
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
		X509_free(cert);
		cert = NULL;
	}
	free(der);
	return cert;
}

/*
 * Checks that certificate_b64 is one X.509 certificate whose public key
 * equals key's. Returns 0, or -1 with err set.
 */
int
revoke_check_certificate(EVP_PKEY *key, const char *certificate_b64,
    char *err, size_t errlen)
{
	json_t *cert_jwk = NULL, *key_public = NULL;
	EVP_PKEY *cert_key;
	X509 *cert;
	int rc = -1;

	cert = decode_certificate(certificate_b64, err, errlen);
	if (cert == NULL)
		return -1;
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
	return rc;
}

/*
 * Writes one subjectAltName entry as a policy identifier: a dNSName in
 * lower case, an iPAddress in canonical text. Returns 0, 1 for an entry
 * of another type, or -1 with err set.
 */
static int
read_alt_name(const GENERAL_NAME *gn, struct policy_identifier *id,
    char *err, size_t errlen)
{
	const ASN1_STRING *value;
	char text[POLICY_NAME_MAX + 1], ip_err[64];
	int len, i;

	if (gn->type == GEN_DNS) {
		value = gn->d.dNSName;
		len = ASN1_STRING_length(value);
		if (len <= 0 || len > POLICY_NAME_MAX ||
		    memchr(ASN1_STRING_get0_data(value), '\0', len) != NULL) {
			snprintf(err, errlen, "the certificate has a dNSName "
			    "of %d bytes or with a NUL byte", len);
			return -1;
		}
		for (i = 0; i < len; i++)
			text[i] = (char)tolower(ASN1_STRING_get0_data(value)[i]);
		text[len] = '\0';
		id->type = POLICY_ID_DNS;
	} else if (gn->type == GEN_IPADD) {
		value = gn->d.iPAddress;
		len = ASN1_STRING_length(value);
		if ((len != 4 && len != 16) ||
		    inet_ntop(len == 4 ? AF_INET : AF_INET6,
		    ASN1_STRING_get0_data(value), text, sizeof(text)) == NULL ||
		    policy_ip_normalize(text, text, sizeof(text), ip_err,
		    sizeof(ip_err)) != 0) {
			snprintf(err, errlen, "the certificate has an "
			    "iPAddress of %d bytes, expected 4 or 16", len);
			return -1;
		}
		id->type = POLICY_ID_IP;
	} else {
		return 1;
	}
	id->value = strdup(text);
	if (id->value == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/*
 * Reads the dNSName and iPAddress entries of the subjectAltName of
 * certificate_b64 into *out. Returns their count, or -1 with err set; a
 * certificate without such entries is an error, because its names would
 * pass no policy check. Free *out with revoke_identifiers_free().
 */
int
revoke_certificate_identifiers(const char *certificate_b64,
    struct policy_identifier **out, char *err, size_t errlen)
{
	GENERAL_NAMES *names = NULL;
	struct policy_identifier *ids = NULL;
	X509 *cert;
	int count = 0, total, i, rc;

	*out = NULL;
	cert = decode_certificate(certificate_b64, err, errlen);
	if (cert == NULL)
		return -1;
	names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	total = names != NULL ? sk_GENERAL_NAME_num(names) : 0;
	if (total > 0)
		ids = calloc(total, sizeof(*ids));
	if (total > 0 && ids == NULL) {
		snprintf(err, errlen, "out of memory");
		count = -1;
		goto out;
	}
	for (i = 0; i < total; i++) {
		rc = read_alt_name(sk_GENERAL_NAME_value(names, i),
		    &ids[count], err, errlen);
		if (rc < 0) {
			revoke_identifiers_free(ids, count);
			ids = NULL;
			count = -1;
			goto out;
		}
		if (rc == 0)
			count++;
	}
	if (count == 0) {
		snprintf(err, errlen, "the certificate has no DNS name or IP "
		    "address in its subjectAltName");
		free(ids);
		ids = NULL;
		count = -1;
	}
out:
	GENERAL_NAMES_free(names);
	X509_free(cert);
	*out = ids;
	return count;
}

void
revoke_identifiers_free(struct policy_identifier *ids, size_t count)
{
	size_t i;

	if (ids == NULL)
		return;
	for (i = 0; i < count; i++)
		free((char *)ids[i].value);
	free(ids);
}
