/*
 * Recipient keys of edge nodes: the RSA public key to which the signer
 * encrypts a wrapped certificate key for that node. The policy names a
 * PEM file, read once when the policy is loaded.
 */
#include "policy/policy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* A PEM public key of RSA-4096 takes about 800 bytes. */
#define RECIPIENT_FILE_MAX (64 * 1024)

/* Joins a relative path to the folder of the policy file. */
static int
resolve_path(const char *policy_file, const char *path, char *out,
    size_t outlen)
{
	const char *slash = strrchr(policy_file, '/');
	int n;

	if (path[0] == '/' || slash == NULL)
		n = snprintf(out, outlen, "%s", path);
	else
		n = snprintf(out, outlen, "%.*s/%s",
		    (int)(slash - policy_file), policy_file, path);
	return n > 0 && (size_t)n < outlen ? 0 : -1;
}

/*
 * Reads the whole regular file into a malloc'd buffer of at most the
 * limit. O_NONBLOCK: opening a FIFO must not wait for a writer.
 */
static char *
read_small_file(const char *path, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	char *text = NULL;
	ssize_t n = 0;
	int fd;

	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open recipient key %s: %s",
		    path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "recipient key %s is not a regular file",
		    path);
		close(fd);
		return NULL;
	}
	text = malloc(RECIPIENT_FILE_MAX + 1);
	while (text != NULL && *len <= RECIPIENT_FILE_MAX) {
		n = read(fd, text + *len, RECIPIENT_FILE_MAX + 1 - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		*len += (size_t)n;
	}
	if (text == NULL || n < 0 || *len > RECIPIENT_FILE_MAX) {
		snprintf(err, errlen, "cannot read recipient key %s: %s", path,
		    text == NULL ? "out of memory" : *len > RECIPIENT_FILE_MAX ?
		    "larger than 64 KiB" : strerror(errno));
		free(text);
		text = NULL;
	}
	close(fd);
	return text;
}

/*
 * Checks the key's values as SP 800-56B does for a public key (OpenSSL
 * 3.0 EVP_PKEY_public_check): an odd exponent above 1 and a composite
 * odd modulus. With e = 1 the RSA-OAEP part of a blob would be the
 * encoded AES key itself, readable by anyone who has the blob. The
 * exponent must also fit in 64 bits: OpenSSL 3.0 rejects a larger one
 * for moduli above 3072 bits, so SoftHSM2 could not wrap to it.
 */
static int
check_public_values(EVP_PKEY *key, const char *path, char *err,
    size_t errlen)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	const char *reason;
	BIGNUM *e = NULL;
	int valid, bits;

	ERR_clear_error();
	valid = ctx != NULL && EVP_PKEY_public_check(ctx) == 1;
	EVP_PKEY_CTX_free(ctx);
	if (!valid) {
		reason = ERR_reason_error_string(ERR_peek_last_error());
		ERR_clear_error();
		snprintf(err, errlen, "recipient key %s is not a valid RSA "
		    "public key (%s); make a new key pair on the node: openssl "
		    "genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072", path,
		    reason != NULL ? reason : "check failed");
		return -1;
	}
	if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "cannot read the exponent of recipient "
		    "key %s", path);
		return -1;
	}
	bits = BN_num_bits(e);
	BN_free(e);
	if (bits > POLICY_RECIPIENT_EXPONENT_BITS_MAX) {
		snprintf(err, errlen, "recipient key %s has a public exponent "
		    "of %d bits; use at most %d bits (openssl genpkey uses "
		    "65537)", path, bits, POLICY_RECIPIENT_EXPONENT_BITS_MAX);
		return -1;
	}
	return 0;
}

/* Checks that key is RSA of 2048 to 4096 bits with valid values. */
static int
check_recipient_key(EVP_PKEY *key, const char *path, char *err,
    size_t errlen)
{
	int bits = EVP_PKEY_get_bits(key);

	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
		snprintf(err, errlen, "recipient key %s is not an RSA key "
		    "(write the node's RSA public key, 2048 to 4096 bits, as "
		    "PEM: openssl pkey -in NODE.key -pubout)", path);
		return -1;
	}
	if (bits < POLICY_RECIPIENT_BITS_MIN ||
	    bits > POLICY_RECIPIENT_BITS_MAX) {
		snprintf(err, errlen, "recipient key %s has %d bits; use an "
		    "RSA key of %d to %d bits", path, bits,
		    POLICY_RECIPIENT_BITS_MIN, POLICY_RECIPIENT_BITS_MAX);
		return -1;
	}
	return check_public_values(key, path, err, errlen);
}

/* Stores the DER SubjectPublicKeyInfo and its fingerprint in node. */
static int
store_recipient(EVP_PKEY *key, struct policy_node *node, char *err,
    size_t errlen)
{
	unsigned char digest[POLICY_SHA256_LEN], *der = NULL;
	int len, i;

	len = i2d_PUBKEY(key, &der);
	if (len <= 0 || EVP_Digest(der, (size_t)len, digest, NULL,
	    EVP_sha256(), NULL) != 1) {
		OPENSSL_free(der);
		snprintf(err, errlen, "cannot encode the recipient key");
		return -1;
	}
	node->recipient_der = malloc((size_t)len);
	if (node->recipient_der == NULL) {
		OPENSSL_free(der);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(node->recipient_der, der, (size_t)len);
	node->recipient_der_len = (size_t)len;
	OPENSSL_free(der);
	memcpy(node->recipient_fingerprint, "sha256:", 7);
	for (i = 0; i < POLICY_SHA256_LEN; i++)
		snprintf(node->recipient_fingerprint + 7 + 2 * i, 3, "%02x",
		    digest[i]);
	return 0;
}

int
policy_read_recipient(const char *policy_file, const char *path,
    struct policy_node *node, char *err, size_t errlen)
{
	char full[4096];
	EVP_PKEY *key = NULL;
	BIO *bio = NULL;
	char *text;
	size_t len;
	int rc = -1;

	if (path[0] == '\0' || resolve_path(policy_file, path, full,
	    sizeof(full)) != 0) {
		snprintf(err, errlen, "invalid recipient path \"%.200s\"; name "
		    "a PEM file with the node's RSA public key", path);
		return -1;
	}
	text = read_small_file(full, &len, err, errlen);
	if (text == NULL)
		return -1;
	bio = BIO_new_mem_buf(text, (int)len);
	if (bio != NULL)
		key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	ERR_clear_error();
	if (key == NULL)
		snprintf(err, errlen, "recipient key %s is not a PEM public "
		    "key (expected -----BEGIN PUBLIC KEY-----, as written by "
		    "openssl pkey -in NODE.key -pubout)", full);
	else if (check_recipient_key(key, full, err, errlen) == 0)
		rc = store_recipient(key, node, err, errlen);
	EVP_PKEY_free(key);
	BIO_free(bio);
	free(text);
	return rc;
}
