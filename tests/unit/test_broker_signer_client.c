/*
 * Tests for broker/signer_client.c against a fake signer: a child process
 * on a socket pair that reads each request and sends a scripted reply.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker/signer_client.h"
#include "tests/unit/check.h"

#define KEY_ID "0123456789abcdef0123456789abcdef"

/*
 * Reads one request and replies with an IPC_ERROR whose message is the
 * request's compact JSON, so the parent can compare what was sent.
 */
static void
fake_signer(int fd, const char *code)
{
	struct ipc_frame frame;
	json_t *reply;
	int rc;

	if (ipc_read_frame(fd, &frame) != 0)
		_exit(2);
	reply = json_pack("{s:s, s:s}", "code", code, "message",
	    (const char *)frame.payload);
	rc = reply != NULL ? ipc_write_json(fd, IPC_ERROR, reply) : -1;
	_exit(rc == 0 ? 0 : 3);
}

static int
start_fake(struct signer_client *signer, const char *code)
{
	int fds[2];

	memset(signer, 0, sizeof(*signer));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
		return -1;
	signer->pid = fork();
	if (signer->pid == 0) {
		close(fds[0]);
		fake_signer(fds[1], code);
	}
	close(fds[1]);
	signer->fd = fds[0];
	signer->tenant = "lab";
	return signer->pid > 0 ? 0 : -1;
}

static void
test_policy_denied_message(void)
{
	struct signer_client signer;
	const char *names[] = { "a.test" };
	char err[1024] = "", *csr = (char *)"unchanged";

	if (start_fake(&signer, "policy-denied") != 0) {
		CHECK(!"cannot start the fake signer");
		return;
	}
	CHECK_INT(signer_csr_build(&signer, KEY_ID, names, 1, &csr, err,
	    sizeof(err)), -1);
	CHECK(csr == NULL);
	CHECK_STR(err, "the signer's policy check denied csr-build for "
	    "tenant lab: {\"key_id\":\"" KEY_ID "\",\"tenant\":\"lab\","
	    "\"names\":[\"a.test\"]}");
	CHECK_INT(signer_finish(&signer, err, sizeof(err)), 0);
}

static void
test_other_error_keeps_code(void)
{
	struct signer_client signer;
	char err[1024] = "", key_id[IPC_KEY_ID_LEN + 1];

	if (start_fake(&signer, "hsm-failure") != 0) {
		CHECK(!"cannot start the fake signer");
		return;
	}
	CHECK_INT(signer_key_generate(&signer, NULL, "ec-p256", key_id, err,
	    sizeof(err)), -1);
	CHECK_STR(err, "signer rejected key-generate: {\"purpose\":"
	    "\"certificate\",\"tenant\":\"lab\",\"type\":\"ec-p256\"} "
	    "(hsm-failure)");
	CHECK_INT(signer_finish(&signer, err, sizeof(err)), 0);
}

static void
test_account_key_names_issuer(void)
{
	struct signer_client signer;
	char err[1024] = "", key_id[IPC_KEY_ID_LEN + 1];

	if (start_fake(&signer, "internal") != 0) {
		CHECK(!"cannot start the fake signer");
		return;
	}
	CHECK_INT(signer_key_generate(&signer, "pebble", "ec-p384", key_id,
	    err, sizeof(err)), -1);
	CHECK_STR(err, "signer rejected key-generate: {\"purpose\":"
	    "\"account\",\"tenant\":\"lab\",\"issuer\":\"pebble\","
	    "\"type\":\"ec-p384\"} (internal)");
	CHECK_INT(signer_finish(&signer, err, sizeof(err)), 0);
}

static void
test_jws_request_names_tenant(void)
{
	struct signer_client signer;
	char err[1024] = "", *jws = NULL;

	if (start_fake(&signer, "unknown-key") != 0) {
		CHECK(!"cannot start the fake signer");
		return;
	}
	CHECK_INT(signer_jws_sign(&signer, KEY_ID, "https://ca.test/x", "n1",
	    NULL, "", &jws, err, sizeof(err)), -1);
	CHECK(jws == NULL);
	CHECK(strstr(err, "\"tenant\":\"lab\"") != NULL);
	CHECK_INT(signer_finish(&signer, err, sizeof(err)), 0);
}

static void
test_request_without_tenant(void)
{
	struct signer_client signer;
	const char *names[] = { "a.test" };
	char err[1024] = "", *csr = NULL;

	memset(&signer, 0, sizeof(signer));
	signer.fd = -1;
	signer.pid = -1;
	CHECK_INT(signer_csr_build(&signer, KEY_ID, names, 1, &csr, err,
	    sizeof(err)), -1);
	CHECK_STR(err, "no tenant set for the signer request");
}

/* Reads one request and replies with IPC_RESULT and the text reply. */
static void
fake_result(int fd, const char *reply)
{
	struct ipc_frame frame;
	int rc;

	if (ipc_read_frame(fd, &frame) != 0)
		_exit(2);
	rc = ipc_write_frame(fd, IPC_RESULT, reply, strlen(reply));
	_exit(rc == 0 ? 0 : 3);
}

static int
start_fake_result(struct signer_client *signer, const char *reply)
{
	int fds[2];

	memset(signer, 0, sizeof(*signer));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
		return -1;
	signer->pid = fork();
	if (signer->pid == 0) {
		close(fds[0]);
		fake_result(fds[1], reply);
	}
	close(fds[1]);
	signer->fd = fds[0];
	signer->tenant = "lab";
	return signer->pid > 0 ? 0 : -1;
}

#define FINGERPRINT "sha256:" \
	"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static void
test_key_wrap_request(void)
{
	struct signer_client signer;
	struct signer_wrapped wrapped;
	char err[1024] = "";

	if (start_fake(&signer, "policy-denied") != 0) {
		CHECK(!"cannot start the fake signer");
		return;
	}
	CHECK_INT(signer_key_wrap(&signer, KEY_ID, "edge1", &wrapped, err,
	    sizeof(err)), -1);
	CHECK_STR(err, "the signer's policy check denied key-wrap for "
	    "tenant lab: {\"key_id\":\"" KEY_ID "\",\"tenant\":\"lab\","
	    "\"node\":\"edge1\"}");
	CHECK(wrapped.data == NULL);
	CHECK_INT(signer_finish(&signer, err, sizeof(err)), 0);
}

static void
test_key_wrap_result(void)
{
	struct signer_client signer;
	struct signer_wrapped wrapped;
	char err[1024] = "";

	if (start_fake_result(&signer, "{\"key_id\":\"" KEY_ID "\","
	    "\"node\":\"edge1\",\"recipient\":\"" FINGERPRINT "\","
	    "\"oaep_hash\":\"sha1\",\"key_type\":\"ec-p256\","
	    "\"data\":\"QUJDRA==\"}") != 0) {
		CHECK(!"cannot start the fake signer");
		return;
	}
	CHECK_INT(signer_key_wrap(&signer, KEY_ID, "edge1", &wrapped, err,
	    sizeof(err)), 0);
	CHECK_STR(wrapped.node, "edge1");
	CHECK_STR(wrapped.recipient, FINGERPRINT);
	CHECK_STR(wrapped.oaep_hash, "sha1");
	CHECK_STR(wrapped.key_type, "ec-p256");
	CHECK_STR(wrapped.data, "QUJDRA==");
	signer_wrapped_clear(&wrapped);
	CHECK_INT(signer_finish(&signer, err, sizeof(err)), 0);
}

/* A reply that is valid but for one member, and the error it gets. */
struct bad_wrap_reply {
	const char *node;
	const char *recipient;
	const char *oaep_hash;
	const char *key_type;
	const char *data;
	const char *extra;	/* "" or ",\"name\":value" */
	const char *error;
};

static void
test_key_wrap_bad_results(void)
{
	static const struct bad_wrap_reply cases[] = {
		{ "edge2", FINGERPRINT, "sha1", "ec-p256", "QUJD", "",
		  "the reply names key " KEY_ID " for node edge2, not the "
		  "key and node requested" },
		{ "edge1", "sha256:00AB", "sha1", "ec-p256", "QUJD", "",
		  "member \"recipient\", \"key_type\" or \"data\" is "
		  "malformed" },
		{ "edge1", FINGERPRINT, "md5", "ec-p256", "QUJD", "",
		  "member \"oaep_hash\" has unsupported value \"md5\"" },
		{ "edge1", FINGERPRINT, "sha1", "ed25519", "QUJD", "",
		  "member \"recipient\", \"key_type\" or \"data\" is "
		  "malformed" },
		{ "edge1", FINGERPRINT, "sha1", "ec-p256", "QUJ", "",
		  "member \"recipient\", \"key_type\" or \"data\" is "
		  "malformed" },
		{ "edge1", FINGERPRINT, "sha1", "ec-p256", "QU=D", "",
		  "member \"recipient\", \"key_type\" or \"data\" is "
		  "malformed" },
		{ "edge1", FINGERPRINT, "sha1", "ec-p256", "QUJD",
		  ",\"key\":\"x\"", "unexpected member \"key\"" },
	};
	struct signer_client signer;
	struct signer_wrapped wrapped;
	char reply[1024], err[1024], expected[1200];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(reply, sizeof(reply), "{\"key_id\":\"" KEY_ID "\","
		    "\"node\":\"%s\",\"recipient\":\"%s\","
		    "\"oaep_hash\":\"%s\",\"key_type\":\"%s\","
		    "\"data\":\"%s\"%s}", cases[i].node, cases[i].recipient,
		    cases[i].oaep_hash, cases[i].key_type, cases[i].data,
		    cases[i].extra);
		if (start_fake_result(&signer, reply) != 0) {
			CHECK(!"cannot start the fake signer");
			return;
		}
		err[0] = '\0';
		CHECK_INT(signer_key_wrap(&signer, KEY_ID, "edge1", &wrapped,
		    err, sizeof(err)), -1);
		CHECK(wrapped.data == NULL);
		snprintf(expected, sizeof(expected), "invalid signer reply to "
		    "key-wrap: %s", cases[i].error);
		CHECK_STR(err, expected);
		signer_finish(&signer, err, sizeof(err));
	}
}

int
main(void)
{
	RUN(test_policy_denied_message);
	RUN(test_other_error_keeps_code);
	RUN(test_account_key_names_issuer);
	RUN(test_jws_request_names_tenant);
	RUN(test_request_without_tenant);
	RUN(test_key_wrap_request);
	RUN(test_key_wrap_result);
	RUN(test_key_wrap_bad_results);
	return check_done();
}
