/*
 * Rollback of a managed certificate to its newest earlier version, shared
 * by custos cert rollback and the API.
 */
#include "broker/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/audit.h"
#include "broker/versions.h"

/* Finds the newest version that was current before the current one. */
static void
find_previous(const struct state_version *v, void *arg)
{
	struct state_version *found = arg;

	if (found->id == 0 && strcmp(v->status, VERSION_PREVIOUS) == 0) {
		found->id = v->id;
		found->name = strdup(v->name);
	}
}

/* Switches current to the restored version and runs its hook. */
static int
deploy_restored(struct state *state, const struct custos_config *config,
    const struct state_cert *cert, const struct state_version *restored,
    char *err, size_t errlen)
{
	struct deploy_info info = { config->store.directory, cert->tenant,
	    cert->label, restored->name, cert->names, cert->id, 1 };

	if (versions_switch(info.store_dir, cert->tenant, cert->label,
	    restored->name, err, errlen) != 0 ||
	    versions_deploy(&config->daemon, &info, err, errlen) != 0)
		return API_ROLLBACK_DEPLOY;
	return state_version_deployed(state, restored->id, err, errlen);
}

int
api_rollback(struct state *state, const struct custos_config *config,
    int64_t id, char *restored, char *replaced, size_t namelen, char *err,
    size_t errlen)
{
	struct state_version current = { 0 }, previous = { 0 };
	struct state_cert cert = { 0 };
	int rc;

	rc = state_cert_get(state, id, &cert, err, errlen);
	if (rc == 0)
		rc = state_version_current(state, id, &current, err, errlen);
	if (rc == STATE_NOT_FOUND && cert.id != 0)
		snprintf(err, errlen, "certificate %lld has no current "
		    "version to roll back from", (long long)id);
	if (rc == 0)
		rc = state_version_list(state, id, find_previous, &previous,
		    err, errlen);
	if (rc == 0 && previous.name == NULL) {
		snprintf(err, errlen, "certificate %lld has no earlier "
		    "version to roll back to", (long long)id);
		rc = API_ROLLBACK_NONE;
	}
	if (rc != 0)
		goto out;
	snprintf(restored, namelen, "%s", previous.name);
	snprintf(replaced, namelen, "%s", current.name);
	/* The database first: a crash after it leaves the deploy pending,
	 * and the daemon's worker runs it at its next start. */
	rc = state_version_restore(state, id, previous.id, current.id,
	    VERSION_ROLLED_BACK, err, errlen);
	if (rc == 0)
		rc = deploy_restored(state, config, &cert, &previous, err,
		    errlen);
	if (audit_record_rollback(id, cert.tenant, current.name,
	    previous.name, "command", rc == 0 ? "success" : "failure",
	    rc == 0 ? NULL : err) != 0 && rc == 0)
		rc = audit_status(err, errlen);
out:
	free(previous.name);
	state_version_clear(&current);
	state_cert_clear(&cert);
	return rc;
}
