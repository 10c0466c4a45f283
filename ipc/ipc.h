/*
 * Messages between the broker and the signer.
 *
 * A frame is an 8-byte header followed by a payload:
 *
 *	uint32 length   payload length in bytes, big-endian, at most
 *	                IPC_MAX_PAYLOAD; checked before anything is allocated
 *	uint16 type     one of enum ipc_type, big-endian
 *	uint16 flags    zero; any other value is a protocol error
 *
 * Every payload is one UTF-8 JSON object. The receiver rejects a frame
 * whose type is not expected at that point, whose payload is not an object,
 * or whose object has a member that the message does not define, a member
 * of the wrong JSON type or a value out of range. A rejected frame ends the
 * connection. The broker sends a request and waits for one reply
 * (IPC_RESULT or IPC_ERROR) before it sends the next.
 *
 * Requests (broker to signer) and their IPC_RESULT payloads:
 *
 * IPC_KEY_GENERATE  {"purpose": "account", "tenant": TENANT,
 *                    "issuer": ISSUER, "type": TYPE}
 *                or {"purpose": "certificate", "tenant": TENANT,
 *                    "type": TYPE}
 *     TYPE is "ec-p256" | "ec-p384" | "rsa-2048" | "rsa-3072" |
 *     "rsa-4096" (absent: ec-p256). The signer binds the key to what the
 *     request names by its CKA_LABEL, which the broker cannot change:
 *     "custos/account/ISSUER/ACCOUNT/KEYID" (ACCOUNT from the issuer's
 *     configuration) or "custos/certificate/TENANT/KEYID". The tenant
 *     must be allowed to use that issuer and account, or that key type.
 * IPC_KEY_PUBLIC    {"key_id": KEYID, "tenant": TENANT (optional)}
 *     With "tenant", the key must be a certificate key bound to TENANT,
 *     or the reply is a policy-denied error.
 *     Both requests have the same result:
 *     result:       {"key_id": KEYID, "type": TYPE, "jwk": {...},
 *                    "thumbprint": B64URL, "uri": "pkcs11:..."}
 *
 * IPC_JWS_SIGN      {"key_id": KEYID, "tenant": TENANT, "url": URL,
 *                    "nonce": NONCE,
 *                    "kid": ACCOUNT-URL (absent: embed the JWK),
 *                    "payload": JSON-TEXT ("" for POST-as-GET)}
 *     result:       {"protected": B64URL, "payload": B64URL,
 *                    "signature": B64URL}
 *     KEYID must name an account key whose issuer's directory URL has the
 *     same origin as URL, and TENANT must be allowed that issuer and
 *     account. The payload must have one of the shapes ACME defines; the
 *     identifiers of a new order or authorization must be allowed for
 *     TENANT, and a finalize CSR must be one this signer built for TENANT.
 *
 * IPC_CSR_BUILD     {"key_id": KEYID, "tenant": TENANT,
 *                    "names": [NAME, ...]}
 *     result:       {"csr": B64URL-DER}
 *     KEYID must name a certificate key bound to TENANT, and every name
 *     must be allowed for TENANT.
 *
 * IPC_KEY_WRAP      {"key_id": KEYID, "tenant": TENANT, "node": NODE}
 *     result:       {"key_id": KEYID, "node": NODE,
 *                    "recipient": "sha256:HEX", "oaep_hash": HASH,
 *                    "key_type": TYPE, "data": BASE64}
 *     Exports the certificate key KEYID encrypted to the recipient key
 *     of NODE: RSA-OAEP(recipient, K) || AES-KWP(K, PKCS#8 of the key),
 *     K a fresh AES-256 key, HASH "sha256" or "sha1" (the OAEP and MGF1
 *     hash), HEX the SHA-256 of the recipient's DER
 *     SubjectPublicKeyInfo and BASE64 standard base64 with padding. The
 *     key must be bound to TENANT and generated with "export":
 *     "wrapped", TENANT's key-export must list wrapped, and NODE must be
 *     a node of TENANT with a recipient key; otherwise the reply is a
 *     policy-denied error.
 *
 * IPC_AUDIT_CHECKPOINT_SIGN  {"head": HEX}
 *     result:       {"key_id": KEYID, "algorithm": "ecdsa-p256-sha256",
 *                    "signed_at": TIME, "signature": BASE64}
 *     HEX is the SHA-256 of an audit record, 64 lowercase hex digits.
 *     The signer signs only the text "custos-audit-checkpoint-v1 HEX
 *     TIME", TIME being its own clock in UTC ("2026-01-31T12:00:00Z"),
 *     with the token's audit key (label "custos/audit/KEYID"), which it
 *     generates on first use. BASE64 is the DER ECDSA signature in
 *     standard base64 with padding.
 * IPC_AUDIT_KEY_PUBLIC  {}
 *     result:       {"key_id": KEYID, "pem": PEM-TEXT}
 *     The audit key's public half as a PEM SubjectPublicKeyInfo; the key
 *     is generated first when the token has none.
 *
 * IPC_AUDIT_RECORD  the only message of the audit channel, a second
 *     descriptor that carries frames from the signer to the broker and
 *     never the other way. The signer writes the records of a request
 *     before its reply, and the broker checks every member (presence,
 *     JSON type, length, allowed words) before it appends the record to
 *     the audit log. Members: "action" (required; "policy.decision",
 *     "key.generate", "key.wrap", "signer.refusal" or
 *     "audit.key-generate"),
 *     "outcome" (required; "allowed", "denied", "success" or
 *     "failure"), and the optional strings "tenant", "subject" (the
 *     value decided, or the names of a refused request), "reason",
 *     "request", "code", "key_id", "purpose", "key_type", "account",
 *     "node" and "recipient" (a "sha256:HEX" fingerprint).
 *     No member ever carries a PIN, a key or a payload.
 *
 * IPC_EAB_SIGN      {"key_id": KEYID, "tenant": TENANT, "url": URL}
 *     result:       {"protected": B64URL, "payload": B64URL,
 *                    "signature": B64URL}
 *     The External Account Binding JWS for the newAccount URL: the
 *     signer MACs the account key's JWK with the issuer's EAB key, which
 *     "custos-signer --import-eab" stored in the token. KEYID and URL are
 *     checked as for IPC_JWS_SIGN.
 *
 * IPC_KEY_CHANGE    {"key_id": OLD-KEYID, "new_key_id": NEW-KEYID,
 *                    "tenant": TENANT, "url": KEY-CHANGE-URL,
 *                    "account": ACCOUNT-URL}
 *     result:       the inner JWS, as for IPC_EAB_SIGN
 *     Both keys must be account keys of the same issuer and account. The
 *     outer JWS, signed next with OLD-KEYID through IPC_JWS_SIGN, may
 *     carry only the inner JWS built last.
 *
 * IPC_KEY_DESTROY   {"key_id": KEYID, "tenant": TENANT}
 *     result:       {"key_id": KEYID}
 *     Destroys the old key of the last key change once its outer JWS was
 *     signed; any other key is denied.
 *
 * IPC_REVOKE_SIGN   {"key_id": KEYID, "tenant": TENANT, "url": URL,
 *                    "nonce": NONCE, "issuer": ISSUER,
 *                    "certificate": B64URL-DER, "reason": 0-10}
 *     result:       a JWS, as for IPC_JWS_SIGN, with the JWK embedded
 *     A revokeCert request signed by a certificate key bound to TENANT;
 *     the certificate's public key must be that key, and URL must have
 *     the origin of ISSUER's directory. "reason" is optional.
 *
 * IPC_KEY_GENERATE takes "account": ACCOUNT with "purpose": "account" to
 * choose one of the issuer's accounts (absent: the first one listed),
 * and "export": "hsm" | "wrapped" with "purpose": "certificate" (absent:
 * hsm). The tenant's key-export must list the mode; a wrapped key is
 * generated extractable, so that IPC_KEY_WRAP can export it.
 *
 * IPC_ERROR         {"code": WORD, "message": TEXT}, in place of a result.
 *     WORD is "unknown-key" (no such key in the token), "hsm-failure"
 *     (the token failed the operation), "unsupported-key" (a key of a
 *     type Custos does not use), "policy-denied" (the tenant's policy
 *     or the shape checks reject the request; TEXT says which rule) or
 *     "internal" (out of memory).
 *
 * KEYID is the hex form of the key's CKA_ID: 32 lowercase hex digits.
 */
#ifndef CUSTOS_IPC_H
#define CUSTOS_IPC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define IPC_HEADER_SIZE 8
#define IPC_MAX_PAYLOAD (64 * 1024)
#define IPC_KEY_ID_LEN 32

enum ipc_type {
	IPC_KEY_GENERATE = 1,
	IPC_KEY_PUBLIC = 2,
	IPC_JWS_SIGN = 3,
	IPC_CSR_BUILD = 4,
	IPC_KEY_WRAP = 5,

	/* Account lifecycle, described above. */
	IPC_EAB_SIGN = 10,
	IPC_KEY_CHANGE = 11,
	IPC_KEY_DESTROY = 12,
	IPC_REVOKE_SIGN = 13,

	/* 20-29: the audit log (docs/audit.md). */
	IPC_AUDIT_CHECKPOINT_SIGN = 20,
	IPC_AUDIT_KEY_PUBLIC = 21,
	IPC_AUDIT_RECORD = 22,

	IPC_RESULT = 100,
	IPC_ERROR = 101,

	/* Understood only by a signer built with CUSTOS_TEST_BUILD. */
	IPC_TEST_FORBIDDEN_SYSCALL = 900,
	/*
	 * {"path": PATH, "mode": "read" | "write"}: the signer opens PATH
	 * (for writing: created and truncated) and replies
	 * {"open": "ok"} or {"open": ERRNO-NAME}, such as "EACCES".
	 */
	IPC_TEST_OPEN_FILE = 901,
	/* {}: replies {"environment": [NAME, ...]}, names without values. */
	IPC_TEST_ENVIRONMENT = 902,
};

/* Error codes, negated, returned by the functions below. */
enum ipc_status {
	IPC_OK = 0,
	IPC_EOF = 1,		/* the peer closed before a header began */
	IPC_EIO = 2,		/* read or write failed; errno is kept */
	IPC_ETRUNCATED = 3,	/* the peer closed inside a frame */
	IPC_ETOOBIG = 4,	/* length over IPC_MAX_PAYLOAD */
	IPC_EFLAGS = 5,		/* nonzero flags */
	IPC_EJSON = 6,		/* payload is not one JSON object */
	IPC_ENOMEM = 7,
	IPC_EAUDIT = 8,		/* appending audit records failed */
};

struct ipc_frame {
	uint16_t type;
	uint32_t length;
	unsigned char *payload;	/* length bytes, plus a NUL; or NULL */
};

/* Returns a short description of a negated enum ipc_status. */
const char *ipc_strerror(int status);

/* Returns the name of a message type, or "unknown". */
const char *ipc_type_name(uint16_t type);

/* Encodes and decodes the 8-byte header. */
void ipc_header_encode(unsigned char header[IPC_HEADER_SIZE], uint16_t type,
    uint32_t length);
int ipc_header_decode(const unsigned char header[IPC_HEADER_SIZE],
    uint16_t *type, uint32_t *length);

/* Writes one frame, retrying short writes and EINTR. Returns 0 or -status. */
int ipc_write_frame(int fd, uint16_t type, const void *payload,
    size_t length);

/* Serialises obj compactly and writes it as one frame. */
int ipc_write_json(int fd, uint16_t type, const json_t *obj);

/*
 * Reads one frame. On success the caller owns frame->payload and frees it
 * with ipc_frame_clear(). Returns 0 or -status.
 */
int ipc_read_frame(int fd, struct ipc_frame *frame);
void ipc_frame_clear(struct ipc_frame *frame);

/*
 * Parses a frame's payload as one JSON object (no duplicate keys, nothing
 * after it). Returns 0 and a new reference in *out, or -IPC_EJSON.
 */
int ipc_parse_object(const struct ipc_frame *frame, json_t **out);

/*
 * Field checks for a parsed payload. Each returns 0, or -1 with a message
 * naming the member in err.
 */

/* Rejects any member whose name is not in the NULL-terminated list. */
int ipc_check_members(const json_t *obj, const char *const *allowed,
    char *err, size_t errlen);

/*
 * Gets a required (or, with optional set, possibly absent: *out = NULL)
 * string member of 1 to max_len bytes with no NUL inside.
 */
int ipc_get_string(const json_t *obj, const char *name, size_t max_len,
    int optional, const char **out, char *err, size_t errlen);

/* Gets a string member that must equal one of the NULL-terminated choices. */
int ipc_get_choice(const json_t *obj, const char *name,
    const char *const *choices, int *index, char *err, size_t errlen);

/* Gets a key id: exactly IPC_KEY_ID_LEN lowercase hex digits. */
int ipc_get_key_id(const json_t *obj, const char *name, const char **out,
    char *err, size_t errlen);

#endif
