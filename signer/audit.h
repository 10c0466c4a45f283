/*
 * The signer's part of the audit log (docs/audit.md). The signer reports
 * its policy decisions, key generations and refusals as IPC_AUDIT_RECORD
 * frames on the audit channel, a descriptor that only it writes to. It
 * also signs the broker's checkpoints with the token's audit key, an EC
 * P-256 key labelled "custos/audit/KEYID" that never leaves the token and
 * can only sign.
 */
#ifndef CUSTOS_SIGNER_AUDIT_H
#define CUSTOS_SIGNER_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "signer.h"

/*
 * Sets the audit channel's descriptor and sends the policy library's
 * decisions there as well as to the log. Without a channel (fd -1, as
 * under tests/tools/signer_client) the records go to the debug log only.
 */
void signer_audit_init(int fd);

/*
 * Sends one record; record (stolen) must have "action" and "outcome".
 * A write failure is logged once, and the request still gets its reply.
 */
void signer_audit_send(json_t *record);

/*
 * Reports the end of a request: a key-generate result as key.generate,
 * and any IPC_ERROR reply as signer.refusal. code is NULL on success;
 * the other strings may be NULL or "".
 */
void signer_audit_request(uint16_t type, const char *code,
    const char *message, const char *tenant, const char *account,
    const char *key_id, const char *names, const json_t *result);

/*
 * The request handlers. Each returns 0 with *result set, or
 * SIGNER_REPLY_ERROR with *code and message set, or
 * SIGNER_PROTOCOL_ERROR with message set.
 */
int audit_handle_checkpoint_sign(struct signer_context *ctx,
    const json_t *body, json_t **result, const char **code, char *message,
    size_t messagelen);
int audit_handle_key_public(struct signer_context *ctx, const json_t *body,
    json_t **result, const char **code, char *message, size_t messagelen);

#endif
