/*
 * ACME Renewal Information (RFC 9773): the certificate identifier that
 * names a certificate to the CA, the unauthenticated GET of
 * renewalInfo/<identifier>, and the renewal window that the CA suggests.
 *
 * Functions return 0, or -1 with a one-line message in err (client->err
 * for ari_fetch).
 */
#ifndef CUSTOS_BROKER_RENEWAL_INFO_H
#define CUSTOS_BROKER_RENEWAL_INFO_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "broker/acme.h"

/* A renewalInfo body larger than this many bytes is rejected. */
#define ARI_BODY_MAX 65536
/*
 * The next renewalInfo poll waits the CA's Retry-After, raised to at least
 * ARI_POLL_MIN and capped at ARI_POLL_MAX seconds. A response without
 * Retry-After, and a failed poll, wait ARI_POLL_MIN.
 */
#define ARI_POLL_MIN 3600
#define ARI_POLL_MAX 86400
/* Maximum identifier length: a 64-byte key identifier, a 21-byte serial. */
#define ARI_ID_MAX 128
#define ARI_EXPLANATION_MAX 512

/* A suggested window; times are Unix seconds. */
struct ari_window {
	int64_t start;
	int64_t end;
	int64_t poll_delay;	/* seconds until the next poll */
	char explanation[ARI_EXPLANATION_MAX];	/* "" when absent */
};

/*
 * Writes base64url(key_id) "." base64url(serial) into out, where serial
 * is the content octets of the DER INTEGER (with a leading zero octet
 * when the high bit is set).
 */
int ari_id_encode(const unsigned char *key_id, size_t key_id_len,
    const unsigned char *serial, size_t serial_len, char *out,
    size_t outlen);

/*
 * Writes the identifier of cert: the keyIdentifier of its Authority Key
 * Identifier extension and its serial number. A certificate without a
 * keyIdentifier has none.
 */
int ari_cert_id(X509 *cert, char *out, size_t outlen, char *err,
    size_t errlen);

/*
 * Parses an RFC 3339 date-time ("2025-01-02T04:00:00Z", with optional
 * fraction and a numeric offset) into Unix seconds; the fraction is
 * dropped. Returns 0 or -1.
 */
int ari_time_parse(const char *text, int64_t *out);

/*
 * Parses a renewalInfo body: suggestedWindow with start before end, and
 * an optional explanationURL. poll_delay is left as it is.
 */
int ari_window_parse(const char *body, size_t len, struct ari_window *window,
    char *err, size_t errlen);

/* Clamps a Retry-After in seconds (-1: none) to the poll range. */
int64_t ari_poll_delay(long retry_after);

/*
 * Returns a time in [start, end) chosen by random in [0, 1), so that
 * renewals of many certificates spread over the window.
 */
int64_t ari_choose(const struct ari_window *window, double random);

/*
 * GETs the renewalInfo of cert_id from the directory's renewalInfo URL
 * and parses it into window, with poll_delay from the response's
 * Retry-After.
 */
int ari_fetch(struct acme_client *client, const char *cert_id,
    struct ari_window *window);

#endif
