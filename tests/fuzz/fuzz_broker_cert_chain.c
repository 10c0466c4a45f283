/*
 * Splits one downloaded PEM chain into the leaf and its issuers with
 * cert_chain_parse() (broker/certificate.c), then runs the checks the
 * broker makes before storing it: the leaf's key against a JWK and its
 * subjectAltName against a DNS and an IP identifier.
 */
#include "tests/fuzz/fuzz.h"

#include <openssl/err.h>

#include "broker/certificate.h"
#include "broker/names.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup("fuzz_broker_cert_chain");
	return 0;
}

/* The full chain must be the leaf followed by the issuers. */
static void
check_split(const struct cert_chain *chain)
{
	size_t leaf_len = strlen(chain->leaf_pem);

	FUZZ_ASSERT(chain->leaf != NULL);
	FUZZ_ASSERT(chain->chain_pem != NULL);
	FUZZ_ASSERT(strncmp(chain->fullchain_pem, chain->leaf_pem,
	    leaf_len) == 0);
	FUZZ_ASSERT(strcmp(chain->fullchain_pem + leaf_len,
	    chain->chain_pem) == 0);
	FUZZ_ASSERT(strlen(chain->serial_hex) < sizeof(chain->serial_hex));
}

static void
check_leaf(const struct cert_chain *chain)
{
	char dns_value[] = "www.example.com", ip_value[] = "192.0.2.1";
	struct acme_identifier ids[] = {
		{ "dns", dns_value },
		{ "ip", ip_value },
	};
	struct acme_names names = { ids, 2 };
	EVP_PKEY *key = X509_get0_pubkey(chain->leaf);
	char err[512];
	json_t *jwk = NULL;

	/* A leaf whose key OpenSSL cannot decode has no EVP_PKEY. */
	if (key != NULL && cert_public_jwk(key, &jwk) == 0)
		FUZZ_ASSERT(cert_check_key(chain, jwk, err, sizeof(err)) == 0);
	json_decref(jwk);
	jwk = json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256",
	    "x", "AAAA", "y", "AAAA");
	FUZZ_ASSERT(jwk != NULL);
	cert_check_key(chain, jwk, err, sizeof(err));
	json_decref(jwk);
	cert_check_names(chain, &names, err, sizeof(err));
	FUZZ_ASSERT(fuzz_is_terminated(err, sizeof(err)));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cert_chain chain;
	char err[512];

	if (cert_chain_parse((const char *)data, size, &chain, err,
	    sizeof(err)) != 0) {
		FUZZ_ASSERT(chain.leaf == NULL);
		FUZZ_ASSERT(chain.fullchain_pem == NULL);
		FUZZ_ASSERT(fuzz_is_terminated(err, sizeof(err)));
		return 0;
	}
	check_split(&chain);
	check_leaf(&chain);
	cert_chain_clear(&chain);
	ERR_clear_error();
	return 0;
}
