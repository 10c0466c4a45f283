/*
 * "custos revoke": revokes a stored certificate at its issuer.
 */
#ifndef CUSTOS_BROKER_REVOKE_H
#define CUSTOS_BROKER_REVOKE_H

#include <stddef.h>

#include "broker/acme.h"
#include "ipc/ipc.h"

/* The certificate to revoke: its version directory, DER and key id. */
struct revocation {
	char *directory;
	char *certificate;	/* base64url DER of the leaf */
	char serial[2 * 20 + 1];	/* lowercase hex, as certificate.c */
	char key_id[IPC_KEY_ID_LEN + 1];
};

/* Reads the leaf of DIRECTORY/cert.pem as base64url DER, and its serial. */
int revoke_read_certificate(struct revocation *rev, char *err,
    size_t errlen);

/*
 * POSTs revokeCert to url signed by the issuer's account key, with the
 * RFC 5280 reason code when reason is 0 or more. Returns 0, or -1 with
 * acme->err set.
 */
int revoke_by_account_key(struct acme_client *acme, const char *url,
    const struct revocation *rev, int reason);

/* Writes DIRECTORY/revoked through a temporary file renamed over it. */
int revoke_write_marker(const struct revocation *rev, const char *issuer,
    int certificate_key, int reason, char *err, size_t errlen);

/*
 * Returns 1 for a reason code a subscriber may send: unspecified (0),
 * keyCompromise (1), affiliationChanged (3), superseded (4) and
 * cessationOfOperation (5). The other RFC 5280 codes belong to CAs (2),
 * holds (6) and CRLs (8 to 10); CAs answer them with badRevocationReason
 * (RFC 8555, section 7.6).
 */
int revoke_reason_accepted(long code);

/* Runs "custos revoke ..."; argv[0] is "revoke". Returns the exit status. */
int revoke_command(int argc, char **argv);

#endif
