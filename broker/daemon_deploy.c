/*
 * The deploy of a version that has become current: the switch of the
 * store's current symlink and the deploy hook. The database records the
 * deploy as pending (broker/state.h, DEPLOY_*) in the transaction that
 * makes the version current, and clears it after the hook ran, so a
 * worker killed in between runs the deploy again when it restarts.
 */
#include "broker/daemon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/audit.h"
#include "broker/versions.h"
#include "logging/log.h"

/* Finds the newest version that was current before the current one. */
static void
find_previous(const struct state_version *v, void *arg)
{
	struct state_version *found = arg;

	if (found->id == 0 && strcmp(v->status, VERSION_PREVIOUS) == 0) {
		found->id = v->id;
		found->name = strdup(v->name);
		found->deploy_pending = DEPLOY_RESTORE;
	}
}

static int deploy_version(struct daemon_worker *w,
    const struct state_cert *cert, const struct state_version *v,
    char *err, size_t errlen);

/*
 * Makes the previous version current again after the deploy hook of
 * failed did not succeed, and runs the hook for it. Without a previous
 * version, failed stays current.
 */
static void
restore_previous(struct daemon_worker *w, const struct state_cert *cert,
    const struct state_version *failed)
{
	struct state_version previous = { 0 };
	char err[512];

	if (state_version_list(w->state, cert->id, find_previous, &previous,
	    err, sizeof(err)) != 0)
		goto fail;
	if (previous.name == NULL) {
		log_warn("certificate %lld: no earlier version to restore; "
		    "%s stays current", (long long)cert->id, failed->name);
		audit_record_rollback(cert->id, cert->tenant, failed->name,
		    NULL, "deploy-failure", "failure", "no earlier version "
		    "to restore");
		if (state_version_deployed(w->state, failed->id, err,
		    sizeof(err)) != 0)
			goto fail;
		goto out;
	}
	if (state_version_restore(w->state, cert->id, previous.id,
	    failed->id, VERSION_FAILED, err, sizeof(err)) != 0 ||
	    deploy_version(w, cert, &previous, err, sizeof(err)) != 0)
		goto fail;
	log_warn("certificate %lld: restored version %s",
	    (long long)cert->id, previous.name);
	audit_record_rollback(cert->id, cert->tenant, failed->name,
	    previous.name, "deploy-failure", "success", NULL);
	goto out;
fail:
	log_error("certificate %lld: restoring the previous version: %s",
	    (long long)cert->id, err);
	audit_record_rollback(cert->id, cert->tenant, failed->name,
	    previous.name, "deploy-failure", "failure", err);
out:
	free(previous.name);
}

/*
 * Switches current to v, runs the hook and records the deploy. A failed
 * hook of a new version restores the previous one; a failed hook of a
 * restored version is only reported, since nothing older is tried.
 */
static int
deploy_version(struct daemon_worker *w, const struct state_cert *cert,
    const struct state_version *v, char *err, size_t errlen)
{
	const struct config_daemon *daemon = &w->config->daemon;
	struct deploy_info info = { w->config->store.directory, cert->tenant,
	    cert->label, v->name, cert->names, cert->id,
	    v->deploy_pending == DEPLOY_RESTORE };

	if (versions_switch(info.store_dir, info.tenant, info.label, v->name,
	    err, errlen) != 0)
		return -1;
	if (versions_deploy(daemon, &info, err, errlen) == 0)
		return state_version_deployed(w->state, v->id, err, errlen);
	log_error("certificate %lld: %s", (long long)cert->id, err);
	if (info.rollback) {
		char ignored[256];

		state_version_deployed(w->state, v->id, ignored,
		    sizeof(ignored));
		return -1;
	}
	restore_previous(w, cert, v);
	return -1;
}

int
daemon_deploy(struct daemon_worker *w, const struct state_cert *cert,
    int resumed, char *err, size_t errlen)
{
	struct state_version v = { 0 };
	int rc;

	rc = state_version_current(w->state, cert->id, &v, err, errlen);
	if (rc == STATE_NOT_FOUND)
		return 0;
	if (rc != 0)
		return -1;
	if (v.deploy_pending != DEPLOY_NONE) {
		if (resumed)
			log_warn("certificate %lld: the deploy of version %s "
			    "was cut off; running it again",
			    (long long)cert->id, v.name);
		rc = deploy_version(w, cert, &v, err, errlen);
	} else if (resumed && !versions_is_current(w->config->store.directory,
	    cert->tenant, cert->label, v.name)) {
		/* Stored, but the worker died before recording it. */
		log_warn("certificate %lld: pointing current at %s again, the "
		    "version the database records", (long long)cert->id,
		    v.name);
		rc = versions_switch(w->config->store.directory, cert->tenant,
		    cert->label, v.name, err, errlen);
	}
	state_version_clear(&v);
	return rc;
}
