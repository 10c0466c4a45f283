/*
 * The broker's side of the signer: starts custos-signer on one end of a
 * socket pair and wraps each request of ipc/ipc.h in a function that sends
 * one frame, reads one reply and checks every member it uses.
 *
 * Functions return 0, or -1 with a one-line message in err. When the
 * signer has died, the message gives its exit status or signal.
 */
#ifndef CUSTOS_BROKER_SIGNER_CLIENT_H
#define CUSTOS_BROKER_SIGNER_CLIENT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "ipc/ipc.h"

struct signer_client {
	pid_t pid;
	int fd;
	/*
	 * The read end of the signer's audit channel, valid only while
	 * audit_active is 1, so that a zeroed structure has no channel.
	 */
	int audit_fd;
	int audit_active;
	/* The tenant every request acts for; set before the first request. */
	const char *tenant;
	/*
	 * 1 once the signer has exited with a nonzero status: it then has
	 * printed its own error line, and the broker's message is a note.
	 */
	int printed_error;
	/* Requests written through this structure, for the metrics. */
	uint64_t requests;
	/*
	 * The connection that this thread's handle shares with others, or
	 * NULL. When conn is set, requests go over conn's descriptors, and
	 * conn->lock (when set) is held from each request until its reply
	 * is read.
	 */
	struct signer_client *conn;
	pthread_mutex_t *lock;
};

/*
 * Makes out a thread's handle on shared, the worker's connection. The
 * handle has its own tenant and request count.
 */
void signer_client_share(struct signer_client *shared,
    struct signer_client *out);

/* Locks and unlocks signer's connection when it is shared. */
void signer_client_lock(struct signer_client *signer);
void signer_client_unlock(struct signer_client *signer);
/* Locks it only when no other thread holds it; returns 0 when locked. */
int signer_client_trylock(struct signer_client *signer);

/* A key's public half, as the signer describes it. */
struct signer_key {
	char key_id[IPC_KEY_ID_LEN + 1];
	char type[16];
	json_t *jwk;
	char *thumbprint;	/* RFC 7638, base64url */
	char *uri;		/* RFC 7512 pkcs11: URI */
};

/*
 * Returns the default signer path, LIBEXECDIR/custos-signer as the build
 * set it. The result is malloc'd, or NULL with err set.
 */
char *signer_default_program(char *err, size_t errlen);

/*
 * Starts program with "--config config_path --fd 3 --audit-fd 4", fd 3
 * being its end of a socket pair and fd 4 the write end of a pipe whose
 * audit records the broker appends to the audit log; the environment is
 * passed through.
 */
int signer_spawn(const char *program, const char *config_path,
    struct signer_client *signer, char *err, size_t errlen);

/*
 * Sends one request of ipc/ipc.h and reads its reply. Returns 0 with the
 * IPC_RESULT object in *result, whose members must all be in allowed, or
 * -1 with err set.
 */
int signer_request(struct signer_client *signer, uint16_t type,
    const json_t *request, const char *const *allowed, json_t **result,
    char *err, size_t errlen);

/*
 * Closes the connection and waits for the signer to exit. Returns 0 when
 * it exited with status 0, -1 with err set otherwise.
 */
int signer_finish(struct signer_client *signer, char *err, size_t errlen);

/*
 * Generates an account key for issuer, or a certificate key for the
 * signer's tenant when issuer is NULL. type is a key type name.
 */
int signer_key_generate(struct signer_client *signer, const char *issuer,
    const char *type, char key_id[IPC_KEY_ID_LEN + 1], char *err,
    size_t errlen);
/*
 * Generates a certificate key for the signer's tenant with export "hsm"
 * or "wrapped"; the signer generates a wrapped key as extractable.
 */
int signer_certificate_key_generate(struct signer_client *signer,
    const char *type, const char *export, char key_id[IPC_KEY_ID_LEN + 1],
    char *err, size_t errlen);
int signer_key_public(struct signer_client *signer, const char *key_id,
    struct signer_key *key, char *err, size_t errlen);
/*
 * As signer_key_public(), but the signer replies with a policy-denied
 * error unless the key is a certificate key bound to tenant.
 */
int signer_key_public_of(struct signer_client *signer, const char *key_id,
    const char *tenant, struct signer_key *key, char *err, size_t errlen);
void signer_key_clear(struct signer_key *key);

/*
 * Signs a JWS for url. kid NULL embeds the JWK; payload "" makes a
 * POST-as-GET. Sets *jws to the malloc'd flattened JSON serialisation.
 */
int signer_jws_sign(struct signer_client *signer, const char *key_id,
    const char *url, const char *nonce, const char *kid,
    const char *payload, char **jws, char *err, size_t errlen);

/* Builds a CSR for names; sets *csr to malloc'd base64url DER. */
int signer_csr_build(struct signer_client *signer, const char *key_id,
    const char *const *names, size_t count, char **csr, char *err,
    size_t errlen);

/* A certificate key wrapped for a node (IPC_KEY_WRAP), checked. */
struct signer_wrapped {
	char node[65];
	char recipient[72];	/* "sha256:" and 64 lowercase hex digits */
	char oaep_hash[8];	/* "sha256" or "sha1" */
	char key_type[16];
	char *data;		/* standard base64 with padding */
};

/*
 * broker/signer_wrap.c: asks the signer to wrap the certificate key
 * key_id of the signer's tenant for node. Every member of the result is
 * checked; the blob is never decoded here.
 */
int signer_key_wrap(struct signer_client *signer, const char *key_id,
    const char *node, struct signer_wrapped *out, char *err, size_t errlen);
void signer_wrapped_clear(struct signer_wrapped *wrapped);

#endif
