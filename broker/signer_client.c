#include "broker/signer_client.h"
#include "broker/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * The directory that `make install` copies custos-signer to. The Makefile
 * sets it from LIBEXECDIR.
 */
#ifndef CUSTOS_LIBEXECDIR
#define CUSTOS_LIBEXECDIR "/usr/local/libexec/custos"
#endif

#define SIGNER_FD 3
#define SIGNER_AUDIT_FD 4

static const char *const key_members[] = {
	"key_id", "type", "jwk", "thumbprint", "uri", NULL,
};
static const char *const jws_members[] = {
	"protected", "payload", "signature", NULL,
};
static const char *const csr_members[] = { "csr", NULL };
static const char *const error_members[] = { "code", "message", NULL };

char *
signer_default_program(char *err, size_t errlen)
{
	char *path;

	path = strdup(CUSTOS_LIBEXECDIR "/custos-signer");
	if (path == NULL)
		snprintf(err, errlen, "out of memory");
	return path;
}

/* Runs in the child: never returns. */
static void
exec_signer(int fd, int audit_fd, const char *program,
    const char *config_path)
{
	char *const argv[] = {
		(char *)program, "--config", (char *)config_path, "--fd", "3",
		"--audit-fd", "4", NULL,
	};

	/* Above both targets, so that the first dup2 cannot replace it. */
	audit_fd = fcntl(audit_fd, F_DUPFD_CLOEXEC, SIGNER_AUDIT_FD + 1);
	if (audit_fd < 0)
		_exit(127);
	if (fd == SIGNER_FD) {
		/* dup2 onto itself would keep close-on-exec set. */
		if (fcntl(fd, F_SETFD, 0) != 0)
			_exit(127);
	} else if (dup2(fd, SIGNER_FD) != SIGNER_FD) {
		_exit(127);
	}
	if (dup2(audit_fd, SIGNER_AUDIT_FD) != SIGNER_AUDIT_FD)
		_exit(127);
	signal(SIGPIPE, SIG_DFL);
	execv(program, argv);
	dprintf(STDERR_FILENO, "custos: error: cannot run signer %s: %s "
	    "(set signer program in the configuration)\n", program,
	    strerror(errno));
	_exit(127);
}

int
signer_spawn(const char *program, const char *config_path,
    struct signer_client *signer, char *err, size_t errlen)
{
	int fds[2], audit[2];
	pid_t pid;

	signer->pid = -1;
	signer->fd = -1;
	signer->audit_fd = -1;
	signer->audit_active = 0;
	signer->printed_error = 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
		snprintf(err, errlen, "socketpair for the signer failed: %s",
		    strerror(errno));
		return -1;
	}
	if (pipe2(audit, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "pipe for the signer's audit channel "
		    "failed: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork for the signer failed: %s",
		    strerror(errno));
		close(fds[0]);
		close(fds[1]);
		close(audit[0]);
		close(audit[1]);
		return -1;
	}
	if (pid == 0)
		exec_signer(fds[1], audit[1], program, config_path);
	close(fds[1]);
	close(audit[1]);
	signer->pid = pid;
	signer->fd = fds[0];
	signer->audit_fd = audit[0];
	signer->audit_active = 1;
	return 0;
}

static void
describe_exit(int status, char *err, size_t errlen)
{
	if (WIFEXITED(status))
		snprintf(err, errlen, "signer exited with status %d (see its "
		    "messages above)", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(err, errlen, "signer was killed by signal %d (%s)",
		    WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(err, errlen, "signer stopped with wait status %d",
		    status);
}

/* Reaps the signer after its end of the socket closed. */
static void
report_death(struct signer_client *signer, const char *request, char *err,
    size_t errlen)
{
	char why[256];
	int status;

	if (signer->pid <= 0 || waitpid(signer->pid, &status, 0) !=
	    signer->pid) {
		snprintf(err, errlen, "signer closed the connection during "
		    "%s", request);
		return;
	}
	signer->pid = -1;
	signer->printed_error = WIFEXITED(status) && WEXITSTATUS(status) != 0;
	describe_exit(status, why, sizeof(why));
	snprintf(err, errlen, "%s during %s", why, request);
}

int
signer_finish(struct signer_client *signer, char *err, size_t errlen)
{
	int status;

	if (signer->fd >= 0)
		close(signer->fd);
	signer->fd = -1;
	/* The signer exits at end of file and closes the channel then. */
	if (signer->audit_active)
		audit_channel_drain(&signer->audit_fd);
	signer->audit_active = 0;
	if (signer->pid <= 0)
		return 0;
	while (waitpid(signer->pid, &status, 0) < 0) {
		if (errno != EINTR) {
			snprintf(err, errlen, "waiting for the signer failed: "
			    "%s", strerror(errno));
			return -1;
		}
	}
	signer->pid = -1;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	signer->printed_error = WIFEXITED(status);
	describe_exit(status, err, errlen);
	return -1;
}

/*
 * Formats an IPC_ERROR reply. A policy denial carries the signer's reason
 * as the whole message, because it names the rule that decided.
 */
static void
describe_signer_error(const struct signer_client *signer, const json_t *obj,
    const char *request, char *err, size_t errlen)
{
	const char *code, *message;
	char why[128];

	if (ipc_check_members(obj, error_members, why, sizeof(why)) != 0 ||
	    ipc_get_string(obj, "code", 64, 0, &code, why, sizeof(why)) != 0 ||
	    ipc_get_string(obj, "message", 512, 0, &message, why,
	    sizeof(why)) != 0) {
		snprintf(err, errlen, "invalid error reply from the signer to "
		    "%s: %s", request, why);
		return;
	}
	if (strcmp(code, "policy-denied") == 0) {
		snprintf(err, errlen, "the signer's policy check denied %s "
		    "for tenant %s: %s", request, signer->tenant != NULL ?
		    signer->tenant : "(none)", message);
		return;
	}
	snprintf(err, errlen, "signer rejected %s: %s (%s)", request, message,
	    code);
}

void
signer_client_share(struct signer_client *shared, struct signer_client *out)
{
	memset(out, 0, sizeof(*out));
	out->pid = -1;
	out->fd = -1;
	out->audit_fd = -1;
	out->conn = shared->conn != NULL ? shared->conn : shared;
}

/* Returns the structure that contains the descriptors of signer. */
static struct signer_client *
connection_of(struct signer_client *signer)
{
	return signer->conn != NULL ? signer->conn : signer;
}

void
signer_client_lock(struct signer_client *signer)
{
	struct signer_client *io = connection_of(signer);

	if (io->lock != NULL)
		pthread_mutex_lock(io->lock);
}

int
signer_client_trylock(struct signer_client *signer)
{
	struct signer_client *io = connection_of(signer);

	return io->lock != NULL ? pthread_mutex_trylock(io->lock) : 0;
}

void
signer_client_unlock(struct signer_client *signer)
{
	struct signer_client *io = connection_of(signer);

	if (io->lock != NULL)
		pthread_mutex_unlock(io->lock);
}

/*
 * Writes one request of signer and reads one frame in reply on io, whose
 * lock the caller holds, so that no other thread's frame comes between
 * them.
 */
static int
exchange(struct signer_client *signer, struct signer_client *io,
    uint16_t type, const json_t *request, struct ipc_frame *frame)
{
	int rc;

	rc = ipc_write_json(io->fd, type, request);
	if (rc == 0)
		signer->requests++;
	if (rc == 0 && io->audit_active)
		rc = audit_channel_read_reply(io->fd, &io->audit_fd, frame);
	else if (rc == 0)
		rc = ipc_read_frame(io->fd, frame);
	return rc;
}

/*
 * Sends one request and reads its reply. Returns 0 with the IPC_RESULT
 * object in *result (checked against allowed), or -1 with err set.
 */
static int
transact(struct signer_client *signer, uint16_t type, const json_t *request,
    const char *const *allowed, json_t **result, char *err, size_t errlen)
{
	struct signer_client *io = connection_of(signer);
	const char *name = ipc_type_name(type);
	struct ipc_frame frame;
	char why[128];
	json_t *obj = NULL;
	int rc, saved_errno;

	*result = NULL;
	signer_client_lock(signer);
	rc = exchange(signer, io, type, request, &frame);
	saved_errno = errno;
	if (rc == -IPC_EOF || rc == -IPC_ETRUNCATED ||
	    (rc == -IPC_EIO && (saved_errno == EPIPE ||
	    saved_errno == ECONNRESET))) {
		report_death(io, name, err, errlen);
		signer->printed_error = io->printed_error;
		signer_client_unlock(signer);
		return -1;
	}
	signer_client_unlock(signer);
	errno = saved_errno;
	if (rc != 0) {
		snprintf(err, errlen, "signer connection failed during %s: %s",
		    name, ipc_strerror(rc));
		return -1;
	}

	rc = -1;
	if (frame.type != IPC_RESULT && frame.type != IPC_ERROR) {
		snprintf(err, errlen, "signer sent a %s frame in reply to %s",
		    ipc_type_name(frame.type), name);
	} else if (ipc_parse_object(&frame, &obj) != 0) {
		snprintf(err, errlen, "signer reply to %s is not one JSON "
		    "object", name);
	} else if (frame.type == IPC_ERROR) {
		describe_signer_error(signer, obj, name, err, errlen);
	} else if (ipc_check_members(obj, allowed, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "invalid signer reply to %s: %s", name,
		    why);
	} else {
		*result = json_incref(obj);
		rc = 0;
	}
	json_decref(obj);
	ipc_frame_clear(&frame);
	return rc;
}

int
signer_request(struct signer_client *signer, uint16_t type,
    const json_t *request, const char *const *allowed, json_t **result,
    char *err, size_t errlen)
{
	return transact(signer, type, request, allowed, result, err, errlen);
}

/*
 * Builds a key-generate request: an account key when issuer is set,
 * else a certificate key with export ("hsm", "wrapped" or NULL to omit).
 */
static json_t *
key_generate_request(const char *tenant, const char *issuer,
    const char *type, const char *export)
{
	if (issuer != NULL)
		return json_pack("{s:s, s:s, s:s, s:s}", "purpose", "account",
		    "tenant", tenant, "issuer", issuer, "type", type);
	if (export != NULL)
		return json_pack("{s:s, s:s, s:s, s:s}", "purpose",
		    "certificate", "tenant", tenant, "type", type, "export",
		    export);
	return json_pack("{s:s, s:s, s:s}", "purpose", "certificate",
	    "tenant", tenant, "type", type);
}

static int
generate_key(struct signer_client *signer, const char *issuer,
    const char *type, const char *export, char key_id[IPC_KEY_ID_LEN + 1],
    char *err, size_t errlen)
{
	json_t *request, *result = NULL;
	const char *id;
	char why[128];
	int rc = -1;

	if (signer->tenant == NULL) {
		snprintf(err, errlen, "no tenant set for the signer request");
		return -1;
	}
	request = key_generate_request(signer->tenant, issuer, type, export);
	if (request == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (transact(signer, IPC_KEY_GENERATE, request, key_members, &result,
	    err, errlen) != 0)
		goto out;
	if (ipc_get_key_id(result, "key_id", &id, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "invalid signer reply to key-generate: "
		    "%s", why);
		goto out;
	}
	memcpy(key_id, id, IPC_KEY_ID_LEN + 1);
	rc = 0;
out:
	json_decref(request);
	json_decref(result);
	return rc;
}

int
signer_key_generate(struct signer_client *signer, const char *issuer,
    const char *type, char key_id[IPC_KEY_ID_LEN + 1], char *err,
    size_t errlen)
{
	return generate_key(signer, issuer, type, NULL, key_id, err, errlen);
}

int
signer_certificate_key_generate(struct signer_client *signer,
    const char *type, const char *export, char key_id[IPC_KEY_ID_LEN + 1],
    char *err, size_t errlen)
{
	return generate_key(signer, NULL, type, export, key_id, err, errlen);
}

void
signer_key_clear(struct signer_key *key)
{
	json_decref(key->jwk);
	free(key->thumbprint);
	free(key->uri);
	memset(key, 0, sizeof(*key));
}

static int
read_key(const json_t *result, const char *key_id, struct signer_key *key,
    char *why, size_t whylen)
{
	const char *id, *type, *thumbprint, *uri;
	const json_t *jwk = json_object_get(result, "jwk");

	if (ipc_get_key_id(result, "key_id", &id, why, whylen) != 0 ||
	    ipc_get_string(result, "type", 15, 0, &type, why, whylen) != 0 ||
	    ipc_get_string(result, "thumbprint", 64, 0, &thumbprint, why,
	    whylen) != 0 ||
	    ipc_get_string(result, "uri", 1024, 0, &uri, why, whylen) != 0)
		return -1;
	if (strcmp(id, key_id) != 0) {
		snprintf(why, whylen, "member \"key_id\" is not the key asked "
		    "for");
		return -1;
	}
	if (!json_is_object(jwk) || !json_is_string(json_object_get(jwk,
	    "kty"))) {
		snprintf(why, whylen, "member \"jwk\" is not a JWK object");
		return -1;
	}
	if (strncmp(uri, "pkcs11:", 7) != 0) {
		snprintf(why, whylen, "member \"uri\" is not a pkcs11: URI");
		return -1;
	}
	memcpy(key->key_id, id, IPC_KEY_ID_LEN + 1);
	snprintf(key->type, sizeof(key->type), "%s", type);
	key->jwk = json_deep_copy(jwk);
	key->thumbprint = strdup(thumbprint);
	key->uri = strdup(uri);
	if (key->jwk == NULL || key->thumbprint == NULL || key->uri == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	return 0;
}

int
signer_key_public(struct signer_client *signer, const char *key_id,
    struct signer_key *key, char *err, size_t errlen)
{
	return signer_key_public_of(signer, key_id, NULL, key, err, errlen);
}

int
signer_key_public_of(struct signer_client *signer, const char *key_id,
    const char *tenant, struct signer_key *key, char *err, size_t errlen)
{
	json_t *request, *result = NULL;
	char why[128];
	int rc = -1;

	memset(key, 0, sizeof(*key));
	if (tenant != NULL)
		request = json_pack("{s:s, s:s}", "key_id", key_id, "tenant",
		    tenant);
	else
		request = json_pack("{s:s}", "key_id", key_id);
	if (request == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (transact(signer, IPC_KEY_PUBLIC, request, key_members, &result,
	    err, errlen) != 0)
		goto out;
	if (read_key(result, key_id, key, why, sizeof(why)) != 0) {
		signer_key_clear(key);
		snprintf(err, errlen, "invalid signer reply to key-public: %s",
		    why);
		goto out;
	}
	rc = 0;
out:
	json_decref(request);
	json_decref(result);
	return rc;
}

static int
is_base64url(const char *text)
{
	return strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_") == strlen(text);
}

/* Checks a base64url member that may be empty only when may_be_empty. */
static int
get_base64url(const json_t *obj, const char *name, int may_be_empty,
    const char **out, char *why, size_t whylen)
{
	const json_t *value = json_object_get(obj, name);

	if (may_be_empty && json_is_string(value) &&
	    json_string_length(value) == 0) {
		*out = "";
		return 0;
	}
	if (ipc_get_string(obj, name, IPC_MAX_PAYLOAD, 0, out, why,
	    whylen) != 0)
		return -1;
	if (!is_base64url(*out)) {
		snprintf(why, whylen, "member \"%s\" is not base64url", name);
		return -1;
	}
	return 0;
}

static json_t *
jws_request(const char *key_id, const char *tenant, const char *url,
    const char *nonce, const char *kid, const char *payload)
{
	json_t *request;

	request = json_pack("{s:s, s:s, s:s, s:s, s:s}", "key_id", key_id,
	    "tenant", tenant, "url", url, "nonce", nonce, "payload",
	    payload);
	if (request != NULL && kid != NULL &&
	    json_object_set_new(request, "kid", json_string(kid)) != 0) {
		json_decref(request);
		return NULL;
	}
	return request;
}

int
signer_jws_sign(struct signer_client *signer, const char *key_id,
    const char *url, const char *nonce, const char *kid,
    const char *payload, char **jws, char *err, size_t errlen)
{
	json_t *request, *result = NULL, *flat = NULL;
	const char *protected, *signed_payload, *signature;
	char why[128];
	int rc = -1;

	*jws = NULL;
	if (signer->tenant == NULL) {
		snprintf(err, errlen, "no tenant set for the signer request");
		return -1;
	}
	request = jws_request(key_id, signer->tenant, url, nonce, kid,
	    payload);
	if (request == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (transact(signer, IPC_JWS_SIGN, request, jws_members, &result, err,
	    errlen) != 0)
		goto out;
	if (get_base64url(result, "protected", 0, &protected, why,
	    sizeof(why)) != 0 ||
	    get_base64url(result, "payload", payload[0] == '\0',
	    &signed_payload, why, sizeof(why)) != 0 ||
	    get_base64url(result, "signature", 0, &signature, why,
	    sizeof(why)) != 0) {
		snprintf(err, errlen, "invalid signer reply to jws-sign: %s",
		    why);
		goto out;
	}
	flat = json_pack("{s:s, s:s, s:s}", "protected", protected, "payload",
	    signed_payload, "signature", signature);
	if (flat != NULL)
		*jws = json_dumps(flat, JSON_COMPACT);
	if (*jws == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = 0;
out:
	json_decref(request);
	json_decref(result);
	json_decref(flat);
	return rc;
}

int
signer_csr_build(struct signer_client *signer, const char *key_id,
    const char *const *names, size_t count, char **csr, char *err,
    size_t errlen)
{
	json_t *request, *list, *result = NULL;
	const char *text;
	char why[128];
	int rc = -1;

	*csr = NULL;
	if (signer->tenant == NULL) {
		snprintf(err, errlen, "no tenant set for the signer request");
		return -1;
	}
	list = json_array();
	for (size_t i = 0; list != NULL && i < count; i++)
		if (json_array_append_new(list, json_string(names[i])) != 0) {
			json_decref(list);
			list = NULL;
		}
	request = list != NULL ? json_pack("{s:s, s:s, s:o}", "key_id",
	    key_id, "tenant", signer->tenant, "names", list) : NULL;
	if (request == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (transact(signer, IPC_CSR_BUILD, request, csr_members, &result, err,
	    errlen) != 0)
		goto out;
	if (get_base64url(result, "csr", 0, &text, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "invalid signer reply to csr-build: %s",
		    why);
		goto out;
	}
	*csr = strdup(text);
	if (*csr == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = 0;
out:
	json_decref(request);
	json_decref(result);
	return rc;
}
