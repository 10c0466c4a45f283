/*
 * Tests of the agent's unwrapping of wrapped certificate keys, with blobs
 * made here by OpenSSL (tests/unit/wrap_blob.h): both OAEP hashes, a
 * second recipient, damaged blobs, the key type and the key-certificate
 * match; and of the checks of the distribution endpoint's body.
 */
#include "agent/dist.h"
#include "agent/unwrap.h"
#include "tests/unit/check.h"
#include "tests/unit/wrap_blob.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/pem.h>

static EVP_PKEY *recipient_a, *recipient_b, *leaf_key, *other_key;
static X509 *leaf_cert;
static char err[1024];

static X509 *
make_cert(EVP_PKEY *key)
{
	X509 *cert = X509_new();
	X509_NAME *name = X509_NAME_new();

	X509_set_version(cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(cert), 0);
	X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"agent.test", -1, -1, 0);
	X509_set_subject_name(cert, name);
	X509_set_issuer_name(cert, name);
	X509_set_pubkey(cert, key);
	X509_sign(cert, key, EVP_sha256());
	X509_NAME_free(name);
	return cert;
}

static EVP_PKEY *
unwrap(EVP_PKEY *recipient, const char *hash, const char *type,
    const unsigned char *blob, size_t len)
{
	err[0] = '\0';
	return unwrap_key(recipient, hash, type, blob, len, err, sizeof(err));
}

static void
test_unwrap_sha256(void)
{
	size_t len = 0;
	unsigned char *blob = wrap_blob(leaf_key, recipient_a, EVP_sha256(),
	    &len);
	EVP_PKEY *key;

	CHECK(blob != NULL);
	key = unwrap(recipient_a, "sha256", "ec-p256", blob, len);
	CHECK(key != NULL);
	CHECK_INT(EVP_PKEY_eq(key, leaf_key), 1);
	CHECK_INT(unwrap_key_matches(key, leaf_cert), 1);
	EVP_PKEY_free(key);
	free(blob);
}

static void
test_unwrap_sha1(void)
{
	size_t len = 0;
	unsigned char *blob = wrap_blob(leaf_key, recipient_a, EVP_sha1(),
	    &len);
	EVP_PKEY *key;

	key = unwrap(recipient_a, "sha1", "ec-p256", blob, len);
	CHECK(key != NULL);
	CHECK_INT(EVP_PKEY_eq(key, leaf_key), 1);
	EVP_PKEY_free(key);
	key = unwrap(recipient_a, "sha256", "ec-p256", blob, len);
	CHECK(key == NULL);
	CHECK(strstr(err, "RSA-OAEP decryption") != NULL);
	free(blob);
}

/* Up to 7 zero bytes after the DER are SoftHSM2's padding; more are not. */
static void
test_zero_padding(void)
{
	static const struct {
		size_t pad;
		unsigned char fill;
		int accepted;
	} cases[] = {
		{ 1, 0, 1 }, { 3, 0, 1 }, { 7, 0, 1 },
		{ 8, 0, 0 }, { 1, 1, 0 }, { 5, 0xff, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = 0;
		unsigned char *blob = wrap_blob_padded(leaf_key, recipient_a,
		    EVP_sha1(), cases[i].pad, cases[i].fill, &len);
		EVP_PKEY *key;

		CHECK(blob != NULL);
		key = unwrap(recipient_a, "sha1", "ec-p256", blob, len);
		CHECK_INT(key != NULL, cases[i].accepted);
		if (key != NULL)
			CHECK_INT(EVP_PKEY_eq(key, leaf_key), 1);
		else
			CHECK(strstr(err, "not a DER PKCS#8") != NULL);
		EVP_PKEY_free(key);
		free(blob);
	}
}

static void
test_second_recipient_fails(void)
{
	size_t len = 0;
	unsigned char *blob = wrap_blob(leaf_key, recipient_a, EVP_sha256(),
	    &len);
	EVP_PKEY *key = unwrap(recipient_b, "sha256", "ec-p256", blob, len);

	CHECK(key == NULL);
	CHECK(strstr(err, "another recipient") != NULL);
	free(blob);
}

static void
test_truncated_blob_fails(void)
{
	size_t len = 0;
	unsigned char *blob = wrap_blob(leaf_key, recipient_a, EVP_sha256(),
	    &len);

	CHECK(unwrap(recipient_a, "sha256", "ec-p256", blob, len - 1) == NULL);
	CHECK(strstr(err, "does not fit") != NULL);
	CHECK(unwrap(recipient_a, "sha256", "ec-p256", blob, len - 8) == NULL);
	CHECK(strstr(err, "integrity check") != NULL);
	CHECK(unwrap(recipient_a, "sha256", "ec-p256", blob, 256) == NULL);
	CHECK(strstr(err, "does not fit") != NULL);
	CHECK(unwrap(recipient_a, "sha256", "ec-p256", blob, 0) == NULL);
	free(blob);
}

static void
test_flipped_bits_fail(void)
{
	size_t len = 0, i;
	unsigned char *blob = wrap_blob(leaf_key, recipient_a, EVP_sha256(),
	    &len);
	/* In the RSA part, at the AES key wrap's start, middle and end. */
	const size_t positions[] = { 0, 100, 255, 256, 256 + 20, len - 1 };
	EVP_PKEY *key;

	for (i = 0; i < sizeof(positions) / sizeof(positions[0]); i++) {
		blob[positions[i]] ^= 0x01;
		CHECK(unwrap(recipient_a, "sha256", "ec-p256", blob,
		    len) == NULL);
		CHECK(strstr(err, positions[i] < 256 ? "RSA-OAEP" :
		    "integrity") != NULL);
		blob[positions[i]] ^= 0x01;
	}
	key = unwrap(recipient_a, "sha256", "ec-p256", blob, len);
	CHECK(key != NULL);
	EVP_PKEY_free(key);
	free(blob);
}

static void
test_key_type_checked(void)
{
	size_t len = 0;
	unsigned char *blob = wrap_blob(leaf_key, recipient_a, EVP_sha256(),
	    &len);

	CHECK(unwrap(recipient_a, "sha256", "ec-p384", blob, len) == NULL);
	CHECK_STR(err, "the unwrapped key is not of type ec-p384");
	CHECK(unwrap(recipient_a, "sha256", "rsa-2048", blob, len) == NULL);
	CHECK(unwrap(recipient_a, "md5", "ec-p256", blob, len) == NULL);
	CHECK_STR(err, "unknown OAEP hash");
	free(blob);
}

static void
test_rsa_leaf_key(void)
{
	EVP_PKEY *rsa_leaf = EVP_RSA_gen(2048), *key;
	size_t len = 0;
	unsigned char *blob = wrap_blob(rsa_leaf, recipient_b, EVP_sha256(),
	    &len);

	key = unwrap(recipient_b, "sha256", "rsa-2048", blob, len);
	CHECK(key != NULL);
	CHECK_INT(EVP_PKEY_eq(key, rsa_leaf), 1);
	CHECK_INT(unwrap_key_matches(key, leaf_cert), 0);
	EVP_PKEY_free(key);
	CHECK(unwrap(recipient_b, "sha256", "rsa-3072", blob, len) == NULL);
	EVP_PKEY_free(rsa_leaf);
	free(blob);
}

static void
test_mismatched_key_refused(void)
{
	size_t len = 0;
	unsigned char *blob = wrap_blob(other_key, recipient_a, EVP_sha256(),
	    &len);
	EVP_PKEY *key = unwrap(recipient_a, "sha256", "ec-p256", blob, len);

	CHECK(key != NULL);
	CHECK_INT(unwrap_key_matches(key, leaf_cert), 0);
	EVP_PKEY_free(key);
	free(blob);
}

static void
test_pem_is_pkcs8(void)
{
	size_t len = 0;
	char *pem = unwrap_pem(leaf_key, &len), *text;

	CHECK(pem != NULL);
	text = strndup(pem, len);
	CHECK(strncmp(text, "-----BEGIN PRIVATE KEY-----\n", 28) == 0);
	free(text);
	OPENSSL_clear_free(pem, len);
}

static void
test_fingerprint(void)
{
	char a[RECIPIENT_FINGERPRINT_SIZE], b[RECIPIENT_FINGERPRINT_SIZE];
	unsigned char *der = NULL, md[32];
	char expected[RECIPIENT_FINGERPRINT_SIZE] = "sha256:";
	int len, i;

	CHECK_INT(unwrap_fingerprint(recipient_a, a), 0);
	CHECK_INT(unwrap_fingerprint(recipient_b, b), 0);
	len = i2d_PUBKEY(recipient_a, &der);
	SHA256(der, (size_t)len, md);
	for (i = 0; i < 32; i++)
		sprintf(expected + 7 + 2 * i, "%02x", md[i]);
	CHECK_STR(a, expected);
	CHECK(strcmp(a, b) != 0);
	OPENSSL_free(der);
}

/* Writes key as PEM to path with mode; returns path. */
static const char *
write_key(const char *path, EVP_PKEY *key, mode_t mode)
{
	FILE *f;

	unlink(path);
	f = fopen(path, "w");
	PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	chmod(path, mode);
	return path;
}

static void
test_recipient_file_checks(void)
{
	char path[] = "/tmp/custos-agent-test.XXXXXX";
	int fd = mkstemp(path);
	EVP_PKEY *key, *small = EVP_RSA_gen(1024);
	FILE *f;

	close(fd);
	key = unwrap_load_recipient(write_key(path, recipient_a, 0600), err,
	    sizeof(err));
	CHECK(key != NULL);
	CHECK_INT(EVP_PKEY_eq(key, recipient_a), 1);
	EVP_PKEY_free(key);
	CHECK(unwrap_load_recipient(write_key(path, recipient_a, 0640), err,
	    sizeof(err)) == NULL);
	CHECK(strstr(err, "mode 0640") != NULL);
	CHECK(strstr(err, "chmod 0600") != NULL);
	CHECK(unwrap_load_recipient(write_key(path, recipient_a, 0604), err,
	    sizeof(err)) == NULL);
	CHECK(unwrap_load_recipient(write_key(path, leaf_key, 0600), err,
	    sizeof(err)) == NULL);
	CHECK(strstr(err, "not an unencrypted PEM RSA private key") != NULL);
	f = fopen(path, "w");
	PEM_write_PrivateKey(f, recipient_a, EVP_aes_256_cbc(),
	    (const unsigned char *)"secret", 6, NULL, NULL);
	fclose(f);
	CHECK(unwrap_load_recipient(path, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "not an unencrypted PEM RSA private key") != NULL);
	CHECK(unwrap_load_recipient(write_key(path, small, 0600), err,
	    sizeof(err)) == NULL);
	CHECK(strstr(err, "1024 bits") != NULL);
	unlink(path);
	CHECK(unwrap_load_recipient(path, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "No such file") != NULL);
	EVP_PKEY_free(small);
}

static void
test_base64_strict(void)
{
	size_t len = 0;
	unsigned char *out;

	out = dist_base64_decode("aGVsbG8=", &len);
	CHECK(out != NULL);
	CHECK_INT(len, 5);
	if (out != NULL)
		CHECK(memcmp(out, "hello", 5) == 0);
	free(out);
	out = dist_base64_decode("aGk=", &len);
	CHECK_INT(len, 2);
	free(out);
	out = dist_base64_decode("YQ==", &len);
	CHECK_INT(len, 1);
	free(out);
	CHECK(dist_base64_decode("aGVsbG8", &len) == NULL);
	CHECK(dist_base64_decode("aGVs\nbG8=", &len) == NULL);
	CHECK(dist_base64_decode("aGVsbG9=", &len) == NULL);
	CHECK(dist_base64_decode("YR==", &len) == NULL);
	CHECK(dist_base64_decode("a-_b", &len) == NULL);
	CHECK(dist_base64_decode("a=bc", &len) == NULL);
	CHECK(dist_base64_decode("====", &len) == NULL);
	CHECK(dist_base64_decode("", &len) == NULL);
}

static char *
cert_pem(X509 *cert)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *copy;
	long n;

	PEM_write_bio_X509(bio, cert);
	n = BIO_get_mem_data(bio, &data);
	copy = strndup(data, (size_t)n);
	BIO_free(bio);
	return copy;
}

/* A valid hsm body; tests change one member at a time. */
static json_t *
hsm_body(void)
{
	char *pem = cert_pem(leaf_cert), *full;
	json_t *doc;

	full = malloc(2 * strlen(pem) + 1);
	strcpy(full, pem);
	strcat(full, pem);
	doc = json_pack("{s:i, s:s, s:s, s:s, s:s, s:{s:s, s:s}}", "id", 1,
	    "version", "20261204T163000Z-0a1b", "certificate", pem,
	    "chain", pem, "fullchain", full, "key", "export", "hsm", "uri",
	    "pkcs11:token=custos;id=%01;type=private");
	free(pem);
	free(full);
	return doc;
}

static int
parse_json(json_t *doc, struct dist_doc *out)
{
	char *text = json_dumps(doc, 0);
	int rc;

	err[0] = '\0';
	rc = dist_parse(text, strlen(text), out, err, sizeof(err));
	free(text);
	json_decref(doc);
	return rc;
}

static void
test_dist_hsm(void)
{
	struct dist_doc doc;
	json_t *body;

	CHECK_INT(parse_json(hsm_body(), &doc), 0);
	CHECK_STR(doc.version, "20261204T163000Z-0a1b");
	CHECK_INT(doc.export, DIST_EXPORT_HSM);
	CHECK_STR(doc.uri, "pkcs11:token=custos;id=%01;type=private");
	dist_clear(&doc);

	body = hsm_body();
	json_object_set_new(json_object_get(body, "key"), "wrapped",
	    json_object());
	CHECK_INT(parse_json(body, &doc), -1);
	CHECK(strstr(err, "carries a wrapped key") != NULL);

	body = hsm_body();
	json_object_set_new(body, "version", json_string("../etc"));
	CHECK_INT(parse_json(body, &doc), -1);
	CHECK(strstr(err, "\"version\"") != NULL);

	body = hsm_body();
	json_object_set_new(body, "version", json_integer(7));
	CHECK_INT(parse_json(body, &doc), -1);
	CHECK(strstr(err, "not a string") != NULL);

	body = hsm_body();
	json_object_set_new(body, "fullchain", json_string("x"));
	CHECK_INT(parse_json(body, &doc), -1);
	CHECK(strstr(err, "\"fullchain\"") != NULL);

	body = hsm_body();
	json_object_set_new(body, "certificate", json_object_get(body,
	    "fullchain"));
	json_incref(json_object_get(body, "fullchain"));
	CHECK_INT(parse_json(body, &doc), -1);
	CHECK(strstr(err, "not one PEM certificate") != NULL);

	body = hsm_body();
	json_object_set_new(json_object_get(body, "key"), "uri",
	    json_string("pkcs11:token=a b"));
	CHECK_INT(parse_json(body, &doc), -1);
	CHECK(strstr(err, "percent-encodes") != NULL);

	body = hsm_body();
	json_object_set_new(json_object_get(body, "key"), "uri",
	    json_string("pkcs11:token=$host\";type=private"));
	CHECK_INT(parse_json(body, &doc), -1);
	CHECK(strstr(err, "percent-encodes") != NULL);

	body = hsm_body();
	json_object_set_new(json_object_get(body, "key"), "export",
	    json_string("plain"));
	CHECK_INT(parse_json(body, &doc), -1);
	CHECK(strstr(err, "unknown key export mode") != NULL);

	body = hsm_body();
	json_object_set_new(body, "version", json_string("previous"));
	CHECK_INT(parse_json(body, &doc), -1);
	CHECK(strstr(err, "\"version\"") != NULL);

	body = hsm_body();
	json_object_set_new(body, "version", json_string("current"));
	CHECK_INT(parse_json(body, &doc), -1);
	CHECK(strstr(err, "\"version\"") != NULL);

	err[0] = '\0';
	CHECK_INT(dist_parse("{\"version\":1,\"version\":2}", 25, &doc, err,
	    sizeof(err)), -1);
	CHECK(strstr(err, "not a JSON object") != NULL);
}

static char *
key_pem(EVP_PKEY *key)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *copy;
	long n;

	PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
	n = BIO_get_mem_data(bio, &data);
	copy = strndup(data, (size_t)n);
	BIO_free(bio);
	return copy;
}

/* An hsm body whose member name is text followed by member name's PEM. */
static json_t *
prefixed_body(const char *name, const char *text, int before)
{
	json_t *doc = hsm_body();
	const char *pem = json_string_value(json_object_get(doc, name));
	char *joined = malloc(strlen(text) + strlen(pem) + 1);

	strcpy(joined, before ? text : pem);
	strcat(joined, before ? pem : text);
	json_object_set_new(doc, name, json_string(joined));
	free(joined);
	return doc;
}

/* Other PEM blocks, a private key above all, never reach cert.pem. */
static void
test_dist_pem_blocks(void)
{
	char *key = key_pem(other_key), *inline_key = NULL;
	struct dist_doc doc;

	CHECK_INT(parse_json(prefixed_body("certificate", key, 1), &doc), -1);
	CHECK(strstr(err, "member \"certificate\" is not one PEM "
	    "certificate") != NULL);
	CHECK_INT(parse_json(prefixed_body("certificate", key, 0), &doc), -1);
	CHECK(strstr(err, "member \"certificate\"") != NULL);
	CHECK_INT(parse_json(prefixed_body("chain", key, 0), &doc), -1);
	CHECK(strstr(err, "member \"chain\"") != NULL);
	CHECK_INT(parse_json(prefixed_body("fullchain", key, 0), &doc), -1);
	CHECK(strstr(err, "member \"fullchain\"") != NULL);
	CHECK_INT(parse_json(prefixed_body("certificate",
	    "-----BEGIN CERTIFICATE-----\nAAAA\n", 0), &doc), -1);
	CHECK(strstr(err, "member \"certificate\"") != NULL);
	CHECK_INT(parse_json(prefixed_body("chain",
	    "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n", 0),
	    &doc), -1);
	CHECK(strstr(err, "member \"chain\"") != NULL);
	CHECK_INT(parse_json(prefixed_body("certificate", "x", 0), &doc), 0);
	dist_clear(&doc);
	/* A block that opens mid-line is not parsed, but is still there. */
	CHECK(asprintf(&inline_key, "x%s", key) > 0);
	CHECK_INT(parse_json(prefixed_body("certificate", inline_key, 0),
	    &doc), -1);
	CHECK(strstr(err, "member \"certificate\"") != NULL);
	free(inline_key);
	free(key);
}

/* A wrapped body with one member of "wrapped" set to value. */
static json_t *
wrapped_body(const char *member, json_t *value)
{
	json_t *doc = hsm_body(), *wrapped;

	wrapped = json_pack("{s:s, s:s, s:s, s:s, s:s}", "format",
	    "rsa-oaep-aes-kwp", "oaep_hash", "sha256", "recipient",
	    "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbcc"
	    "ddeeff", "key_type", "ec-p256", "data", "aGVsbG8=");
	if (member != NULL)
		json_object_set_new(wrapped, member, value);
	json_object_set_new(doc, "key", json_pack("{s:s, s:o}", "export",
	    "wrapped", "wrapped", wrapped));
	return doc;
}

static void
test_dist_wrapped(void)
{
	struct dist_doc doc;

	CHECK_INT(parse_json(wrapped_body(NULL, NULL), &doc), 0);
	CHECK_INT(doc.export, DIST_EXPORT_WRAPPED);
	CHECK_STR(doc.oaep_hash, "sha256");
	CHECK_STR(doc.key_type, "ec-p256");
	CHECK_INT(doc.blob_len, 5);
	dist_clear(&doc);

	CHECK_INT(parse_json(wrapped_body("format", json_string("raw")),
	    &doc), -1);
	CHECK(strstr(err, "unknown wrapped key format") != NULL);
	CHECK_INT(parse_json(wrapped_body("oaep_hash", json_string("md5")),
	    &doc), -1);
	CHECK(strstr(err, "unknown OAEP hash") != NULL);
	CHECK_INT(parse_json(wrapped_body("recipient", json_string(
	    "sha256:00112233445566778899AABBCCDDEEFF00112233445566778899aabbcc"
	    "ddeeff")), &doc), -1);
	CHECK(strstr(err, "lowercase hex") != NULL);
	CHECK_INT(parse_json(wrapped_body("key_type", json_string("dsa")),
	    &doc), -1);
	CHECK(strstr(err, "unknown key type") != NULL);
	CHECK_INT(parse_json(wrapped_body("data", json_string("aGVsbG8")),
	    &doc), -1);
	CHECK(strstr(err, "base64") != NULL);
	CHECK_INT(parse_json(wrapped_body("data", json_integer(1)), &doc), -1);
	CHECK(strstr(err, "not a string") != NULL);
}

int
main(void)
{
	recipient_a = EVP_RSA_gen(2048);
	recipient_b = EVP_RSA_gen(2048);
	leaf_key = EVP_EC_gen("P-256");
	other_key = EVP_EC_gen("P-256");
	leaf_cert = make_cert(leaf_key);
	RUN(test_unwrap_sha256);
	RUN(test_unwrap_sha1);
	RUN(test_zero_padding);
	RUN(test_second_recipient_fails);
	RUN(test_truncated_blob_fails);
	RUN(test_flipped_bits_fail);
	RUN(test_key_type_checked);
	RUN(test_rsa_leaf_key);
	RUN(test_mismatched_key_refused);
	RUN(test_pem_is_pkcs8);
	RUN(test_fingerprint);
	RUN(test_recipient_file_checks);
	RUN(test_base64_strict);
	RUN(test_dist_hsm);
	RUN(test_dist_pem_blocks);
	RUN(test_dist_wrapped);
	X509_free(leaf_cert);
	EVP_PKEY_free(recipient_a);
	EVP_PKEY_free(recipient_b);
	EVP_PKEY_free(leaf_key);
	EVP_PKEY_free(other_key);
	return check_done();
}
