/*
 * The signer: the only Custos process that talks to the HSM. It loads the
 * PKCS#11 module, logs in, drops privileges, enters its seccomp sandbox and
 * only then serves the requests defined in ipc/ipc.h on one descriptor.
 * Private keys are generated in the token as sensitive and used through
 * libp11's EVP_PKEY. They are non-extractable, except a certificate key
 * that its request asked to export wrapped and the tenant's key-export
 * allows: that key leaves the token only through C_WrapKey (keywrap.c).
 */
#ifndef CUSTOS_SIGNER_H
#define CUSTOS_SIGNER_H

#include <stddef.h>

#include <jansson.h>
#include <libp11.h>
#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>

#include "config/config.h"
#include "policy/policy.h"

#define KEY_ID_BYTES 16
#define SIGNER_ERR_MAX 512
/* Issuer, account and tenant names: 1 to 64 bytes in both grammars. */
#define KEY_NAME_MAX 64
/* "custos/account/ISSUER/ACCOUNT/KEYID", the longest key label. */
#define KEY_LABEL_MAX (15 + 2 * KEY_NAME_MAX + 2 + 2 * KEY_ID_BYTES + 1)

/* The keys that token_find_key() has found, by CKA_ID (keycache.c). */
/*
 * Room for the new keys of 64 orders in flight, twice the daemon's
 * default concurrency, so that a new key is usually still cached when its
 * order builds the CSR. A key that was dropped is found through libp11.
 */
#define KEY_CACHE_SIZE 128

struct key_cache_entry {
	unsigned char id[KEY_ID_BYTES];
	EVP_PKEY *pkey;			/* NULL: the entry is free */
	char label[KEY_LABEL_MAX];
	unsigned long last_used;	/* value of clock at the last use */
};

struct key_cache {
	struct key_cache_entry entries[KEY_CACHE_SIZE];
	unsigned long clock;
};

/* The loaded module, the logged-in token and the module's raw functions. */
struct signer_token {
	PKCS11_CTX *ctx;
	PKCS11_SLOT *slots;
	unsigned int slot_count;
	PKCS11_SLOT *slot;		/* the slot holding our token */
	CK_SLOT_ID slot_id;
	void *module;			/* dlopen handle, same module */
	CK_FUNCTION_LIST *p11;		/* that module's function list */
	char *label;			/* token label, for messages */
	struct key_cache keys;
	/*
	 * The public half of the key generated last, so that its first
	 * lookup need not read it back from the token (signer/pubinfo.c).
	 */
	unsigned char fresh_id[KEY_ID_BYTES];
	EVP_PKEY *fresh_public;
	/* Signs for keys of token_handle_key(); opened at its first use. */
	CK_SESSION_HANDLE sign_session;
};

/* An IPC_ERROR reply: a short code word and a one-line message. */
struct signer_reply_error {
	const char *code;
	char message[SIGNER_ERR_MAX];
};

/* Results of a request handler other than 0. */
enum {
	SIGNER_REPLY_ERROR = -1,	/* reply IPC_ERROR, keep serving */
	SIGNER_PROTOCOL_ERROR = -2,	/* log, close the connection */
};

enum key_purpose {
	KEY_PURPOSE_ACCOUNT = 0,
	KEY_PURPOSE_CERTIFICATE,
};

/*
 * The owner of a key, as its CKA_LABEL records it: an account key belongs
 * to an issuer and an account, a certificate key to a tenant.
 */
struct key_binding {
	enum key_purpose purpose;
	char issuer[KEY_NAME_MAX + 1];
	char account[KEY_NAME_MAX + 1];
	char tenant[KEY_NAME_MAX + 1];
};

/* token.c */
int token_open(struct signer_token *token, const struct config_hsm *hsm,
    char *err, size_t errlen);
void token_close(struct signer_token *token);

/* keystore.c */
int key_label_format(const struct key_binding *binding, const char *hex,
    char *out, size_t outlen);
int key_label_parse(const char *label, const char *hex,
    struct key_binding *binding);
int token_generate_key(struct signer_token *token, enum key_type type,
    const struct key_binding *binding, int extractable,
    unsigned char id[KEY_ID_BYTES], char *err, size_t errlen);
int token_store_public_info(struct signer_token *token,
    CK_SESSION_HANDLE session, CK_OBJECT_HANDLE pub, CK_OBJECT_HANDLE priv,
    enum key_type type, const unsigned char id[KEY_ID_BYTES], int write_info);
EVP_PKEY *token_handle_key(struct signer_token *token,
    CK_OBJECT_HANDLE handle, EVP_PKEY *pub);
int token_complete_public(struct signer_token *token,
    const unsigned char id[KEY_ID_BYTES], EVP_PKEY *pkey);
int token_find_key(struct signer_token *token,
    const unsigned char id[KEY_ID_BYTES], EVP_PKEY **out, char *label,
    size_t labellen);
int token_read_pin(const char *path, char *pin, size_t pinlen, char *err,
    size_t errlen);

/* keywrap.c: a private key wrapped to a node's recipient key. */
struct wrapped_key {
	char oaep_hash[8];		/* "sha256" or "sha1" */
	unsigned char *blob;		/* RSA-OAEP part, then AES-KWP part */
	size_t blob_len;
};

int token_wrap_key(struct signer_token *token,
    const unsigned char id[KEY_ID_BYTES], const unsigned char *recipient_der,
    size_t recipient_len, struct wrapped_key *wk, char *err, size_t errlen);
void wrapped_key_clear(struct wrapped_key *wk);

/* keycache.c */
EVP_PKEY *key_cache_get(struct key_cache *cache,
    const unsigned char id[KEY_ID_BYTES], char *label, size_t labellen);
void key_cache_put(struct key_cache *cache,
    const unsigned char id[KEY_ID_BYTES], EVP_PKEY *pkey, const char *label);
void key_cache_forget(struct key_cache *cache,
    const unsigned char id[KEY_ID_BYTES]);
void key_cache_clear(struct key_cache *cache);

/* keyinfo.c: public-key facts that work with any EVP_PKEY. */
int key_type_of(EVP_PKEY *pkey, enum key_type *type);
EVP_PKEY *key_public_copy(EVP_PKEY *pkey);
json_t *key_jwk(EVP_PKEY *pkey);
int key_thumbprint(const json_t *jwk, char *out, size_t outlen);
int key_uri(const char *token_label, const unsigned char id[KEY_ID_BYTES],
    const char *object_label, char *out, size_t outlen);
void key_id_to_hex(const unsigned char id[KEY_ID_BYTES],
    char hex[2 * KEY_ID_BYTES + 1]);
int key_id_from_hex(const char *hex, unsigned char id[KEY_ID_BYTES]);

/* jws.c: JWS assembly (RFC 7515 flattened JSON, as ACME sends it). */
struct jws_input {
	const char *url;
	const char *nonce;		/* NULL: no "nonce" member */
	const char *kid;		/* NULL: embed the JWK */
	const char *payload;		/* JSON object text, or "" */
};

int jws_check_url(const char *url, char *err, size_t errlen);
int jws_check_nonce(const char *nonce, char *err, size_t errlen);
int jws_canonical_payload(const char *text, char **out, char *err,
    size_t errlen);
int jws_ecdsa_der_to_raw(const unsigned char *der, size_t derlen,
    size_t field_len, unsigned char *out);
int jws_sign(EVP_PKEY *pkey, const struct jws_input *in, json_t **out,
    char *err, size_t errlen);

/* csr.c */
int csr_check_names(const json_t *names, char *err, size_t errlen);
int csr_build(EVP_PKEY *pkey, const json_t *names, char **out_b64,
    char *err, size_t errlen);

/* origin.c */
struct url_origin {
	char scheme[8];			/* "https" or "http" */
	char host[256];			/* lower case; IPv6 without brackets */
	unsigned int port;
};

int url_origin_parse(const char *url, struct url_origin *out, char *err,
    size_t errlen);
int url_origin_equal(const struct url_origin *a, const struct url_origin *b);
void url_origin_format(const struct url_origin *origin, char *out,
    size_t outlen);

/* acme_payload.c */
enum acme_shape {
	ACME_SHAPE_POST_AS_GET = 0,
	ACME_SHAPE_CHALLENGE_RESPONSE,
	ACME_SHAPE_NEW_ACCOUNT,
	ACME_SHAPE_ACCOUNT_UPDATE,
	ACME_SHAPE_DEACTIVATION,
	ACME_SHAPE_NEW_ORDER,
	ACME_SHAPE_NEW_AUTHZ,
	ACME_SHAPE_FINALIZE,
	ACME_SHAPE_KEY_CHANGE,
	ACME_SHAPE_REVOCATION,
};

/* A classified payload; ids and csr point into object. */
struct acme_payload {
	enum acme_shape shape;
	json_t *object;			/* NULL for POST-as-GET */
	struct policy_identifier *ids;	/* newOrder and newAuthz */
	size_t id_count;
	int has_not_before, has_not_after;
	long long not_before, not_after;	/* seconds since the epoch */
	const char *csr;		/* finalize: base64url DER */
};

const char *acme_shape_name(enum acme_shape shape);
int acme_time_parse(const char *text, long long *seconds);
int acme_payload_classify(const char *text, int has_kid,
    struct acme_payload *out, char *err, size_t errlen);
void acme_payload_clear(struct acme_payload *payload);

/* csr_table.c */
#define CSR_TABLE_SIZE 1024
#define CSR_DIGEST_LEN 32

struct csr_record {
	int used;
	unsigned char digest[CSR_DIGEST_LEN];	/* SHA-256 of the DER */
	unsigned char key_id[KEY_ID_BYTES];	/* the key that signed it */
	char tenant[KEY_NAME_MAX + 1];
	char names[160];		/* for messages; may be cut */
};

struct csr_table {
	struct csr_record records[CSR_TABLE_SIZE];
	size_t next;			/* the slot written next */
};

enum csr_lookup {
	CSR_FOUND = 0,
	CSR_OTHER_TENANT,
	CSR_UNKNOWN,
	CSR_INVALID,
};

int csr_table_add(struct csr_table *table, const char *tenant,
    const unsigned char key_id[KEY_ID_BYTES], const char *b64,
    const json_t *names);
enum csr_lookup csr_table_find(const struct csr_table *table,
    const char *tenant, const char *b64, const struct csr_record **record);

/* fresh_keys.c */
#define FRESH_KEYS_MAX 256

/* A certificate key generated by this run of the signer. */
struct fresh_key {
	int used;
	int spent;		/* a finalize request with its CSR was signed */
	unsigned char id[KEY_ID_BYTES];
	char tenant[KEY_NAME_MAX + 1];
};

struct fresh_keys {
	struct fresh_key keys[FRESH_KEYS_MAX];
	size_t next;			/* the slot written next */
};

void fresh_keys_add(struct fresh_keys *table, const char *tenant,
    const unsigned char id[KEY_ID_BYTES]);
void fresh_keys_spend(struct fresh_keys *table,
    const unsigned char id[KEY_ID_BYTES]);
int fresh_keys_check_discard(struct fresh_keys *table, const char *tenant,
    const unsigned char id[KEY_ID_BYTES], char *err, size_t errlen);
void fresh_keys_forget(struct fresh_keys *table,
    const unsigned char id[KEY_ID_BYTES]);

/* authorize.c: each returns 1 when allowed, 0 with decision's reason */
int authorize_tenant(const struct policy *policy, const char *name,
    const struct policy_tenant **tenant, struct policy_decision *decision);
int authorize_key_generate(const struct custos_config *config,
    const struct policy_tenant *tenant, enum key_purpose purpose,
    const char *issuer_name, const char *account_name, enum key_type type,
    struct key_binding *binding, struct policy_decision *decision);
int authorize_account_key(const struct custos_config *config,
    const struct policy_tenant *tenant, const char *label, const char *hex,
    const char *url, struct key_binding *binding,
    struct policy_decision *decision);
int authorize_certificate_key(const struct policy_tenant *tenant,
    const char *label, const char *hex, struct policy_decision *decision);
int authorize_key_wrap(const struct policy_tenant *tenant,
    const char *node_name, const struct policy_node **node,
    struct policy_decision *decision);
int authorize_payload(const struct policy_tenant *tenant,
    const struct csr_table *csrs, const char *text, int has_kid,
    struct acme_payload *payload, struct policy_decision *decision);
int authorize_csr_names(const struct policy_tenant *tenant,
    const json_t *names, struct policy_decision *decision);

/* sandbox.c */
int sandbox_drop_privileges(const char *user, char *err, size_t errlen);
int sandbox_set_limits(char *err, size_t errlen);
int sandbox_install_filter(char *err, size_t errlen);
int sandbox_clear_environment(char *err, size_t errlen);

/* landlock.c */
int landlock_abi_version(void);
int landlock_find_token_dir(const char *module, char *dir, size_t dirlen,
    char *err, size_t errlen);
int landlock_confine(const char *dir, char *err, size_t errlen);

/*
 * keychange.c: the last key change this signer built. The outer JWS of a
 * key change must carry exactly that inner JWS, and only its old key may
 * then be destroyed.
 */
struct keychange_record {
	int used;
	unsigned char digest[CSR_DIGEST_LEN];	/* SHA-256 of the inner JWS */
	char tenant[KEY_NAME_MAX + 1];
	unsigned char old_id[KEY_ID_BYTES];
	unsigned char new_id[KEY_ID_BYTES];
	int outer_signed;	/* the old key signed the outer JWS */
};

int keychange_inner_jws(EVP_PKEY *new_key, EVP_PKEY *old_key,
    const char *url, const char *account_url, json_t **out, char *err,
    size_t errlen);
int keychange_remember(struct keychange_record *record, const char *tenant,
    const unsigned char old_id[KEY_ID_BYTES],
    const unsigned char new_id[KEY_ID_BYTES], const json_t *inner);
int keychange_check_outer(const struct keychange_record *record,
    const char *tenant, const unsigned char key_id[KEY_ID_BYTES],
    const json_t *inner, char *err, size_t errlen);
int token_destroy_key(struct signer_token *token,
    const unsigned char id[KEY_ID_BYTES], char *err, size_t errlen);
/* Returns 1 when token_destroy_key() destroyed the key id in this run. */
int token_key_destroyed(const unsigned char id[KEY_ID_BYTES]);

/* eab.c */
int eab_label_format(const char *issuer, const char *kid, char *out,
    size_t outlen);
long eab_key_decode(const char *text, size_t len, unsigned char *out);
int eab_read_key(const char *path, unsigned char *key, size_t keylen,
    size_t *out_len, char *err, size_t errlen);
int eab_store_key(struct signer_token *token, const char *issuer,
    const char *kid, unsigned char *key, size_t keylen, char *err,
    size_t errlen);
int eab_sign(struct signer_token *token, const struct config_issuer *issuer,
    EVP_PKEY *account_key, const char *url, json_t **out, char *err,
    size_t errlen);

/* eab_import.c: "custos-signer --import-eab ..."; never returns. */
void eab_import_main(int argc, char **argv) __attribute__((noreturn));

/* key_import.c: "custos-signer --import-key ..."; never returns. */
void key_import_main(int argc, char **argv) __attribute__((noreturn));

/* revoke.c */
int revoke_check_certificate(EVP_PKEY *key, const char *certificate_b64,
    char *err, size_t errlen);
int revoke_certificate_identifiers(const char *certificate_b64,
    struct policy_identifier **out, char *err, size_t errlen);
void revoke_identifiers_free(struct policy_identifier *ids, size_t count);

/* The state the request handlers share, set up before the sandbox. */
struct signer_context {
	struct signer_token *token;
	const struct custos_config *config;
	const struct policy *policy;
	struct csr_table *csrs;
	struct fresh_keys *fresh_keys;
	struct keychange_record keychange;
};

/* serve.c */
int signer_serve(struct signer_context *ctx, int fd);

#endif
