/*
 * The request loop: one frame in, one IPC_RESULT or IPC_ERROR out. A
 * request that is well formed but cannot be done (unknown key, HSM
 * failure) gets IPC_ERROR and the loop goes on. Any protocol violation
 * (bad frame, unknown type, unknown member, wrong type or value) is
 * logged with its reason and ends the loop.
 */
#include "signer.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ipc/ipc.h"
#include "logging/log.h"

#define PAYLOAD_TEXT_MAX IPC_MAX_PAYLOAD
#define URI_MAX 512
#define LABEL_MAX 128

/* One request being served. */
struct request {
	struct signer_token *token;
	const json_t *body;
	json_t *result;			/* set by a successful handler */
	const char *code;		/* IPC_ERROR code word */
	char message[SIGNER_ERR_MAX];	/* error reply or violation */
};

static int
reply_error(struct request *req, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
reply_error(struct request *req, const char *code, const char *fmt, ...)
{
	va_list ap;

	req->code = code;
	va_start(ap, fmt);
	vsnprintf(req->message, sizeof(req->message), fmt, ap);
	va_end(ap);
	return SIGNER_REPLY_ERROR;
}

/*
 * Gets the key id member and loads the key. Returns 0, a protocol error
 * for a malformed id, or an error reply for an unknown key.
 */
static int
load_key(struct request *req, EVP_PKEY **pkey, unsigned char id[KEY_ID_BYTES],
    char *label, size_t labellen)
{
	const char *hex;
	int rc;

	if (ipc_get_key_id(req->body, "key_id", &hex, req->message,
	    sizeof(req->message)) != 0 || key_id_from_hex(hex, id) != 0)
		return SIGNER_PROTOCOL_ERROR;
	rc = token_find_key(req->token, id, pkey, label, labellen);
	if (rc == -ENOENT)
		return reply_error(req, "unknown-key", "no key with id %s in "
		    "token '%s'", hex, req->token->label);
	if (rc != 0)
		return reply_error(req, "hsm-failure", "reading key %s from "
		    "token '%s' failed", hex, req->token->label);
	return 0;
}

/* Builds the KEY_PUBLIC result for a loaded key. */
static int
describe_key(struct request *req, EVP_PKEY *pkey,
    const unsigned char id[KEY_ID_BYTES], const char *label)
{
	char hex[2 * KEY_ID_BYTES + 1], thumbprint[64], uri[URI_MAX];
	enum key_type type;
	json_t *jwk;

	key_id_to_hex(id, hex);
	jwk = key_jwk(pkey);
	if (key_type_of(pkey, &type) != 0 || jwk == NULL ||
	    key_thumbprint(jwk, thumbprint, sizeof(thumbprint)) != 0 ||
	    key_uri(req->token->label, id, label, uri, sizeof(uri)) != 0) {
		json_decref(jwk);
		return reply_error(req, "unsupported-key", "key %s is not "
		    "of a supported type", hex);
	}
	req->result = json_pack("{s:s, s:s, s:o, s:s, s:s}", "key_id", hex,
	    "type", key_type_name(type), "jwk", jwk, "thumbprint",
	    thumbprint, "uri", uri);
	if (req->result == NULL)
		return reply_error(req, "internal", "out of memory");
	return 0;
}

static const char *const key_generate_members[] = {
	"purpose", "type", NULL,
};
static const char *const purposes[] = { "account", "certificate", NULL };

static int
handle_key_generate(struct request *req)
{
	unsigned char id[KEY_ID_BYTES];
	char label[LABEL_MAX];
	const char *type_name;
	enum key_type type = KEY_TYPE_EC_P256;
	EVP_PKEY *pkey = NULL;
	int purpose, rc;

	if (ipc_get_choice(req->body, "purpose", purposes, &purpose,
	    req->message, sizeof(req->message)) != 0 ||
	    ipc_get_string(req->body, "type", 64, 1, &type_name,
	    req->message, sizeof(req->message)) != 0)
		return SIGNER_PROTOCOL_ERROR;
	if (type_name != NULL && key_type_parse(type_name, &type) != 0) {
		snprintf(req->message, sizeof(req->message), "member \"type\" "
		    "has unsupported value \"%.32s\"", type_name);
		return SIGNER_PROTOCOL_ERROR;
	}
	if (token_generate_key(req->token, type, purposes[purpose], id,
	    req->message, sizeof(req->message)) != 0)
		return reply_error(req, "hsm-failure", "%s", req->message);
	if (token_find_key(req->token, id, &pkey, label, sizeof(label)) != 0)
		return reply_error(req, "hsm-failure", "the new key is not "
		    "found in token '%s'", req->token->label);
	rc = describe_key(req, pkey, id, label);
	EVP_PKEY_free(pkey);
	return rc;
}

static const char *const key_public_members[] = { "key_id", NULL };

static int
handle_key_public(struct request *req)
{
	unsigned char id[KEY_ID_BYTES];
	char label[LABEL_MAX];
	EVP_PKEY *pkey = NULL;
	int rc;

	rc = load_key(req, &pkey, id, label, sizeof(label));
	if (rc == 0)
		rc = describe_key(req, pkey, id, label);
	EVP_PKEY_free(pkey);
	return rc;
}

static const char *const jws_sign_members[] = {
	"key_id", "url", "nonce", "kid", "payload", NULL,
};

/* Reads and checks every JWS_SIGN member except the key id. */
static int
get_jws_input(struct request *req, struct jws_input *in)
{
	char *payload = NULL;
	char *msg = req->message;
	size_t len = sizeof(req->message);

	if (ipc_get_string(req->body, "url", 4096, 0, &in->url, msg, len) ||
	    ipc_get_string(req->body, "nonce", 1024, 0, &in->nonce, msg,
	    len) ||
	    ipc_get_string(req->body, "kid", 4096, 1, &in->kid, msg, len))
		return SIGNER_PROTOCOL_ERROR;
	if (json_is_string(json_object_get(req->body, "payload")) &&
	    json_string_length(json_object_get(req->body, "payload")) == 0)
		in->payload = "";
	else if (ipc_get_string(req->body, "payload", PAYLOAD_TEXT_MAX, 0,
	    &in->payload, msg, len) != 0)
		return SIGNER_PROTOCOL_ERROR;
	if (jws_check_url(in->url, msg, len) != 0 ||
	    jws_check_nonce(in->nonce, msg, len) != 0 ||
	    (in->kid != NULL && jws_check_url(in->kid, msg, len) != 0) ||
	    jws_canonical_payload(in->payload, &payload, msg, len) != 0)
		return SIGNER_PROTOCOL_ERROR;
	free(payload);
	return 0;
}

static int
handle_jws_sign(struct request *req)
{
	unsigned char id[KEY_ID_BYTES];
	struct jws_input in = { 0 };
	EVP_PKEY *pkey = NULL;
	int rc;

	rc = get_jws_input(req, &in);
	if (rc == 0)
		rc = load_key(req, &pkey, id, NULL, 0);
	if (rc == 0 && jws_sign(pkey, &in, &req->result, req->message,
	    sizeof(req->message)) != 0)
		rc = reply_error(req, "hsm-failure", "%s", req->message);
	EVP_PKEY_free(pkey);
	return rc;
}

static const char *const csr_build_members[] = { "key_id", "names", NULL };

static int
handle_csr_build(struct request *req)
{
	const json_t *names = json_object_get(req->body, "names");
	unsigned char id[KEY_ID_BYTES];
	EVP_PKEY *pkey = NULL;
	char *csr = NULL;
	int rc;

	if (names == NULL) {
		snprintf(req->message, sizeof(req->message),
		    "missing member \"names\"");
		return SIGNER_PROTOCOL_ERROR;
	}
	if (csr_check_names(names, req->message, sizeof(req->message)) != 0)
		return SIGNER_PROTOCOL_ERROR;
	rc = load_key(req, &pkey, id, NULL, 0);
	if (rc == 0 && csr_build(pkey, names, &csr, req->message,
	    sizeof(req->message)) != 0)
		rc = reply_error(req, "hsm-failure", "%s", req->message);
	if (rc == 0) {
		req->result = json_pack("{s:s}", "csr", csr);
		if (req->result == NULL)
			rc = reply_error(req, "internal", "out of memory");
	}
	free(csr);
	EVP_PKEY_free(pkey);
	return rc;
}

#ifdef CUSTOS_TEST_BUILD
static const char *const test_members[] = { NULL };

/*
 * Makes a system call that the seccomp filter forbids, so that a test can
 * see the signer die with SIGSYS. Only the test build contains this.
 */
static int
handle_test_forbidden_syscall(struct request *req)
{
	char *const argv[] = { NULL };

	log_warn("test build: calling execve, which the filter forbids");
	syscall(SYS_execve, "/nonexistent-custos-sandbox-test", argv, argv);
	return reply_error(req, "sandbox-open", "execve returned: the "
	    "seccomp filter is not active");
}
#endif

static const struct handler {
	uint16_t type;
	const char *const *members;
	int (*fn)(struct request *req);
} handlers[] = {
	{ IPC_KEY_GENERATE, key_generate_members, handle_key_generate },
	{ IPC_KEY_PUBLIC, key_public_members, handle_key_public },
	{ IPC_JWS_SIGN, jws_sign_members, handle_jws_sign },
	{ IPC_CSR_BUILD, csr_build_members, handle_csr_build },
#ifdef CUSTOS_TEST_BUILD
	{ IPC_TEST_FORBIDDEN_SYSCALL, test_members,
	    handle_test_forbidden_syscall },
#endif
};

static const struct handler *
find_handler(uint16_t type)
{
	size_t i;

	for (i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (handlers[i].type == type)
			return &handlers[i];
	return NULL;
}

/* Runs one request. Returns 0 after a reply, or -1 to close. */
static int
serve_frame(struct signer_token *token, int fd,
    const struct ipc_frame *frame)
{
	const struct handler *handler = find_handler(frame->type);
	struct request req = { .token = token };
	json_t *body = NULL, *error;
	int rc;

	if (handler == NULL) {
		log_warn("closing the connection: unexpected message type %u",
		    frame->type);
		return -1;
	}
	if (ipc_parse_object(frame, &body) != 0) {
		log_warn("closing the connection: %s request: payload is not "
		    "one JSON object", ipc_type_name(frame->type));
		return -1;
	}
	req.body = body;
	rc = ipc_check_members(body, handler->members, req.message,
	    sizeof(req.message)) == 0 ? handler->fn(&req) :
	    SIGNER_PROTOCOL_ERROR;
	json_decref(body);

	if (rc == SIGNER_PROTOCOL_ERROR) {
		log_warn("closing the connection: %s request: %s",
		    ipc_type_name(frame->type), req.message);
		json_decref(req.result);
		return -1;
	}
	if (rc == SIGNER_REPLY_ERROR) {
		log_warn("%s request failed: %s: %s",
		    ipc_type_name(frame->type), req.code, req.message);
		error = json_pack("{s:s, s:s}", "code", req.code, "message",
		    req.message);
		rc = error ? ipc_write_json(fd, IPC_ERROR, error) : -1;
		json_decref(error);
	} else {
		log_debug("%s request done", ipc_type_name(frame->type));
		rc = ipc_write_json(fd, IPC_RESULT, req.result);
		json_decref(req.result);
	}
	if (rc != 0)
		log_error("writing the reply failed: %s", ipc_strerror(rc));
	return rc == 0 ? 0 : -1;
}

/*
 * Serves requests on fd until the peer closes it. Returns 0 after a clean
 * end of file between frames, or -1 after a protocol violation or an I/O
 * error (already logged).
 */
int
signer_serve(struct signer_token *token, int fd)
{
	struct ipc_frame frame;
	int rc;

	for (;;) {
		rc = ipc_read_frame(fd, &frame);
		if (rc == -IPC_EOF)
			return 0;
		if (rc != 0) {
			log_warn("closing the connection: %s",
			    ipc_strerror(rc));
			return -1;
		}
		rc = serve_frame(token, fd, &frame);
		ipc_frame_clear(&frame);
		if (rc != 0)
			return -1;
	}
}
