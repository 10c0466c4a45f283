/*
 * Signed requests: every POST carries a fresh Replay-Nonce (RFC 8555
 * section 6.5). Each response's nonce is kept for the next request, and a
 * badNonce error is retried with the nonce that came with it.
 */
#include "broker/acme.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "broker/headers.h"
#include "broker/problem.h"
#include "broker/signer_client.h"
#include "logging/log.h"

/* Keeps the response's Replay-Nonce, if it has a valid one. */
static void
keep_nonce(struct acme_client *client, const struct http_response *resp)
{
	const char *nonce = http_response_header(resp, "Replay-Nonce", 0);
	char *copy;

	if (nonce == NULL)
		return;
	if (!header_nonce_is_valid(nonce)) {
		log_warn("ignoring an invalid Replay-Nonce from the CA");
		return;
	}
	copy = strdup(nonce);
	if (copy == NULL)
		return;
	free(client->nonce);
	client->nonce = copy;
}

int
acme_nonce_fetch(struct acme_client *client)
{
	struct http_response resp = { 0 };
	int rc = -1;

	if (http_head(client->http, client->directory.new_nonce, &resp,
	    client->err, sizeof(client->err)) != 0)
		return -1;
	if (resp.status != 200 && resp.status != 204) {
		snprintf(client->err, sizeof(client->err), "newNonce %s "
		    "answered HTTP %ld", client->directory.new_nonce,
		    resp.status);
		goto out;
	}
	free(client->nonce);
	client->nonce = NULL;
	keep_nonce(client, &resp);
	if (client->nonce == NULL) {
		snprintf(client->err, sizeof(client->err), "newNonce %s sent "
		    "no valid Replay-Nonce header",
		    client->directory.new_nonce);
		goto out;
	}
	rc = 0;
out:
	http_response_clear(&resp);
	return rc;
}

/* Signs and sends one request with the current nonce, which is used up. */
static int
post_once(struct acme_client *client, const char *url, const char *payload,
    int use_jwk, const char *accept, struct http_response *resp)
{
	char *jws = NULL, *nonce;
	int rc;

	if (client->nonce == NULL && acme_nonce_fetch(client) != 0)
		return -1;
	nonce = client->nonce;
	client->nonce = NULL;
	rc = signer_jws_sign(client->signer, client->account_key_id, url,
	    nonce, use_jwk ? NULL : client->account_url, payload, &jws,
	    client->err, sizeof(client->err));
	free(nonce);
	if (rc != 0)
		return -1;
	rc = http_post_jose(client->http, url, jws, accept, resp, client->err,
	    sizeof(client->err));
	free(jws);
	if (rc != 0)
		return -1;
	keep_nonce(client, resp);
	return 0;
}

/* Formats an error response that carries no problem document. */
static void
describe_plain_error(struct acme_client *client, const char *url,
    const struct http_response *resp)
{
	const char *location = http_response_header(resp, "Location", 0);
	const char *retry = http_response_header(resp, "Retry-After", 0);

	if (resp->status >= 300 && resp->status < 400)
		snprintf(client->err, sizeof(client->err), "%s returned HTTP "
		    "%ld, a redirect to \"%.200s\", which custos does not "
		    "follow (check issuer directory)", url, resp->status,
		    location != NULL ? location : "");
	else if (retry != NULL)
		snprintf(client->err, sizeof(client->err), "%s returned HTTP "
		    "%ld without a problem document (the CA sent Retry-After "
		    "\"%.64s\"; try again later)", url, resp->status, retry);
	else
		snprintf(client->err, sizeof(client->err), "%s returned HTTP "
		    "%ld without a problem document", url, resp->status);
}

/*
 * Formats an error response; sets *bad_nonce when it is a badNonce. Some
 * CAs send problem documents as application/json, so a JSON object of
 * that type counts as one too.
 */
static void
describe_error(struct acme_client *client, const char *url,
    const struct http_response *resp, int *bad_nonce)
{
	const char *type = http_response_header(resp, "Content-Type", 0);
	char problem[768];
	json_t *doc = NULL;

	*bad_nonce = 0;
	if (type != NULL && (header_media_type_is(type,
	    "application/problem+json") || header_media_type_is(type,
	    "application/json")))
		doc = json_loadb(resp->body != NULL ? resp->body : "",
		    resp->body_len, 0, NULL);
	if (!json_is_object(doc) && (type == NULL ||
	    !header_media_type_is(type, "application/problem+json"))) {
		json_decref(doc);
		describe_plain_error(client, url, resp);
		return;
	}
	*bad_nonce = problem_is(doc, "badNonce");
	problem_format(doc, resp->status, problem, sizeof(problem));
	json_decref(doc);
	snprintf(client->err, sizeof(client->err), "the CA rejected the "
	    "request to %s: %s", url, problem);
}

static void
append_retry_count(struct acme_client *client, int retries)
{
	size_t used = strlen(client->err);

	snprintf(client->err + used, sizeof(client->err) - used, "; gave up "
	    "after %d badNonce retries (raise acme bad-nonce-retries)",
	    retries);
}

int
acme_post(struct acme_client *client, const char *url, const char *payload,
    int use_jwk, const char *accept, struct http_response *resp)
{
	int retries = client->config->acme.bad_nonce_retries;
	int attempt, bad_nonce;

	acme_failure_clear(client);
	for (attempt = 0;; attempt++) {
		if (post_once(client, url, payload, use_jwk, accept,
		    resp) != 0)
			return -1;
		if (resp->status >= 200 && resp->status < 300)
			return 0;
		acme_failure_note(client, resp);
		describe_error(client, url, resp, &bad_nonce);
		http_response_clear(resp);
		if (!bad_nonce)
			return -1;
		if (attempt >= retries) {
			append_retry_count(client, retries);
			return -1;
		}
		log_info("the CA rejected the nonce; retrying with a new one "
		    "(%d of %d)", attempt + 1, retries);
	}
}

int
acme_fetch_object(struct acme_client *client, const char *url,
    const char *kind, json_t **out, long *retry_after)
{
	struct http_response resp = { 0 };
	const char *value;
	int rc = -1;

	*out = NULL;
	if (retry_after != NULL)
		*retry_after = -1;
	if (acme_post(client, url, "", 0, "application/json", &resp) != 0)
		return -1;
	value = http_response_header(&resp, "Content-Type", 0);
	if (value == NULL || !header_media_type_is(value,
	    "application/json")) {
		snprintf(client->err, sizeof(client->err), "invalid %s from "
		    "the CA: Content-Type is \"%.64s\", expected "
		    "application/json", kind, value != NULL ? value : "");
		goto out;
	}
	if (acme_body_object(&resp, kind, out, client->err,
	    sizeof(client->err)) != 0)
		goto out;
	value = http_response_header(&resp, "Retry-After", 0);
	if (retry_after != NULL && value != NULL &&
	    header_retry_after(value, time(NULL),
	    client->config->acme.poll_timeout, retry_after) != 0) {
		log_warn("ignoring an invalid Retry-After \"%.64s\" from "
		    "the CA", value);
		*retry_after = -1;
	}
	rc = 0;
out:
	http_response_clear(&resp);
	return rc;
}

int
acme_poll_sleep(struct acme_client *client, long retry_after,
    long *step_ms, time_t deadline, const char *resource)
{
	long cap = client->config->acme.poll_interval * 1000L, delay;
	time_t left = deadline - time(NULL);
	struct timespec pause;

	if (left <= 0) {
		snprintf(client->err, sizeof(client->err), "timed out after "
		    "%d seconds waiting for %s (raise acme poll-timeout)",
		    client->config->acme.poll_timeout, resource);
		return -1;
	}
	if (retry_after > 0) {
		delay = retry_after * 1000L;
	} else {
		/* Retry-After: 0 grows too, so it cannot make a busy loop. */
		*step_ms = *step_ms <= 0 ? client->config->acme.poll_first_ms :
		    *step_ms * 2;
		if (*step_ms > cap)
			*step_ms = cap;
		delay = *step_ms;
	}
	/* A longer wait is cut short, so the last poll is at the deadline. */
	if (delay > (long)left * 1000L) {
		if (retry_after > 0)
			log_warn("the CA's Retry-After for %s is longer than "
			    "the %ld seconds left before acme poll-timeout; "
			    "polling again then", resource, (long)left);
		delay = (long)left * 1000L;
	}
	pause.tv_sec = delay / 1000;
	pause.tv_nsec = (delay % 1000) * 1000000L;
	/* A signal ends the wait early, as a stop request should. */
	nanosleep(&pause, NULL);
	return 0;
}
