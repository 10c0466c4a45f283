/*
 * The jobs that the API process hands to the worker (state.h): imports
 * and revocations, which need the signer that only the worker holds. The
 * worker runs them before any due task and stores the HTTP response that
 * the waiting API process sends.
 */
#include "broker/daemon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "broker/api_internal.h"
#include "broker/audit_issue.h"
#include "broker/cert_import.h"
#include "broker/revoke.h"
#include "logging/log.h"

static void
collect_denial(const char *line, void *arg)
{
	json_array_append_new(arg, json_string(line));
}

/* Replies 403 with every denial, as POST /v1/certificates does. */
static void
deny_import(const struct policy_tenant *tenant, const char *store_dir,
    const struct cert_import *imp, const struct signer_key *key,
    struct api_reply *reply)
{
	json_t *denials = json_array();

	if (denials == NULL ||
	    cert_import_check_policy(tenant, store_dir, imp, key,
	    collect_denial, denials) == 0) {
		json_decref(denials);
		return;
	}
	api_problem(reply, API_ERR_POLICY_DENIED, "the policy of tenant %s "
	    "denies the imported certificate: %s", tenant->name,
	    json_string_value(json_array_get(denials, 0)));
	json_object_set_new(reply->body, "denials", denials);
}

/* Stores the checked upload and replies 201 with the certificate. */
static void
store_import(struct daemon_worker *w, const char *tenant,
    struct cert_import *imp, const struct signer_key *key,
    struct api_reply *reply, char *err, size_t errlen)
{
	struct state_cert cert = { 0 };
	int64_t id = 0;
	int rc;

	rc = cert_import_store(w->config, w->state, tenant, imp, key,
	    time(NULL), &id, err, errlen);
	if (rc == CERT_IMPORT_REJECTED) {
		api_problem(reply, API_ERR_INVALID_REQUEST, "%s", err);
		return;
	}
	if (rc == CERT_IMPORT_EXISTS) {
		api_problem(reply, API_ERR_CONFLICT, "%s", err);
		return;
	}
	if (rc != 0 || state_cert_get(w->state, id, &cert, err, errlen) != 0) {
		log_error("import for tenant %s: %s", tenant, err);
		api_problem(reply, API_ERR_INTERNAL, "%s (see the daemon's "
		    "log)", err);
		return;
	}
	log_info("imported certificate %lld for tenant %s: serial %s",
	    (long long)id, tenant, imp->chain.serial_hex);
	api_reply_json(reply, MHD_HTTP_CREATED, api_cert_json(&cert, NULL,
	    err, errlen));
	state_cert_clear(&cert);
}

/*
 * Runs the deploy hook of the import that reply announces, as for a new
 * ACME version. A failed hook turns reply into a deploy-failed problem
 * that still gives the certificate's id, because the import stays.
 */
static void
deploy_import(struct daemon_worker *w, struct api_reply *reply)
{
	int64_t id = json_integer_value(json_object_get(reply->body, "id"));
	char err[512];

	if (cert_import_deploy(w->config, w->state, id, err,
	    sizeof(err)) == 0)
		return;
	log_error("certificate %lld: %s", (long long)id, err);
	json_decref(reply->body);
	memset(reply, 0, sizeof(*reply));
	api_problem(reply, API_ERR_DEPLOY_FAILED, "certificate %lld is "
	    "imported and current, but %s", (long long)id, err);
	json_object_set_new(reply->body, "id", json_integer(id));
}

static void
run_import(struct daemon_worker *w, const struct state_job *job,
    const json_t *request, struct api_reply *reply)
{
	const char *chain = json_string_value(json_object_get(request,
	    "chain"));
	const char *key_id = json_string_value(json_object_get(request,
	    "key_id"));
	const struct policy_tenant *tenant;
	struct signer_key key = { 0 };
	struct cert_import imp;
	char err[ACME_ERR_MAX], *names;

	memset(&imp, 0, sizeof(imp));
	tenant = policy_find_tenant(w->policy, job->tenant);
	w->signer.tenant = tenant != NULL ? tenant->name : NULL;
	/* A malformed key id would end the signer's connection. */
	if (tenant == NULL || chain == NULL || key_id == NULL ||
	    strlen(key_id) != IPC_KEY_ID_LEN ||
	    strspn(key_id, "0123456789abcdef") != IPC_KEY_ID_LEN) {
		api_problem(reply, API_ERR_INTERNAL, "job %lld is invalid "
		    "or its tenant left the policy", (long long)job->id);
	} else if (cert_import_parse(chain, strlen(chain), time(NULL), &imp,
	    err, sizeof(err)) != 0) {
		api_problem(reply, API_ERR_INVALID_REQUEST, "%s", err);
	} else if (signer_key_public_of(&w->signer, key_id, tenant->name,
	    &key, err, sizeof(err)) != 0) {
		/* Unknown and foreign keys get one error, so nothing leaks. */
		log_warn("import for tenant %s: %s", tenant->name, err);
		api_problem(reply, API_ERR_INVALID_REQUEST, "key %s is not a "
		    "certificate key of tenant %s in the token (store the key "
		    "with custos-signer --import-key --tenant %s)", key_id,
		    tenant->name, tenant->name);
	} else {
		deny_import(tenant, w->config->store.directory, &imp, &key,
		    reply);
		if (reply->body == NULL)
			store_import(w, tenant->name, &imp, &key, reply, err,
			    sizeof(err));
	}
	names = cert_import_join_names(&imp.names);
	audit_cert_command("cert import", reply->status ==
	    MHD_HTTP_CREATED ? json_integer_value(json_object_get(
	    reply->body, "id")) : 0, job->tenant, names,
	    reply->status == MHD_HTTP_CREATED ? "success" : "failure",
	    reply->status == MHD_HTTP_CREATED ? NULL : json_string_value(
	    json_object_get(reply->body, "detail")));
	free(names);
	if (reply->status == MHD_HTTP_CREATED)
		deploy_import(w, reply);
	signer_key_clear(&key);
	cert_import_clear(&imp);
	w->signer.tenant = NULL;
}

/* Releases what prepare_acme() set up. */
static void
clear_acme(struct acme_client *acme)
{
	http_client_free(acme->http);
	acme_directory_clear(&acme->directory);
	free(acme->nonce);
	free(acme->account_url);
	free(acme->account_thumbprint);
}

/* Connects to the certificate's issuer and finds its revokeCert URL. */
static const char *
prepare_acme(struct daemon_worker *w, const struct state_cert *cert,
    struct acme_client *acme)
{
	const char *url;

	acme->config = w->config;
	acme->issuer = config_find_issuer(w->config, cert->issuer);
	if (acme->issuer == NULL) {
		snprintf(acme->err, sizeof(acme->err), "issuer %s of "
		    "certificate %lld is no longer in the configuration",
		    cert->issuer, (long long)cert->id);
		return NULL;
	}
	w->signer.tenant = cert->tenant;
	acme->signer = &w->signer;
	if (http_client_new(acme->issuer->trust_bundle,
	    w->config->acme.http_timeout, &acme->http, acme->err,
	    sizeof(acme->err)) != 0 || acme_directory_fetch(acme) != 0)
		return NULL;
	url = json_string_value(json_object_get(acme->directory.doc,
	    "revokeCert"));
	if (url == NULL || !http_url_is_https(url)) {
		snprintf(acme->err, sizeof(acme->err), "the directory of "
		    "issuer %s has no https:// revokeCert URL",
		    acme->issuer->name);
		return NULL;
	}
	return url;
}

/* Sets rev->directory to the current version's directory. */
static int
find_current(struct daemon_worker *w, const struct state_cert *cert,
    struct revocation *rev, struct api_reply *reply)
{
	struct state_version v = { 0 };
	char err[512];
	int rc;

	rc = state_version_current(w->state, cert->id, &v, err, sizeof(err));
	if (rc == STATE_NOT_FOUND) {
		api_problem(reply, API_ERR_CONFLICT, "%s, so there is nothing "
		    "to revoke", err);
		return -1;
	}
	if (rc != 0 || asprintf(&rev->directory, "%s/%s/%s/%s",
	    w->config->store.directory, cert->tenant, cert->label,
	    v.name) < 0) {
		rev->directory = NULL;
		api_problem(reply, API_ERR_INTERNAL, "%s", rc != 0 ? err :
		    "out of memory");
		state_version_clear(&v);
		return -1;
	}
	state_version_clear(&v);
	return 0;
}

/* Returns 1 when the version directory contains a "revoked" marker. */
static int
is_revoked(const struct revocation *rev)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/revoked", rev->directory);
	return access(path, F_OK) == 0;
}

/* Sends revokeCert and replies with the serial and the reason. */
static void
send_revocation(struct daemon_worker *w, const struct state_cert *cert,
    struct revocation *rev, int reason, struct api_reply *reply)
{
	struct acme_client acme;
	const char *url;
	struct audit_revocation record = { 0 };
	int rc = -1;

	memset(&acme, 0, sizeof(acme));
	url = prepare_acme(w, cert, &acme);
	/* It loads and saves the account record, as order threads do. */
	pthread_mutex_lock(&w->shared->account_lock);
	if (url != NULL)
		rc = revoke_by_account_key(&acme, url, rev, reason);
	pthread_mutex_unlock(&w->shared->account_lock);
	if (rc != 0 && strcmp(acme.fail_type, "alreadyRevoked") == 0)
		api_problem(reply, API_ERR_CONFLICT, "certificate %lld "
		    "(serial %s) is already revoked: %s", (long long)cert->id,
		    rev->serial, acme.err);
	else if (rc != 0)
		api_problem(reply, API_ERR_INTERNAL, "revoking certificate "
		    "%lld failed: %s", (long long)cert->id, acme.err);
	else if (revoke_write_marker(rev, acme.issuer->name, 0, reason,
	    acme.err, sizeof(acme.err)) != 0)
		log_error("certificate %lld: %s", (long long)cert->id,
		    acme.err);
	if (rc == 0)
		api_reply_json(reply, MHD_HTTP_OK, json_pack("{s:I, s:s, s:i}",
		    "id", (json_int_t)cert->id, "serial", rev->serial,
		    "reason", reason < 0 ? 0 : reason));
	record = (struct audit_revocation){ rev->serial, acme.issuer != NULL ?
	    acme.issuer->name : NULL, acme.account_url, "account-key",
	    acme.account_key_id[0] != '\0' ? acme.account_key_id : NULL,
	    rev->directory, reason };
	audit_record_revocation(&record, rc == 0 ? "success" : "failure",
	    rc == 0 ? NULL : acme.err);
	clear_acme(&acme);
	/* The tenant belongs to cert, which the caller frees. */
	w->signer.tenant = NULL;
}

static void
run_revoke(struct daemon_worker *w, const struct state_job *job,
    const json_t *request, struct api_reply *reply)
{
	const json_t *reason = json_object_get(request, "reason");
	struct revocation rev = { 0 };
	struct state_cert cert = { 0 };
	char err[512];

	if (state_cert_get(w->state, job->cert_id, &cert, err,
	    sizeof(err)) != 0) {
		api_problem(reply, API_ERR_INTERNAL, "%s", err);
		return;
	}
	if (find_current(w, &cert, &rev, reply) != 0)
		goto out;
	if (is_revoked(&rev)) {
		api_problem(reply, API_ERR_CONFLICT, "certificate %lld is "
		    "already revoked (%s/revoked)", (long long)cert.id,
		    rev.directory);
		goto out;
	}
	if (revoke_read_certificate(&rev, err, sizeof(err)) != 0) {
		api_problem(reply, API_ERR_INTERNAL, "%s", err);
		goto out;
	}
	send_revocation(w, &cert, &rev, reason != NULL ?
	    (int)json_integer_value(reason) : -1, reply);
out:
	free(rev.directory);
	free(rev.certificate);
	state_cert_clear(&cert);
}

/* Runs one job and stores its response. */
static void
run_job(struct daemon_worker *w, const struct state_job *job)
{
	struct api_reply reply = { 0 };
	json_t *request, *caller;
	char err[512], *text;

	request = json_loads(job->request, 0, NULL);
	caller = json_object_get(request, "caller");
	audit_set_actor(audit_current(), job->tenant, json_string_value(
	    json_object_get(caller, "user")), (uid_t)json_integer_value(
	    json_object_get(caller, "uid")), NULL);
	log_info("job %lld: %s for tenant %s", (long long)job->id, job->kind,
	    job->tenant);
	if (request == NULL)
		api_problem(&reply, API_ERR_INTERNAL, "job %lld has no valid "
		    "request", (long long)job->id);
	else if (strcmp(job->kind, "import") == 0)
		run_import(w, job, request, &reply);
	else
		run_revoke(w, job, request, &reply);
	text = reply.body != NULL ? json_dumps(reply.body, JSON_COMPACT) :
	    NULL;
	if (state_job_finish(w->state, job->id, text != NULL ?
	    (int)reply.status : 500, text != NULL ? text : "{}", err,
	    sizeof(err)) != 0)
		log_error("job %lld: %s", (long long)job->id, err);
	free(text);
	json_decref(reply.body);
	json_decref(request);
}

int
daemon_run_jobs(struct daemon_worker *w)
{
	struct state_job job;
	char err[512];
	int found;

	while (!daemon_stop) {
		found = state_job_next(w->state, &job, err, sizeof(err));
		if (found < 0) {
			log_error("%s", err);
			return -1;
		}
		if (found == 0)
			return 0;
		run_job(w, &job);
		state_job_clear(&job);
	}
	return 0;
}
