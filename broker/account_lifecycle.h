/*
 * Changes to a registered ACME account. Each function needs a client
 * whose directory is fetched and whose account acme_account_ensure()
 * has loaded, and returns 0, or -1 with a message in client->err.
 */
#ifndef CUSTOS_BROKER_ACCOUNT_LIFECYCLE_H
#define CUSTOS_BROKER_ACCOUNT_LIFECYCLE_H

#include <stddef.h>

#include "broker/acme.h"

/*
 * Rolls the account over to a new token key: the signer builds the inner
 * JWS with the new key, the old key signs the outer one, and once the CA
 * accepts, the record names the new key and the old key object is
 * destroyed in the token.
 */
int acme_account_rollover(struct acme_client *client);

/* Replaces the account's contact URLs (none: count 0). */
int acme_account_update_contacts(struct acme_client *client,
    char *const *contacts, size_t count);

/* Deactivates the account at the CA and records its status. */
int acme_account_deactivate(struct acme_client *client);

#endif
