/*
 * The broker's audit requests to the signer (IPC_AUDIT_CHECKPOINT_SIGN
 * and IPC_AUDIT_KEY_PUBLIC in ipc/ipc.h).
 */
#ifndef CUSTOS_BROKER_AUDIT_SIGNER_H
#define CUSTOS_BROKER_AUDIT_SIGNER_H

#include "broker/audit.h"
#include "broker/signer_client.h"

/* Signs head with the token's audit key; arg is a signer_client. */
int audit_signer_sign(void *arg, const char *head,
    struct audit_signature *sig, char *err, size_t errlen);

/* Gets the audit key's id and its public key as malloc'd PEM text. */
int audit_signer_key_public(struct signer_client *signer,
    char key_id[IPC_KEY_ID_LEN + 1], char **pem, char *err, size_t errlen);

#endif
