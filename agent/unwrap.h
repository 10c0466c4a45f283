/*
 * Unwrapping of a certificate key that the HSM exported wrapped to this
 * node (CKM_RSA_AES_KEY_WRAP): blob = RSA-OAEP(recipient, K) followed by
 * AES-256-KWP(K, DER PKCS#8 PrivateKeyInfo), RFC 5649 key wrap with
 * padding. The RSA part is exactly the recipient's modulus length, and
 * OAEP uses MGF1 with the OAEP hash and an empty label.
 */
#ifndef CUSTOS_AGENT_UNWRAP_H
#define CUSTOS_AGENT_UNWRAP_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* "sha256:" and 64 lowercase hex digits, and the NUL. */
#define RECIPIENT_FINGERPRINT_SIZE 72
/* Largest blob: a 4096-bit RSA part and a wrapped RSA-4096 key. */
#define UNWRAP_BLOB_MAX (16 * 1024)

/*
 * Loads the node's RSA private key from a PEM file that is a regular file
 * with no access for group or others, and of 2048 to 4096 bits. Returns
 * the key, or NULL with a message naming the path and the fix in err.
 */
EVP_PKEY *unwrap_load_recipient(const char *path, char *err, size_t errlen);

/*
 * Writes "sha256:HEX" of the DER SubjectPublicKeyInfo of key into out.
 * Returns 0, or -1 when OpenSSL fails.
 */
int unwrap_fingerprint(EVP_PKEY *key, char out[RECIPIENT_FINGERPRINT_SIZE]);

/*
 * Unwraps blob with the recipient's private key. oaep_hash is "sha256" or
 * "sha1"; key_type is a key type name ("ec-p256", "rsa-2048", ...) that
 * the unwrapped key must have. Returns the key, or NULL with err set; err
 * never contains key material.
 */
EVP_PKEY *unwrap_key(EVP_PKEY *recipient, const char *oaep_hash,
    const char *key_type, const unsigned char *blob, size_t len, char *err,
    size_t errlen);

/* Returns 1 when key is the private key of the certificate, else 0. */
int unwrap_key_matches(EVP_PKEY *key, X509 *cert);

/*
 * Encodes key as a PKCS#8 PEM ("BEGIN PRIVATE KEY"). Returns a buffer of
 * *len bytes that the caller frees with OPENSSL_clear_free, or NULL.
 */
char *unwrap_pem(EVP_PKEY *key, size_t *len);

#endif
