/* CSR names and building, with a software key that OpenSSL can verify. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "encoding/base64url.h"
#include "signer/signer.h"
#include "tests/unit/check.h"

static int
check_one(const char *name)
{
	json_t *names = json_pack("[s]", name);
	char err[SIGNER_ERR_MAX];
	int rc = csr_check_names(names, err, sizeof(err));

	json_decref(names);
	return rc;
}

static void
test_names_accepted(void)
{
	CHECK_INT(check_one("example.org"), 0);
	CHECK_INT(check_one("*.example.org"), 0);
	CHECK_INT(check_one("xn--bcher-kva.example"), 0);
	CHECK_INT(check_one("localhost"), 0);
	CHECK_INT(check_one("192.0.2.1"), 0);
	CHECK_INT(check_one("2001:db8::1"), 0);
	CHECK_INT(check_one("A-1.Example.ORG"), 0);
}

static void
test_names_rejected(void)
{
	CHECK_INT(check_one(""), -1);
	CHECK_INT(check_one("*"), -1);
	CHECK_INT(check_one("a.*.example.org"), -1);
	CHECK_INT(check_one("*a.example.org"), -1);
	CHECK_INT(check_one("**.example.org"), -1);
	CHECK_INT(check_one("example.org."), -1);
	CHECK_INT(check_one(".example.org"), -1);
	CHECK_INT(check_one("a..example.org"), -1);
	CHECK_INT(check_one("-a.example.org"), -1);
	CHECK_INT(check_one("a-.example.org"), -1);
	CHECK_INT(check_one("under_score.example"), -1);
	CHECK_INT(check_one("space .example"), -1);
	CHECK_INT(check_one("b\xc3\xbc" "cher.example"), -1);
	CHECK_INT(check_one("[2001:db8::1]"), -1);
	CHECK_INT(check_one("2001:db8::1%eth0"), -1);
}

static void
test_name_length_limits(void)
{
	char name[300];

	/* Four labels of 63 bytes joined by dots, cut to 254 and 253 bytes. */
	memset(name, 'a', sizeof(name));
	name[63] = name[127] = name[191] = '.';
	name[254] = '\0';
	CHECK_INT(check_one(name), -1);
	name[253] = '\0';
	CHECK_INT(check_one(name), 0);
	memset(name, 'b', 64);
	name[64] = '\0';
	CHECK_INT(check_one(name), -1);
	name[63] = '\0';
	CHECK_INT(check_one(name), 0);
}

static void
test_name_list_limits(void)
{
	json_t *names = json_array();
	char err[SIGNER_ERR_MAX], name[32];
	int i;

	CHECK_INT(csr_check_names(names, err, sizeof(err)), -1);
	CHECK_STR(err, "member \"names\" has 0 entries, expected 1 to 100");
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "host%d.example", i);
		json_array_append_new(names, json_string(name));
	}
	CHECK_INT(csr_check_names(names, err, sizeof(err)), 0);
	json_array_append_new(names, json_string("one-more.example"));
	CHECK_INT(csr_check_names(names, err, sizeof(err)), -1);
	json_decref(names);
}

static void
test_name_list_types(void)
{
	json_t *not_array = json_string("example.org");
	json_t *number = json_pack("[s, i]", "example.org", 5);
	json_t *repeat = json_pack("[s, s]", "example.org", "EXAMPLE.org");
	char err[SIGNER_ERR_MAX];

	CHECK_INT(csr_check_names(not_array, err, sizeof(err)), -1);
	CHECK_INT(csr_check_names(number, err, sizeof(err)), -1);
	CHECK_STR(err, "names[1] is not a string without NUL");
	CHECK_INT(csr_check_names(repeat, err, sizeof(err)), -1);
	CHECK_STR(err, "names[1] \"EXAMPLE.org\" repeats names[0]");
	json_decref(not_array);
	json_decref(number);
	json_decref(repeat);
}

static X509_REQ *
build(EVP_PKEY *pkey, json_t *names)
{
	char err[SIGNER_ERR_MAX], *b64 = NULL;
	unsigned char *der;
	const unsigned char *p;
	X509_REQ *req = NULL;
	long len;

	if (csr_build(pkey, names, &b64, err, sizeof(err)) != 0) {
		printf("# csr_build: %s\n", err);
		return NULL;
	}
	der = malloc(strlen(b64));
	len = base64url_decode(b64, strlen(b64), der);
	p = der;
	if (len > 0)
		req = d2i_X509_REQ(NULL, &p, len);
	free(der);
	free(b64);
	return req;
}

static void
test_csr_subject_and_san(void)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	json_t *names = json_pack("[s, s, s, s]", "www.example.org",
	    "*.example.org", "192.0.2.7", "2001:db8::5");
	X509_REQ *req = build(pkey, names);
	STACK_OF(X509_EXTENSION) *exts;
	GENERAL_NAMES *gens = NULL;
	char cn[128] = "";
	const GENERAL_NAME *gen;
	unsigned char v6[16];

	CHECK(req != NULL);
	if (req == NULL)
		goto out;
	CHECK_INT(X509_REQ_verify(req, pkey), 1);
	CHECK_INT(X509_REQ_get_version(req), 0);
	X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req),
	    NID_commonName, cn, sizeof(cn));
	CHECK_STR(cn, "www.example.org");
	exts = X509_REQ_get_extensions(req);
	gens = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	CHECK_INT(sk_GENERAL_NAME_num(gens), 4);
	gen = sk_GENERAL_NAME_value(gens, 1);
	CHECK_INT(gen->type, GEN_DNS);
	CHECK_STR((const char *)ASN1_STRING_get0_data(gen->d.dNSName),
	    "*.example.org");
	gen = sk_GENERAL_NAME_value(gens, 2);
	CHECK_INT(gen->type, GEN_IPADD);
	CHECK_INT(ASN1_STRING_length(gen->d.iPAddress), 4);
	CHECK(memcmp(ASN1_STRING_get0_data(gen->d.iPAddress),
	    "\xc0\x00\x02\x07", 4) == 0);
	gen = sk_GENERAL_NAME_value(gens, 3);
	inet_pton(AF_INET6, "2001:db8::5", v6);
	CHECK_INT(ASN1_STRING_length(gen->d.iPAddress), 16);
	CHECK(memcmp(ASN1_STRING_get0_data(gen->d.iPAddress), v6, 16) == 0);
out:
	GENERAL_NAMES_free(gens);
	X509_REQ_free(req);
	json_decref(names);
	EVP_PKEY_free(pkey);
}

/* A first name over 64 bytes cannot be a CN: the subject stays empty. */
static void
test_csr_long_first_name(void)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	/* 65 bytes. */
	json_t *names = json_pack("[s]",
	    "first-label-of-forty-bytes-0123456789012.second-label"
	    ".example.org");
	X509_REQ *req = build(pkey, names);

	CHECK(req != NULL);
	CHECK_INT(req ? X509_NAME_entry_count(
	    X509_REQ_get_subject_name(req)) : -1, 0);
	CHECK_INT(req ? X509_REQ_verify(req, pkey) : -1, 1);
	X509_REQ_free(req);
	json_decref(names);
	EVP_PKEY_free(pkey);
}

static void
test_csr_p384_uses_sha384(void)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	json_t *names = json_pack("[s]", "example.org");
	X509_REQ *req = build(pkey, names);
	const X509_ALGOR *alg = NULL;
	const ASN1_OBJECT *oid = NULL;

	CHECK(req != NULL);
	if (req != NULL) {
		X509_REQ_get0_signature(req, NULL, &alg);
		X509_ALGOR_get0(&oid, NULL, NULL, alg);
		CHECK_INT(OBJ_obj2nid(oid), NID_ecdsa_with_SHA384);
	}
	X509_REQ_free(req);
	json_decref(names);
	EVP_PKEY_free(pkey);
}

int
main(void)
{
	RUN(test_names_accepted);
	RUN(test_names_rejected);
	RUN(test_name_length_limits);
	RUN(test_name_list_limits);
	RUN(test_name_list_types);
	RUN(test_csr_subject_and_san);
	RUN(test_csr_long_first_name);
	RUN(test_csr_p384_uses_sha384);
	return check_done();
}
