/*
 * The signer requests of the account lifecycle: key generation for a
 * named account, the External Account Binding, key rollover and
 * revocation by a certificate key. Each returns 0, or -1 with a one-line
 * message in err, and acts for signer->tenant.
 */
#ifndef CUSTOS_BROKER_ACCOUNT_SIGNER_H
#define CUSTOS_BROKER_ACCOUNT_SIGNER_H

#include <stddef.h>

#include <jansson.h>

#include "broker/signer_client.h"
#include "ipc/ipc.h"

/* Generates an account key for that issuer and account. */
int signer_account_key_generate(struct signer_client *signer,
    const char *issuer, const char *account, const char *type,
    char key_id[IPC_KEY_ID_LEN + 1], char *err, size_t errlen);

/* Sets *jws to the External Account Binding for key_id and url. */
int signer_eab_sign(struct signer_client *signer, const char *key_id,
    const char *url, json_t **jws, char *err, size_t errlen);

/* Sets *jws to the inner JWS of a key change from old to new key. */
int signer_key_change(struct signer_client *signer, const char *old_key_id,
    const char *new_key_id, const char *url, const char *account_url,
    json_t **jws, char *err, size_t errlen);

/* Destroys the old key of the key change signed last. */
int signer_key_destroy(struct signer_client *signer, const char *key_id,
    char *err, size_t errlen);

/*
 * Sets *jws to the malloc'd revokeCert JWS signed by the certificate key
 * key_id; reason -1 leaves the reason out.
 */
int signer_revoke_sign(struct signer_client *signer, const char *key_id,
    const char *url, const char *nonce, const char *issuer,
    const char *certificate, int reason, char **jws, char *err,
    size_t errlen);

#endif
