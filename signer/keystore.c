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

/* DER-encoded OIDs of the named curves, for CKA_EC_PARAMS. */
static const CK_BYTE oid_p256[] = {
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
};
static const CK_BYTE oid_p384[] = {
	0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22,
};
static const CK_BYTE rsa_exponent[] = { 0x01, 0x00, 0x01 };

/* Everything C_GenerateKeyPair needs, with the storage it points to. */
struct keygen_request {
	CK_MECHANISM mechanism;
	CK_ATTRIBUTE pub[10];
	CK_ULONG pub_count;
	CK_ATTRIBUTE priv[10];
	CK_ULONG priv_count;
	CK_BBOOL yes, no;
	CK_ULONG modulus_bits;
	unsigned char id[KEY_ID_BYTES];
	char label[KEY_LABEL_MAX];
};

static void
add_attr(CK_ATTRIBUTE *attrs, CK_ULONG *count, CK_ATTRIBUTE_TYPE type,
    const void *value, CK_ULONG len)
{
	attrs[(*count)++] = (CK_ATTRIBUTE){ type, (void *)value, len };
}

/*
 * Writes the label that binds a key: "custos/account/ISSUER/ACCOUNT/KEYID"
 * or "custos/certificate/TENANT/KEYID", KEYID being hex. Only the signer
 * writes labels, and it reads them back for every later request. Returns
 * 0, or -1 when a name is empty, too long or contains '/'.
 */
int
key_label_format(const struct key_binding *binding, const char *hex,
    char *out, size_t outlen)
{
	const char *a = binding->purpose == KEY_PURPOSE_ACCOUNT ?
	    binding->issuer : binding->tenant;
	const char *b = binding->purpose == KEY_PURPOSE_ACCOUNT ?
	    binding->account : NULL;
	int n;

	if (a[0] == '\0' || strchr(a, '/') != NULL ||
	    (b != NULL && (b[0] == '\0' || strchr(b, '/') != NULL)))
		return -1;
	if (b != NULL)
		n = snprintf(out, outlen, "custos/account/%s/%s/%s", a, b,
		    hex);
	else
		n = snprintf(out, outlen, "custos/certificate/%s/%s", a, hex);
	return n > 0 && (size_t)n < outlen ? 0 : -1;
}

/* Copies the next '/'-separated field of *text into out. */
static int
next_field(const char **text, char *out, size_t outlen)
{
	size_t len = strcspn(*text, "/");

	if (len == 0 || len >= outlen)
		return -1;
	memcpy(out, *text, len);
	out[len] = '\0';
	*text += len;
	if (**text == '/')
		(*text)++;
	return 0;
}

/*
 * Parses a label that key_label_format() wrote for the key whose id is
 * hex. Returns 0, or -1 for any other label, one naming another key id
 * included.
 */
int
key_label_parse(const char *label, const char *hex,
    struct key_binding *binding)
{
	char id[2 * KEY_ID_BYTES + 1];
	const char *p;
	int rc;

	memset(binding, 0, sizeof(*binding));
	if (strncmp(label, "custos/account/", 15) == 0) {
		binding->purpose = KEY_PURPOSE_ACCOUNT;
		p = label + 15;
		rc = next_field(&p, binding->issuer,
		    sizeof(binding->issuer)) |
		    next_field(&p, binding->account,
		    sizeof(binding->account));
	} else if (strncmp(label, "custos/certificate/", 19) == 0) {
		binding->purpose = KEY_PURPOSE_CERTIFICATE;
		p = label + 19;
		rc = next_field(&p, binding->tenant,
		    sizeof(binding->tenant));
	} else {
		return -1;
	}
	if (rc != 0 || next_field(&p, id, sizeof(id)) != 0 || *p != '\0' ||
	    p[-1] == '/' || strcmp(id, hex) != 0)
		return -1;
	return 0;
}

/* Adds the curve, or the modulus size and public exponent. */
static void
keygen_add_shape(struct keygen_request *k, enum key_type type)
{
	int p256 = type == KEY_TYPE_EC_P256;

	if (type == KEY_TYPE_EC_P256 || type == KEY_TYPE_EC_P384) {
		k->mechanism.mechanism = CKM_EC_KEY_PAIR_GEN;
		add_attr(k->pub, &k->pub_count, CKA_EC_PARAMS,
		    p256 ? oid_p256 : oid_p384,
		    p256 ? sizeof(oid_p256) : sizeof(oid_p384));
		return;
	}
	k->mechanism.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
	k->modulus_bits = type == KEY_TYPE_RSA_2048 ? 2048 :
	    type == KEY_TYPE_RSA_3072 ? 3072 : 4096;
	add_attr(k->pub, &k->pub_count, CKA_MODULUS_BITS, &k->modulus_bits,
	    sizeof(k->modulus_bits));
	add_attr(k->pub, &k->pub_count, CKA_PUBLIC_EXPONENT, rsa_exponent,
	    sizeof(rsa_exponent));
}

/*
 * Fills the templates. Every usage attribute is set explicitly, because
 * SoftHSM's defaults would let the public key encrypt and wrap and the
 * private key unwrap.
 */
static int
keygen_request_init(struct keygen_request *k, enum key_type type,
    const struct key_binding *binding, int extractable,
    const unsigned char id[KEY_ID_BYTES])
{
	char hex[2 * KEY_ID_BYTES + 1];
	CK_ULONG label_len;

	memset(k, 0, sizeof(*k));
	k->yes = CK_TRUE;
	k->no = CK_FALSE;
	memcpy(k->id, id, KEY_ID_BYTES);
	key_id_to_hex(id, hex);
	if (key_label_format(binding, hex, k->label, sizeof(k->label)) != 0)
		return -1;
	label_len = strlen(k->label);

	/*
	 * Only a certificate key keeps its public key object. Servers on the
	 * nodes use that key through libp11's engine, which needs it: libp11
	 * 0.4.12 does not read CKA_PUBLIC_KEY_INFO, and SoftHSM2 keeps no
	 * EC point in a private key object. An account key is used by the
	 * signer alone, so its public key is a session object
	 * (signer/pubinfo.c).
	 */
	add_attr(k->pub, &k->pub_count, CKA_TOKEN,
	    binding->purpose == KEY_PURPOSE_CERTIFICATE ? &k->yes : &k->no, 1);
	add_attr(k->pub, &k->pub_count, CKA_PRIVATE, &k->no, 1);
	add_attr(k->pub, &k->pub_count, CKA_VERIFY, &k->yes, 1);
	add_attr(k->pub, &k->pub_count, CKA_ENCRYPT, &k->no, 1);
	add_attr(k->pub, &k->pub_count, CKA_WRAP, &k->no, 1);
	add_attr(k->pub, &k->pub_count, CKA_DERIVE, &k->no, 1);
	add_attr(k->pub, &k->pub_count, CKA_ID, k->id, KEY_ID_BYTES);
	add_attr(k->pub, &k->pub_count, CKA_LABEL, k->label, label_len);
	keygen_add_shape(k, type);

	add_attr(k->priv, &k->priv_count, CKA_TOKEN, &k->yes, 1);
	add_attr(k->priv, &k->priv_count, CKA_PRIVATE, &k->yes, 1);
	add_attr(k->priv, &k->priv_count, CKA_SENSITIVE, &k->yes, 1);
	add_attr(k->priv, &k->priv_count, CKA_EXTRACTABLE,
	    extractable ? &k->yes : &k->no, 1);
	add_attr(k->priv, &k->priv_count, CKA_SIGN, &k->yes, 1);
	add_attr(k->priv, &k->priv_count, CKA_DECRYPT, &k->no, 1);
	add_attr(k->priv, &k->priv_count, CKA_UNWRAP, &k->no, 1);
	add_attr(k->priv, &k->priv_count, CKA_DERIVE, &k->no, 1);
	add_attr(k->priv, &k->priv_count, CKA_ID, k->id, KEY_ID_BYTES);
	add_attr(k->priv, &k->priv_count, CKA_LABEL, k->label, label_len);
	return 0;
}

/*
 * Caches a new EC key as a key that signs through its object handle, so
 * that its first lookup need not search the token (signer/handlekey.c).
 * Without it, the lookup goes through libp11 as for any other key.
 */
static void
cache_handle_key(struct signer_token *token, CK_OBJECT_HANDLE priv,
    const unsigned char id[KEY_ID_BYTES], const char *label)
{
	EVP_PKEY *pkey;

	if (token->fresh_public == NULL ||
	    memcmp(token->fresh_id, id, KEY_ID_BYTES) != 0 ||
	    !EVP_PKEY_is_a(token->fresh_public, "EC"))
		return;
	pkey = token_handle_key(token, priv, token->fresh_public);
	if (pkey == NULL)
		return;
	key_cache_put(&token->keys, id, pkey, label);
	EVP_PKEY_free(pkey);
}

/*
 * Generates a key pair in the token. The private key can only sign and is
 * sensitive. It is not extractable unless extractable is set, which only
 * a certificate key for wrapped export gets: C_WrapKey can then export it
 * encrypted, while its value stays unreadable. The public key can only
 * verify. Both carry CKA_ID id (16 random bytes, written to id) and
 * the CKA_LABEL of key_label_format(). Returns 0, or -1 with err set.
 */
int
token_generate_key(struct signer_token *token, enum key_type type,
    const struct key_binding *binding, int extractable,
    unsigned char id[KEY_ID_BYTES], char *err, size_t errlen)
{
	struct keygen_request k;
	CK_OBJECT_HANDLE pub, priv;
	CK_SESSION_HANDLE session;
	CK_RV rv;

	if (RAND_bytes(id, KEY_ID_BYTES) != 1) {
		snprintf(err, errlen, "no random bytes for the key id");
		return -1;
	}
	if (keygen_request_init(&k, type, binding, extractable, id) != 0) {
		snprintf(err, errlen, "the key label does not fit");
		return -1;
	}

	rv = token->p11->C_OpenSession(token->slot_id,
	    CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &session);
	if (rv == CKR_OK) {
		rv = token->p11->C_GenerateKeyPair(session, &k.mechanism,
		    k.pub, k.pub_count, k.priv, k.priv_count, &pub, &priv);
		/* A certificate key's public key object keeps its point. */
		if (rv == CKR_OK && token_store_public_info(token, session,
		    pub, priv, type, id,
		    binding->purpose != KEY_PURPOSE_CERTIFICATE) != 0) {
			token->p11->C_DestroyObject(session, priv);
			rv = CKR_FUNCTION_FAILED;
		}
		/* Closing the session destroys a session public key. */
		token->p11->C_CloseSession(session);
	}
	if (rv != CKR_OK) {
		snprintf(err, errlen, "generating a %s key in token '%s' "
		    "failed: CKR 0x%lx", key_type_name(type), token->label,
		    (unsigned long)rv);
		return -1;
	}
	key_cache_forget(&token->keys, id);
	cache_handle_key(token, priv, id, k.label);
	return 0;
}

/*
 * Finds the private key with CKA_ID id and returns a new reference to
 * libp11's EVP_PKEY for it, and its CKA_LABEL when label is not NULL. A
 * key found once is kept in token->keys, so later lookups do not search
 * the token. Returns 0, -ENOENT when no such key exists, -EBADMSG when
 * the public key that an EC key has in its public key object or
 * CKA_PUBLIC_KEY_INFO is missing or not its own, or -EIO when the token
 * cannot be read.
 */
int
token_find_key(struct signer_token *token,
    const unsigned char id[KEY_ID_BYTES], EVP_PKEY **out, char *label,
    size_t labellen)
{
	PKCS11_KEY *keys;
	unsigned int i, count;
	int rc;

	*out = NULL;
	if (token_key_destroyed(id))
		return -ENOENT;
	*out = key_cache_get(&token->keys, id, label, labellen);
	if (*out != NULL)
		return 0;

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
	if (*out == NULL)
		return -EIO;
	rc = token_complete_public(token, id, *out);
	if (rc != 0) {
		EVP_PKEY_free(*out);
		*out = NULL;
		return rc;
	}
	key_cache_put(&token->keys, id, *out,
	    keys[i].label ? keys[i].label : "");
	return 0;
}
