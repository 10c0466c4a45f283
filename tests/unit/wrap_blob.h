/*
 * Test-side wrapping of a private key to a recipient RSA public key, the
 * way the HSM's CKM_RSA_AES_KEY_WRAP does it: RSA-OAEP (MGF1 with the
 * same hash, empty label) of a fresh AES-256 key, followed by RFC 5649
 * AES key wrap with padding of the DER PKCS#8 PrivateKeyInfo. Shared by
 * the agent's unit tests and tests/tools/wrap_key.c.
 */
#ifndef CUSTOS_TEST_WRAP_BLOB_H
#define CUSTOS_TEST_WRAP_BLOB_H

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

/*
 * Wraps key to recipient with OAEP hash md. Returns a malloc'd blob of
 * *len bytes, or NULL.
 */
static inline unsigned char *
wrap_blob(EVP_PKEY *key, EVP_PKEY *recipient, const EVP_MD *md, size_t *len)
{
	unsigned char aes_key[32], *der = NULL, *blob = NULL;
	size_t rsa_len = 0;
	int der_len = 0, out_len = 0, final_len = 0, ok = 0;
	PKCS8_PRIV_KEY_INFO *info = EVP_PKEY2PKCS8(key);
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new(recipient, NULL);
	EVP_CIPHER_CTX *cctx = EVP_CIPHER_CTX_new();

	if (info == NULL || pctx == NULL || cctx == NULL ||
	    RAND_bytes(aes_key, sizeof(aes_key)) != 1)
		goto out;
	der_len = i2d_PKCS8_PRIV_KEY_INFO(info, &der);
	rsa_len = (size_t)EVP_PKEY_get_size(recipient);
	blob = malloc(rsa_len + (size_t)der_len + 16);
	if (der_len <= 0 || blob == NULL ||
	    EVP_PKEY_encrypt_init(pctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(pctx, md) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) <= 0 ||
	    EVP_PKEY_encrypt(pctx, blob, &rsa_len, aes_key,
	    sizeof(aes_key)) <= 0)
		goto out;
	EVP_CIPHER_CTX_set_flags(cctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (EVP_EncryptInit_ex(cctx, EVP_aes_256_wrap_pad(), NULL, aes_key,
	    NULL) != 1 ||
	    EVP_EncryptUpdate(cctx, blob + rsa_len, &out_len, der,
	    der_len) != 1 ||
	    EVP_EncryptFinal_ex(cctx, blob + rsa_len + out_len,
	    &final_len) != 1)
		goto out;
	*len = rsa_len + (size_t)out_len + (size_t)final_len;
	ok = 1;
out:
	OPENSSL_cleanse(aes_key, sizeof(aes_key));
	OPENSSL_clear_free(der, der_len > 0 ? (size_t)der_len : 0);
	PKCS8_PRIV_KEY_INFO_free(info);
	EVP_PKEY_CTX_free(pctx);
	EVP_CIPHER_CTX_free(cctx);
	if (!ok) {
		free(blob);
		return NULL;
	}
	return blob;
}

#endif
