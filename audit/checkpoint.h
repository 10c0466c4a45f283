/*
 * The audit checkpoint format that the broker and the signer share: the
 * form of a record hash and the exact text the signer signs,
 *
 *	custos-audit-checkpoint-v1 HEAD SIGNED_AT
 *
 * HEAD being the SHA-256 of a record line (newline included) in 64
 * lowercase hex digits and SIGNED_AT the signer's UTC time, such as
 * "2026-01-31T12:00:00Z", separated by single spaces, with no newline.
 * Header-only, so each program links it without a shared library.
 */
#ifndef CUSTOS_AUDIT_CHECKPOINT_H
#define CUSTOS_AUDIT_CHECKPOINT_H

#include <stdio.h>
#include <string.h>

#define AUDIT_HASH_HEX 64
#define AUDIT_CHECKPOINT_PREFIX "custos-audit-checkpoint-v1"
#define AUDIT_CHECKPOINT_ALGORITHM "ecdsa-p256-sha256"
#define AUDIT_SIGNED_AT_MAX 32

/* Returns 1 for exactly 64 lowercase hex digits. */
static inline int
audit_is_hash_hex(const char *text)
{
	return strlen(text) == AUDIT_HASH_HEX &&
	    strspn(text, "0123456789abcdef") == AUDIT_HASH_HEX;
}

/*
 * Writes the signed text into out. Returns its length, or -1 when it does
 * not fit or signed_at is longer than AUDIT_SIGNED_AT_MAX.
 */
static inline int
audit_checkpoint_text(const char *head, const char *signed_at, char *out,
    size_t outlen)
{
	int n;

	if (strlen(signed_at) > AUDIT_SIGNED_AT_MAX)
		return -1;
	n = snprintf(out, outlen, "%s %s %s", AUDIT_CHECKPOINT_PREFIX, head,
	    signed_at);
	return n > 0 && (size_t)n < outlen ? n : -1;
}

#endif
