/*
 * One request being served, shared by the request loop (serve.c) and the
 * account request handlers (account_requests.c).
 */
#ifndef CUSTOS_SIGNER_REQUEST_H
#define CUSTOS_SIGNER_REQUEST_H

#include "signer.h"

#define NAMES_SHOWN_MAX 256

struct request {
	struct signer_context *ctx;
	const json_t *body;
	json_t *result;			/* set by a successful handler */
	const char *code;		/* IPC_ERROR code word */
	char message[SIGNER_ERR_MAX];	/* error reply or violation */
	/* Facts for the log line of a denial; empty when not known. */
	const char *tenant;
	char account[KEY_NAME_MAX + 1];
	char key_id[2 * KEY_ID_BYTES + 1];
	char names[NAMES_SHOWN_MAX];
};

/* serve.c: helpers of every handler. */
int reply_error(struct request *req, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int reply_denied(struct request *req,
    const struct policy_decision *decision);
int get_tenant(struct request *req, const struct policy_tenant **tenant);
int load_key(struct request *req, EVP_PKEY **pkey,
    unsigned char id[KEY_ID_BYTES], char *label, size_t labellen);

/* account_requests.c: the handlers of IPC types 10 to 13. */
extern const char *const eab_sign_request_members[];
extern const char *const key_change_request_members[];
extern const char *const key_destroy_request_members[];
extern const char *const revoke_sign_request_members[];
int handle_eab_sign(struct request *req);
int handle_key_change(struct request *req);
int handle_key_destroy(struct request *req);
int handle_revoke_sign(struct request *req);
int authorize_key_change_payload(struct request *req,
    const struct policy_tenant *tenant,
    const unsigned char key_id[KEY_ID_BYTES], const json_t *inner,
    struct policy_decision *decision);

/* wrap_request.c: IPC_KEY_WRAP. */
extern const char *const key_wrap_request_members[];
int handle_key_wrap(struct request *req);

#endif
