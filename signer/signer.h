/*
 * The signer: the only Custos process that talks to the HSM. It loads the
 * PKCS#11 module, logs in, drops privileges, enters its seccomp sandbox and
 * only then serves the requests defined in ipc/ipc.h on one descriptor.
 * Private keys never leave the token: they are generated there as
 * sensitive and non-extractable, and used through libp11's EVP_PKEY.
 */
#ifndef CUSTOS_SIGNER_H
#define CUSTOS_SIGNER_H

#include <stddef.h>

#include <jansson.h>
#include <libp11.h>
#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>

#include "config/config.h"

#define KEY_ID_BYTES 16
#define SIGNER_ERR_MAX 256

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

/* token.c */
int token_open(struct signer_token *token, const struct config_hsm *hsm,
    char *err, size_t errlen);
void token_close(struct signer_token *token);
int token_generate_key(struct signer_token *token, enum key_type type,
    const char *purpose, unsigned char id[KEY_ID_BYTES], char *err,
    size_t errlen);
int token_find_key(struct signer_token *token,
    const unsigned char id[KEY_ID_BYTES], EVP_PKEY **out, char *label,
    size_t labellen);
int token_read_pin(const char *path, char *pin, size_t pinlen, char *err,
    size_t errlen);

/* keyinfo.c: public-key facts that work with any EVP_PKEY. */
int key_type_of(EVP_PKEY *pkey, enum key_type *type);
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
	const char *nonce;
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

/* sandbox.c */
int sandbox_drop_privileges(const char *user, char *err, size_t errlen);
int sandbox_set_limits(char *err, size_t errlen);
int sandbox_install_filter(char *err, size_t errlen);

/* serve.c */
int signer_serve(struct signer_token *token, int fd);

#endif
