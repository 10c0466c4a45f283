/*
 * GET /v1/metrics: the Prometheus text exposition format, version 0.0.4.
 * Every value comes from the state database, so the counters survive
 * restarts: orders from the orders table, attempts, failures and retries
 * from the attempts table, signer operations and requests to the CA
 * from the counters table that the worker adds to after each task,
 * expiry from the current version's notAfter.
 * Root reads the series of every tenant, any other caller only those of
 * the tenants it may act for.
 */
#include "broker/api_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

#include "logging/log.h"

/* The output buffer and lookups of one metrics response. */
struct metrics {
	const struct api_call *call;
	FILE *out;
	const char *name;	/* the counter put_tenant_count writes */
	json_t *last_attempt;	/* certificate id -> Unix time */
	json_t *reasons;	/* "tenant\nreason" -> count */
	int64_t now;
	int failed;
};

void
api_metrics_put_label(FILE *out, const char *name, const char *value, int first)
{
	fprintf(out, "%s%s=\"", first ? "" : ",", name);
	for (; *value != '\0'; value++) {
		if (*value == '\\' || *value == '"')
			fprintf(out, "\\%c", *value);
		else if (*value == '\n')
			fputs("\\n", out);
		else
			fputc(*value, out);
	}
	fputc('"', out);
}

static void
put_header(FILE *out, const char *name, const char *type,
    const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* NOTE: a new kind of error message lands in "other" until listed here. */
const char *
api_metrics_failure_reason(const char *error)
{
	static const struct {
		const char *word;
		const char *reason;
	} table[] = {
		{ "rateLimited", "rate_limited" },
		{ "denied", "policy" },
		{ "policy", "policy" },
		{ "signer", "signer" },
		{ "deploy hook", "deploy" },
		{ "timed out", "timeout" },
		{ "Timeout", "timeout" },
		{ "connect", "network" },
		{ "resolve", "network" },
		{ "(HTTP ", "ca_error" },
		{ "check", "check" },
	};
	size_t i;

	if (error == NULL)
		return "other";
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strstr(error, table[i].word) != NULL)
			return table[i].reason;
	return "other";
}

static void
put_tenant_count(const struct state_count *row, void *arg)
{
	struct metrics *m = arg;

	if (!api_may_act_for(m->call, row->tenant))
		return;
	fprintf(m->out, "%s{", m->name);
	api_metrics_put_label(m->out, "tenant", row->tenant, 1);
	if (row->key != NULL)
		api_metrics_put_label(m->out, "result", row->key, 0);
	fprintf(m->out, "} %lld\n", (long long)row->value);
}

/* Runs a tally that has a tenant label and optionally a result label. */
static void
put_counter(struct metrics *m, enum state_count_kind kind,
    const char *name, const char *help)
{
	char err[512];

	put_header(m->out, name, "counter", help);
	m->name = name;
	if (state_count_list(m->call->ctx->state, kind, put_tenant_count, m,
	    err, sizeof(err)) != 0) {
		log_error("api: %s", err);
		m->failed = 1;
	}
}

static void
add_failure(const struct state_count *row, void *arg)
{
	struct metrics *m = arg;
	char key[256];
	json_t *count;

	if (!api_may_act_for(m->call, row->tenant))
		return;
	snprintf(key, sizeof(key), "%s\n%s", row->tenant,
	    api_metrics_failure_reason(row->key));
	count = json_object_get(m->reasons, key);
	if (json_object_set_new(m->reasons, key, json_integer(count == NULL ?
	    1 : json_integer_value(count) + 1)) != 0)
		m->failed = 1;
}

static void
put_failures(struct metrics *m)
{
	const char *key;
	char tenant[128];
	json_t *count;
	char err[512];
	size_t len;

	put_header(m->out, "custos_failures_total", "counter", "Failed "
	    "issuance attempts by reason.");
	if (state_count_list(m->call->ctx->state, STATE_COUNT_FAILURES,
	    add_failure, m, err, sizeof(err)) != 0) {
		log_error("api: %s", err);
		m->failed = 1;
		return;
	}
	json_object_foreach(m->reasons, key, count) {
		len = strcspn(key, "\n");
		snprintf(tenant, sizeof(tenant), "%.*s", (int)len, key);
		fputs("custos_failures_total{", m->out);
		api_metrics_put_label(m->out, "tenant", tenant, 1);
		api_metrics_put_label(m->out, "reason", key + len + 1, 0);
		fprintf(m->out, "} %lld\n",
		    (long long)json_integer_value(count));
	}
}

static void
add_last_attempt(const struct state_count *row, void *arg)
{
	struct metrics *m = arg;

	if (row->key != NULL && json_object_set_new(m->last_attempt,
	    row->key, json_integer(row->value)) != 0)
		m->failed = 1;
}

static void
put_cert_labels(FILE *out, const struct state_cert *cert)
{
	char id[24];

	snprintf(id, sizeof(id), "%lld", (long long)cert->id);
	fputc('{', out);
	api_metrics_put_label(out, "tenant", cert->tenant, 1);
	api_metrics_put_label(out, "id", id, 0);
	api_metrics_put_label(out, "label", cert->label, 0);
	fputc('}', out);
}

/* Writes the expiry gauge of one certificate that has a version. */
static void
put_expiry(const struct state_cert *cert, void *arg)
{
	struct metrics *m = arg;
	struct state_version v = { 0 };
	char err[512];
	int rc;

	if (!api_may_act_for(m->call, cert->tenant))
		return;
	rc = state_version_current(m->call->ctx->state, cert->id, &v, err,
	    sizeof(err));
	if (rc == 0) {
		fputs("custos_certificate_expiry_seconds", m->out);
		put_cert_labels(m->out, cert);
		fprintf(m->out, " %lld\n", (long long)(v.not_after - m->now));
	} else if (rc != STATE_NOT_FOUND) {
		log_error("api: %s", err);
		m->failed = 1;
	}
	state_version_clear(&v);
}

/* Writes the last-attempt gauge of one certificate that had one. */
static void
put_last_attempt(const struct state_cert *cert, void *arg)
{
	struct metrics *m = arg;
	char id[24];
	json_t *when;

	if (!api_may_act_for(m->call, cert->tenant))
		return;
	snprintf(id, sizeof(id), "%lld", (long long)cert->id);
	when = json_object_get(m->last_attempt, id);
	if (when == NULL)
		return;
	fputs("custos_certificate_last_attempt_timestamp_seconds", m->out);
	put_cert_labels(m->out, cert);
	fprintf(m->out, " %lld\n", (long long)json_integer_value(when));
}

static void
put_certificates(struct metrics *m)
{
	struct state *state = m->call->ctx->state;
	char err[512];

	put_header(m->out, "custos_certificate_expiry_seconds", "gauge",
	    "Seconds until the current version expires, negative after.");
	if (state_cert_list(state, put_expiry, m, err, sizeof(err)) != 0 ||
	    state_count_list(state, STATE_COUNT_LAST_ATTEMPT,
	    add_last_attempt, m, err, sizeof(err)) != 0) {
		log_error("api: %s", err);
		m->failed = 1;
		return;
	}
	put_header(m->out, "custos_certificate_last_attempt_timestamp_seconds",
	    "gauge", "Unix time at which the newest issuance attempt "
	    "started.");
	if (state_cert_list(state, put_last_attempt, m, err,
	    sizeof(err)) != 0) {
		log_error("api: %s", err);
		m->failed = 1;
	}
}

/* Writes every metric into m->out. */
static void
put_metrics(struct metrics *m)
{
	put_certificates(m);
	put_counter(m, STATE_COUNT_ORDERS, "custos_orders_total",
	    "ACME orders created.");
	put_counter(m, STATE_COUNT_ATTEMPTS, "custos_attempts_total",
	    "Issuance attempts by result.");
	put_counter(m, STATE_COUNT_RETRIES, "custos_retries_total",
	    "Attempts that followed a failed or interrupted attempt.");
	put_counter(m, STATE_COUNT_SIGNER, "custos_signer_operations_total",
	    "Requests the worker sent to the signer.");
	put_counter(m, STATE_COUNT_ACME_REQUESTS, "custos_acme_requests_total",
	    "HTTPS requests that orders sent to the CA.");
	put_counter(m, STATE_COUNT_ACME_CONNECTIONS,
	    "custos_acme_connections_total", "Connections to the CA that "
	    "those requests opened; the rest reused one.");
	put_failures(m);
}

void
api_metrics_route(const struct api_call *call, struct api_reply *reply)
{
	struct metrics m = { call, NULL, NULL, json_object(), json_object(),
	    time(NULL), 0 };
	char *text = NULL;
	size_t len = 0;

	if (strcmp(call->method, "GET") != 0) {
		api_problem(reply, API_ERR_METHOD, "%s is not allowed on %s "
		    "(use GET)", call->method, call->path);
		reply->allow = "GET";
		goto out;
	}
	m.out = open_memstream(&text, &len);
	if (m.out == NULL || m.last_attempt == NULL || m.reasons == NULL) {
		m.failed = 1;
	} else {
		put_metrics(&m);
		if (fclose(m.out) != 0)
			m.failed = 1;
		m.out = NULL;
	}
	if (m.failed) {
		free(text);
		api_problem(reply, API_ERR_INTERNAL, "reading the metrics "
		    "from the state database failed (see the daemon's log)");
		goto out;
	}
	reply->status = MHD_HTTP_OK;
	reply->text = text;
out:
	if (m.out != NULL)
		fclose(m.out);
	json_decref(m.last_attempt);
	json_decref(m.reasons);
}
