/*
 * The policy limits that depend on the store and on the certificate the
 * CA returns: max-certificates and rate before ordering, max-lifetime in
 * newOrder and again on the issued certificate.
 *
 * Functions return 0, or -1 with a one-line message in err.
 */
#ifndef CUSTOS_BROKER_ISSUE_LIMITS_H
#define CUSTOS_BROKER_ISSUE_LIMITS_H

#include <stddef.h>
#include <time.h>

#include "broker/certificate.h"
#include "broker/names.h"
#include "broker/store_usage.h"
#include "policy/policy.h"

/*
 * Counts the tenant's store for a request whose first name is names'
 * first, when the tenant sets max-certificates or rate. Sets *wanted to
 * 0 when it sets neither, and then counts nothing.
 */
int issue_limits_usage(const char *store_dir,
    const struct policy_tenant *tenant, const struct acme_names *names,
    struct store_usage *usage, int *wanted, char *err, size_t errlen);

/* Returns the notAfter to request at now, or 0 without max-lifetime. */
time_t issue_limits_not_after(const struct policy_tenant *tenant,
    time_t now);

/*
 * Rejects a certificate valid after requested_not_after, the notAfter
 * of the order (0: nothing was requested, and nothing is checked). The
 * message names max-lifetime and where the policy sets it.
 */
int issue_limits_check_lifetime(const struct policy_tenant *tenant,
    const struct cert_chain *chain, time_t requested_not_after, char *err,
    size_t errlen);

#endif
