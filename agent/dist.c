/* Checks of the distribution endpoint's body; see agent/dist.h. */
#include "agent/dist.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* Largest body: three PEM members and a wrapped key. */
#define DIST_BODY_MAX (4 * DIST_PEM_MAX)
/* A chain longer than this is not one that the CA sent. */
#define DIST_CHAIN_MAX 10

int
dist_version_valid(const char *name)
{
	size_t len = strlen(name);

	return len > 0 && len <= DIST_VERSION_MAX && name[0] != '.' &&
	    name[0] != '-' && strspn(name, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == len;
}

static int
base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

unsigned char *
dist_base64_decode(const char *text, size_t *out_len)
{
	size_t len = strlen(text), pad = 0, i, o = 0;
	unsigned char *out;
	int v[4], k;

	if (len == 0 || len % 4 != 0)
		return NULL;
	if (text[len - 1] == '=')
		pad = text[len - 2] == '=' ? 2 : 1;
	if ((out = malloc(len / 4 * 3)) == NULL)
		return NULL;
	for (i = 0; i < len; i += 4) {
		for (k = 0; k < 4; k++) {
			if (i + k >= len - pad)
				v[k] = 0;
			else if ((v[k] = base64_value(
			    (unsigned char)text[i + k])) < 0)
				goto bad;
		}
		out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		out[o++] = (unsigned char)(v[1] << 4 | v[2] >> 2);
		out[o++] = (unsigned char)(v[2] << 6 | v[3]);
	}
	/* Padding must come from zero bits, so that one blob has one text. */
	if ((pad == 1 && (v[2] & 0x03) != 0) ||
	    (pad == 2 && (v[1] & 0x0f) != 0))
		goto bad;
	*out_len = o - pad;
	return out;
bad:
	free(out);
	return NULL;
}

/* Reads every certificate of pem; returns them or NULL when none fits. */
static STACK_OF(X509) *
read_certs(const char *pem)
{
	STACK_OF(X509) *certs = sk_X509_new_null();
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *cert;

	if (certs == NULL || bio == NULL)
		goto bad;
	while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_push(certs, cert) <= 0 ||
		    sk_X509_num(certs) > DIST_CHAIN_MAX) {
			X509_free(cert);
			goto bad;
		}
	}
	BIO_free(bio);
	if (sk_X509_num(certs) == 0) {
		sk_X509_free(certs);
		return NULL;
	}
	return certs;
bad:
	BIO_free(bio);
	sk_X509_pop_free(certs, X509_free);
	return NULL;
}

/* Copies string member name of obj, at most max bytes, into *out. */
static int
get_string(json_t *obj, const char *name, size_t max, char **out, char *err,
    size_t errlen)
{
	json_t *value = json_object_get(obj, name);

	if (!json_is_string(value)) {
		snprintf(err, errlen, "member \"%s\" is missing or not a "
		    "string", name);
		return -1;
	}
	if (json_string_length(value) == 0 ||
	    json_string_length(value) > max ||
	    strlen(json_string_value(value)) != json_string_length(value)) {
		snprintf(err, errlen, "member \"%s\" is empty, longer than "
		    "%zu bytes or holds a NUL", name, max);
		return -1;
	}
	if ((*out = strdup(json_string_value(value))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* Copies string member name into the fixed buffer out of size bytes. */
static int
get_fixed(json_t *obj, const char *name, char *out, size_t size, char *err,
    size_t errlen)
{
	char *text = NULL;

	if (get_string(obj, name, size - 1, &text, err, errlen) != 0)
		return -1;
	strcpy(out, text);
	free(text);
	return 0;
}

/*
 * Checks that certificate is one certificate, chain one or more, and
 * fullchain the certificate followed by the chain.
 */
static int
check_pems(const struct dist_doc *doc, char *err, size_t errlen)
{
	STACK_OF(X509) *leaf, *chain = NULL, *full = NULL;
	int i, rc = -1;

	leaf = read_certs(doc->certificate);
	if (leaf == NULL || sk_X509_num(leaf) != 1) {
		snprintf(err, errlen, "member \"certificate\" is not one PEM "
		    "certificate");
		goto out;
	}
	if ((chain = read_certs(doc->chain)) == NULL) {
		snprintf(err, errlen, "member \"chain\" holds no PEM "
		    "certificate, or more than %d", DIST_CHAIN_MAX);
		goto out;
	}
	full = read_certs(doc->fullchain);
	if (full == NULL || sk_X509_num(full) != sk_X509_num(chain) + 1 ||
	    X509_cmp(sk_X509_value(full, 0), sk_X509_value(leaf, 0)) != 0) {
		snprintf(err, errlen, "member \"fullchain\" is not the "
		    "certificate followed by the chain");
		goto out;
	}
	for (i = 0; i < sk_X509_num(chain); i++)
		if (X509_cmp(sk_X509_value(full, i + 1),
		    sk_X509_value(chain, i)) != 0) {
			snprintf(err, errlen, "member \"fullchain\" is not "
			    "the certificate followed by the chain");
			goto out;
		}
	rc = 0;
out:
	sk_X509_pop_free(leaf, X509_free);
	sk_X509_pop_free(chain, X509_free);
	sk_X509_pop_free(full, X509_free);
	return rc;
}

static int
parse_hsm_key(json_t *key, struct dist_doc *doc, char *err, size_t errlen)
{
	const unsigned char *p;

	if (json_object_get(key, "wrapped") != NULL) {
		snprintf(err, errlen, "member \"key\" of an hsm certificate "
		    "carries a wrapped key");
		return -1;
	}
	if (get_string(key, "uri", DIST_URI_MAX, &doc->uri, err,
	    errlen) != 0)
		return -1;
	if (strncmp(doc->uri, "pkcs11:", 7) != 0) {
		snprintf(err, errlen, "member \"key.uri\" is not a pkcs11: "
		    "URI");
		return -1;
	}
	/*
	 * RFC 7512 percent-encodes every other character of an attribute.
	 * Quotes, '$', braces and blanks are rejected because reload
	 * commands copy the URI into web server configurations.
	 */
	for (p = (const unsigned char *)doc->uri; *p != '\0'; p++)
		if (!isalnum(*p) && strchr("-._~%:;=/?&@,+", *p) == NULL) {
			snprintf(err, errlen, "member \"key.uri\" holds a "
			    "character that RFC 7512 percent-encodes");
			return -1;
		}
	return 0;
}

static int
parse_wrapped_key(json_t *key, struct dist_doc *doc, char *err,
    size_t errlen)
{
	json_t *wrapped = json_object_get(key, "wrapped");
	char format[32], *data = NULL;
	const char *hex;

	if (!json_is_object(wrapped)) {
		snprintf(err, errlen, "member \"key.wrapped\" is missing or "
		    "not an object");
		return -1;
	}
	if (get_fixed(wrapped, "format", format, sizeof(format), err,
	    errlen) != 0 ||
	    get_fixed(wrapped, "oaep_hash", doc->oaep_hash,
	    sizeof(doc->oaep_hash), err, errlen) != 0 ||
	    get_fixed(wrapped, "recipient", doc->recipient,
	    sizeof(doc->recipient), err, errlen) != 0 ||
	    get_fixed(wrapped, "key_type", doc->key_type,
	    sizeof(doc->key_type), err, errlen) != 0)
		return -1;
	if (strcmp(format, "rsa-oaep-aes-kwp") != 0) {
		snprintf(err, errlen, "unknown wrapped key format (expected "
		    "rsa-oaep-aes-kwp); upgrade custos-agent");
		return -1;
	}
	if (strcmp(doc->oaep_hash, "sha256") != 0 &&
	    strcmp(doc->oaep_hash, "sha1") != 0) {
		snprintf(err, errlen, "unknown OAEP hash in "
		    "\"key.wrapped.oaep_hash\" (expected sha256 or sha1)");
		return -1;
	}
	hex = doc->recipient + 7;
	if (strncmp(doc->recipient, "sha256:", 7) != 0 || strlen(hex) != 64 ||
	    strspn(hex, "0123456789abcdef") != 64) {
		snprintf(err, errlen, "member \"key.wrapped.recipient\" is "
		    "not sha256: and 64 lowercase hex digits");
		return -1;
	}
	if (strcmp(doc->key_type, "ec-p256") != 0 &&
	    strcmp(doc->key_type, "ec-p384") != 0 &&
	    strcmp(doc->key_type, "rsa-2048") != 0 &&
	    strcmp(doc->key_type, "rsa-3072") != 0 &&
	    strcmp(doc->key_type, "rsa-4096") != 0) {
		snprintf(err, errlen, "unknown key type in "
		    "\"key.wrapped.key_type\"");
		return -1;
	}
	if (get_string(wrapped, "data", UNWRAP_BLOB_MAX * 4 / 3 + 4, &data,
	    err, errlen) != 0)
		return -1;
	doc->blob = dist_base64_decode(data, &doc->blob_len);
	free(data);
	if (doc->blob == NULL) {
		snprintf(err, errlen, "member \"key.wrapped.data\" is not "
		    "standard base64 with padding");
		return -1;
	}
	return 0;
}

static int
parse_key(json_t *root, struct dist_doc *doc, char *err, size_t errlen)
{
	json_t *key = json_object_get(root, "key");
	char export[16];

	if (!json_is_object(key)) {
		snprintf(err, errlen, "member \"key\" is missing or not an "
		    "object");
		return -1;
	}
	if (get_fixed(key, "export", export, sizeof(export), err,
	    errlen) != 0)
		return -1;
	if (strcmp(export, "hsm") == 0) {
		doc->export = DIST_EXPORT_HSM;
		return parse_hsm_key(key, doc, err, errlen);
	}
	if (strcmp(export, "wrapped") == 0) {
		doc->export = DIST_EXPORT_WRAPPED;
		return parse_wrapped_key(key, doc, err, errlen);
	}
	snprintf(err, errlen, "unknown key export mode in \"key.export\" "
	    "(expected hsm or wrapped)");
	return -1;
}

int
dist_parse(const char *body, size_t len, struct dist_doc *doc, char *err,
    size_t errlen)
{
	json_error_t jerr;
	json_t *root;
	int rc = -1;

	memset(doc, 0, sizeof(*doc));
	if (len > DIST_BODY_MAX) {
		snprintf(err, errlen, "the body has %zu bytes, more than %d",
		    len, DIST_BODY_MAX);
		return -1;
	}
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(root)) {
		snprintf(err, errlen, "the body is not a JSON object (line "
		    "%d: %s)", jerr.line, root == NULL ? jerr.text :
		    "not an object");
		goto out;
	}
	if (get_fixed(root, "version", doc->version, sizeof(doc->version),
	    err, errlen) != 0)
		goto out;
	if (!dist_version_valid(doc->version)) {
		snprintf(err, errlen, "member \"version\" is not a name of "
		    "letters, digits, '.', '_' and '-'");
		goto out;
	}
	if (get_string(root, "certificate", DIST_PEM_MAX, &doc->certificate,
	    err, errlen) != 0 ||
	    get_string(root, "chain", DIST_PEM_MAX, &doc->chain, err,
	    errlen) != 0 ||
	    get_string(root, "fullchain", DIST_PEM_MAX, &doc->fullchain, err,
	    errlen) != 0 ||
	    check_pems(doc, err, errlen) != 0 ||
	    parse_key(root, doc, err, errlen) != 0)
		goto out;
	rc = 0;
out:
	json_decref(root);
	if (rc != 0)
		dist_clear(doc);
	return rc;
}

void
dist_clear(struct dist_doc *doc)
{
	free(doc->certificate);
	free(doc->chain);
	free(doc->fullchain);
	free(doc->uri);
	free(doc->blob);
	memset(doc, 0, sizeof(*doc));
}
