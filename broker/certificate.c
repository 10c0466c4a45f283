#include "broker/certificate.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "encoding/base64url.h"

void
cert_chain_clear(struct cert_chain *chain)
{
	X509_free(chain->leaf);
	free(chain->leaf_pem);
	free(chain->chain_pem);
	free(chain->fullchain_pem);
	memset(chain, 0, sizeof(*chain));
}

/* Returns the PEM text of cert, malloc'd, or NULL. */
static char *
cert_to_pem(X509 *cert)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *pem = NULL;
	long len;

	if (bio != NULL && PEM_write_bio_X509(bio, cert) == 1) {
		len = BIO_get_mem_data(bio, &data);
		if (len > 0)
			pem = strndup(data, (size_t)len);
	}
	BIO_free(bio);
	return pem;
}

static int
append_text(char **buf, const char *text)
{
	size_t old = *buf != NULL ? strlen(*buf) : 0;
	char *grown = realloc(*buf, old + strlen(text) + 1);

	if (grown == NULL)
		return -1;
	memcpy(grown + old, text, strlen(text) + 1);
	*buf = grown;
	return 0;
}

static int
set_serial(X509 *leaf, char *out, size_t outlen)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL);
	char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
	int rc = -1;

	if (hex != NULL && strlen(hex) < outlen) {
		for (size_t i = 0; hex[i] != '\0'; i++)
			out[i] = (char)tolower((unsigned char)hex[i]);
		out[strlen(hex)] = '\0';
		rc = 0;
	}
	OPENSSL_free(hex);
	BN_free(bn);
	return rc;
}

/*
 * Reads the next PEM block, which must be a CERTIFICATE. Text outside the
 * blocks is skipped, as `openssl x509 -text` writes some. Returns 1 with
 * *cert set, 0 at the end of input, or -1 with the reason in reason.
 * PEM_read_bio_X509 would skip any other block, a private key included.
 */
static int
read_pem_certificate(BIO *bio, X509 **cert, char *reason, size_t len)
{
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	const unsigned char *p;
	long data_len;
	int rc = -1;

	*cert = NULL;
	if (PEM_read_bio(bio, &name, &header, &data, &data_len) != 1) {
		if (ERR_GET_REASON(ERR_peek_last_error()) !=
		    PEM_R_NO_START_LINE) {
			snprintf(reason, len, "is damaged");
			return -1;
		}
		ERR_clear_error();
		return 0;
	}
	p = data;
	if (strcmp(name, PEM_STRING_X509) != 0)
		snprintf(reason, len, "is a \"%.40s\", not a CERTIFICATE",
		    name);
	else if ((*cert = d2i_X509(NULL, &p, data_len)) == NULL ||
	    p != data + data_len)
		snprintf(reason, len, "is not a valid DER certificate");
	else
		rc = 1;
	if (rc != 1) {
		X509_free(*cert);
		*cert = NULL;
	}
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(data);
	return rc;
}

/* Reads each certificate in turn and sorts it into leaf or chain. */
static int
read_certificates(BIO *bio, struct cert_chain *chain, size_t *count,
    char *reason, size_t reasonlen)
{
	X509 *cert;
	char *pem;
	int rc;

	*count = 0;
	snprintf(reason, reasonlen, "cannot be stored (out of memory)");
	while ((rc = read_pem_certificate(bio, &cert, reason,
	    reasonlen)) == 1) {
		pem = cert_to_pem(cert);
		if (pem == NULL || append_text(&chain->fullchain_pem,
		    pem) != 0 || append_text(*count == 0 ? &chain->leaf_pem :
		    &chain->chain_pem, pem) != 0) {
			free(pem);
			X509_free(cert);
			return -1;
		}
		free(pem);
		if (*count == 0)
			chain->leaf = cert;
		else
			X509_free(cert);
		(*count)++;
	}
	return rc;
}

int
cert_chain_parse(const char *pem, size_t len, struct cert_chain *chain,
    char *err, size_t errlen)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	char reason[128];
	size_t count = 0;
	int rc = -1;

	memset(chain, 0, sizeof(*chain));
	ERR_clear_error();
	if (bio == NULL || len > INT32_MAX) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (read_certificates(bio, chain, &count, reason,
	    sizeof(reason)) != 0) {
		snprintf(err, errlen, "invalid certificate chain from the CA: "
		    "PEM block %zu %s; nothing was stored", count + 1, reason);
		goto out;
	}
	if (count == 0) {
		snprintf(err, errlen, "invalid certificate chain from the CA: "
		    "no PEM certificate found");
		goto out;
	}
	if (chain->chain_pem == NULL && append_text(&chain->chain_pem,
	    "") != 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (set_serial(chain->leaf, chain->serial_hex,
	    sizeof(chain->serial_hex)) != 0) {
		snprintf(err, errlen, "invalid certificate from the CA: serial "
		    "number longer than 20 bytes");
		goto out;
	}
	rc = 0;
out:
	BIO_free(bio);
	if (rc != 0)
		cert_chain_clear(chain);
	ERR_clear_error();
	return rc;
}

static json_t *
base64url_json(const unsigned char *data, size_t len)
{
	char *text = base64url_encode_alloc(data, len);
	json_t *value = text != NULL ? json_string(text) : NULL;

	free(text);
	return value;
}

static json_t *
bn_param_json(EVP_PKEY *key, const char *name)
{
	BIGNUM *bn = NULL;
	unsigned char *buf;
	json_t *value = NULL;
	int len;

	if (EVP_PKEY_get_bn_param(key, name, &bn) != 1)
		return NULL;
	len = BN_num_bytes(bn);
	buf = malloc(len > 0 ? (size_t)len : 1);
	if (buf != NULL && BN_bn2bin(bn, buf) == len)
		value = base64url_json(buf, (size_t)len);
	free(buf);
	BN_free(bn);
	return value;
}

static int
ec_jwk(EVP_PKEY *key, json_t *jwk)
{
	unsigned char point[1 + 2 * 66];
	char group[64];
	const char *crv;
	size_t len, half;

	if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME,
	    group, sizeof(group), NULL) != 1)
		return -1;
	if (strcmp(group, "prime256v1") == 0)
		crv = "P-256";
	else if (strcmp(group, "secp384r1") == 0)
		crv = "P-384";
	else if (strcmp(group, "secp521r1") == 0)
		crv = "P-521";
	else
		return -1;
	if (EVP_PKEY_get_octet_string_param(key,
	    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, sizeof(point),
	    &len) != 1 || len < 3 || point[0] != 0x04 || len % 2 != 1)
		return -1;
	half = (len - 1) / 2;
	if (json_object_set_new(jwk, "kty", json_string("EC")) != 0 ||
	    json_object_set_new(jwk, "crv", json_string(crv)) != 0 ||
	    json_object_set_new(jwk, "x", base64url_json(point + 1,
	    half)) != 0 ||
	    json_object_set_new(jwk, "y", base64url_json(point + 1 + half,
	    half)) != 0)
		return -1;
	return 0;
}

int
cert_public_jwk(EVP_PKEY *key, json_t **out)
{
	json_t *jwk = json_object();
	int rc = -1;

	*out = NULL;
	if (jwk == NULL)
		return -1;
	if (EVP_PKEY_is_a(key, "EC"))
		rc = ec_jwk(key, jwk);
	else if (EVP_PKEY_is_a(key, "RSA"))
		rc = json_object_set_new(jwk, "kty", json_string("RSA")) ||
		    json_object_set_new(jwk, "n", bn_param_json(key,
		    OSSL_PKEY_PARAM_RSA_N)) ||
		    json_object_set_new(jwk, "e", bn_param_json(key,
		    OSSL_PKEY_PARAM_RSA_E)) ? -1 : 0;
	if (rc != 0) {
		json_decref(jwk);
		return -1;
	}
	*out = jwk;
	return 0;
}

int
cert_check_key(const struct cert_chain *chain, const json_t *jwk,
    char *err, size_t errlen)
{
	EVP_PKEY *key = X509_get0_pubkey(chain->leaf);
	json_t *cert_jwk = NULL;
	const char *name;
	json_t *value;
	int rc = -1;

	if (key == NULL || cert_public_jwk(key, &cert_jwk) != 0) {
		snprintf(err, errlen, "the certificate's public key is of an "
		    "unsupported type");
		goto out;
	}
	json_object_foreach(cert_jwk, name, value) {
		if (!json_equal(value, json_object_get(jwk, name))) {
			snprintf(err, errlen, "the certificate's public key "
			    "differs from the signer's key (JWK member "
			    "\"%s\"); nothing was stored", name);
			goto out;
		}
	}
	rc = 0;
out:
	json_decref(cert_jwk);
	return rc;
}

/* Reports whether the SAN list contains the identifier. */
static int
san_contains(const GENERAL_NAMES *sans, const struct acme_identifier *id)
{
	unsigned char addr[16];
	int is_ip = strcmp(id->type, "ip") == 0, addr_len = 0;
	size_t len;

	if (is_ip) {
		if (inet_pton(AF_INET, id->value, addr) == 1)
			addr_len = 4;
		else if (inet_pton(AF_INET6, id->value, addr) == 1)
			addr_len = 16;
		else
			return 0;
	}
	for (int i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
		const ASN1_STRING *s;

		if (is_ip && gn->type == GEN_IPADD) {
			s = gn->d.iPAddress;
			if (ASN1_STRING_length(s) == addr_len &&
			    memcmp(ASN1_STRING_get0_data(s), addr,
			    (size_t)addr_len) == 0)
				return 1;
		} else if (!is_ip && gn->type == GEN_DNS) {
			s = gn->d.dNSName;
			len = strlen(id->value);
			if ((size_t)ASN1_STRING_length(s) == len &&
			    strncasecmp((const char *)ASN1_STRING_get0_data(s),
			    id->value, len) == 0)
				return 1;
		}
	}
	return 0;
}

int
cert_check_names(const struct cert_chain *chain,
    const struct acme_names *names, char *err, size_t errlen)
{
	GENERAL_NAMES *sans;
	int rc = 0;

	sans = X509_get_ext_d2i(chain->leaf, NID_subject_alt_name, NULL, NULL);
	if (sans == NULL) {
		snprintf(err, errlen, "the certificate has no subjectAltName; "
		    "nothing was stored");
		return -1;
	}
	for (size_t i = 0; i < names->count && rc == 0; i++) {
		if (!san_contains(sans, &names->items[i])) {
			snprintf(err, errlen, "the certificate does not cover "
			    "%s:%s; nothing was stored", names->items[i].type,
			    names->items[i].value);
			rc = -1;
		}
	}
	GENERAL_NAMES_free(sans);
	return rc;
}
