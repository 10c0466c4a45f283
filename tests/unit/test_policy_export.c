/*
 * Key export in the policy: the key-export statement and its decisions,
 * and recipient keys of nodes read from PEM files in a temporary folder
 * (RSA of 2048 to 4096 bits only, fingerprint of the DER SPKI).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "logging/log.h"
#include "policy/policy.h"
#include "tests/unit/check.h"

#define HASH_A "sha256:cf1567dd9a1bf47c5e326ea24c877df96e3ed024ed4a783d5a7" \
	"74bb450ab428d"
#define HASH_B "sha256:30c354702371f0fa19ce986fbda1b02bb394b992c452947862d" \
	"b3aeca0a66695"
#define HASH_C "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123" \
	"456789abcdef"

static char dir[] = "/tmp/custos-test-export-XXXXXX";
static char fingerprint_2048[POLICY_FINGERPRINT_BUFSIZE];

/* Writes key's public half as PEM to dir/name. */
static void
write_public(EVP_PKEY *key, const char *name)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f == NULL)
		return;
	CHECK(PEM_write_PUBKEY(f, key) == 1);
	fclose(f);
}

/* Computes "sha256:HEX" of the DER SPKI, as the policy should. */
static void
expected_fingerprint(EVP_PKEY *key, char *out)
{
	unsigned char digest[32], *der = NULL;
	int len = i2d_PUBKEY(key, &der), i;

	EVP_Digest(der, (size_t)len, digest, NULL, EVP_sha256(), NULL);
	OPENSSL_free(der);
	memcpy(out, "sha256:", 7);
	for (i = 0; i < 32; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", digest[i]);
}

/* Builds an RSA public key with key's modulus and the exponent in hex. */
static EVP_PKEY *
with_exponent(EVP_PKEY *key, const char *hex)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY *out = NULL;
	BIGNUM *n = NULL, *bn_e = NULL;

	if (bld != NULL && ctx != NULL && BN_hex2bn(&bn_e, hex) != 0 &&
	    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) == 1 &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) == 1 &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1)
		params = OSSL_PARAM_BLD_to_param(bld);
	if (params != NULL && EVP_PKEY_fromdata_init(ctx) == 1 &&
	    EVP_PKEY_fromdata(ctx, &out, EVP_PKEY_PUBLIC_KEY, params) != 1)
		out = NULL;
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	BN_free(n);
	BN_free(bn_e);
	return out;
}

static int
setup_keys(void)
{
	EVP_PKEY *rsa2048, *rsa1024, *ec, *e1, *e4, *e65;
	char path[256];
	FILE *f;

	if (mkdtemp(dir) == NULL)
		return -1;
	rsa2048 = EVP_RSA_gen(2048);
	rsa1024 = EVP_RSA_gen(1024);
	ec = EVP_EC_gen("P-256");
	if (rsa2048 == NULL || rsa1024 == NULL || ec == NULL)
		return -1;
	e1 = with_exponent(rsa2048, "1");
	e4 = with_exponent(rsa2048, "4");
	/* 2^64 + 1: odd, so OpenSSL's public check accepts it. */
	e65 = with_exponent(rsa2048, "10000000000000001");
	if (e1 == NULL || e4 == NULL || e65 == NULL)
		return -1;
	write_public(e1, "e1.pub");
	write_public(e4, "e4.pub");
	write_public(e65, "e65.pub");
	EVP_PKEY_free(e1);
	EVP_PKEY_free(e4);
	EVP_PKEY_free(e65);
	snprintf(path, sizeof(path), "%s/fifo.pub", dir);
	if (mkfifo(path, 0600) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/dir.pub", dir);
	if (mkdir(path, 0700) != 0)
		return -1;
	write_public(rsa2048, "edge.pub");
	write_public(rsa1024, "small.pub");
	write_public(ec, "ec.pub");
	expected_fingerprint(rsa2048, fingerprint_2048);
	snprintf(path, sizeof(path), "%s/garbage.pub", dir);
	f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fputs("not a key\n", f);
	fclose(f);
	EVP_PKEY_free(rsa2048);
	EVP_PKEY_free(rsa1024);
	EVP_PKEY_free(ec);
	return 0;
}

static void
remove_keys(void)
{
	static const char *const names[] = {
		"edge.pub", "small.pub", "ec.pub", "garbage.pub",
		"e1.pub", "e4.pub", "e65.pub", "fifo.pub", "policy.conf",
	};
	char path[256];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/dir.pub", dir);
	rmdir(path);
	rmdir(dir);
}

/* Loads text as dir/policy.conf; returns the result of policy_load. */
static int
load(const char *text, struct policy **policy, char *err, size_t errlen)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/policy.conf", dir);
	f = fopen(path, "w");
	if (f == NULL)
		return -2;
	fputs(text, f);
	fclose(f);
	*policy = NULL;
	return policy_load(path, policy_name_normalize, policy, err, errlen);
}

/* Checks that err is "DIR/policy.conf:" followed by rest. */
static void
check_error(const char *err, const char *rest)
{
	char expected[1024];

	snprintf(expected, sizeof(expected), "%s/policy.conf:%s", dir, rest);
	CHECK_STR(err, expected);
}

static void
test_export_statement_errors(void)
{
	struct policy *policy;
	char err[CONFIG_ERR_MAX];

	CHECK_INT(load("tenant web {\n\tkey-export plain\n}\n", &policy, err,
	    sizeof(err)), -1);
	check_error(err, "2:13: unknown key export mode \"plain\"; use hsm "
	    "or wrapped");
	CHECK_INT(load("tenant web {\n\tkey-export wrapped wrapped\n}\n",
	    &policy, err, sizeof(err)), -1);
	check_error(err, "2:21: duplicate key export mode \"wrapped\"");
	CHECK_INT(load("tenant web {\n\tkey-export hsm\n\tkey-export "
	    "wrapped\n}\n", &policy, err, sizeof(err)), -1);
	check_error(err, "3:2: duplicate key-export; the first is at line 2");
	CHECK_INT(load("tenant web {\n\tkey-export\n}\n", &policy, err,
	    sizeof(err)), -1);
	check_error(err, "2:2: key-export needs a value");
	CHECK(policy == NULL);
}

static void
test_export_decisions(void)
{
	struct policy *policy = NULL;
	struct policy_decision d;
	const struct policy_tenant *both, *wrapped, *none;
	char err[CONFIG_ERR_MAX];

	CHECK_INT(load("tenant both {\n\tkey-export hsm wrapped\n}\n"
	    "tenant wrapped {\n\tkey-export wrapped\n}\n"
	    "tenant none {\n}\n", &policy, err, sizeof(err)), 0);
	if (policy == NULL)
		return;
	both = policy_find_tenant(policy, "both");
	wrapped = policy_find_tenant(policy, "wrapped");
	none = policy_find_tenant(policy, "none");
	CHECK_INT(policy_check_key_export(both, POLICY_EXPORT_HSM, &d), 1);
	CHECK_INT(policy_check_key_export(both, POLICY_EXPORT_WRAPPED, &d),
	    1);
	CHECK_INT(policy_check_key_export(wrapped, POLICY_EXPORT_HSM, &d),
	    0);
	CHECK(strstr(d.reason, "key export hsm: denied, not in the "
	    "key-export of tenant wrapped at ") != NULL);
	CHECK_INT(policy_check_key_export(wrapped, POLICY_EXPORT_WRAPPED,
	    &d), 1);
	CHECK_INT(policy_check_key_export(none, POLICY_EXPORT_HSM, &d), 1);
	CHECK_STR(d.reason, "key export hsm: allowed by default (tenant none "
	    "has no key-export statement)");
	CHECK_INT(policy_check_key_export(none, POLICY_EXPORT_WRAPPED, &d),
	    0);
	CHECK_STR(d.reason, "key export wrapped: denied, tenant none has no "
	    "key-export statement (add key-export hsm wrapped)");
	CHECK_INT(policy_check_key_export(NULL, POLICY_EXPORT_HSM, &d), 0);
	policy_free(policy);
}

static void
test_recipient_loaded(void)
{
	struct policy *policy = NULL;
	const struct policy_node *with, *without;
	char err[CONFIG_ERR_MAX], text[1024];

	snprintf(text, sizeof(text), "tenant web {\n\tnode a {\n\t\ttoken "
	    HASH_A "\n\t\trecipient \"edge.pub\"\n\t}\n\tnode b {\n\t\t"
	    "token " HASH_B "\n\t\trecipient \"%s/edge.pub\"\n\t}\n"
	    "\tnode c {\n\t\ttoken sha256:%064d\n\t}\n}\n", dir, 7);
	CHECK_INT(load(text, &policy, err, sizeof(err)), 0);
	if (policy == NULL) {
		printf("# %s\n", err);
		return;
	}
	with = policy_find_node(&policy->tenants[0], "a");
	without = policy_find_node(&policy->tenants[0], "c");
	CHECK(with != NULL);
	CHECK(without != NULL);
	if (with == NULL || without == NULL)
		goto out;
	CHECK(with->recipient_der != NULL);
	CHECK_STR(with->recipient_fingerprint, fingerprint_2048);
	CHECK_INT(with->recipient_origin.line, 4);
	CHECK_STR(policy_find_node(&policy->tenants[0],
	    "b")->recipient_fingerprint, fingerprint_2048);
	CHECK(without->recipient_der == NULL);
	CHECK_STR(without->recipient_fingerprint, "");
	CHECK(policy_find_node(&policy->tenants[0], "d") == NULL);
out:
	policy_free(policy);
}

/* The message is before, the file's full path, then after. */
struct recipient_case {
	const char *file;
	const char *before;
	const char *after;
};

static void
test_recipient_errors(void)
{
	static const struct recipient_case cases[] = {
		{ "missing.pub", "cannot open recipient key ",
		  ": No such file or directory" },
		{ "garbage.pub", "recipient key ", " is not a PEM public key "
		  "(expected -----BEGIN PUBLIC KEY-----, as written by openssl "
		  "pkey -in NODE.key -pubout)" },
		{ "ec.pub", "recipient key ", " is not an RSA key (write the "
		  "node's RSA public key, 2048 to 4096 bits, as PEM: openssl "
		  "pkey -in NODE.key -pubout)" },
		{ "small.pub", "recipient key ", " has 1024 bits; use an RSA "
		  "key of 2048 to 4096 bits" },
		/* Opening a FIFO must not wait for a writer. */
		{ "fifo.pub", "recipient key ", " is not a regular file" },
		{ "dir.pub", "recipient key ", " is not a regular file" },
		/* With e = 1 the RSA-OAEP part is the plain encoded K. */
		{ "e1.pub", "recipient key ", " is not a valid RSA public key "
		  "(pub exponent out of range); make a new key pair on the "
		  "node: openssl genpkey -algorithm RSA -pkeyopt "
		  "rsa_keygen_bits:3072" },
		{ "e4.pub", "recipient key ", " is not a valid RSA public key "
		  "(pub exponent out of range); make a new key pair on the "
		  "node: openssl genpkey -algorithm RSA -pkeyopt "
		  "rsa_keygen_bits:3072" },
		{ "e65.pub", "recipient key ", " has a public exponent of 65 "
		  "bits; use at most 64 bits (openssl genpkey uses 65537)" },
	};
	struct policy *policy;
	char err[CONFIG_ERR_MAX], text[512], rest[700];

	/* A load that waits on the FIFO ends the test here. */
	alarm(30);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "tenant web {\n\tnode a {\n\t\t"
		    "token " HASH_A "\n\t\trecipient \"%s\"\n\t}\n}\n",
		    cases[i].file);
		CHECK_INT(load(text, &policy, err, sizeof(err)), -1);
		snprintf(rest, sizeof(rest), "4:13: %s%s/%s%s",
		    cases[i].before, dir, cases[i].file, cases[i].after);
		check_error(err, rest);
		CHECK(policy == NULL);
	}
	alarm(0);
	CHECK_INT(load("tenant web {\n\tnode a {\n\t\ttoken " HASH_A "\n\t\t"
	    "recipient \"edge.pub\"\n\t\trecipient \"edge.pub\"\n\t}\n}\n",
	    &policy, err, sizeof(err)), -1);
	check_error(err, "5:3: duplicate recipient in node a; a node has one "
	    "recipient key");
	CHECK_INT(load("tenant web {\n\tnode a {\n\t\ttoken " HASH_A "\n\t\t"
	    "recipient a.pub b.pub\n\t}\n}\n", &policy, err, sizeof(err)),
	    -1);
	check_error(err, "4:3: recipient takes one path, as in: recipient "
	    "\"/etc/custos/nodes/edge1.pub\"");
}

static void
test_recipient_shared(void)
{
	struct policy *policy;
	char err[CONFIG_ERR_MAX], expected[1024];
	size_t shared = 0;

	CHECK_INT(load("tenant web {\n\tnode a {\n\t\ttoken " HASH_A
	    "\n\t\trecipient \"edge.pub\"\n\t}\n\tnode b {\n\t\t"
	    "token " HASH_B "\n\t\trecipient \"edge.pub\"\n\t}\n}\n"
	    "tenant mail {\n\tnode edge {\n\t\ttoken " HASH_C "\n\t\t"
	    "recipient \"edge.pub\"\n\t}\n}\n", &policy, err,
	    sizeof(err)), 0);
	CHECK(policy != NULL);
	if (policy == NULL)
		return;
	/* Nodes a and b of one tenant may share a key, but not node edge. */
	snprintf(expected, sizeof(expected), "%s/policy.conf:14:13: warning: "
	    "the recipient key of node edge is also that of node a of "
	    "tenant web (line 4), so either node can unwrap the other "
	    "tenant's keys; give each tenant's node its own key pair "
	    "unless one host serves both tenants", dir);
	for (size_t i = 0; i < policy->warning_count; i++) {
		if (strstr(policy->warnings[i], "recipient key") == NULL)
			continue;
		shared++;
		CHECK_STR(policy->warnings[i], expected);
	}
	CHECK_INT((int)shared, 1);
	policy_free(policy);
}

int
main(void)
{
	log_init("test_policy_export", LOG_LEVEL_ERROR);
	if (setup_keys() != 0) {
		printf("Bail out! cannot write the test keys\n");
		return 1;
	}
	RUN(test_export_statement_errors);
	RUN(test_export_decisions);
	RUN(test_recipient_loaded);
	RUN(test_recipient_errors);
	RUN(test_recipient_shared);
	remove_keys();
	return check_done();
}
