#ifndef CUSTOS_BROKER_ISSUE_H
#define CUSTOS_BROKER_ISSUE_H

#include <stddef.h>

#define ISSUE_DEFAULT_CONFIG "/etc/custos/custos.conf"

struct issue_options {
	const char *config_path;
	const char *issuer;	/* NULL: the only issuer in the file */
	const char *key_type;	/* NULL: acme certificate-key-type */
	/* custos cert add only: "hsm" or "wrapped"; NULL: hsm. */
	const char *key_export;
	const char *tenant;	/* NULL: the tenant that lists the caller */
	char *const *names;
	size_t name_count;
};

/*
 * Issues one certificate: loads the configuration and the policy, checks
 * the request against the tenant's policy, starts the signer, drops
 * privileges, runs the ACME order and stores the result in the tenant's
 * part of the store. Progress
 * goes to stdout, the error to stderr. Returns the exit status (0 or 1).
 */
int issue_run(const struct issue_options *options);

#endif
