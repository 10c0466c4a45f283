/*
 * Account key rollover (RFC 8555 section 7.3.5). The signer builds the
 * inner JWS itself. The new key signs it, its header embeds the new JWK
 * and has no nonce, and its payload is the account URL and the old key's
 * JWK, which the signer derives from the old key. The signer remembers
 * what it built: the outer JWS, signed by the old key through
 * IPC_JWS_SIGN, can carry only that inner JWS, and only the old key of
 * that rollover may be destroyed.
 */
#include "signer.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#define KEYCHANGE_FOUND_MAX 4	/* objects with one CKA_ID: 2 expected */
#define KEYCHANGE_DESTROYED_MAX 16

int
keychange_inner_jws(EVP_PKEY *new_key, EVP_PKEY *old_key, const char *url,
    const char *account_url, json_t **out, char *err, size_t errlen)
{
	struct jws_input in = { .url = url, .nonce = NULL, .kid = NULL };
	json_t *payload;
	char *text = NULL;
	int rc;

	*out = NULL;
	payload = json_pack("{s:s, s:o*}", "account", account_url, "oldKey",
	    key_jwk(old_key));
	if (payload != NULL && json_object_get(payload, "oldKey") != NULL)
		text = json_dumps(payload, JSON_COMPACT);
	json_decref(payload);
	if (text == NULL) {
		snprintf(err, errlen, "the old key's JWK cannot be built");
		return -1;
	}
	in.payload = text;
	rc = jws_sign(new_key, &in, out, err, errlen);
	free(text);
	return rc;
}

/* Hashes the three members of a flattened JWS, in a fixed order. */
static int
jws_digest(const json_t *jws, unsigned char digest[CSR_DIGEST_LEN])
{
	static const char *const members[] = {
		"protected", "payload", "signature",
	};
	EVP_MD_CTX *md;
	const char *text;
	size_t i;
	int ok;

	if (!json_is_object(jws) || json_object_size(jws) != 3)
		return -1;
	md = EVP_MD_CTX_new();
	ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
	for (i = 0; ok && i < 3; i++) {
		text = json_string_value(json_object_get(jws, members[i]));
		/* The NUL separates the members. */
		ok = text != NULL &&
		    EVP_DigestUpdate(md, text, strlen(text) + 1) == 1;
	}
	ok = ok && EVP_DigestFinal_ex(md, digest, NULL) == 1;
	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}

int
keychange_remember(struct keychange_record *record, const char *tenant,
    const unsigned char old_id[KEY_ID_BYTES],
    const unsigned char new_id[KEY_ID_BYTES], const json_t *inner)
{
	memset(record, 0, sizeof(*record));
	if (jws_digest(inner, record->digest) != 0)
		return -1;
	snprintf(record->tenant, sizeof(record->tenant), "%s", tenant);
	memcpy(record->old_id, old_id, KEY_ID_BYTES);
	memcpy(record->new_id, new_id, KEY_ID_BYTES);
	record->used = 1;
	return 0;
}

/*
 * Checks the inner JWS of a keyChange payload that key_id signs for
 * tenant: it must be the one this signer built last, for that tenant and
 * with key_id as the old key. Returns 0, or -1 with err set.
 */
int
keychange_check_outer(const struct keychange_record *record,
    const char *tenant, const unsigned char key_id[KEY_ID_BYTES],
    const json_t *inner, char *err, size_t errlen)
{
	unsigned char digest[CSR_DIGEST_LEN];

	if (!record->used || jws_digest(inner, digest) != 0 ||
	    CRYPTO_memcmp(digest, record->digest, sizeof(digest)) != 0) {
		snprintf(err, errlen, "the inner JWS is not the one this "
		    "signer built with key-change");
		return -1;
	}
	if (strcmp(record->tenant, tenant) != 0 ||
	    memcmp(record->old_id, key_id, KEY_ID_BYTES) != 0) {
		snprintf(err, errlen, "the inner JWS was built for another "
		    "tenant or old key");
		return -1;
	}
	return 0;
}

/*
 * Key ids destroyed in this process. libp11 0.4.12 keeps the keys it has
 * enumerated and never drops one that is gone from the token, so
 * token_find_key() asks this list first.
 */
static unsigned char destroyed_ids[KEYCHANGE_DESTROYED_MAX][KEY_ID_BYTES];
static size_t destroyed_count;

int
token_key_destroyed(const unsigned char id[KEY_ID_BYTES])
{
	for (size_t i = 0; i < destroyed_count; i++)
		if (memcmp(destroyed_ids[i], id, KEY_ID_BYTES) == 0)
			return 1;
	return 0;
}

static void
remember_destroyed(const unsigned char id[KEY_ID_BYTES])
{
	/* The oldest entry goes when full; a rollover destroys one key. */
	if (destroyed_count == KEYCHANGE_DESTROYED_MAX) {
		memmove(destroyed_ids[0], destroyed_ids[1],
		    (KEYCHANGE_DESTROYED_MAX - 1) * KEY_ID_BYTES);
		destroyed_count--;
	}
	memcpy(destroyed_ids[destroyed_count++], id, KEY_ID_BYTES);
}

/* Maximum rounds of KEYCHANGE_FOUND_MAX objects in one destroy. */
#define DESTROY_ROUNDS_MAX 16

/*
 * Destroys up to KEYCHANGE_FOUND_MAX objects with CKA_ID id in session;
 * *count is how many it found.
 */
static CK_RV
destroy_round(CK_FUNCTION_LIST *p11, CK_SESSION_HANDLE session,
    const unsigned char id[KEY_ID_BYTES], CK_ULONG *count)
{
	CK_ATTRIBUTE query[] = { { CKA_ID, (void *)id, KEY_ID_BYTES } };
	CK_OBJECT_HANDLE found[KEYCHANGE_FOUND_MAX];
	CK_RV rv;

	*count = 0;
	rv = p11->C_FindObjectsInit(session, query, 1);
	if (rv != CKR_OK)
		return rv;
	rv = p11->C_FindObjects(session, found, KEYCHANGE_FOUND_MAX, count);
	p11->C_FindObjectsFinal(session);
	for (CK_ULONG i = 0; rv == CKR_OK && i < *count; i++)
		rv = p11->C_DestroyObject(session, found[i]);
	return rv;
}

/*
 * Destroys every object with CKA_ID id: the private key, its public key
 * object if any, and any object planted with the same id, which SoftHSM2
 * lets a session without login create. SoftHSM unlinks their object
 * files, which the seccomp filter allows (unlink, getdents64). Returns 0,
 * -ENOENT when no object has that id, or -1; err is set.
 */
int
token_destroy_key(struct signer_token *token,
    const unsigned char id[KEY_ID_BYTES], char *err, size_t errlen)
{
	CK_FUNCTION_LIST *p11 = token->p11;
	CK_SESSION_HANDLE session;
	CK_ULONG count = 0, total = 0;
	int round = 0;
	CK_RV rv;

	if (p11 == NULL) {
		snprintf(err, errlen, "token '%s' has no PKCS#11 function "
		    "list", token->label);
		return -1;
	}
	rv = p11->C_OpenSession(token->slot_id,
	    CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &session);
	if (rv == CKR_OK) {
		do {
			rv = destroy_round(p11, session, id, &count);
			total += count;
		} while (rv == CKR_OK && count > 0 &&
		    ++round < DESTROY_ROUNDS_MAX);
		p11->C_CloseSession(session);
	}
	if (rv != CKR_OK) {
		snprintf(err, errlen, "destroying key objects in token '%s' "
		    "failed: CKR 0x%lx", token->label, (unsigned long)rv);
		return -1;
	}
	if (count > 0) {
		snprintf(err, errlen, "token '%s' still has objects with the "
		    "key's id after %lu were destroyed; remove them with "
		    "pkcs11-tool and check who writes to the token",
		    token->label, (unsigned long)total);
		return -1;
	}
	if (total == 0) {
		snprintf(err, errlen, "no key objects with that id in token "
		    "'%s'", token->label);
		return -ENOENT;
	}
	remember_destroyed(id);
	key_cache_forget(&token->keys, id);
	return 0;
}
