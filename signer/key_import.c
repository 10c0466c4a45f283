/*
 * custos-signer --import-key: the operator's step that moves a private key
 * from a PEM file into the token, for a certificate that was issued
 * outside Custos and is then imported with "custos cert import".
 *
 *	custos-signer --import-key --config FILE --tenant NAME --key FILE
 *
 * The key file is read while the signer still runs as the caller, before
 * the token is opened. The key is split into its PKCS#11 attributes, and
 * the signer then drops privileges and enters its seccomp filter as for
 * serving before it creates the objects. The private key gets the
 * attributes of a generated one (sensitive, not extractable, sign only)
 * and the label custos/certificate/TENANT/KEYID, so the serving signer
 * lets only that tenant use it. Key material is wiped on every path and
 * never printed.
 */
#include "signer.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "logging/log.h"

#define DEFAULT_USER "custos-signer"
/* A PEM RSA-4096 private key is about 3,300 bytes; leave room for more. */
#define KEY_FILE_MAX 16384
/* The largest attribute value: an RSA-4096 modulus or exponent. */
#define PART_MAX 512
#define RSA_PARTS 8

struct key_options {
	const char *config_path;
	const char *tenant;
	const char *key_file;
};

/* One big-endian attribute value, wiped by parts_wipe(). */
struct key_part {
	unsigned char bytes[PART_MAX];
	CK_ULONG len;
};

/* The PKCS#11 form of the key, split before the sandbox is entered. */
struct key_parts {
	enum key_type type;
	CK_KEY_TYPE ck_type;
	const CK_BYTE *curve_oid;	/* EC: CKA_EC_PARAMS */
	CK_ULONG curve_oid_len;
	struct key_part ec_point;	/* EC: DER OCTET STRING of the point */
	struct key_part rsa[RSA_PARTS];	/* n, e, d, p, q, dp, dq, qinv */
	struct key_part ec_value;	/* EC: the private scalar */
};

static const CK_BYTE oid_p256[] = {
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
};
static const CK_BYTE oid_p384[] = {
	0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22,
};

static const char *const rsa_params[RSA_PARTS] = {
	OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_E, OSSL_PKEY_PARAM_RSA_D,
	OSSL_PKEY_PARAM_RSA_FACTOR1, OSSL_PKEY_PARAM_RSA_FACTOR2,
	OSSL_PKEY_PARAM_RSA_EXPONENT1, OSSL_PKEY_PARAM_RSA_EXPONENT2,
	OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
};

static const char key_usage[] =
    "usage: custos-signer --import-key --config FILE --tenant NAME\n"
    "                     --key FILE\n"
    "\n"
    "Stores a PEM private key (EC P-256 or P-384, RSA 2048, 3072 or\n"
    "4096 bits; PKCS#8 or traditional, not encrypted) in the token as a\n"
    "sensitive, non-extractable signing key of the tenant, labelled\n"
    "custos/certificate/TENANT/KEYID, and prints the key id and the RFC\n"
    "7638 thumbprint of its public key. Pass the key id to custos cert\n"
    "import. Run it as root or as the signer's user; delete the key file\n"
    "afterwards.\n"
    "\n"
    "  --config FILE  configuration file\n"
    "  --tenant NAME  tenant of the policy that may use the key\n"
    "  --key FILE     PEM private key file\n"
    "  --help         print this help\n";

/* Returns 0 to go on, 1 after --help, -1 on a usage error. */
static int
parse_key_args(int argc, char **argv, struct key_options *opts)
{
	static const struct option longopts[] = {
		{ "import-key", no_argument, NULL, 'I' },
		{ "config", required_argument, NULL, 'c' },
		{ "tenant", required_argument, NULL, 't' },
		{ "key", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 'c')
			opts->config_path = optarg;
		else if (c == 't')
			opts->tenant = optarg;
		else if (c == 'k')
			opts->key_file = optarg;
		else if (c == 'h')
			return fputs(key_usage, stdout), 1;
		else if (c != 'I')
			return fputs(key_usage, stderr), -1;
	}
	if (optind != argc || opts->config_path == NULL ||
	    opts->tenant == NULL || opts->key_file == NULL) {
		log_error("--import-key needs --config FILE, --tenant NAME and "
		    "--key FILE (see --import-key --help)");
		return -1;
	}
	return 0;
}

/* Reads the whole key file into buf, which the caller wipes. */
static int
read_key_file(const char *path, char *buf, size_t buflen, size_t *len,
    char *err, size_t errlen)
{
	struct stat st;
	ssize_t n;
	int fd, rc = -1;

	/* O_NONBLOCK: a FIFO must not block the open before fstat. */
	fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open key file '%s': %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "key file '%s' is not a regular file",
		    path);
		goto out;
	}
	n = read(fd, buf, buflen);
	if (n < 0 || (size_t)n >= buflen) {
		snprintf(err, errlen, "cannot read key file '%s': %s", path,
		    n < 0 ? strerror(errno) : "larger than 16 KiB");
		goto out;
	}
	*len = (size_t)n;
	rc = 0;
out:
	close(fd);
	return rc;
}

/* Supplies no passphrase, so that every encrypted key is rejected. */
static int
no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return -1;
}

/*
 * Parses the PEM text. The passphrase callback fails, so an encrypted key
 * is rejected even when its passphrase is empty.
 */
static EVP_PKEY *
parse_key(const char *path, const char *text, size_t len, char *err,
    size_t errlen)
{
	EVP_PKEY *pkey = NULL;
	BIO *bio;

	bio = BIO_new_mem_buf(text, (int)len);
	if (bio != NULL)
		pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	ERR_clear_error();
	if (pkey == NULL)
		snprintf(err, errlen, "key file '%s' holds no unencrypted PEM "
		    "private key (decrypt it first with openssl pkey)", path);
	return pkey;
}

static int
get_part(EVP_PKEY *pkey, const char *param, struct key_part *part,
    size_t pad)
{
	BIGNUM *bn = NULL;
	int n;

	if (EVP_PKEY_get_bn_param(pkey, param, &bn) != 1)
		return -1;
	if (pad == 0)
		pad = (size_t)BN_num_bytes(bn);
	n = pad <= sizeof(part->bytes) ?
	    BN_bn2binpad(bn, part->bytes, (int)pad) : -1;
	BN_clear_free(bn);
	if (n < 0)
		return -1;
	part->len = (CK_ULONG)n;
	return 0;
}

/* Wraps the uncompressed public point in a DER OCTET STRING. */
static int
get_ec_point(EVP_PKEY *pkey, struct key_part *part)
{
	unsigned char point[2 * 48 + 1];
	size_t len = 0;

	if (EVP_PKEY_set_utf8_string_param(pkey,
	    OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "uncompressed") != 1 ||
	    EVP_PKEY_get_octet_string_param(pkey,
	    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, sizeof(point),
	    &len) != 1 || len > 127)
		return -1;
	part->bytes[0] = 0x04;
	part->bytes[1] = (unsigned char)len;
	memcpy(part->bytes + 2, point, len);
	part->len = (CK_ULONG)len + 2;
	return 0;
}

static int
split_ec(EVP_PKEY *pkey, struct key_parts *parts)
{
	int p256 = parts->type == KEY_TYPE_EC_P256;

	parts->ck_type = CKK_EC;
	parts->curve_oid = p256 ? oid_p256 : oid_p384;
	parts->curve_oid_len = p256 ? sizeof(oid_p256) : sizeof(oid_p384);
	if (get_ec_point(pkey, &parts->ec_point) != 0 ||
	    get_part(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &parts->ec_value,
	    p256 ? 32 : 48) != 0)
		return -1;
	return 0;
}

static int
split_rsa(EVP_PKEY *pkey, struct key_parts *parts)
{
	size_t i;

	parts->ck_type = CKK_RSA;
	for (i = 0; i < RSA_PARTS; i++)
		if (get_part(pkey, rsa_params[i], &parts->rsa[i], 0) != 0)
			return -1;
	return 0;
}

/*
 * Splits the key into parts. A key of a type Custos does not issue for
 * (another curve, an RSA size other than 2048, 3072 or 4096, Ed25519) is
 * rejected, because the serving signer could not sign with it.
 */
static int
split_key(EVP_PKEY *pkey, const char *path, struct key_parts *parts,
    char *err, size_t errlen)
{
	int rc;

	memset(parts, 0, sizeof(*parts));
	if (key_type_of(pkey, &parts->type) != 0) {
		snprintf(err, errlen, "key file '%s' holds a %s key of %d "
		    "bits, which Custos does not support (use EC P-256, "
		    "P-384 or RSA 2048, 3072 or 4096)", path,
		    OBJ_nid2sn(EVP_PKEY_get_base_id(pkey)),
		    EVP_PKEY_get_bits(pkey));
		return -1;
	}
	if (parts->type == KEY_TYPE_EC_P256 || parts->type == KEY_TYPE_EC_P384)
		rc = split_ec(pkey, parts);
	else
		rc = split_rsa(pkey, parts);
	if (rc != 0)
		snprintf(err, errlen, "cannot read the parts of the %s key in "
		    "'%s'", key_type_name(parts->type), path);
	return rc;
}

static void
parts_wipe(struct key_parts *parts)
{
	OPENSSL_cleanse(parts, sizeof(*parts));
}

static void
add(CK_ATTRIBUTE *attrs, CK_ULONG *count, CK_ATTRIBUTE_TYPE type,
    const void *value, CK_ULONG len)
{
	attrs[(*count)++] = (CK_ATTRIBUTE){ type, (void *)value, len };
}

/* The attributes both objects of the pair carry. */
struct key_common {
	CK_OBJECT_CLASS pub_class, priv_class;
	CK_BBOOL yes, no;
	unsigned char id[KEY_ID_BYTES];
	char label[KEY_LABEL_MAX];
};

static void
add_shape(CK_ATTRIBUTE *attrs, CK_ULONG *count,
    const struct key_parts *parts, int private)
{
	const struct key_part *r = parts->rsa;

	if (parts->ck_type == CKK_EC) {
		add(attrs, count, CKA_EC_PARAMS, parts->curve_oid,
		    parts->curve_oid_len);
		if (private)
			add(attrs, count, CKA_VALUE, parts->ec_value.bytes,
			    parts->ec_value.len);
		else
			add(attrs, count, CKA_EC_POINT, parts->ec_point.bytes,
			    parts->ec_point.len);
		return;
	}
	add(attrs, count, CKA_MODULUS, r[0].bytes, r[0].len);
	add(attrs, count, CKA_PUBLIC_EXPONENT, r[1].bytes, r[1].len);
	if (!private)
		return;
	add(attrs, count, CKA_PRIVATE_EXPONENT, r[2].bytes, r[2].len);
	add(attrs, count, CKA_PRIME_1, r[3].bytes, r[3].len);
	add(attrs, count, CKA_PRIME_2, r[4].bytes, r[4].len);
	add(attrs, count, CKA_EXPONENT_1, r[5].bytes, r[5].len);
	add(attrs, count, CKA_EXPONENT_2, r[6].bytes, r[6].len);
	add(attrs, count, CKA_COEFFICIENT, r[7].bytes, r[7].len);
}

/*
 * Creates the public and the private key object. The usage attributes
 * are those of token_generate_key(): the private key signs and nothing
 * else, and the public key only verifies.
 */
static CK_RV
create_pair(struct signer_token *token, CK_SESSION_HANDLE session,
    const struct key_parts *parts, struct key_common *c)
{
	CK_ATTRIBUTE pub[16], priv[24];
	CK_ULONG npub = 0, npriv = 0, label_len = strlen(c->label);
	CK_KEY_TYPE type = parts->ck_type;
	CK_OBJECT_HANDLE handle;
	CK_RV rv;

	add(pub, &npub, CKA_CLASS, &c->pub_class, sizeof(c->pub_class));
	add(pub, &npub, CKA_KEY_TYPE, &type, sizeof(type));
	add(pub, &npub, CKA_TOKEN, &c->yes, 1);
	add(pub, &npub, CKA_PRIVATE, &c->no, 1);
	add(pub, &npub, CKA_VERIFY, &c->yes, 1);
	add(pub, &npub, CKA_ENCRYPT, &c->no, 1);
	add(pub, &npub, CKA_WRAP, &c->no, 1);
	add(pub, &npub, CKA_DERIVE, &c->no, 1);
	add(pub, &npub, CKA_ID, c->id, KEY_ID_BYTES);
	add(pub, &npub, CKA_LABEL, c->label, label_len);
	add_shape(pub, &npub, parts, 0);

	add(priv, &npriv, CKA_CLASS, &c->priv_class, sizeof(c->priv_class));
	add(priv, &npriv, CKA_KEY_TYPE, &type, sizeof(type));
	add(priv, &npriv, CKA_TOKEN, &c->yes, 1);
	add(priv, &npriv, CKA_PRIVATE, &c->yes, 1);
	add(priv, &npriv, CKA_SENSITIVE, &c->yes, 1);
	add(priv, &npriv, CKA_EXTRACTABLE, &c->no, 1);
	add(priv, &npriv, CKA_SIGN, &c->yes, 1);
	add(priv, &npriv, CKA_DECRYPT, &c->no, 1);
	add(priv, &npriv, CKA_UNWRAP, &c->no, 1);
	add(priv, &npriv, CKA_DERIVE, &c->no, 1);
	add(priv, &npriv, CKA_ID, c->id, KEY_ID_BYTES);
	add(priv, &npriv, CKA_LABEL, c->label, label_len);
	add_shape(priv, &npriv, parts, 1);

	rv = token->p11->C_CreateObject(session, pub, npub, &handle);
	if (rv == CKR_OK)
		rv = token->p11->C_CreateObject(session, priv, npriv,
		    &handle);
	/* The templates pointed at the parts only; nothing to wipe here. */
	return rv;
}

/*
 * Stores the key pair under a new random key id, written to id. Returns
 * 0, or -1 with err set.
 */
static int
store_pair(struct signer_token *token, const struct key_parts *parts,
    const char *tenant, unsigned char id[KEY_ID_BYTES], char *err,
    size_t errlen)
{
	struct key_binding binding = { .purpose = KEY_PURPOSE_CERTIFICATE };
	struct key_common c = { CKO_PUBLIC_KEY, CKO_PRIVATE_KEY, CK_TRUE,
	    CK_FALSE, { 0 }, { 0 } };
	char hex[2 * KEY_ID_BYTES + 1];
	CK_SESSION_HANDLE session;
	CK_RV rv;

	snprintf(binding.tenant, sizeof(binding.tenant), "%s", tenant);
	if (RAND_bytes(c.id, KEY_ID_BYTES) != 1) {
		snprintf(err, errlen, "no random bytes for the key id");
		return -1;
	}
	key_id_to_hex(c.id, hex);
	if (key_label_format(&binding, hex, c.label, sizeof(c.label)) != 0) {
		snprintf(err, errlen, "the key label does not fit");
		return -1;
	}
	rv = token->p11->C_OpenSession(token->slot_id,
	    CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &session);
	if (rv == CKR_OK) {
		rv = create_pair(token, session, parts, &c);
		token->p11->C_CloseSession(session);
	}
	if (rv != CKR_OK) {
		snprintf(err, errlen, "storing the %s key in token '%s' "
		    "failed: CKR 0x%lx", key_type_name(parts->type),
		    token->label, (unsigned long)rv);
		return -1;
	}
	memcpy(id, c.id, KEY_ID_BYTES);
	return 0;
}

/* Computes the RFC 7638 thumbprint of the key's public part. */
static int
thumbprint_of(EVP_PKEY *pkey, char *out, size_t outlen)
{
	json_t *jwk = key_jwk(pkey);
	int rc;

	rc = jwk != NULL ? key_thumbprint(jwk, out, outlen) : -1;
	json_decref(jwk);
	return rc;
}

/*
 * Checks that the token returns the stored key by its id, as the serving
 * signer will look it up, with the thumbprint of the file's key.
 */
static int
check_stored(struct signer_token *token, const unsigned char id[KEY_ID_BYTES],
    const char *expected, char *err, size_t errlen)
{
	char thumbprint[64];
	EVP_PKEY *found = NULL;
	int rc;

	rc = token_find_key(token, id, &found, NULL, 0);
	if (rc == 0)
		rc = thumbprint_of(found, thumbprint, sizeof(thumbprint));
	EVP_PKEY_free(found);
	if (rc != 0 || strcmp(thumbprint, expected) != 0) {
		snprintf(err, errlen, "the key stored in token '%s' cannot be "
		    "read back with the file's public key", token->label);
		return -1;
	}
	return 0;
}

static int
enter_key_sandbox(const struct custos_config *config)
{
	const char *user = config->signer.user ? config->signer.user :
	    DEFAULT_USER;
	char err[SIGNER_ERR_MAX];

	if (sandbox_drop_privileges(user, err, sizeof(err)) != 0 ||
	    sandbox_set_limits(err, sizeof(err)) != 0 ||
	    sandbox_install_filter(err, sizeof(err)) != 0) {
		log_error("%s", err);
		return -1;
	}
	return 0;
}

/* Checks that the tenant exists in the policy the configuration names. */
static int
check_tenant(const struct custos_config *config, const char *tenant,
    char *err, size_t errlen)
{
	struct policy *policy = NULL;
	int rc = -1;

	if (policy_load(config->policy.file, policy_name_normalize_ascii,
	    &policy, err, errlen) != 0)
		return -1;
	if (policy_find_tenant(policy, tenant) != NULL)
		rc = 0;
	else
		snprintf(err, errlen, "tenant '%s' not found in %s (check "
		    "--tenant)", tenant, config->policy.file);
	policy_free(policy);
	return rc;
}

/* Reads the key file and splits the key; sets the thumbprint. */
static int
load_parts(const struct key_options *opts, struct key_parts *parts,
    char *thumbprint, size_t thumblen, char *err, size_t errlen)
{
	char *text;
	size_t len = 0;
	EVP_PKEY *pkey = NULL;
	int rc = -1;

	text = OPENSSL_secure_zalloc(KEY_FILE_MAX);
	if (text == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (read_key_file(opts->key_file, text, KEY_FILE_MAX, &len, err,
	    errlen) != 0)
		goto out;
	pkey = parse_key(opts->key_file, text, len, err, errlen);
	if (pkey == NULL || split_key(pkey, opts->key_file, parts, err,
	    errlen) != 0)
		goto out;
	if (thumbprint_of(pkey, thumbprint, thumblen) != 0) {
		snprintf(err, errlen, "cannot compute the thumbprint of the "
		    "key in '%s'", opts->key_file);
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_free(pkey);
	OPENSSL_secure_clear_free(text, KEY_FILE_MAX);
	return rc;
}

static void
print_result(enum key_type type, const char *tenant,
    const unsigned char id[KEY_ID_BYTES], const char *thumbprint)
{
	char hex[2 * KEY_ID_BYTES + 1], line[256];
	int n;

	key_id_to_hex(id, hex);
	/* A raw write: stdio probes the terminal, which the filter denies. */
	n = snprintf(line, sizeof(line), "key-id: %s\ntype: %s\ntenant: %s\n"
	    "thumbprint: %s\n", hex, key_type_name(type), tenant,
	    thumbprint);
	if (n > 0 && (size_t)n < sizeof(line) &&
	    write(STDOUT_FILENO, line, (size_t)n) != n)
		log_error("writing the key id to standard output failed");
}

static int
import_key_file(const struct custos_config *config,
    const struct key_options *opts)
{
	struct signer_token token = { 0 };
	unsigned char id[KEY_ID_BYTES];
	char err[SIGNER_ERR_MAX], thumbprint[64];
	struct key_parts parts;
	int rc = -1;

	memset(&parts, 0, sizeof(parts));
	if (check_tenant(config, opts->tenant, err, sizeof(err)) != 0 ||
	    load_parts(opts, &parts, thumbprint, sizeof(thumbprint), err,
	    sizeof(err)) != 0 ||
	    token_open(&token, &config->hsm, err, sizeof(err)) != 0) {
		log_error("%s", err);
		goto out;
	}
	if (enter_key_sandbox(config) != 0)
		goto out;
	if (store_pair(&token, &parts, opts->tenant, id, err,
	    sizeof(err)) != 0 ||
	    check_stored(&token, id, thumbprint, err, sizeof(err)) != 0) {
		log_error("%s", err);
		goto out;
	}
	log_info("stored a %s key of tenant %s in token '%s'",
	    key_type_name(parts.type), opts->tenant, token.label);
	print_result(parts.type, opts->tenant, id, thumbprint);
	rc = 0;
out:
	parts_wipe(&parts);
	return rc;
}

void
key_import_main(int argc, char **argv)
{
	struct key_options opts = { 0 };
	struct custos_config *config = NULL;
	char err[CONFIG_ERR_MAX];
	int rc;

	rc = parse_key_args(argc, argv, &opts);
	if (rc != 0)
		exit(rc > 0 ? 0 : 1);
	if (config_load(opts.config_path, &config, err, sizeof(err)) != 0) {
		log_error("%s", err);
		exit(1);
	}
	rc = import_key_file(config, &opts);
	/* _exit, as after serving: the filter does not allow C_Finalize. */
	_exit(rc == 0 ? 0 : 1);
}
