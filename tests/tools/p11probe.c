/*
 * Inspects one key pair on a PKCS#11 token with raw PKCS#11 calls, as an
 * independent check of what the signer generated.
 *
 *	p11probe MODULE TOKEN-LABEL PIN-FILE KEY-ID-HEX [PUBKEY-PEM-OUT]
 *
 * Prints one "name=value" line per fact about the private key, in this
 * order: sensitive, extractable, always_sensitive, never_extractable,
 * sign, decrypt, unwrap and derive (each 0 or 1). Then come value, the
 * result of reading the secret (CKA_VALUE of an EC key,
 * CKA_PRIVATE_EXPONENT of an RSA key), and set_extractable, the result of
 * setting CKA_EXTRACTABLE to true. Then public_object is 1 when the token
 * has a public key object with the same CKA_ID, and verify, encrypt and
 * wrap for that object follow. With PUBKEY-PEM-OUT it
 * writes the public key as a PEM SubjectPublicKeyInfo: the public key
 * object's, or else the private key's CKA_PUBLIC_KEY_INFO.
 * Exits 0 when every line was printed, 1 otherwise.
 *
 *	p11probe MODULE TOKEN-LABEL PIN-FILE KEY-ID-HEX --set-info DER-FILE
 *
 * writes the bytes of DER-FILE, which may be empty or not DER at all, to
 * the private key's CKA_PUBLIC_KEY_INFO, so that tests can give the signer
 * a key whose stored public key is wrong. It prints nothing and exits 0
 * when the token took the value.
 *
 *	p11probe MODULE TOKEN-LABEL PIN-FILE KEY-ID-HEX --forbid-sign
 *
 * sets the private key's CKA_SIGN to false, so that the token rejects
 * every signature with it, and exits 0 when the token took the value.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST *p11;

static const char *
rv_name(CK_RV rv)
{
	static char other[32];

	switch (rv) {
	case CKR_OK:
		return "CKR_OK";
	case CKR_ATTRIBUTE_SENSITIVE:
		return "CKR_ATTRIBUTE_SENSITIVE";
	case CKR_ATTRIBUTE_READ_ONLY:
		return "CKR_ATTRIBUTE_READ_ONLY";
	case CKR_ATTRIBUTE_TYPE_INVALID:
		return "CKR_ATTRIBUTE_TYPE_INVALID";
	case CKR_ATTRIBUTE_VALUE_INVALID:
		return "CKR_ATTRIBUTE_VALUE_INVALID";
	case CKR_TEMPLATE_INCONSISTENT:
		return "CKR_TEMPLATE_INCONSISTENT";
	case CKR_PIN_INCORRECT:
		return "CKR_PIN_INCORRECT";
	default:
		snprintf(other, sizeof(other), "CKR 0x%lx", (unsigned long)rv);
		return other;
	}
}

static int
load_module(const char *path)
{
	CK_C_GetFunctionList get_list;
	void *module = dlopen(path, RTLD_NOW | RTLD_LOCAL);

	if (module == NULL) {
		fprintf(stderr, "p11probe: %s\n", dlerror());
		return -1;
	}
	*(void **)&get_list = dlsym(module, "C_GetFunctionList");
	if (get_list == NULL || get_list(&p11) != CKR_OK)
		return -1;
	return p11->C_Initialize(NULL) == CKR_OK ? 0 : -1;
}

/* Finds the slot whose token label, padded with spaces, matches label. */
static int
find_slot(const char *label, CK_SLOT_ID *slot)
{
	CK_SLOT_ID slots[64];
	CK_ULONG count = 64, i;
	CK_TOKEN_INFO info;
	char padded[32];
	size_t len = strlen(label);

	if (len > sizeof(padded))
		return -1;
	memset(padded, ' ', sizeof(padded));
	memcpy(padded, label, len);
	if (p11->C_GetSlotList(CK_TRUE, slots, &count) != CKR_OK)
		return -1;
	for (i = 0; i < count; i++) {
		if (p11->C_GetTokenInfo(slots[i], &info) == CKR_OK &&
		    memcmp(info.label, padded, sizeof(padded)) == 0) {
			*slot = slots[i];
			return 0;
		}
	}
	fprintf(stderr, "p11probe: no token labelled '%s'\n", label);
	return -1;
}

static int
login(CK_SESSION_HANDLE session, const char *pin_file)
{
	char pin[256];
	FILE *f = fopen(pin_file, "r");
	CK_RV rv;

	if (f == NULL || fgets(pin, sizeof(pin), f) == NULL) {
		fprintf(stderr, "p11probe: cannot read %s\n", pin_file);
		if (f != NULL)
			fclose(f);
		return -1;
	}
	fclose(f);
	pin[strcspn(pin, "\r\n")] = '\0';
	rv = p11->C_Login(session, CKU_USER, (CK_UTF8CHAR *)pin, strlen(pin));
	explicit_bzero(pin, sizeof(pin));
	if (rv != CKR_OK) {
		fprintf(stderr, "p11probe: login: %s\n", rv_name(rv));
		return -1;
	}
	return 0;
}

static int
find_object(CK_SESSION_HANDLE session, CK_OBJECT_CLASS class,
    unsigned char *id, size_t id_len, CK_OBJECT_HANDLE *object)
{
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &class, sizeof(class) },
		{ CKA_ID, id, id_len },
	};
	CK_ULONG found = 0;

	if (p11->C_FindObjectsInit(session, tmpl, 2) != CKR_OK)
		return -1;
	p11->C_FindObjects(session, object, 1, &found);
	p11->C_FindObjectsFinal(session);
	return found == 1 ? 0 : -1;
}

static void
print_bool(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
    const char *name, CK_ATTRIBUTE_TYPE type)
{
	CK_BBOOL value = CK_FALSE;
	CK_ATTRIBUTE attr = { type, &value, sizeof(value) };
	CK_RV rv = p11->C_GetAttributeValue(session, object, &attr, 1);

	if (rv == CKR_OK)
		printf("%s=%d\n", name, value == CK_TRUE);
	else
		printf("%s=%s\n", name, rv_name(rv));
}

static void
probe_private(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key)
{
	unsigned char value[4096];
	CK_BBOOL yes = CK_TRUE;
	CK_KEY_TYPE type = 0;
	CK_ATTRIBUTE get_type = { CKA_KEY_TYPE, &type, sizeof(type) };
	CK_ATTRIBUTE get = { CKA_VALUE, value, sizeof(value) };
	CK_ATTRIBUTE set = { CKA_EXTRACTABLE, &yes, sizeof(yes) };

	if (p11->C_GetAttributeValue(session, key, &get_type, 1) == CKR_OK &&
	    type == CKK_RSA)
		get.type = CKA_PRIVATE_EXPONENT;

	print_bool(session, key, "sensitive", CKA_SENSITIVE);
	print_bool(session, key, "extractable", CKA_EXTRACTABLE);
	print_bool(session, key, "always_sensitive", CKA_ALWAYS_SENSITIVE);
	print_bool(session, key, "never_extractable", CKA_NEVER_EXTRACTABLE);
	print_bool(session, key, "sign", CKA_SIGN);
	print_bool(session, key, "decrypt", CKA_DECRYPT);
	print_bool(session, key, "unwrap", CKA_UNWRAP);
	print_bool(session, key, "derive", CKA_DERIVE);
	printf("value=%s\n", rv_name(p11->C_GetAttributeValue(session, key,
	    &get, 1)));
	explicit_bzero(value, sizeof(value));
	printf("set_extractable=%s\n", rv_name(p11->C_SetAttributeValue(
	    session, key, &set, 1)));
}

/* Reads one attribute into buf; returns its length or -1. */
static long
get_bytes(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
    CK_ATTRIBUTE_TYPE type, unsigned char *buf, size_t len)
{
	CK_ATTRIBUTE attr = { type, buf, len };

	if (p11->C_GetAttributeValue(session, object, &attr, 1) != CKR_OK)
		return -1;
	return (long)attr.ulValueLen;
}

static EVP_PKEY *
from_params(const char *type, OSSL_PARAM_BLD *bld)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY *pkey = NULL;

	if (ctx && params && EVP_PKEY_fromdata_init(ctx) == 1)
		EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

static EVP_PKEY *
ec_public(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key,
    OSSL_PARAM_BLD *bld)
{
	unsigned char params[64], point[160];
	const unsigned char *p = params, *q = point;
	long params_len, point_len;
	ASN1_OBJECT *oid = NULL;
	ASN1_OCTET_STRING *octets = NULL;
	EVP_PKEY *pkey = NULL;

	params_len = get_bytes(session, key, CKA_EC_PARAMS, params,
	    sizeof(params));
	point_len = get_bytes(session, key, CKA_EC_POINT, point,
	    sizeof(point));
	/* CKA_EC_POINT contains the point inside a DER OCTET STRING. */
	if (params_len > 0 && point_len > 0 &&
	    d2i_ASN1_OBJECT(&oid, &p, params_len) != NULL &&
	    d2i_ASN1_OCTET_STRING(&octets, &q, point_len) != NULL &&
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    OBJ_nid2sn(OBJ_obj2nid(oid)), 0) &&
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
	    ASN1_STRING_get0_data(octets), (size_t)ASN1_STRING_length(octets)))
		pkey = from_params("EC", bld);
	ASN1_OBJECT_free(oid);
	ASN1_OCTET_STRING_free(octets);
	return pkey;
}

static EVP_PKEY *
rsa_public(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key,
    OSSL_PARAM_BLD *bld)
{
	unsigned char n[1024], e[16];
	long n_len = get_bytes(session, key, CKA_MODULUS, n, sizeof(n));
	long e_len = get_bytes(session, key, CKA_PUBLIC_EXPONENT, e,
	    sizeof(e));
	BIGNUM *bn_n = n_len > 0 ? BN_bin2bn(n, (int)n_len, NULL) : NULL;
	BIGNUM *bn_e = e_len > 0 ? BN_bin2bn(e, (int)e_len, NULL) : NULL;
	EVP_PKEY *pkey = NULL;

	if (bn_n && bn_e &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e))
		pkey = from_params("RSA", bld);
	BN_free(bn_n);
	BN_free(bn_e);
	return pkey;
}

static int
write_public(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key,
    const char *path)
{
	CK_KEY_TYPE type = 0;
	CK_ATTRIBUTE attr = { CKA_KEY_TYPE, &type, sizeof(type) };
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	EVP_PKEY *pkey = NULL;
	FILE *out;
	int rc = -1;

	if (bld != NULL && p11->C_GetAttributeValue(session, key, &attr, 1) ==
	    CKR_OK)
		pkey = type == CKK_EC ? ec_public(session, key, bld) :
		    rsa_public(session, key, bld);
	out = pkey ? fopen(path, "w") : NULL;
	if (out != NULL) {
		rc = PEM_write_PUBKEY(out, pkey) == 1 ? 0 : -1;
		fclose(out);
	}
	EVP_PKEY_free(pkey);
	OSSL_PARAM_BLD_free(bld);
	return rc;
}

/* Writes the private key's CKA_PUBLIC_KEY_INFO as PEM to path. */
static int
write_public_info(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key,
    const char *path)
{
	unsigned char der[4096];
	CK_ATTRIBUTE attr = { CKA_PUBLIC_KEY_INFO, der, sizeof(der) };
	const unsigned char *p = der;
	EVP_PKEY *pkey = NULL;
	FILE *out;
	int rc = -1;

	if (p11->C_GetAttributeValue(session, key, &attr, 1) == CKR_OK &&
	    attr.ulValueLen > 0)
		pkey = d2i_PUBKEY(NULL, &p, (long)attr.ulValueLen);
	out = pkey ? fopen(path, "w") : NULL;
	if (out != NULL) {
		rc = PEM_write_PUBKEY(out, pkey) == 1 ? 0 : -1;
		fclose(out);
	}
	EVP_PKEY_free(pkey);
	return rc;
}

/* Writes the bytes of path to the private key's CKA_PUBLIC_KEY_INFO. */
static int
set_public_info(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key,
    const char *path)
{
	unsigned char der[4096];
	CK_ATTRIBUTE attr = { CKA_PUBLIC_KEY_INFO, der, 0 };
	FILE *in = fopen(path, "rb");
	CK_RV rv;

	if (in == NULL) {
		fprintf(stderr, "p11probe: cannot read %s\n", path);
		return -1;
	}
	attr.ulValueLen = fread(der, 1, sizeof(der), in);
	fclose(in);
	rv = p11->C_SetAttributeValue(session, key, &attr, 1);
	if (rv != CKR_OK) {
		fprintf(stderr, "p11probe: setting CKA_PUBLIC_KEY_INFO "
		    "failed: %s\n", rv_name(rv));
		return -1;
	}
	return 0;
}

/* Sets the private key's CKA_SIGN to false. */
static int
forbid_signing(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key)
{
	CK_BBOOL no = CK_FALSE;
	CK_ATTRIBUTE attr = { CKA_SIGN, &no, sizeof(no) };
	CK_RV rv = p11->C_SetAttributeValue(session, key, &attr, 1);

	if (rv != CKR_OK) {
		fprintf(stderr, "p11probe: setting CKA_SIGN failed: %s\n",
		    rv_name(rv));
		return -1;
	}
	return 0;
}

static int
parse_id(const char *hex, unsigned char *id, size_t *len)
{
	size_t i, n = strlen(hex) / 2;
	unsigned int byte;

	if (strlen(hex) % 2 != 0 || n == 0 || n > 64)
		return -1;
	for (i = 0; i < n; i++) {
		if (sscanf(hex + 2 * i, "%2x", &byte) != 1)
			return -1;
		id[i] = (unsigned char)byte;
	}
	*len = n;
	return 0;
}

int
main(int argc, char **argv)
{
	CK_OBJECT_HANDLE priv, pub;
	CK_SESSION_HANDLE session;
	int has_public;
	unsigned char id[64];
	size_t id_len;
	CK_SLOT_ID slot;

	int set_info = argc == 7 && strcmp(argv[5], "--set-info") == 0;
	int forbid_sign = argc == 6 && strcmp(argv[5], "--forbid-sign") == 0;

	if (argc != 5 && argc != 6 && !set_info) {
		fprintf(stderr, "usage: p11probe MODULE TOKEN-LABEL PIN-FILE "
		    "KEY-ID-HEX [PUBKEY-PEM-OUT | --set-info DER-FILE | "
		    "--forbid-sign]\n");
		return 2;
	}
	if (parse_id(argv[4], id, &id_len) != 0) {
		fprintf(stderr, "p11probe: invalid key id '%s'\n", argv[4]);
		return 2;
	}
	if (load_module(argv[1]) != 0 || find_slot(argv[2], &slot) != 0 ||
	    p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
	    NULL, NULL, &session) != CKR_OK || login(session, argv[3]) != 0)
		return 1;
	if (find_object(session, CKO_PRIVATE_KEY, id, id_len, &priv) != 0) {
		fprintf(stderr, "p11probe: no private key with id %s\n",
		    argv[4]);
		return 1;
	}
	if (set_info)
		return set_public_info(session, priv, argv[6]) == 0 ? 0 : 1;
	if (forbid_sign)
		return forbid_signing(session, priv) == 0 ? 0 : 1;
	has_public = find_object(session, CKO_PUBLIC_KEY, id, id_len,
	    &pub) == 0;
	probe_private(session, priv);
	printf("public_object=%d\n", has_public);
	if (has_public) {
		print_bool(session, pub, "verify", CKA_VERIFY);
		print_bool(session, pub, "encrypt", CKA_ENCRYPT);
		print_bool(session, pub, "wrap", CKA_WRAP);
	}
	if (argc == 6 && (has_public ? write_public(session, pub, argv[5]) :
	    write_public_info(session, priv, argv[5])) != 0) {
		fprintf(stderr, "p11probe: cannot write %s\n", argv[5]);
		return 1;
	}
	p11->C_Logout(session);
	p11->C_CloseSession(session);
	p11->C_Finalize(NULL);
	return 0;
}
