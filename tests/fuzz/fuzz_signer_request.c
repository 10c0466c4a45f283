/*
 * Serves one byte stream of request frames with signer_serve()
 * (signer/serve.c), as the signer serves the broker. The input reaches the
 * dispatch by message type, the member checks and the tenant policy
 * checks, and each request's validation: key id, key type, URL and its
 * origin, nonce, JWS payload shape and CSR names.
 *
 * The token is replaced at link time (-Wl,--wrap) by the functions below,
 * so keys live in memory: JWS_SIGN and CSR_BUILD sign with a software
 * EC P-256 or RSA-2048 key instead of stopping at "unknown-key", and
 * KEY_WRAP finds no extractable key.
 * The configuration and policy are fixed texts with one issuer and two
 * tenants. Every reply must be one IPC_RESULT or IPC_ERROR frame holding
 * a JSON object.
 */
#include "tests/fuzz/fuzz.h"

#include <errno.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "config/config.h"
#include "ipc/ipc.h"
#include "policy/policy.h"
#include "signer/signer.h"

/* The issuer "pebble" and its default account name, "pebble". */
static const char config_text[] =
    "hsm {\n"
    "\tmodule /usr/lib/softhsm/libsofthsm2.so\n"
    "\ttoken-label custos\n"
    "\tpin-file /etc/custos/pin\n"
    "}\n"
    "issuer pebble {\n"
    "\tdirectory https://127.0.0.1:14000/dir\n"
    "}\n"
    "policy {\n"
    "\tfile /etc/custos/policy.conf\n"
    "}\n";

static const char policy_text[] =
    "tenant web {\n"
    "\tallow .example.com 192.0.2.0/24\n"
    "\tdeny secret.example.com\n"
    "\tissuers pebble\n"
    "\taccounts pebble\n"
    "\tchallenges http-01 dns-01\n"
    "\tkey-types ec-p256 rsa-2048\n"
    "\tkey-export hsm wrapped\n"
    "\tnode edge1 {\n"
    "\t\ttoken sha256:cf1567dd9a1bf47c5e326ea24c877df96e3ed024ed4a7"
    "83d5a774bb450ab428d\n"
    "\t\tcertificates 1\n"
    "\t}\n"
    "\tmax-names 4\n"
    "}\n"
    "tenant other {\n"
    "\tallow other.example.org\n"
    "\tissuers pebble\n"
    "\taccounts pebble\n"
    "\tkey-types ec-p256\n"
    "}\n";

static EVP_PKEY *ec_key;
static EVP_PKEY *rsa_key;
static struct custos_config *config;
static struct policy *policy;
static struct csr_table csrs;
static struct fresh_keys fresh_keys;

int __wrap_token_generate_key(struct signer_token *token, enum key_type type,
    const struct key_binding *binding, int extractable,
    unsigned char id[KEY_ID_BYTES], char *err, size_t errlen);
int __wrap_token_wrap_key(struct signer_token *token,
    const unsigned char id[KEY_ID_BYTES], const unsigned char *recipient_der,
    size_t recipient_len, struct wrapped_key *wk, char *err, size_t errlen);
int __wrap_token_find_key(struct signer_token *token,
    const unsigned char id[KEY_ID_BYTES], EVP_PKEY **out, char *label,
    size_t labellen);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[512];

	(void)argc;
	(void)argv;
	fuzz_setup("fuzz_signer_request");
	ec_key = EVP_EC_gen("P-256");
	rsa_key = EVP_RSA_gen(2048);
	FUZZ_ASSERT(ec_key != NULL && rsa_key != NULL);
	if (config_load_string("fuzz.conf", config_text, &config, err,
	    sizeof(err)) != 0 ||
	    policy_load_string("fuzz.policy", policy_text,
	    policy_name_normalize_ascii, &policy, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_signer_request: %s\n", err);
		abort();
	}
	return 0;
}

/*
 * Key ids encode what the stand-in token holds. Byte 0: odd means no such
 * key, 0xfe a token read failure. Byte 1: odd picks the RSA key, even the
 * EC key. Byte 2 picks the label: 0 the account key of issuer and account
 * "pebble", 1 a certificate key of tenant "web", 2 of tenant "other", and
 * 3 a label that is not Custos's.
 */
static void
set_binding(unsigned char selector, struct key_binding *binding)
{
	memset(binding, 0, sizeof(*binding));
	binding->purpose = selector == 0 ? KEY_PURPOSE_ACCOUNT :
	    KEY_PURPOSE_CERTIFICATE;
	snprintf(binding->issuer, sizeof(binding->issuer), "pebble");
	snprintf(binding->account, sizeof(binding->account), "pebble");
	snprintf(binding->tenant, sizeof(binding->tenant), "%s",
	    selector == 2 ? "other" : "web");
}

int
__wrap_token_generate_key(struct signer_token *token, enum key_type type,
    const struct key_binding *binding, int extractable,
    unsigned char id[KEY_ID_BYTES], char *err, size_t errlen)
{
	(void)token;
	(void)extractable;
	(void)err;
	(void)errlen;
	memset(id, 0, KEY_ID_BYTES);
	id[0] = 0x42;
	id[1] = type == KEY_TYPE_RSA_2048;
	if (binding->purpose == KEY_PURPOSE_CERTIFICATE)
		id[2] = strcmp(binding->tenant, "web") == 0 ? 1 : 2;
	return 0;
}

/* The stand-in token has no extractable key. */
int
__wrap_token_wrap_key(struct signer_token *token,
    const unsigned char id[KEY_ID_BYTES], const unsigned char *recipient_der,
    size_t recipient_len, struct wrapped_key *wk, char *err, size_t errlen)
{
	(void)token;
	(void)id;
	(void)recipient_der;
	(void)recipient_len;
	(void)err;
	(void)errlen;
	memset(wk, 0, sizeof(*wk));
	return -EPERM;
}

int
__wrap_token_find_key(struct signer_token *token,
    const unsigned char id[KEY_ID_BYTES], EVP_PKEY **out, char *label,
    size_t labellen)
{
	char hex[2 * KEY_ID_BYTES + 1];
	struct key_binding binding;

	(void)token;
	*out = NULL;
	if (id[0] & 1)
		return -ENOENT;
	if (id[0] == 0xfe)
		return -EIO;
	*out = id[1] & 1 ? rsa_key : ec_key;
	FUZZ_ASSERT(EVP_PKEY_up_ref(*out) == 1);
	if (label == NULL)
		return 0;
	key_id_to_hex(id, hex);
	set_binding(id[2], &binding);
	if (id[2] > 2 || key_label_format(&binding, hex, label,
	    labellen) != 0)
		snprintf(label, labellen, "someone-else/%s", hex);
	return 0;
}

/* The broker's side of the connection: sends the input, keeps replies. */
struct peer {
	int fd;
	const uint8_t *data;
	size_t size;
	unsigned char *replies;
	size_t reply_len;
};

static void *
run_peer(void *arg)
{
	struct peer *peer = arg;
	unsigned char buf[4096];
	size_t done = 0;
	ssize_t n;

	while (done < peer->size) {
		/* The signer may close first: no SIGPIPE. */
		n = send(peer->fd, peer->data + done, peer->size - done,
		    MSG_NOSIGNAL);
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	shutdown(peer->fd, SHUT_WR);
	while ((n = read(peer->fd, buf, sizeof(buf))) > 0) {
		peer->replies = realloc(peer->replies, peer->reply_len +
		    (size_t)n);
		FUZZ_ASSERT(peer->replies != NULL);
		memcpy(peer->replies + peer->reply_len, buf, (size_t)n);
		peer->reply_len += (size_t)n;
	}
	return NULL;
}

/* Checks that the replies are whole IPC_RESULT or IPC_ERROR frames. */
static void
check_replies(const unsigned char *p, size_t len)
{
	struct ipc_frame frame = { 0 };
	json_t *obj;

	while (len > 0) {
		FUZZ_ASSERT(len >= IPC_HEADER_SIZE);
		FUZZ_ASSERT(ipc_header_decode(p, &frame.type,
		    &frame.length) == 0);
		FUZZ_ASSERT(frame.type == IPC_RESULT ||
		    frame.type == IPC_ERROR);
		FUZZ_ASSERT(len - IPC_HEADER_SIZE >= frame.length);
		frame.payload = (unsigned char *)p + IPC_HEADER_SIZE;
		FUZZ_ASSERT(ipc_parse_object(&frame, &obj) == 0);
		json_decref(obj);
		p += IPC_HEADER_SIZE + frame.length;
		len -= IPC_HEADER_SIZE + frame.length;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char label[] = "fuzz-token";
	struct signer_token token = { .label = label };
	struct signer_context ctx = {
		.token = &token,
		.config = config,
		.policy = policy,
		.csrs = &csrs,
		.fresh_keys = &fresh_keys,
	};
	struct peer peer = { .data = data, .size = size };
	pthread_t thread;
	int fds[2];

	FUZZ_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    fds) == 0);
	peer.fd = fds[0];
	FUZZ_ASSERT(pthread_create(&thread, NULL, run_peer, &peer) == 0);
	signer_serve(&ctx, fds[1]);
	close(fds[1]);
	FUZZ_ASSERT(pthread_join(thread, NULL) == 0);
	close(fds[0]);
	check_replies(peer.replies, peer.reply_len);
	free(peer.replies);
	return 0;
}
