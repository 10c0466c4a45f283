/*
 * Which tenant a command-line caller acts for. The caller is identified by
 * its real uid, its real gid and its supplementary groups, as the kernel
 * reports them. The environment and the effective ids play no part.
 */
#ifndef CUSTOS_BROKER_TENANT_H
#define CUSTOS_BROKER_TENANT_H

#include <stddef.h>
#include <sys/types.h>

#include "policy/policy.h"

#define TENANT_USER_MAX 64

struct caller {
	uid_t uid;
	gid_t gid;
	gid_t *groups;		/* supplementary groups, malloc'd */
	size_t group_count;
	char user[TENANT_USER_MAX];	/* user name, or "uid N" */
	/*
	 * The tenant of the API token the request carried, or NULL. A token
	 * limits the caller to its tenant, whatever the caller's uid.
	 */
	const struct policy_tenant *token_tenant;
	const char *token_id;	/* the token's id in the policy, never it */
	/*
	 * The edge node whose token the request carried, and its tenant, or
	 * NULL. A node token reaches only the distribution endpoint.
	 */
	const struct policy_node *node;
	const struct policy_tenant *node_tenant;
};

/* Fills caller with the running process's real ids and groups. */
int caller_identify(struct caller *caller, char *err, size_t errlen);
void caller_clear(struct caller *caller);

/*
 * Selects the tenant the caller acts for. With requested NULL, that is the
 * tenant whose users list the caller, else the one whose groups contain
 * one of the caller's groups. A requested tenant must exist and list the
 * caller among its users or groups, unless the caller is root, which may
 * act for any tenant. A caller with an API token acts only for the token's
 * tenant. Returns 0 and sets *tenant, or -1 with a one-line
 * message in err that names the user and the fix.
 */
int tenant_select(const struct policy *policy, const struct caller *caller,
    const char *requested, const struct policy_tenant **tenant, char *err,
    size_t errlen);

#endif
