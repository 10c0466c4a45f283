#include "broker/tenant.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
caller_clear(struct caller *caller)
{
	free(caller->groups);
	memset(caller, 0, sizeof(*caller));
}

static void
lookup_user_name(struct caller *caller)
{
	struct passwd pw, *found = NULL;
	char buf[4096];

	if (getpwuid_r(caller->uid, &pw, buf, sizeof(buf), &found) == 0 &&
	    found != NULL && strlen(pw.pw_name) < sizeof(caller->user))
		snprintf(caller->user, sizeof(caller->user), "%s", pw.pw_name);
	else
		snprintf(caller->user, sizeof(caller->user), "uid %lu",
		    (unsigned long)caller->uid);
}

int
caller_identify(struct caller *caller, char *err, size_t errlen)
{
	int count;

	memset(caller, 0, sizeof(*caller));
	caller->uid = getuid();
	caller->gid = getgid();
	count = getgroups(0, NULL);
	if (count > 0) {
		caller->groups = calloc((size_t)count, sizeof(gid_t));
		if (caller->groups == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		count = getgroups(count, caller->groups);
	}
	if (count < 0) {
		snprintf(err, errlen, "cannot read the caller's groups: %s",
		    strerror(errno));
		caller_clear(caller);
		return -1;
	}
	caller->group_count = (size_t)count;
	lookup_user_name(caller);
	return 0;
}

static int
tenant_lists_gid(const struct policy_tenant *tenant, gid_t gid)
{
	for (size_t i = 0; i < tenant->gid_count; i++)
		if (tenant->gids[i] == gid)
			return 1;
	return 0;
}

/* Returns 1 when the tenant lists the caller's uid or one of its groups. */
static int
caller_is_member(const struct policy_tenant *tenant,
    const struct caller *caller)
{
	for (size_t i = 0; i < tenant->uid_count; i++)
		if (tenant->uids[i] == caller->uid)
			return 1;
	if (tenant_lists_gid(tenant, caller->gid))
		return 1;
	for (size_t i = 0; i < caller->group_count; i++)
		if (tenant_lists_gid(tenant, caller->groups[i]))
			return 1;
	return 0;
}

/* Writes the tenant names of the policy, comma-separated, into out. */
static void
list_tenants(const struct policy *policy, char *out, size_t outlen)
{
	size_t used = 0;
	int n;

	out[0] = '\0';
	for (size_t i = 0; i < policy->tenant_count && used < outlen; i++) {
		n = snprintf(out + used, outlen - used, "%s%s",
		    i > 0 ? ", " : "", policy->tenants[i].name);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	if (policy->tenant_count == 0)
		snprintf(out, outlen, "none");
}

static int
select_requested(const struct policy *policy, const struct caller *caller,
    const char *requested, const struct policy_tenant **tenant, char *err,
    size_t errlen)
{
	char names[256];

	*tenant = policy_find_tenant(policy, requested);
	if (*tenant == NULL) {
		list_tenants(policy, names, sizeof(names));
		snprintf(err, errlen, "tenant \"%s\" not found in %s (check "
		    "--tenant; tenants: %s)", requested, policy->file, names);
		return -1;
	}
	if (caller->uid == 0 || caller_is_member(*tenant, caller))
		return 0;
	snprintf(err, errlen, "user %s may not act for tenant %s (list the "
	    "user in the users of tenant %s in %s, or omit --tenant)",
	    caller->user, requested, requested, policy->file);
	*tenant = NULL;
	return -1;
}

int
tenant_select(const struct policy *policy, const struct caller *caller,
    const char *requested, const struct policy_tenant **tenant, char *err,
    size_t errlen)
{
	char why[256];

	if (caller->token_tenant != NULL) {
		if (requested != NULL &&
		    strcmp(requested, caller->token_tenant->name) != 0) {
			snprintf(err, errlen, "API token %s may act only for "
			    "tenant %s, not \"%s\"", caller->token_id,
			    caller->token_tenant->name, requested);
			return -1;
		}
		*tenant = caller->token_tenant;
		return 0;
	}
	if (requested != NULL)
		return select_requested(policy, caller, requested, tenant, err,
		    errlen);
	if (policy_tenant_for_peer(policy, caller->uid, caller->gid,
	    caller->groups, caller->group_count, tenant, why,
	    sizeof(why)) == 0)
		return 0;

	/* A member of some tenant failed because two match by group. */
	for (size_t i = 0; i < policy->tenant_count; i++) {
		if (caller_is_member(&policy->tenants[i], caller)) {
			snprintf(err, errlen, "user %s: %s", caller->user, why);
			return -1;
		}
	}
	snprintf(err, errlen, "user %s belongs to no tenant in %s (list the "
	    "user in a tenant's users%s)", caller->user, policy->file,
	    caller->uid == 0 ? ", or choose one with --tenant" : "");
	return -1;
}
