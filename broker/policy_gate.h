/*
 * The broker's policy check of a whole request, run before anything is
 * sent to the signer or the CA, and the text of each decision as the
 * command line prints it.
 */
#ifndef CUSTOS_BROKER_POLICY_GATE_H
#define CUSTOS_BROKER_POLICY_GATE_H

#include <stddef.h>

#include "broker/names.h"
#include "broker/store_usage.h"
#include "config/config.h"
#include "policy/policy.h"

#define GATE_LINE_MAX 768

/* A certificate request, as the tenant's policy checks it. */
struct gate_request {
	char *const *written;		/* the names as given, in order */
	const struct acme_names *names;	/* the same names, canonical */
	const char *issuer;
	const char *account;
	const char *challenge;		/* "http-01", "dns-01", ... */
	enum key_type key_type;		/* of the certificate key */
	/* The tenant's store counts, or NULL to skip the count limits. */
	const struct store_usage *usage;
	/* gate_check_import: the leaf's lifetime in seconds, 0 to skip. */
	long lifetime;
	/* gate_check_request: the key export mode (zero: hsm). */
	enum policy_export key_export;
};

/* Receives one "denied" line; arg is the caller's. */
typedef void (*gate_denial_fn)(const char *line, void *arg);

/*
 * Checks every identifier, the issuer, the account, the challenge type,
 * the key export mode, the key type, the number of names and, when
 * request->usage is set,
 * max-certificates and rate, and passes one line to denied for
 * each denial, so that every problem shows at once. Returns the number of
 * denials: 0 when the policy allows the request.
 */
size_t gate_check_request(const struct policy_tenant *tenant,
    const struct gate_request *request, gate_denial_fn denied, void *arg);

/*
 * Checks an imported certificate: every identifier, the key type and
 * the number of names, as gate_check_request() does. The issuer, the
 * account and the challenge type do not apply to it.
 */
size_t gate_check_import(const struct policy_tenant *tenant,
    const struct gate_request *request, gate_denial_fn denied, void *arg);

/*
 * Formats a decision as the policy library words it, for example
 * "www.example.com: allowed by allow .example.com at FILE:6:8". When the
 * written name differs from the canonical one it leads, as in
 * "bücher.example (xn--bcher-kva.example): ...". A denial that no
 * statement decided ends with where the tenant's block is. written is
 * printed as it is, so it must be a name that names_convert() accepted;
 * it is NULL for checks other than names.
 */
void gate_format_decision(const struct policy_tenant *tenant,
    const char *written, const char *canonical,
    const struct policy_decision *decision, char *out, size_t outlen);

/*
 * Sends the policy library's decisions nowhere while the command line
 * prints them itself; gate_restore_decisions() logs them again.
 */
void gate_quiet_decisions(void);
void gate_restore_decisions(void);

#endif
