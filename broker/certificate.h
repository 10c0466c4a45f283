/*
 * Checks of a downloaded certificate chain before it is stored: the PEM is
 * split into the leaf and its issuers, the leaf's public key must be the
 * signer's key and its subjectAltName must cover every requested name.
 */
#ifndef CUSTOS_BROKER_CERTIFICATE_H
#define CUSTOS_BROKER_CERTIFICATE_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "broker/names.h"

struct cert_chain {
	X509 *leaf;
	char *leaf_pem;
	char *chain_pem;	/* the issuers, "" when there are none */
	char *fullchain_pem;
	char serial_hex[2 * 20 + 1];	/* lowercase, RFC 5280 max 20 bytes */
};

/* Returns 0, or -1 with a message in err. */
int cert_chain_parse(const char *pem, size_t len, struct cert_chain *chain,
    char *err, size_t errlen);
void cert_chain_clear(struct cert_chain *chain);

/* Checks that the leaf's public key has the JWK members of jwk. */
int cert_check_key(const struct cert_chain *chain, const json_t *jwk,
    char *err, size_t errlen);

/* Checks that each name appears among the leaf's DNS or IP SANs. */
int cert_check_names(const struct cert_chain *chain,
    const struct acme_names *names, char *err, size_t errlen);

/* Sets *jwk to the public JWK members (kty, crv, x, y or n, e) of key. */
int cert_public_jwk(EVP_PKEY *key, json_t **jwk);

#endif
