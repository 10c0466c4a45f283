/*
 * Keys in the token: generation through the module's C_GenerateKeyPair,
 * with every usage attribute set explicitly, and lookup by CKA_ID through
 * libp11, whose EVP_PKEY signs inside the token.
 */
#include "signer.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

#define ATTR(type, value) { (type), &(value), sizeof(value) }

/* DER-encoded OIDs of the named curves, for CKA_EC_PARAMS. */
static const CK_BYTE oid_p256[] = {
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
};
static const CK_BYTE oid_p384[] = {
	0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22,
};
static const CK_BYTE rsa_exponent[] = { 0x01, 0x00, 0x01 };

struct keygen_params {
	CK_MECHANISM mechanism;
	CK_ATTRIBUTE shape[2];		/* curve, or modulus bits and e */
	CK_ULONG shape_count;
	CK_ULONG modulus_bits;
};

static void
keygen_params_init(struct keygen_params *p, enum key_type type)
{
	memset(p, 0, sizeof(*p));
	if (type == KEY_TYPE_EC_P256 || type == KEY_TYPE_EC_P384) {
		p->mechanism.mechanism = CKM_EC_KEY_PAIR_GEN;
		p->shape[0].type = CKA_EC_PARAMS;
		p->shape[0].pValue = (void *)(type == KEY_TYPE_EC_P256 ?
		    oid_p256 : oid_p384);
		p->shape[0].ulValueLen = type == KEY_TYPE_EC_P256 ?
		    sizeof(oid_p256) : sizeof(oid_p384);
		p->shape_count = 1;
		return;
	}
	p->mechanism.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
	p->modulus_bits = type == KEY_TYPE_RSA_2048 ? 2048 :
	    type == KEY_TYPE_RSA_3072 ? 3072 : 4096;
	p->shape[0] = (CK_ATTRIBUTE){ CKA_MODULUS_BITS, &p->modulus_bits,
	    sizeof(p->modulus_bits) };
	p->shape[1] = (CK_ATTRIBUTE){ CKA_PUBLIC_EXPONENT,
	    (void *)rsa_exponent, sizeof(rsa_exponent) };
	p->shape_count = 2;
}

/*
 * Generates a key pair in the token. The private key can only sign and
 * never leaves the token (sensitive, not extractable); the public key can
 * only verify. Both carry CKA_ID id (16 random bytes, written to id) and
 * CKA_LABEL "custos-PURPOSE-<hex id>". Returns 0, or -1 with err set.
 */
int
token_generate_key(struct signer_token *token, enum key_type type,
    const char *purpose, unsigned char id[KEY_ID_BYTES], char *err,
    size_t errlen)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_OBJECT_HANDLE pub, priv;
	CK_SESSION_HANDLE session;
	struct keygen_params p;
	char hex[2 * KEY_ID_BYTES + 1];
	char label[96];
	CK_RV rv;

	if (RAND_bytes(id, KEY_ID_BYTES) != 1) {
		snprintf(err, errlen, "no random bytes for the key id");
		return -1;
	}
	key_id_to_hex(id, hex);
	snprintf(label, sizeof(label), "custos-%s-%s", purpose, hex);
	keygen_params_init(&p, type);

	CK_ATTRIBUTE pub_attrs[] = {
		ATTR(CKA_TOKEN, yes), ATTR(CKA_PRIVATE, no),
		ATTR(CKA_VERIFY, yes), ATTR(CKA_ENCRYPT, no),
		ATTR(CKA_WRAP, no), ATTR(CKA_DERIVE, no),
		{ CKA_ID, id, KEY_ID_BYTES },
		{ CKA_LABEL, label, strlen(label) },
		p.shape[0], p.shape[1],
	};
	CK_ATTRIBUTE priv_attrs[] = {
		ATTR(CKA_TOKEN, yes), ATTR(CKA_PRIVATE, yes),
		ATTR(CKA_SENSITIVE, yes), ATTR(CKA_EXTRACTABLE, no),
		ATTR(CKA_SIGN, yes), ATTR(CKA_DECRYPT, no),
		ATTR(CKA_UNWRAP, no), ATTR(CKA_DERIVE, no),
		{ CKA_ID, id, KEY_ID_BYTES },
		{ CKA_LABEL, label, strlen(label) },
	};
	CK_ULONG pub_count = sizeof(pub_attrs) / sizeof(pub_attrs[0]) - 2 +
	    p.shape_count;

	rv = token->p11->C_OpenSession(token->slot_id,
	    CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &session);
	if (rv == CKR_OK) {
		rv = token->p11->C_GenerateKeyPair(session, &p.mechanism,
		    pub_attrs, pub_count, priv_attrs,
		    sizeof(priv_attrs) / sizeof(priv_attrs[0]), &pub, &priv);
		token->p11->C_CloseSession(session);
	}
	if (rv != CKR_OK) {
		snprintf(err, errlen, "generating a %s key in token '%s' "
		    "failed: CKR 0x%lx", key_type_name(type), token->label,
		    (unsigned long)rv);
		return -1;
	}
	return 0;
}

/*
 * Finds the private key with CKA_ID id and returns a new reference to
 * libp11's EVP_PKEY for it, and its CKA_LABEL when label is not NULL.
 * Returns 0, -ENOENT when no such key exists, or -EIO when the token
 * cannot be read.
 */
int
token_find_key(struct signer_token *token,
    const unsigned char id[KEY_ID_BYTES], EVP_PKEY **out, char *label,
    size_t labellen)
{
	PKCS11_KEY *keys;
	unsigned int i, count;

	*out = NULL;
	/* libp11 0.4.12 searches the token again on every call. */
	if (PKCS11_enumerate_keys(token->slot->token, &keys, &count) != 0)
		return -EIO;
	for (i = 0; i < count; i++) {
		if (keys[i].id_len == KEY_ID_BYTES &&
		    memcmp(keys[i].id, id, KEY_ID_BYTES) == 0)
			break;
	}
	if (i == count)
		return -ENOENT;
	if (label != NULL)
		snprintf(label, labellen, "%s",
		    keys[i].label ? keys[i].label : "");
	*out = PKCS11_get_private_key(&keys[i]);
	return *out == NULL ? -EIO : 0;
}
