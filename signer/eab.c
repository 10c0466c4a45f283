/*
 * External Account Binding (RFC 8555 section 7.3.4). The CA's HMAC key is
 * imported once into the token as a secret-key object labelled
 * "custos/eab/ISSUER/KID": sensitive, not extractable, usable only to
 * sign. The signer then computes the binding's MAC inside the token over
 * a JWS whose payload is the account key's JWK, which the signer derives
 * from the key itself. The broker never receives the HMAC key and cannot
 * bind a key of its choice.
 */
#include "signer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "encoding/base64url.h"

#define EAB_FILE_MAX 4096	/* bytes of the key file */
#define EAB_KEY_MIN 16		/* bytes: 128 bits */
#define EAB_LABEL_MAX (11 + KEY_NAME_MAX + 1 + 128 + 1)
#define EAB_FOUND_MAX 8		/* objects of one label handled at once */

int
eab_label_format(const char *issuer, const char *kid, char *out,
    size_t outlen)
{
	int n;

	if (issuer[0] == '\0' || kid[0] == '\0' || strchr(issuer, '/') ||
	    strchr(kid, '/'))
		return -1;
	n = snprintf(out, outlen, "custos/eab/%s/%s", issuer, kid);
	return n > 0 && (size_t)n < outlen ? 0 : -1;
}

/*
 * Decodes an HMAC key written as base64url or standard base64, with or
 * without '=' padding, followed by optional white space. Returns the key
 * length, or -1 for anything else (mixed alphabets, bad padding, a blank
 * inside). out must hold len bytes.
 */
long
eab_key_decode(const char *text, size_t len, unsigned char *out)
{
	char *copy;
	size_t i, pad = 0;
	int url = 0, standard = 0;
	long n;

	while (len > 0 && strchr(" \t\r\n", text[len - 1]) != NULL)
		len--;
	while (pad < 2 && len > 0 && text[len - 1] == '=') {
		len--;
		pad++;
	}
	if (len == 0 || (pad > 0 && (len + pad) % 4 != 0))
		return -1;
	copy = malloc(len);
	if (copy == NULL)
		return -1;
	for (i = 0; i < len; i++) {
		copy[i] = text[i];
		if (text[i] == '-' || text[i] == '_')
			url = 1;
		if (text[i] == '+' || text[i] == '/') {
			standard = 1;
			copy[i] = text[i] == '+' ? '-' : '_';
		}
	}
	n = url && standard ? -1 : base64url_decode(copy, len, out);
	OPENSSL_cleanse(copy, len);
	free(copy);
	return n;
}

/* Reads the whole key file, a regular file of at most EAB_FILE_MAX bytes. */
static int
read_key_file(const char *path, char *text, size_t *len, char *err,
    size_t errlen)
{
	struct stat st;
	ssize_t n;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open EAB key file %s: %s",
		    path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size <= 0 || st.st_size >= EAB_FILE_MAX) {
		snprintf(err, errlen, "EAB key file %s is not a regular file "
		    "of 1 to %d bytes", path, EAB_FILE_MAX - 1);
		goto out;
	}
	n = read(fd, text, EAB_FILE_MAX - 1);
	if (n != st.st_size) {
		snprintf(err, errlen, "reading EAB key file %s failed", path);
		goto out;
	}
	*len = (size_t)n;
	rc = 0;
out:
	close(fd);
	return rc;
}

int
eab_read_key(const char *path, unsigned char *key, size_t keylen,
    size_t *out_len, char *err, size_t errlen)
{
	char text[EAB_FILE_MAX];
	unsigned char decoded[EAB_FILE_MAX];
	size_t len = 0;
	long n = -1;
	int rc = -1;

	if (read_key_file(path, text, &len, err, errlen) != 0)
		goto out;
	n = eab_key_decode(text, len, decoded);
	if (n < 0) {
		snprintf(err, errlen, "EAB key file %s is not base64url or "
		    "base64 text (write the key as the CA gave it, on one "
		    "line)", path);
		goto out;
	}
	if (n < EAB_KEY_MIN || (size_t)n > keylen) {
		snprintf(err, errlen, "EAB key in %s is %ld bytes, expected "
		    "%d to %zu (check that the file holds the HMAC key, not "
		    "the key id)", path, n, EAB_KEY_MIN, keylen);
		goto out;
	}
	memcpy(key, decoded, (size_t)n);
	*out_len = (size_t)n;
	rc = 0;
out:
	OPENSSL_cleanse(text, sizeof(text));
	OPENSSL_cleanse(decoded, sizeof(decoded));
	return rc;
}

/* Finds up to max objects of class cls with that label. */
static CK_RV
find_by_label(struct signer_token *token, CK_SESSION_HANDLE session,
    CK_OBJECT_CLASS cls, const char *label, CK_OBJECT_HANDLE *found,
    CK_ULONG max, CK_ULONG *count)
{
	CK_ATTRIBUTE query[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_FUNCTION_LIST *p11 = token->p11;
	CK_RV rv;

	*count = 0;
	rv = p11->C_FindObjectsInit(session, query, 2);
	if (rv != CKR_OK)
		return rv;
	rv = p11->C_FindObjects(session, found, max, count);
	p11->C_FindObjectsFinal(session);
	return rv;
}

/*
 * Creates the secret-key object. Every usage attribute is set: the key
 * can compute MACs (CKA_SIGN) and nothing else, and cannot be read back.
 */
static CK_RV
create_secret(struct signer_token *token, CK_SESSION_HANDLE session,
    const char *label, unsigned char *key, size_t keylen)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE type = CKK_GENERIC_SECRET;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	unsigned char id[KEY_ID_BYTES];
	CK_OBJECT_HANDLE handle;
	CK_ATTRIBUTE attrs[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &type, sizeof(type) },
		{ CKA_TOKEN, &yes, 1 },
		{ CKA_PRIVATE, &yes, 1 },
		{ CKA_SENSITIVE, &yes, 1 },
		{ CKA_EXTRACTABLE, &no, 1 },
		{ CKA_SIGN, &yes, 1 },
		{ CKA_VERIFY, &no, 1 },
		{ CKA_ENCRYPT, &no, 1 },
		{ CKA_DECRYPT, &no, 1 },
		{ CKA_WRAP, &no, 1 },
		{ CKA_UNWRAP, &no, 1 },
		{ CKA_DERIVE, &no, 1 },
		{ CKA_ID, id, sizeof(id) },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_VALUE, key, keylen },
	};

	if (RAND_bytes(id, sizeof(id)) != 1)
		return CKR_FUNCTION_FAILED;
	return token->p11->C_CreateObject(session, attrs,
	    sizeof(attrs) / sizeof(attrs[0]), &handle);
}

/*
 * Stores key as the EAB key of issuer and kid. An object already stored
 * under that label is destroyed once the new one exists, so a re-import
 * replaces the key. Returns 0, or -1 with err set.
 */
int
eab_store_key(struct signer_token *token, const char *issuer,
    const char *kid, unsigned char *key, size_t keylen, char *err,
    size_t errlen)
{
	CK_OBJECT_HANDLE old[EAB_FOUND_MAX];
	char label[EAB_LABEL_MAX];
	CK_SESSION_HANDLE session;
	CK_ULONG count = 0, i;
	CK_RV rv;

	if (eab_label_format(issuer, kid, label, sizeof(label)) != 0) {
		snprintf(err, errlen, "the EAB key label does not fit");
		return -1;
	}
	if (token->p11 == NULL) {
		snprintf(err, errlen, "token '%s' has no PKCS#11 function "
		    "list", token->label);
		return -1;
	}
	rv = token->p11->C_OpenSession(token->slot_id,
	    CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &session);
	if (rv != CKR_OK) {
		snprintf(err, errlen, "opening a session on token '%s' "
		    "failed: CKR 0x%lx", token->label, (unsigned long)rv);
		return -1;
	}
	rv = find_by_label(token, session, CKO_SECRET_KEY, label, old,
	    EAB_FOUND_MAX, &count);
	if (rv == CKR_OK)
		rv = create_secret(token, session, label, key, keylen);
	for (i = 0; rv == CKR_OK && i < count; i++)
		rv = token->p11->C_DestroyObject(session, old[i]);
	token->p11->C_CloseSession(session);
	if (rv != CKR_OK) {
		snprintf(err, errlen, "storing EAB key %s in token '%s' "
		    "failed: CKR 0x%lx", label, token->label,
		    (unsigned long)rv);
		return -1;
	}
	return 0;
}

static CK_MECHANISM_TYPE
hmac_mechanism(enum eab_algorithm algorithm, size_t *maclen)
{
	switch (algorithm) {
	case EAB_HS384:
		*maclen = 48;
		return CKM_SHA384_HMAC;
	case EAB_HS512:
		*maclen = 64;
		return CKM_SHA512_HMAC;
	default:
		*maclen = 32;
		return CKM_SHA256_HMAC;
	}
}

/* Computes the MAC of input with the EAB key of that label. */
static int
eab_mac(struct signer_token *token, const char *label,
    enum eab_algorithm algorithm, const char *input, unsigned char *mac,
    size_t *maclen, char *err, size_t errlen)
{
	CK_MECHANISM mechanism = { 0, NULL, 0 };
	CK_OBJECT_HANDLE handle;
	CK_SESSION_HANDLE session;
	CK_ULONG count = 0, len;
	CK_RV rv;

	mechanism.mechanism = hmac_mechanism(algorithm, maclen);
	len = *maclen;
	if (token->p11 == NULL) {
		snprintf(err, errlen, "token '%s' has no PKCS#11 function "
		    "list", token->label);
		return -1;
	}
	rv = token->p11->C_OpenSession(token->slot_id, CKF_SERIAL_SESSION,
	    NULL, NULL, &session);
	if (rv != CKR_OK) {
		snprintf(err, errlen, "opening a session on token '%s' "
		    "failed: CKR 0x%lx", token->label, (unsigned long)rv);
		return -1;
	}
	rv = find_by_label(token, session, CKO_SECRET_KEY, label, &handle, 1,
	    &count);
	if (rv == CKR_OK && count == 1)
		rv = token->p11->C_SignInit(session, &mechanism, handle);
	if (rv == CKR_OK && count == 1)
		rv = token->p11->C_Sign(session, (CK_BYTE_PTR)input,
		    strlen(input), mac, &len);
	token->p11->C_CloseSession(session);
	if (rv == CKR_OK && count == 0) {
		snprintf(err, errlen, "no EAB key %s in token '%s' (run "
		    "custos account import-eab)", label, token->label);
		return -ENOENT;
	}
	if (rv != CKR_OK || len != *maclen) {
		snprintf(err, errlen, "computing the EAB MAC with %s failed: "
		    "CKR 0x%lx", label, (unsigned long)rv);
		return -1;
	}
	return 0;
}

/* Returns base64url(text) of a JSON value's compact form, or NULL. */
static char *
encode_json(const json_t *value)
{
	char *text, *b64;

	text = json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS);
	if (text == NULL)
		return NULL;
	b64 = base64url_encode_alloc((unsigned char *)text, strlen(text));
	free(text);
	return b64;
}

/*
 * Builds the binding JWS for the account key and the newAccount url, with
 * the issuer's EAB key id and algorithm. Returns 0 with the flattened JWS
 * in *out, -ENOENT when the key was never imported, or -1; err is set.
 */
int
eab_sign(struct signer_token *token, const struct config_issuer *issuer,
    EVP_PKEY *account_key, const char *url, json_t **out, char *err,
    size_t errlen)
{
	char label[EAB_LABEL_MAX], *protected = NULL, *payload = NULL;
	char *input = NULL, *signature = NULL;
	unsigned char mac[64];
	json_t *header, *jwk;
	size_t maclen = 0;
	int rc = -1;

	*out = NULL;
	if (eab_label_format(issuer->name, issuer->eab_key_id, label,
	    sizeof(label)) != 0) {
		snprintf(err, errlen, "the EAB key label does not fit");
		return -1;
	}
	header = json_pack("{s:s, s:s, s:s}", "alg",
	    eab_algorithm_name(issuer->eab_algorithm), "kid",
	    issuer->eab_key_id, "url", url);
	jwk = key_jwk(account_key);
	if (header != NULL && jwk != NULL) {
		protected = encode_json(header);
		payload = encode_json(jwk);
	}
	if (protected != NULL && payload != NULL &&
	    asprintf(&input, "%s.%s", protected, payload) < 0)
		input = NULL;
	if (input == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = eab_mac(token, label, issuer->eab_algorithm, input, mac, &maclen,
	    err, errlen);
	if (rc != 0)
		goto out;
	rc = -1;
	signature = base64url_encode_alloc(mac, maclen);
	if (signature != NULL)
		*out = json_pack("{s:s, s:s, s:s}", "protected", protected,
		    "payload", payload, "signature", signature);
	if (*out == NULL)
		snprintf(err, errlen, "out of memory");
	else
		rc = 0;
out:
	OPENSSL_cleanse(mac, sizeof(mac));
	json_decref(header);
	json_decref(jwk);
	free(protected);
	free(payload);
	free(input);
	free(signature);
	return rc;
}
