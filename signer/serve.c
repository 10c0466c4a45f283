/*
 * The request loop: one frame in, one IPC_RESULT or IPC_ERROR out. A
 * request that is well formed but cannot be done (unknown key, HSM
 * failure) gets IPC_ERROR and the loop goes on. Any protocol violation
 * (bad frame, unknown type, unknown member, wrong type or value) is
 * logged with its reason and ends the loop.
 */
#include "signer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ipc/ipc.h"
#include "logging/log.h"
#include "signer/audit.h"
#include "signer/request.h"

#define PAYLOAD_TEXT_MAX IPC_MAX_PAYLOAD
#define URI_MAX 512
#define LABEL_MAX 256
#define NAME_TEXT_MAX 256		/* tenant and issuer members */

int
reply_error(struct request *req, const char *code, const char *fmt, ...)
{
	/*
	 * Through a copy: callers pass req->message itself as an argument,
	 * and vsnprintf may clear its output before it reads the argument.
	 */
	char text[sizeof(req->message)];
	va_list ap;

	req->code = code;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	memcpy(req->message, text, sizeof(text));
	return SIGNER_REPLY_ERROR;
}

int
reply_denied(struct request *req, const struct policy_decision *decision)
{
	return reply_error(req, "policy-denied", "%s", decision->reason);
}

/* Notes the names of a request, quoted, for the log line of a denial. */
static void
note_names(struct request *req, const char *const *names, size_t count)
{
	char quoted[POLICY_QUOTE_BUFSIZE];
	size_t i, pos = 0;
	int n;

	req->names[0] = '\0';
	for (i = 0; i < count && pos < sizeof(req->names); i++) {
		n = snprintf(req->names + pos, sizeof(req->names) - pos,
		    "%s%s", i ? " " : "", policy_quote(names[i], quoted));
		if (n < 0)
			return;
		pos += (size_t)n;
	}
}

static void
note_identifiers(struct request *req, const struct acme_payload *payload)
{
	const char *names[16];
	size_t i, count = payload->id_count < 16 ? payload->id_count : 16;

	for (i = 0; i < count; i++)
		names[i] = payload->ids[i].value;
	note_names(req, names, count);
}

static void
note_csr_names(struct request *req, const json_t *array)
{
	const char *names[16];
	size_t i, count = json_array_size(array);

	if (count > 16)
		count = 16;
	for (i = 0; i < count; i++)
		names[i] = json_string_value(json_array_get(array, i));
	note_names(req, names, count);
}

/* Gets the "tenant" member and finds the tenant, or denies the request. */
int
get_tenant(struct request *req, const struct policy_tenant **tenant)
{
	struct policy_decision decision;

	if (ipc_get_string(req->body, "tenant", NAME_TEXT_MAX, 0,
	    &req->tenant, req->message, sizeof(req->message)) != 0)
		return SIGNER_PROTOCOL_ERROR;
	if (!authorize_tenant(req->ctx->policy, req->tenant, tenant,
	    &decision))
		return reply_denied(req, &decision);
	return 0;
}

/*
 * Gets the key id member and loads the key and its label. Returns 0, a
 * protocol error for a malformed id, or an error reply for an unknown key.
 */
int
load_key(struct request *req, EVP_PKEY **pkey, unsigned char id[KEY_ID_BYTES],
    char *label, size_t labellen)
{
	struct signer_token *token = req->ctx->token;
	const char *hex;
	int rc;

	if (ipc_get_key_id(req->body, "key_id", &hex, req->message,
	    sizeof(req->message)) != 0 || key_id_from_hex(hex, id) != 0)
		return SIGNER_PROTOCOL_ERROR;
	snprintf(req->key_id, sizeof(req->key_id), "%s", hex);
	rc = token_find_key(token, id, pkey, label, labellen);
	if (rc == -ENOENT)
		return reply_error(req, "unknown-key", "no key with id %s in "
		    "token '%s'", hex, token->label);
	if (rc == -EBADMSG)
		return reply_error(req, "hsm-failure", "key %s in token '%s' "
		    "has no valid public key: its public key object or "
		    "CKA_PUBLIC_KEY_INFO is missing, invalid or another "
		    "key's",
		    hex, token->label);
	if (rc != 0)
		return reply_error(req, "hsm-failure", "reading key %s from "
		    "token '%s' failed", hex, token->label);
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
	    key_uri(req->ctx->token->label, id, label, uri,
	    sizeof(uri)) != 0) {
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
	"purpose", "tenant", "issuer", "account", "type", "export", NULL,
};
static const char *const purposes[] = { "account", "certificate", NULL };
static const char *const export_modes[] = { "hsm", "wrapped", NULL };

/*
 * Reads the optional "export" member into *mode (absent: hsm). Only
 * certificate keys may carry it.
 */
static int
get_key_export(struct request *req, enum key_purpose purpose,
    enum policy_export *mode)
{
	int choice;

	*mode = POLICY_EXPORT_HSM;
	if (json_object_get(req->body, "export") == NULL)
		return 0;
	if (purpose != KEY_PURPOSE_CERTIFICATE) {
		snprintf(req->message, sizeof(req->message), "member "
		    "\"export\" is only for certificate keys");
		return SIGNER_PROTOCOL_ERROR;
	}
	if (ipc_get_choice(req->body, "export", export_modes, &choice,
	    req->message, sizeof(req->message)) != 0)
		return SIGNER_PROTOCOL_ERROR;
	*mode = choice == 0 ? POLICY_EXPORT_HSM : POLICY_EXPORT_WRAPPED;
	return 0;
}

/*
 * Reads the purpose, the issuer and account (account keys only) and the
 * key type.
 */
static int
get_key_request(struct request *req, enum key_purpose *purpose,
    const char **issuer, const char **account, enum key_type *type)
{
	const char *type_name;
	int choice;

	if (ipc_get_choice(req->body, "purpose", purposes, &choice,
	    req->message, sizeof(req->message)) != 0 ||
	    ipc_get_string(req->body, "issuer", NAME_TEXT_MAX, 1, issuer,
	    req->message, sizeof(req->message)) != 0 ||
	    ipc_get_string(req->body, "account", NAME_TEXT_MAX, 1, account,
	    req->message, sizeof(req->message)) != 0 ||
	    ipc_get_string(req->body, "type", 64, 1, &type_name,
	    req->message, sizeof(req->message)) != 0)
		return SIGNER_PROTOCOL_ERROR;
	*purpose = choice == 0 ? KEY_PURPOSE_ACCOUNT : KEY_PURPOSE_CERTIFICATE;
	if (*purpose == KEY_PURPOSE_ACCOUNT && *issuer == NULL) {
		snprintf(req->message, sizeof(req->message), "missing member "
		    "\"issuer\", which account keys need");
		return SIGNER_PROTOCOL_ERROR;
	}
	if (*purpose == KEY_PURPOSE_CERTIFICATE &&
	    (*issuer != NULL || *account != NULL)) {
		snprintf(req->message, sizeof(req->message), "members "
		    "\"issuer\" and \"account\" are only for account keys");
		return SIGNER_PROTOCOL_ERROR;
	}
	*type = KEY_TYPE_EC_P256;
	if (type_name != NULL && key_type_parse(type_name, type) != 0) {
		snprintf(req->message, sizeof(req->message), "member \"type\" "
		    "has unsupported value \"%.32s\"", type_name);
		return SIGNER_PROTOCOL_ERROR;
	}
	return 0;
}

static int
handle_key_generate(struct request *req)
{
	struct signer_token *token = req->ctx->token;
	const struct policy_tenant *tenant;
	struct policy_decision decision;
	struct key_binding binding;
	unsigned char id[KEY_ID_BYTES];
	char label[LABEL_MAX];
	enum key_purpose purpose;
	enum policy_export export;
	enum key_type type;
	const char *issuer, *account;
	EVP_PKEY *pkey = NULL;
	int rc;

	rc = get_key_request(req, &purpose, &issuer, &account, &type);
	if (rc == 0)
		rc = get_key_export(req, purpose, &export);
	if (rc == 0)
		rc = get_tenant(req, &tenant);
	if (rc != 0)
		return rc;
	if (!authorize_key_generate(req->ctx->config, tenant, purpose,
	    issuer, account, type, &binding, &decision))
		return reply_denied(req, &decision);
	snprintf(req->account, sizeof(req->account), "%s", binding.account);
	/* A key is extractable only when the tenant allows wrapped export. */
	if (purpose == KEY_PURPOSE_CERTIFICATE &&
	    !policy_check_key_export(tenant, export, &decision))
		return reply_denied(req, &decision);

	if (token_generate_key(token, type, &binding,
	    export == POLICY_EXPORT_WRAPPED, id, req->message,
	    sizeof(req->message)) != 0)
		return reply_error(req, "hsm-failure", "%s", req->message);
	if (token_find_key(token, id, &pkey, label, sizeof(label)) != 0)
		return reply_error(req, "hsm-failure", "the new key is not "
		    "found in token '%s'", token->label);
	if (purpose == KEY_PURPOSE_CERTIFICATE)
		fresh_keys_add(req->ctx->fresh_keys, tenant->name, id);
	rc = describe_key(req, pkey, id, label);
	EVP_PKEY_free(pkey);
	return rc;
}

static const char *const key_public_members[] = { "key_id", "tenant", NULL };

/*
 * With a "tenant" member, the key must be a certificate key bound to
 * that tenant. The broker sends it before it trusts a key id that a
 * tenant's user supplied, as for an imported certificate.
 */
static int
check_key_tenant(struct request *req, const char *label,
    const unsigned char id[KEY_ID_BYTES])
{
	const struct policy_tenant *tenant;
	struct policy_decision decision;
	char hex[2 * KEY_ID_BYTES + 1];
	int rc;

	if (json_object_get(req->body, "tenant") == NULL)
		return 0;
	rc = get_tenant(req, &tenant);
	if (rc != 0)
		return rc;
	key_id_to_hex(id, hex);
	if (!authorize_certificate_key(tenant, label, hex, &decision))
		return reply_denied(req, &decision);
	return 0;
}

static int
handle_key_public(struct request *req)
{
	unsigned char id[KEY_ID_BYTES];
	char label[LABEL_MAX];
	EVP_PKEY *pkey = NULL;
	int rc;

	rc = load_key(req, &pkey, id, label, sizeof(label));
	if (rc == 0)
		rc = check_key_tenant(req, label, id);
	if (rc == 0)
		rc = describe_key(req, pkey, id, label);
	EVP_PKEY_free(pkey);
	return rc;
}

static const char *const jws_sign_members[] = {
	"key_id", "tenant", "url", "nonce", "kid", "payload", NULL,
};

/*
 * Reads and checks the URL, nonce, kid and payload members. The payload's
 * content is checked by authorize_payload(), which denies what it rejects.
 */
static int
get_jws_input(struct request *req, struct jws_input *in)
{
	const json_t *payload = json_object_get(req->body, "payload");
	char *msg = req->message;
	size_t len = sizeof(req->message);

	if (ipc_get_string(req->body, "url", 4096, 0, &in->url, msg, len) ||
	    ipc_get_string(req->body, "nonce", 1024, 0, &in->nonce, msg,
	    len) ||
	    ipc_get_string(req->body, "kid", 4096, 1, &in->kid, msg, len))
		return SIGNER_PROTOCOL_ERROR;
	if (json_is_string(payload) && json_string_length(payload) == 0)
		in->payload = "";
	else if (ipc_get_string(req->body, "payload", PAYLOAD_TEXT_MAX, 0,
	    &in->payload, msg, len) != 0)
		return SIGNER_PROTOCOL_ERROR;
	if (jws_check_url(in->url, msg, len) != 0 ||
	    jws_check_nonce(in->nonce, msg, len) != 0 ||
	    (in->kid != NULL && jws_check_url(in->kid, msg, len) != 0))
		return SIGNER_PROTOCOL_ERROR;
	return 0;
}

/*
 * Marks the key of a CSR about to be sent in a finalize request, so that
 * the broker can no longer destroy it: the CA may certify it.
 */
static void
spend_csr_key(struct signer_context *ctx, const struct policy_tenant *tenant,
    const char *csr)
{
	const struct csr_record *record;

	if (csr_table_find(ctx->csrs, tenant->name, csr, &record) ==
	    CSR_FOUND)
		fresh_keys_spend(ctx->fresh_keys, record->key_id);
}

/* Decides the key's binding, issuer and account, then the payload. */
static int
authorize_jws(struct request *req, const struct policy_tenant *tenant,
    const struct jws_input *in, EVP_PKEY **pkey)
{
	struct acme_payload payload;
	struct policy_decision decision;
	struct key_binding binding;
	unsigned char id[KEY_ID_BYTES];
	char label[LABEL_MAX];
	int allowed, rc;

	rc = load_key(req, pkey, id, label, sizeof(label));
	if (rc != 0)
		return rc;
	allowed = authorize_account_key(req->ctx->config, tenant, label,
	    req->key_id, in->url, &binding, &decision);
	snprintf(req->account, sizeof(req->account), "%s", binding.account);
	if (!allowed)
		return reply_denied(req, &decision);

	allowed = authorize_payload(tenant, req->ctx->csrs, in->payload,
	    in->kid != NULL, &payload, &decision);
	note_identifiers(req, &payload);
	if (allowed && payload.shape == ACME_SHAPE_KEY_CHANGE)
		allowed = authorize_key_change_payload(req, tenant, id,
		    payload.object, &decision);
	if (allowed && payload.shape == ACME_SHAPE_FINALIZE)
		spend_csr_key(req->ctx, tenant, payload.csr);
	acme_payload_clear(&payload);
	return allowed ? 0 : reply_denied(req, &decision);
}

static int
handle_jws_sign(struct request *req)
{
	const struct policy_tenant *tenant;
	struct jws_input in = { 0 };
	EVP_PKEY *pkey = NULL;
	int rc;

	rc = get_jws_input(req, &in);
	if (rc == 0)
		rc = get_tenant(req, &tenant);
	if (rc == 0)
		rc = authorize_jws(req, tenant, &in, &pkey);
	if (rc == 0 && jws_sign(pkey, &in, &req->result, req->message,
	    sizeof(req->message)) != 0)
		rc = reply_error(req, "hsm-failure", "%s", req->message);
	EVP_PKEY_free(pkey);
	return rc;
}

static const char *const csr_build_members[] = {
	"key_id", "tenant", "names", NULL,
};

/* Checks the names and the key's binding to the tenant. */
static int
authorize_csr(struct request *req, const json_t *names, EVP_PKEY **pkey,
    unsigned char id[KEY_ID_BYTES])
{
	const struct policy_tenant *tenant;
	struct policy_decision decision;
	char label[LABEL_MAX];
	int rc;

	if (names == NULL) {
		snprintf(req->message, sizeof(req->message),
		    "missing member \"names\"");
		return SIGNER_PROTOCOL_ERROR;
	}
	if (csr_check_names(names, req->message, sizeof(req->message)) != 0)
		return SIGNER_PROTOCOL_ERROR;
	note_csr_names(req, names);
	rc = get_tenant(req, &tenant);
	if (rc != 0)
		return rc;
	if (!authorize_csr_names(tenant, names, &decision))
		return reply_denied(req, &decision);

	rc = load_key(req, pkey, id, label, sizeof(label));
	if (rc != 0)
		return rc;
	if (!authorize_certificate_key(tenant, label, req->key_id,
	    &decision))
		return reply_denied(req, &decision);
	return 0;
}

static int
handle_csr_build(struct request *req)
{
	const json_t *names = json_object_get(req->body, "names");
	unsigned char id[KEY_ID_BYTES];
	EVP_PKEY *pkey = NULL;
	char *csr = NULL;
	int rc;

	rc = authorize_csr(req, names, &pkey, id);
	if (rc == 0 && csr_build(pkey, names, &csr, req->message,
	    sizeof(req->message)) != 0)
		rc = reply_error(req, "hsm-failure", "%s", req->message);
	if (rc == 0 && csr_table_add(req->ctx->csrs, req->tenant, id, csr,
	    names) != 0)
		rc = reply_error(req, "internal", "recording the CSR failed");
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

static const char *const test_open_members[] = { "path", "mode", NULL };

/*
 * Opens a file the broker names, so that a test can see which files the
 * confined signer may reach. Only the test build contains this.
 */
static int
handle_test_open_file(struct request *req)
{
	static const char *const modes[] = { "read", "write", NULL };
	const char *path, *name;
	int mode, fd;

	if (ipc_get_string(req->body, "path", PATH_MAX, 0, &path,
	    req->message, sizeof(req->message)) != 0 ||
	    ipc_get_choice(req->body, "mode", modes, &mode, req->message,
	    sizeof(req->message)) != 0)
		return SIGNER_PROTOCOL_ERROR;
	fd = open(path, mode == 0 ? O_RDONLY | O_CLOEXEC :
	    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	name = fd >= 0 ? "ok" : strerrorname_np(errno);
	if (fd >= 0)
		close(fd);
	req->result = json_pack("{s:s}", "open", name ? name : "unknown");
	if (req->result == NULL)
		return reply_error(req, "internal", "out of memory");
	return 0;
}

/* Lists the names in the signer's environment, never their values. */
static int
handle_test_environment(struct request *req)
{
	json_t *names = json_array();
	size_t i, len;

	for (i = 0; environ != NULL && environ[i] != NULL; i++) {
		len = strcspn(environ[i], "=");
		if (names == NULL || json_array_append_new(names,
		    json_stringn(environ[i], len)) != 0)
			break;
	}
	req->result = json_pack("{s:o}", "environment", names);
	if (req->result == NULL)
		return reply_error(req, "internal", "out of memory");
	return 0;
}
#endif

static int
handle_audit_checkpoint_sign(struct request *req)
{
	return audit_handle_checkpoint_sign(req->ctx, req->body, &req->result,
	    &req->code, req->message, sizeof(req->message));
}

static int
handle_audit_key_public(struct request *req)
{
	return audit_handle_key_public(req->ctx, req->body, &req->result,
	    &req->code, req->message, sizeof(req->message));
}

static const char *const audit_checkpoint_members[] = { "head", NULL };
static const char *const audit_key_members[] = { NULL };

static const struct handler {
	uint16_t type;
	const char *const *members;
	int (*fn)(struct request *req);
} handlers[] = {
	{ IPC_KEY_GENERATE, key_generate_members, handle_key_generate },
	{ IPC_KEY_PUBLIC, key_public_members, handle_key_public },
	{ IPC_JWS_SIGN, jws_sign_members, handle_jws_sign },
	{ IPC_CSR_BUILD, csr_build_members, handle_csr_build },
	{ IPC_KEY_WRAP, key_wrap_request_members, handle_key_wrap },
	{ IPC_AUDIT_CHECKPOINT_SIGN, audit_checkpoint_members,
	    handle_audit_checkpoint_sign },
	{ IPC_AUDIT_KEY_PUBLIC, audit_key_members, handle_audit_key_public },
	{ IPC_EAB_SIGN, eab_sign_request_members, handle_eab_sign },
	{ IPC_KEY_CHANGE, key_change_request_members, handle_key_change },
	{ IPC_KEY_DESTROY, key_destroy_request_members, handle_key_destroy },
	{ IPC_REVOKE_SIGN, revoke_sign_request_members, handle_revoke_sign },
#ifdef CUSTOS_TEST_BUILD
	{ IPC_TEST_FORBIDDEN_SYSCALL, test_members,
	    handle_test_forbidden_syscall },
	{ IPC_TEST_OPEN_FILE, test_open_members, handle_test_open_file },
	{ IPC_TEST_ENVIRONMENT, test_members, handle_test_environment },
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

/*
 * Logs a denial in one line with what the request named. The reason
 * quotes only names and rules, never the payload or a secret.
 */
static void
log_denial(const struct request *req, uint16_t type)
{
	char quoted[POLICY_QUOTE_BUFSIZE];

	log_warn("%s request denied: tenant %s, account %s, key %s, "
	    "names [%s]: %s", ipc_type_name(type),
	    req->tenant ? policy_quote(req->tenant, quoted) : "-",
	    req->account[0] ? req->account : "-",
	    req->key_id[0] ? req->key_id : "-", req->names, req->message);
}

/* Sends the IPC_RESULT or IPC_ERROR of a handled request. */
static int
send_reply(const struct request *req, int fd, uint16_t type, int rc)
{
	json_t *error;

	/* The broker reads a request's audit records before its reply. */
	signer_audit_request(type, rc == 0 ? NULL : req->code, req->message,
	    req->tenant, req->account, req->key_id, req->names, req->result);
	if (rc == 0) {
		log_debug("%s request done", ipc_type_name(type));
		return ipc_write_json(fd, IPC_RESULT, req->result);
	}
	if (strcmp(req->code, "policy-denied") == 0)
		log_denial(req, type);
	else
		log_warn("%s request failed: %s: %s", ipc_type_name(type),
		    req->code, req->message);
	error = json_pack("{s:s, s:s}", "code", req->code, "message",
	    req->message);
	rc = error ? ipc_write_json(fd, IPC_ERROR, error) : -1;
	json_decref(error);
	return rc;
}

/* Runs one request. Returns 0 after a reply, or -1 to close. */
static int
serve_frame(struct signer_context *ctx, int fd,
    const struct ipc_frame *frame)
{
	const struct handler *handler = find_handler(frame->type);
	struct request req = { .ctx = ctx };
	json_t *body = NULL;
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

	if (rc == SIGNER_PROTOCOL_ERROR) {
		log_warn("closing the connection: %s request: %s",
		    ipc_type_name(frame->type), req.message);
		rc = -1;
	} else {
		rc = send_reply(&req, fd, frame->type, rc);
		if (rc != 0)
			log_error("writing the reply failed: %s",
			    ipc_strerror(rc));
	}
	json_decref(req.result);
	/* The request's strings point into body until here. */
	json_decref(body);
	return rc == 0 ? 0 : -1;
}

/*
 * Serves requests on fd until the peer closes it. Returns 0 after a clean
 * end of file between frames, or -1 after a protocol violation or an I/O
 * error (already logged).
 */
int
signer_serve(struct signer_context *ctx, int fd)
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
		rc = serve_frame(ctx, fd, &frame);
		ipc_frame_clear(&frame);
		if (rc != 0)
			return -1;
	}
}
