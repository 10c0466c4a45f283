/*
 * TLS-ALPN-01 challenge responses (RFC 8737): a TLS listener that answers
 * a handshake offering the ALPN protocol "acme-tls/1" for a published name
 * with a self-signed validation certificate. The certificate holds the
 * name as its only subjectAltName and the critical acmeIdentifier
 * extension with the SHA-256 digest of the key authorization. Its key is
 * an ECDSA P-256 key made in memory for this run, never an HSM key.
 * Handshakes without "acme-tls/1" or for a name not published fail.
 *
 * Functions return 0, or -1 with a one-line message in err.
 */
#ifndef CUSTOS_BROKER_CHALLENGE_TLSALPN_H
#define CUSTOS_BROKER_CHALLENGE_TLSALPN_H

#include <stddef.h>

#define TLSALPN_PROTOCOL "acme-tls/1"
#define TLSALPN_MAX_NAMES 128
#define TLSALPN_IO_TIMEOUT 10	/* seconds for one connection */

struct challenge_tlsalpn;

/* Binds and listens, which may need root; serving starts later. */
int challenge_tlsalpn_bind(const char *address, int port,
    struct challenge_tlsalpn **out, char *err, size_t errlen);
/* Makes the key and starts the serving thread. */
int challenge_tlsalpn_start(struct challenge_tlsalpn *responder, char *err,
    size_t errlen);
/* Serves a validation certificate for name until it is withdrawn. */
int challenge_tlsalpn_publish(struct challenge_tlsalpn *responder,
    const char *name, const char *key_authorization, char *err,
    size_t errlen);
void challenge_tlsalpn_withdraw(struct challenge_tlsalpn *responder,
    const char *name);
/* Stops the thread and closes the listener. */
void challenge_tlsalpn_free(struct challenge_tlsalpn *responder);

#endif
