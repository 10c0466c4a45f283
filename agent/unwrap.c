/*
 * Unwrapping of wrapped certificate keys with OpenSSL only: RSA-OAEP
 * decryption of the AES key, then EVP_aes_256_wrap_pad.
 */
#include "agent/unwrap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#define AES_KEY_LEN 32
/* RFC 5649: an 8-byte integrity block and at least one 8-byte block. */
#define KWP_MIN_LEN 16

/* Declines to ask for a passphrase, which a service cannot answer. */
static int
no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return 0;
}

EVP_PKEY *
unwrap_load_recipient(const char *path, char *err, size_t errlen)
{
	EVP_PKEY *key = NULL;
	struct stat st;
	FILE *f = NULL;
	int fd, bits;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open the recipient key: %s",
		    path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: the recipient key is not a regular "
		    "file; name the PEM file of the node's RSA private key",
		    path);
		close(fd);
		return NULL;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, errlen, "%s: the recipient key has mode %04o, "
		    "which gives group or others access; run chmod 0600 %s",
		    path, (unsigned)(st.st_mode & 07777), path);
		close(fd);
		return NULL;
	}
	if ((f = fdopen(fd, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	key = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
	fclose(f);
	if (key == NULL || !EVP_PKEY_is_a(key, "RSA")) {
		snprintf(err, errlen, "%s: not an unencrypted PEM RSA private "
		    "key; write the node's key with openssl genpkey -algorithm "
		    "RSA", path);
		EVP_PKEY_free(key);
		return NULL;
	}
	bits = EVP_PKEY_get_bits(key);
	if (bits < 2048 || bits > 4096) {
		snprintf(err, errlen, "%s: the RSA key has %d bits; use a key "
		    "of 2048 to 4096 bits", path, bits);
		EVP_PKEY_free(key);
		return NULL;
	}
	return key;
}

int
unwrap_fingerprint(EVP_PKEY *key, char out[RECIPIENT_FINGERPRINT_SIZE])
{
	unsigned char *der = NULL, md[32];
	unsigned int mdlen = 0;
	int len, i, rc = -1;

	len = i2d_PUBKEY(key, &der);
	if (len <= 0)
		return -1;
	if (EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL) &&
	    mdlen == sizeof(md)) {
		strcpy(out, "sha256:");
		for (i = 0; i < (int)sizeof(md); i++)
			snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
		rc = 0;
	}
	OPENSSL_free(der);
	return rc;
}

/* Decrypts the RSA-OAEP part into the 32-byte AES key. */
static int
unwrap_aes_key(EVP_PKEY *recipient, const EVP_MD *md,
    const unsigned char *in, size_t inlen, unsigned char *aes_key)
{
	unsigned char out[512];
	size_t outlen = sizeof(out);
	EVP_PKEY_CTX *ctx;
	int rc = -1;

	ctx = EVP_PKEY_CTX_new(recipient, NULL);
	if (ctx == NULL)
		return -1;
	if (EVP_PKEY_decrypt_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) <= 0)
		goto out;
	if (EVP_PKEY_decrypt(ctx, out, &outlen, in, inlen) <= 0 ||
	    outlen != AES_KEY_LEN)
		goto out;
	memcpy(aes_key, out, AES_KEY_LEN);
	rc = 0;
out:
	OPENSSL_cleanse(out, sizeof(out));
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

/* Unwraps the AES-KWP part; returns the PrivateKeyInfo's length or -1. */
static int
unwrap_kwp(const unsigned char *aes_key, const unsigned char *in,
    size_t inlen, unsigned char *out)
{
	EVP_CIPHER_CTX *ctx;
	int len = 0, final = 0, rc = -1;

	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		return -1;
	EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_wrap_pad(), NULL, aes_key,
	    NULL) == 1 &&
	    EVP_DecryptUpdate(ctx, out, &len, in, (int)inlen) == 1 &&
	    EVP_DecryptFinal_ex(ctx, out + len, &final) == 1)
		rc = len + final;
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

/* Returns 1 when key is of the named type ("ec-p256", "rsa-2048", ...). */
static int
key_has_type(EVP_PKEY *key, const char *type)
{
	char group[64];
	size_t glen = 0;

	if (strncmp(type, "rsa-", 4) == 0)
		return EVP_PKEY_is_a(key, "RSA") &&
		    EVP_PKEY_get_bits(key) == atoi(type + 4);
	if (!EVP_PKEY_is_a(key, "EC") ||
	    EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME,
	    group, sizeof(group), &glen) != 1)
		return 0;
	if (strcmp(type, "ec-p256") == 0)
		return strcmp(group, "prime256v1") == 0;
	if (strcmp(type, "ec-p384") == 0)
		return strcmp(group, "secp384r1") == 0;
	return 0;
}

/*
 * Returns 1 when the len bytes after the DER element are 0 to 7 zero
 * bytes. SoftHSM2 2.6.1 pads a private key's DER with zeros to a
 * multiple of 8 before CKM_AES_KEY_WRAP_PAD. Any other trailing bytes
 * are rejected.
 */
static int
zero_padding(const unsigned char *p, size_t len)
{
	if (len > 7)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

/* Decodes a DER PrivateKeyInfo of len bytes, allowing zero padding. */
static EVP_PKEY *
decode_pkcs8(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	PKCS8_PRIV_KEY_INFO *info;
	EVP_PKEY *key = NULL;

	info = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len);
	if (info == NULL)
		return NULL;
	if (zero_padding(p, (size_t)(der + len - p)))
		key = EVP_PKCS82PKEY(info);
	PKCS8_PRIV_KEY_INFO_free(info);
	return key;
}

EVP_PKEY *
unwrap_key(EVP_PKEY *recipient, const char *oaep_hash, const char *key_type,
    const unsigned char *blob, size_t len, char *err, size_t errlen)
{
	unsigned char aes_key[AES_KEY_LEN], *der = NULL;
	const EVP_MD *md;
	EVP_PKEY *key = NULL;
	size_t rsa_len = (size_t)EVP_PKEY_get_size(recipient), kwp_len;
	int der_len;

	if (strcmp(oaep_hash, "sha256") == 0)
		md = EVP_sha256();
	else if (strcmp(oaep_hash, "sha1") == 0)
		md = EVP_sha1();
	else {
		snprintf(err, errlen, "unknown OAEP hash");
		return NULL;
	}
	if (len > UNWRAP_BLOB_MAX || len < rsa_len + KWP_MIN_LEN ||
	    (len - rsa_len) % 8 != 0) {
		snprintf(err, errlen, "the wrapped key has %zu bytes, which "
		    "does not fit a %zu-byte RSA part and an AES key wrap",
		    len, rsa_len);
		return NULL;
	}
	kwp_len = len - rsa_len;

	if (unwrap_aes_key(recipient, md, blob, rsa_len, aes_key) != 0) {
		snprintf(err, errlen, "RSA-OAEP decryption with the recipient "
		    "key failed: the key was wrapped to another recipient, "
		    "or the blob is damaged");
		goto out;
	}
	if ((der = OPENSSL_secure_malloc(kwp_len)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	der_len = unwrap_kwp(aes_key, blob + rsa_len, kwp_len, der);
	if (der_len <= 0) {
		snprintf(err, errlen, "AES key unwrap failed its integrity "
		    "check: the blob is damaged");
		goto out;
	}
	key = decode_pkcs8(der, (size_t)der_len);
	if (key == NULL) {
		snprintf(err, errlen, "the unwrapped key is not a DER PKCS#8 "
		    "PrivateKeyInfo");
		goto out;
	}
	if (!key_has_type(key, key_type)) {
		snprintf(err, errlen, "the unwrapped key is not of type %s",
		    key_type);
		EVP_PKEY_free(key);
		key = NULL;
	}
out:
	OPENSSL_cleanse(aes_key, sizeof(aes_key));
	if (der != NULL)
		OPENSSL_secure_clear_free(der, kwp_len);
	return key;
}

int
unwrap_key_matches(EVP_PKEY *key, X509 *cert)
{
	EVP_PKEY *pub = X509_get0_pubkey(cert);

	return pub != NULL && EVP_PKEY_eq(pub, key) == 1 &&
	    X509_check_private_key(cert, key) == 1;
}

char *
unwrap_pem(EVP_PKEY *key, size_t *len)
{
	BIO *bio = BIO_new(BIO_s_secmem());
	char *data, *copy = NULL;
	long n;

	if (bio == NULL)
		return NULL;
	if (PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL,
	    NULL) == 1) {
		n = BIO_get_mem_data(bio, &data);
		if (n > 0 && (copy = OPENSSL_malloc((size_t)n)) != NULL) {
			memcpy(copy, data, (size_t)n);
			*len = (size_t)n;
		}
	}
	BIO_free(bio);
	return copy;
}
