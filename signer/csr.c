/*
 * Certificate signing requests. The signer checks every name itself and
 * builds the whole request, so the broker can only choose which names go
 * into the subjectAltName extension.
 */
#include "signer.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "encoding/base64url.h"

#define NAMES_MAX 100
#define DNS_NAME_MAX 253
#define DNS_LABEL_MAX 63
#define CN_MAX 64

/* Returns the length of the IP address that text spells, or 0. */
static size_t
parse_ip(const char *text, unsigned char addr[16])
{
	if (inet_pton(AF_INET, text, addr) == 1)
		return 4;
	if (inet_pton(AF_INET6, text, addr) == 1)
		return 16;
	return 0;
}

static int
is_ldh(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-';
}

/* Checks one label of len bytes; a wildcard label is allowed leftmost. */
static int
check_label(const char *label, size_t len, int leftmost)
{
	size_t i;

	if (len == 0 || len > DNS_LABEL_MAX)
		return -1;
	if (len == 1 && label[0] == '*')
		return leftmost ? 0 : -1;
	if (label[0] == '-' || label[len - 1] == '-')
		return -1;
	for (i = 0; i < len; i++)
		if (!is_ldh(label[i]))
			return -1;
	return 0;
}

/*
 * Checks a DNS name: 1 to 253 bytes, labels of 1 to 63 letters, digits
 * and inner hyphens, '*' only as the whole leftmost label of a name with
 * at least two labels, and no trailing dot.
 */
static int
check_dns_name(const char *name)
{
	size_t len = strlen(name);
	const char *label = name;
	int leftmost = 1;

	if (len == 0 || len > DNS_NAME_MAX)
		return -1;
	if (strcmp(name, "*") == 0)
		return -1;
	for (;;) {
		const char *dot = strchr(label, '.');
		size_t label_len = dot ? (size_t)(dot - label) : strlen(label);

		if (check_label(label, label_len, leftmost) != 0)
			return -1;
		if (dot == NULL)
			return 0;
		label = dot + 1;
		leftmost = 0;
	}
}

/* Checks the "names" array: 1 to 100 distinct DNS names or IP addresses. */
int
csr_check_names(const json_t *names, char *err, size_t errlen)
{
	unsigned char addr[16];
	size_t i, j, count;

	if (!json_is_array(names)) {
		snprintf(err, errlen, "member \"names\" is not an array");
		return -1;
	}
	count = json_array_size(names);
	if (count == 0 || count > NAMES_MAX) {
		snprintf(err, errlen, "member \"names\" has %zu entries, "
		    "expected 1 to %d", count, NAMES_MAX);
		return -1;
	}
	for (i = 0; i < count; i++) {
		json_t *value = json_array_get(names, i);
		const char *name = json_string_value(value);

		if (name == NULL ||
		    strlen(name) != json_string_length(value)) {
			snprintf(err, errlen, "names[%zu] is not a string "
			    "without NUL", i);
			return -1;
		}
		if (parse_ip(name, addr) == 0 && check_dns_name(name) != 0) {
			snprintf(err, errlen, "names[%zu] \"%.64s\" is neither "
			    "a valid DNS name nor an IP address", i, name);
			return -1;
		}
		for (j = 0; j < i; j++) {
			const char *other =
			    json_string_value(json_array_get(names, j));

			if (strcasecmp(name, other) == 0) {
				snprintf(err, errlen, "names[%zu] \"%.64s\" "
				    "repeats names[%zu]", i, name, j);
				return -1;
			}
		}
	}
	return 0;
}

static GENERAL_NAME *
general_name(const char *name)
{
	unsigned char addr[16];
	size_t addr_len = parse_ip(name, addr);
	GENERAL_NAME *gen = GENERAL_NAME_new();
	ASN1_STRING *value;

	if (gen == NULL)
		return NULL;
	value = addr_len ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();
	if (value == NULL || !ASN1_STRING_set(value,
	    addr_len ? (const void *)addr : (const void *)name,
	    addr_len ? (int)addr_len : (int)strlen(name))) {
		ASN1_STRING_free(value);
		GENERAL_NAME_free(gen);
		return NULL;
	}
	GENERAL_NAME_set0_value(gen, addr_len ? GEN_IPADD : GEN_DNS, value);
	return gen;
}

/* Adds the subjectAltName extension listing every name in order. */
static int
add_san(X509_REQ *req, const json_t *names)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	X509_EXTENSION *ext = NULL;
	size_t i;
	int rc = -1;

	if (gens == NULL)
		goto out;
	for (i = 0; i < json_array_size(names); i++) {
		GENERAL_NAME *gen = general_name(
		    json_string_value(json_array_get(names, i)));

		if (gen == NULL || !sk_GENERAL_NAME_push(gens, gen)) {
			GENERAL_NAME_free(gen);
			goto out;
		}
	}
	ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens);
	exts = sk_X509_EXTENSION_new_null();
	if (ext == NULL || exts == NULL || !sk_X509_EXTENSION_push(exts, ext))
		goto out;
	ext = NULL;
	if (X509_REQ_add_extensions(req, exts))
		rc = 0;
out:
	X509_EXTENSION_free(ext);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	GENERAL_NAMES_free(gens);
	return rc;
}

/* Sets the subject to CN=first name, or leaves it empty when too long. */
static int
set_subject(X509_REQ *req, const char *first)
{
	X509_NAME *subject = X509_REQ_get_subject_name(req);

	if (strlen(first) > CN_MAX)
		return 0;
	if (!X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
	    (const unsigned char *)first, -1, -1, 0))
		return -1;
	return 0;
}

/*
 * Builds and signs a CSR for the checked names with pkey, and returns its
 * DER form in base64url in *out_b64 (freed by the caller). Returns 0, or
 * -1 with err set.
 */
int
csr_build(EVP_PKEY *pkey, const json_t *names, char **out_b64, char *err,
    size_t errlen)
{
	unsigned char *der = NULL;
	X509_REQ *req = NULL;
	enum key_type type;
	int der_len, rc = -1;

	*out_b64 = NULL;
	if (csr_check_names(names, err, errlen) != 0)
		return -1;
	snprintf(err, errlen, "key type not supported for a CSR");
	if (key_type_of(pkey, &type) != 0)
		goto out;

	snprintf(err, errlen, "building the CSR failed");
	req = X509_REQ_new();
	if (req == NULL || !X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
	    set_subject(req, json_string_value(json_array_get(names, 0))) ||
	    add_san(req, names) != 0 || !X509_REQ_set_pubkey(req, pkey))
		goto out;

	snprintf(err, errlen, "signing the CSR with the key failed");
	if (X509_REQ_sign(req, pkey, type == KEY_TYPE_EC_P384 ?
	    EVP_sha384() : EVP_sha256()) <= 0)
		goto out;
	der_len = i2d_X509_REQ(req, &der);
	if (der_len <= 0)
		goto out;
	*out_b64 = base64url_encode_alloc(der, (size_t)der_len);
	rc = *out_b64 == NULL ? -1 : 0;
out:
	OPENSSL_free(der);
	X509_REQ_free(req);
	return rc;
}
