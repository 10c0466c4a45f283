/*
 * The names of a certificate in a revokeCert payload: read from its
 * subjectAltName and checked against the tenant's policy before the signer
 * signs a revocation with an account key.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "encoding/base64url.h"
#include "policy/name.h"
#include "signer/signer.h"
#include "tests/unit/check.h"

#define WITH_KID 1

static const char policy_text[] =
    "tenant web {\n"
    "\tallow .example.com 192.0.2.0/24\n"
    "\tdeny secret.example.com\n"
    "}\n";

static EVP_PKEY *test_key;
static const struct policy_tenant *test_tenant;

/*
 * Builds a self-signed certificate with subjectAltName san (NULL: no
 * extension) and returns its DER in base64url, or NULL.
 */
static char *
certificate_b64(const char *san)
{
	X509 *cert = X509_new();
	X509_EXTENSION *ext = NULL;
	X509V3_CTX ctx;
	unsigned char *der = NULL;
	char *b64 = NULL;
	int len;

	if (cert == NULL || X509_set_version(cert, 2) != 1 ||
	    X509_set_pubkey(cert, test_key) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(cert), 0) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(cert), 3600) == NULL)
		goto out;
	if (san != NULL) {
		X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
		ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name,
		    san);
		if (ext == NULL || X509_add_ext(cert, ext, -1) != 1)
			goto out;
	}
	if (X509_sign(cert, test_key, EVP_sha256()) <= 0)
		goto out;
	len = i2d_X509(cert, &der);
	if (len > 0)
		b64 = base64url_encode_alloc(der, (size_t)len);
out:
	OPENSSL_free(der);
	X509_EXTENSION_free(ext);
	X509_free(cert);
	return b64;
}

/* Returns the identifiers of san joined by spaces, or "error: MESSAGE". */
static char *
identifiers_of(const char *san)
{
	static char text[512];
	struct policy_identifier *ids;
	char err[256], *b64 = certificate_b64(san);
	int count, i;

	if (b64 == NULL)
		return strcpy(text, "error: no certificate built");
	count = revoke_certificate_identifiers(b64, &ids, err, sizeof(err));
	free(b64);
	if (count < 0) {
		snprintf(text, sizeof(text), "error: %s", err);
		return text;
	}
	text[0] = '\0';
	for (i = 0; i < count; i++) {
		strcat(text, i > 0 ? " " : "");
		strcat(text, ids[i].type == POLICY_ID_IP ? "ip:" : "dns:");
		strcat(text, ids[i].value);
	}
	revoke_identifiers_free(ids, (size_t)count);
	return text;
}

/* Returns 1 when the tenant may revoke a certificate for san, else 0. */
static int
revocation_allowed(const struct policy_tenant *tenant, const char *san,
    char *reason, size_t reasonlen)
{
	struct policy_decision decision;
	struct acme_payload payload;
	struct csr_table csrs;
	char *b64 = certificate_b64(san), *text;
	int allowed;

	memset(&csrs, 0, sizeof(csrs));
	if (b64 == NULL)
		return -1;
	text = malloc(strlen(b64) + 32);
	if (text == NULL) {
		free(b64);
		return -1;
	}
	sprintf(text, "{\"certificate\":\"%s\"}", b64);
	allowed = authorize_payload(tenant, &csrs, text, WITH_KID, &payload,
	    &decision);
	snprintf(reason, reasonlen, "%s", decision.reason);
	acme_payload_clear(&payload);
	free(text);
	free(b64);
	return allowed;
}

static void
test_revoke_identifiers(void)
{
	CHECK_STR(identifiers_of("DNS:www.example.com,DNS:*.Example.COM"),
	    "dns:www.example.com dns:*.example.com");
	CHECK_STR(identifiers_of("IP:192.0.2.7,IP:2001:DB8:0:0:0:0:0:1"),
	    "ip:192.0.2.7 ip:2001:db8::1");
	CHECK_STR(identifiers_of("email:a@example.com,DNS:a.example.com"),
	    "dns:a.example.com");
	CHECK_STR(identifiers_of(NULL), "error: the certificate has no DNS "
	    "name or IP address in its subjectAltName");
	CHECK_STR(identifiers_of("email:a@example.com"), "error: the "
	    "certificate has no DNS name or IP address in its "
	    "subjectAltName");
}

static void
test_revoke_bad_certificate(void)
{
	struct policy_identifier *ids;
	char err[256];

	CHECK_INT(revoke_certificate_identifiers("", &ids, err,
	    sizeof(err)), -1);
	CHECK_STR(err, "the certificate is empty or larger than 16384 bytes");
	CHECK_INT(revoke_certificate_identifiers("AAAA", &ids, err,
	    sizeof(err)), -1);
	CHECK_STR(err, "member \"certificate\" is not one base64url DER "
	    "certificate");
	CHECK(ids == NULL);
}

static void
test_revoke_policy(void)
{
	const struct policy_tenant *tenant = test_tenant;
	char reason[POLICY_REASON_MAX];

	CHECK_INT(revocation_allowed(tenant, "DNS:www.example.com,"
	    "IP:192.0.2.9", reason, sizeof(reason)), 1);
	CHECK_INT(revocation_allowed(tenant, "DNS:www.example.com,"
	    "DNS:www.other.test", reason, sizeof(reason)), 0);
	CHECK(strstr(reason, "www.other.test") != NULL);
	CHECK_INT(revocation_allowed(tenant, "DNS:secret.example.com",
	    reason, sizeof(reason)), 0);
	CHECK(strstr(reason, "secret.example.com") != NULL);
	CHECK_INT(revocation_allowed(tenant, "IP:198.51.100.1", reason,
	    sizeof(reason)), 0);
	CHECK(strstr(reason, "198.51.100.1") != NULL);
	CHECK_INT(revocation_allowed(tenant, NULL, reason, sizeof(reason)),
	    0);
	CHECK(strstr(reason, "no DNS name or IP address") != NULL);
}

int
main(void)
{
	struct policy *policy = NULL;
	char err[256];

	test_key = EVP_EC_gen("P-256");
	CHECK(test_key != NULL);
	CHECK_INT(policy_load_string("revoke.policy", policy_text,
	    policy_name_normalize_ascii, &policy, err, sizeof(err)), 0);
	if (test_key == NULL || policy == NULL)
		return check_done();
	RUN(test_revoke_identifiers);
	RUN(test_revoke_bad_certificate);
	test_tenant = &policy->tenants[0];
	RUN(test_revoke_policy);
	policy_free(policy);
	EVP_PKEY_free(test_key);
	return check_done();
}
