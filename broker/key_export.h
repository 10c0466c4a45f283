/*
 * Key export of managed certificates (docs/policy.md, key-export): a
 * certificate's mode is kept in its settings as {"key_export": "wrapped"}
 * (absent: hsm). For a wrapped certificate, the worker requests from the
 * signer a wrap of the current key for every node that the policy grants
 * the certificate and that has a recipient key. It stores the blobs in
 * the state database for the distribution endpoint.
 */
#ifndef CUSTOS_BROKER_KEY_EXPORT_H
#define CUSTOS_BROKER_KEY_EXPORT_H

#include "broker/state.h"
#include "policy/policy.h"

struct daemon_worker;

/* Returns the mode that the certificate's settings record. */
enum policy_export cert_key_export(const struct state_cert *cert);

/* Returns the settings text for a new certificate of that mode. */
const char *cert_key_export_settings(enum policy_export mode);

/*
 * Wraps the current key of cert for each granted node with a recipient
 * key that has no blob for it yet. Failures are logged with the node and
 * do not stop the other nodes. Returns the number of failures.
 */
int key_export_wrap_current(struct daemon_worker *w,
    const struct state_cert *cert);

/*
 * Runs key_export_wrap_current() for every wrapped certificate. The
 * worker calls it at its start.
 * NOTE: a version made current again by a rollback gets the blobs it
 * lacks (for a node added since) only at the next start of the worker.
 */
void key_export_wrap_all(struct daemon_worker *w);

#endif
