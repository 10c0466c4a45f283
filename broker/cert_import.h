/*
 * Certificates uploaded by hand ("custos cert import"): the checks of the
 * uploaded chain and of its key in the token, and how the certificate is
 * stored beside the ones the daemon issues. The private key never passes
 * through the broker: the operator stores it in the token first with
 * custos-signer --import-key, and the upload names it by its key id.
 *
 * Functions return 0, or -1 with a one-line message in err.
 */
#ifndef CUSTOS_BROKER_CERT_IMPORT_H
#define CUSTOS_BROKER_CERT_IMPORT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "broker/certificate.h"
#include "broker/names.h"
#include "broker/policy_gate.h"
#include "broker/signer_client.h"
#include "broker/state.h"
#include "config/config.h"

/* The largest chain accepted, in bytes and in certificates. */
#define CERT_IMPORT_MAX_BYTES 65536
#define CERT_IMPORT_MAX_CERTS 8

/* "issuer" of an imported certificate in the state database. */
#define CERT_IMPORT_ISSUER "imported"

struct cert_import {
	struct cert_chain chain;
	struct acme_names names;	/* the leaf's DNS and IP SANs */
	char *written[NAMES_MAX];	/* the same names, as text */
	size_t written_count;
	int64_t not_before, not_after;
};

/*
 * Parses the chain (leaf first, then its issuers) and reads the leaf's
 * names. Rejects text without a PEM certificate, more than the maximum
 * size, a chain that starts with a CA certificate, a leaf without
 * issuers, a leaf that is not valid at now, and a leaf without DNS or IP
 * names or with a DNS name that ends with a dot.
 */
int cert_import_parse(const char *pem, size_t len, time_t now,
    struct cert_import *imp, char *err, size_t errlen);

/*
 * Checks the names, the key type, the leaf's lifetime (max-lifetime) and
 * the store's counts (max-certificates and rate: an import is one more
 * certificate held and stored) against the tenant's policy. Passes each
 * denial to denied and returns their number.
 */
size_t cert_import_check_policy(const struct policy_tenant *tenant,
    const char *store_dir, const struct cert_import *imp,
    const struct signer_key *key, gate_denial_fn denied, void *arg);

/* Results of cert_import_store() other than 0. */
#define CERT_IMPORT_REJECTED (-1)	/* the upload fails a check */
#define CERT_IMPORT_FAILED (-2)		/* the store or the database failed */
#define CERT_IMPORT_EXISTS (-3)		/* the same certificate is stored */

/*
 * Checks that the leaf's public key is key and that the chain links up
 * to its last certificate. Then stores the version under
 * STORE/TENANT/LABEL and records it as an imported certificate with no
 * task, and sets *id. LABEL is the first name, "@" and the serial, so an
 * import never shares a directory with an issued certificate. Returns 0
 * or one of the CERT_IMPORT_* results, with err set.
 */
int cert_import_store(const struct custos_config *config, struct state *st,
    const char *tenant, struct cert_import *imp, const struct signer_key *key,
    time_t now, int64_t *id, char *err, size_t errlen);

/*
 * Runs the deploy hook for the current version of imported certificate
 * id, which cert_import_store() recorded with its deploy pending, with
 * the environment of a new ACME version (CUSTOS_ROLLBACK=0), and records
 * the deploy as done. An import has no earlier version to restore, so a
 * failed hook leaves it current. Returns 0 when the hook succeeded or
 * none is configured, -1 with a message in err otherwise.
 */
int cert_import_deploy(const struct custos_config *config, struct state *st,
    int64_t id, char *err, size_t errlen);

/* Joins the names with spaces; returns a malloc'd string or NULL. */
char *cert_import_join_names(const struct acme_names *names);

void cert_import_clear(struct cert_import *imp);

#endif
