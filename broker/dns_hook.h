/*
 * dns-01 records published through an operator's program, for DNS systems
 * without RFC 2136. The program runs as the broker's user (never as root)
 * with a clean environment, standard input from /dev/null, and this
 * command line:
 *
 *	PROGRAM add|remove NAME RECORD VALUE TENANT
 *
 * NAME is the identifier being validated, RECORD the owner of the TXT
 * record (after CNAME records), VALUE the TXT text and TENANT the tenant's
 * name or "" when none. The same values are in the environment as
 * CUSTOS_DNS_ACTION, CUSTOS_DNS_NAME, CUSTOS_DNS_RECORD, CUSTOS_DNS_VALUE,
 * CUSTOS_TENANT, with CUSTOS_DNS_ZONE and CUSTOS_DNS_TTL. Exit status 0
 * means done; "remove" of a record that is gone must also exit 0.
 */
#ifndef CUSTOS_BROKER_DNS_HOOK_H
#define CUSTOS_BROKER_DNS_HOOK_H

#include <stddef.h>

#include "config/config.h"

#define DNS_HOOK_ARGC 6
#define DNS_HOOK_ENVC 8
#define DNS_HOOK_OUTPUT_MAX 4096	/* bytes of output kept for the log */
#define DNS_HOOK_ENV_MAX 512		/* bytes of one environment entry */

struct dns_hook_request {
	const char *action;	/* "add" or "remove" */
	const char *name;
	const char *record;
	const char *value;
	const char *tenant;	/* NULL: "" */
};

/* The argument and environment vectors of one run, NULL-terminated. */
struct dns_hook_command {
	char *argv[DNS_HOOK_ARGC + 1];
	char *envp[DNS_HOOK_ENVC + 1];
	char env[DNS_HOOK_ENVC][DNS_HOOK_ENV_MAX];
};

/*
 * Fills cmd for zone's hook. Returns -1 when a value does not fit or
 * contains a byte outside printable ASCII.
 */
int dns_hook_build(const struct config_dns_zone *zone,
    const struct dns_hook_request *req, struct dns_hook_command *cmd,
    char *err, size_t errlen);

/*
 * Runs the hook and waits at most zone->hook_timeout seconds; its output
 * (stdout and stderr, at most DNS_HOOK_OUTPUT_MAX bytes) goes to the log.
 * Returns 0 when it exits 0, or -1 with a message in err.
 */
int dns_hook_run(const struct config_dns_zone *zone,
    const struct dns_hook_request *req, char *err, size_t errlen);

#endif
