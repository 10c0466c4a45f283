/*
 * The API's import and revoke. Both need the signer, and only the worker
 * has a connection to it. So the API process checks the request, adds a
 * job to the state database (state.h) and wakes the worker with SIGUSR1.
 * It then waits for the response that the worker stores
 * (broker/daemon_jobs.c).
 */
#include "broker/api_internal.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "broker/cert_import.h"
#include "broker/revoke.h"
#include "ipc/ipc.h"
#include "logging/log.h"

/*
 * How long the API process waits for a job that the worker has not
 * started, and then for one it is running. The worker starts jobs
 * between certificate runs, so a long issuance delays them.
 */
#define JOB_START_WAIT 60
#define JOB_RUN_WAIT 300

static void
internal(struct api_reply *reply, const char *err)
{
	log_error("api: %s", err);
	api_problem(reply, API_ERR_INTERNAL, "%s (see the daemon's log)",
	    err);
}

/*
 * Waits for job id to finish. Returns 1 when it is done, 0 when it was
 * cancelled before it started, or -1 with reply set to a problem.
 */
static int
wait_job(const struct api_call *call, int64_t id, struct state_job *job,
    struct api_reply *reply)
{
	struct timespec tick = { 0, 50 * 1000 * 1000 };
	time_t start = time(NULL);
	int started = 0, rc;
	char err[512];

	for (;;) {
		if (state_job_get(call->ctx->state, id, job, err,
		    sizeof(err)) != 0)
			return internal(reply, err), -1;
		if (strcmp(job->status, JOB_DONE) == 0)
			return 1;
		started = strcmp(job->status, JOB_PENDING) != 0;
		state_job_clear(job);
		if (!started && time(NULL) - start >= JOB_START_WAIT) {
			rc = state_job_cancel(call->ctx->state, id, err,
			    sizeof(err));
			if (rc < 0)
				return internal(reply, err), -1;
			if (rc == 1)
				return 0;
		}
		if (time(NULL) - start >= JOB_START_WAIT + JOB_RUN_WAIT)
			return internal(reply, "the worker has not finished "
			    "the job in time"), -1;
		nanosleep(&tick, NULL);
	}
}

/* Adds the job, wakes the worker and sets reply to the job's response. */
static void
run_job(const struct api_call *call, const char *kind, const char *tenant,
    int64_t cert_id, json_t *request, struct api_reply *reply)
{
	struct state_job job = { 0 };
	char err[512], *text;
	int64_t id = 0;
	int rc;

	json_object_set_new(request, "caller", json_pack("{s:s, s:I}",
	    "user", call->caller->user, "uid", (json_int_t)call->caller->uid));
	text = json_dumps(request, JSON_COMPACT);
	if (text == NULL) {
		internal(reply, "out of memory");
		return;
	}
	rc = state_job_add(call->ctx->state, kind, tenant, cert_id, text,
	    time(NULL), &id, err, sizeof(err));
	free(text);
	if (rc != 0) {
		internal(reply, err);
		return;
	}
	if (call->ctx->worker > 0 && getppid() == call->ctx->worker)
		kill(call->ctx->worker, SIGUSR1);
	rc = wait_job(call, id, &job, reply);
	if (rc == 0)
		api_problem(reply, API_ERR_CONFLICT, "the worker is busy and "
		    "did not start the %s within %d s; nothing was done (try "
		    "again later)", kind, JOB_START_WAIT);
	if (rc != 1)
		return;
	api_reply_json(reply, (unsigned int)job.http_status,
	    json_loads(job.response, 0, NULL));
	reply->problem = job.http_status >= 400;
	if (reply->body == NULL)
		internal(reply, "the worker stored an invalid response");
	state_job_clear(&job);
}

/* Reads a string member that must be present. */
static const char *
required_string(const json_t *doc, const char *key, struct api_reply *reply)
{
	const json_t *value = json_object_get(doc, key);

	if (!json_is_string(value)) {
		api_problem(reply, API_ERR_INVALID_REQUEST, "member \"%s\" "
		    "must be a string (see docs/api.md)", key);
		return NULL;
	}
	return json_string_value(value);
}

/* Checks the members of an import request; the worker checks the rest. */
static int
read_import(const json_t *doc, const char **chain, const char **key_id,
    const char **tenant, struct api_reply *reply)
{
	const char *key;
	json_t *value;

	json_object_foreach((json_t *)doc, key, value) {
		if (strcmp(key, "chain") != 0 && strcmp(key, "key_id") != 0 &&
		    strcmp(key, "tenant") != 0) {
			api_problem(reply, API_ERR_INVALID_REQUEST, "unknown "
			    "member \"%.64s\" (use chain, key_id and tenant)",
			    key);
			return -1;
		}
	}
	*chain = required_string(doc, "chain", reply);
	*key_id = *chain != NULL ? required_string(doc, "key_id", reply) :
	    NULL;
	if (*key_id == NULL)
		return -1;
	value = json_object_get(doc, "tenant");
	if (value != NULL && !json_is_string(value)) {
		api_problem(reply, API_ERR_INVALID_REQUEST, "member \"tenant\" "
		    "must be a string");
		return -1;
	}
	*tenant = json_string_value(value);
	if (strlen(*key_id) != IPC_KEY_ID_LEN ||
	    strspn(*key_id, "0123456789abcdef") != IPC_KEY_ID_LEN) {
		api_problem(reply, API_ERR_INVALID_REQUEST, "invalid key_id "
		    "\"%.64s\" (use the 32 lowercase hex digits that "
		    "custos-signer --import-key printed)", *key_id);
		return -1;
	}
	return 0;
}

void
api_import(const struct api_call *call, struct api_reply *reply)
{
	const char *chain, *key_id, *requested;
	const struct policy_tenant *tenant;
	struct cert_import imp;
	json_t *doc, *request = NULL;
	char err[512];

	doc = api_parse_object(call, reply);
	if (doc == NULL || read_import(doc, &chain, &key_id, &requested,
	    reply) != 0)
		goto out;
	tenant = api_select_tenant(call, requested, reply);
	if (tenant == NULL)
		goto out;
	/* Checks that need no signer run here, so bad input fails fast. */
	if (cert_import_parse(chain, strlen(chain), time(NULL), &imp, err,
	    sizeof(err)) != 0) {
		api_problem(reply, API_ERR_INVALID_REQUEST, "%s", err);
		goto out;
	}
	cert_import_clear(&imp);
	request = json_pack("{s:s, s:s}", "chain", chain, "key_id", key_id);
	if (request == NULL)
		internal(reply, "out of memory");
	else
		run_job(call, "import", tenant->name, 0, request, reply);
	if (reply->status == MHD_HTTP_CREATED)
		snprintf(reply->location, sizeof(reply->location),
		    "/v1/certificates/%lld", (long long)json_integer_value(
		    json_object_get(reply->body, "id")));
out:
	json_decref(request);
	json_decref(doc);
}

/* Reads the optional {"reason": N}; sets *reason to -1 without one. */
static int
read_reason(const struct api_call *call, int *reason,
    struct api_reply *reply)
{
	const json_t *value;
	const char *key;
	json_t *doc, *member;
	json_int_t code;
	char *shown;

	*reason = -1;
	if (call->body == NULL || call->body_len == 0)
		return 0;
	doc = api_parse_object(call, reply);
	if (doc == NULL)
		return -1;
	json_object_foreach(doc, key, member) {
		if (strcmp(key, "reason") != 0) {
			api_problem(reply, API_ERR_INVALID_REQUEST, "unknown "
			    "member \"%.64s\" (use reason)", key);
			json_decref(doc);
			return -1;
		}
	}
	value = json_object_get(doc, "reason");
	code = json_integer_value(value);
	if (value != NULL && (!json_is_integer(value) ||
	    !revoke_reason_accepted((long)code))) {
		shown = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
		api_problem(reply, API_ERR_INVALID_REQUEST, "invalid reason "
		    "%.64s (use 0 (unspecified), 1 (keyCompromise), 3 "
		    "(affiliationChanged), 4 (superseded) or 5 "
		    "(cessationOfOperation), the RFC 5280 codes that ACME "
		    "CAs accept from a subscriber)", shown != NULL ? shown :
		    "");
		free(shown);
		json_decref(doc);
		return -1;
	}
	if (value != NULL)
		*reason = (int)code;
	json_decref(doc);
	return 0;
}

void
api_revoke(const struct api_call *call, const struct state_cert *cert,
    struct api_reply *reply)
{
	json_t *request;
	int reason;

	if (read_reason(call, &reason, reply) != 0)
		return;
	if (cert->imported) {
		api_problem(reply, API_ERR_CONFLICT, "certificate %lld was "
		    "imported, so custos has no ACME account that may revoke "
		    "it (ask its issuer)", (long long)cert->id);
		return;
	}
	request = reason >= 0 ? json_pack("{s:i}", "reason", reason) :
	    json_object();
	if (request == NULL) {
		internal(reply, "out of memory");
		return;
	}
	run_job(call, "revoke", cert->tenant, cert->id, request, reply);
	if (reply->status == MHD_HTTP_OK)
		log_info("api: user %s revoked certificate %lld (reason %d)",
		    call->caller->user, (long long)cert->id,
		    reason < 0 ? 0 : reason);
	json_decref(request);
}
