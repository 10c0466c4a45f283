#include "broker/issue_limits.h"

#include <stdio.h>
#include <stdlib.h>

#include "broker/policy_gate.h"
#include "broker/versions.h"

int
issue_limits_usage(const char *store_dir,
    const struct policy_tenant *tenant, const struct acme_names *names,
    struct store_usage *usage, int *wanted, char *err, size_t errlen)
{
	char *label;
	int rc;

	*wanted = tenant->max_certificates.set || tenant->rate_per_hour.set ||
	    tenant->rate_per_day.set;
	if (!*wanted)
		return 0;
	label = names_store_label(names->items[0].value);
	if (label == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rc = store_usage_count(store_dir, tenant->name, label, time(NULL),
	    usage, err, errlen);
	free(label);
	return rc;
}

time_t
issue_limits_not_after(const struct policy_tenant *tenant, time_t now)
{
	if (!tenant->max_lifetime.set)
		return 0;
	return now + (time_t)tenant->max_lifetime.value;
}

int
issue_limits_check_lifetime(const struct policy_tenant *tenant,
    const struct cert_chain *chain, time_t requested_not_after, char *err,
    size_t errlen)
{
	struct policy_decision decision;
	char line[GATE_LINE_MAX];
	int64_t not_before, not_after;
	time_t ordered;
	int allowed;

	if (requested_not_after == 0 || !tenant->max_lifetime.set)
		return 0;
	if (versions_validity(chain, &not_before, &not_after, err,
	    errlen) != 0)
		return -1;

	/* Measured from the order, so that a backdated notBefore is fine. */
	ordered = requested_not_after - (time_t)tenant->max_lifetime.value;
	gate_quiet_decisions();
	allowed = policy_check_lifetime(tenant, (long)(not_after - ordered),
	    &decision);
	gate_restore_decisions();
	if (allowed)
		return 0;
	gate_format_decision(tenant, NULL, NULL, &decision, line,
	    sizeof(line));
	snprintf(err, errlen, "the CA ignored the requested notAfter and "
	    "issued a certificate valid for %lld s from the order; it is not "
	    "stored: %s", (long long)(not_after - ordered), line);
	return -1;
}
