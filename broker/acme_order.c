/*
 * Orders (RFC 8555 sections 7.4 and 7.1.3): newOrder, polling, finalize.
 */
#include "broker/acme.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "broker/names.h"
#include "broker/problem.h"

/*
 * Builds the newOrder payload, with notAfter unless not_after is 0 and
 * replaces unless it is NULL.
 */
static json_t *
new_order_payload(const struct acme_names *names, time_t not_after,
    const char *replaces)
{
	json_t *identifiers = json_array(), *payload;
	char stamp[32];
	struct tm tm;

	for (size_t i = 0; identifiers != NULL && i < names->count; i++) {
		if (json_array_append_new(identifiers, json_pack("{s:s, s:s}",
		    "type", names->items[i].type, "value",
		    names->items[i].value)) != 0) {
			json_decref(identifiers);
			return NULL;
		}
	}
	payload = json_pack("{s:o}", "identifiers", identifiers);
	if (payload != NULL && replaces != NULL &&
	    json_object_set_new(payload, "replaces",
	    json_string(replaces)) != 0) {
		json_decref(payload);
		return NULL;
	}
	if (payload == NULL || not_after == 0)
		return payload;
	if (gmtime_r(&not_after, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0 ||
	    json_object_set_new(payload, "notAfter",
	    json_string(stamp)) != 0) {
		json_decref(payload);
		return NULL;
	}
	return payload;
}

/* Checks that the order is for exactly the identifiers requested. */
static int
check_identifiers(struct acme_client *client, const struct acme_order *order,
    const struct acme_names *names)
{
	json_t *ids = json_object_get(order->doc, "identifiers");
	size_t i, j;

	for (i = 0; i < names->count; i++) {
		for (j = 0; j < json_array_size(ids); j++) {
			json_t *id = json_array_get(ids, j);

			if (strcmp(json_string_value(json_object_get(id,
			    "type")), names->items[i].type) == 0 &&
			    strcasecmp(json_string_value(json_object_get(id,
			    "value")), names->items[i].value) == 0)
				break;
		}
		if (j == json_array_size(ids)) {
			snprintf(client->err, sizeof(client->err), "invalid "
			    "order from the CA: identifier %s:%s is missing",
			    names->items[i].type, names->items[i].value);
			return -1;
		}
	}
	if (json_array_size(ids) != names->count) {
		snprintf(client->err, sizeof(client->err), "invalid order from "
		    "the CA: %zu identifiers for %zu requested",
		    json_array_size(ids), names->count);
		return -1;
	}
	return 0;
}

static int
parse_order_response(struct acme_client *client,
    const struct http_response *resp, struct acme_order *order)
{
	json_t *doc;
	int rc;

	if (acme_body_object(resp, "order", &doc, client->err,
	    sizeof(client->err)) != 0)
		return -1;
	rc = acme_order_parse(doc, order, client->err, sizeof(client->err));
	json_decref(doc);
	return rc;
}

int
acme_order_new(struct acme_client *client, const struct acme_names *names,
    struct acme_order *order, char **order_url)
{
	struct http_response resp = { 0 };
	const char *location;
	json_t *payload;
	char *text = NULL;
	int rc = -1;

	*order_url = NULL;
	payload = new_order_payload(names, client->not_after,
	    client->replaces);
	if (payload != NULL && acme_order_profile(client, payload) != 0) {
		json_decref(payload);
		return -1;
	}
	if (payload != NULL)
		text = json_dumps(payload, JSON_COMPACT);
	json_decref(payload);
	if (text == NULL) {
		snprintf(client->err, sizeof(client->err), "out of memory");
		return -1;
	}
	if (acme_post(client, client->directory.new_order, text, 0,
	    "application/json", &resp) != 0)
		goto out;
	location = http_response_header(&resp, "Location", 0);
	if (resp.status != 201 || location == NULL ||
	    !http_url_is_https(location)) {
		snprintf(client->err, sizeof(client->err), "invalid newOrder "
		    "response from the CA: expected HTTP 201 with an https:// "
		    "Location, got HTTP %ld", resp.status);
		goto out;
	}
	if (parse_order_response(client, &resp, order) != 0)
		goto out;
	if (check_identifiers(client, order, names) != 0) {
		acme_order_clear(order);
		goto out;
	}
	*order_url = strdup(location);
	rc = *order_url != NULL ? 0 : -1;
out:
	free(text);
	http_response_clear(&resp);
	return rc;
}

int
acme_order_refresh(struct acme_client *client, const char *url,
    struct acme_order *order)
{
	json_t *doc;
	int rc;

	if (acme_fetch_object(client, url, "order", &doc, NULL) != 0)
		return -1;
	acme_order_clear(order);
	rc = acme_order_parse(doc, order, client->err, sizeof(client->err));
	json_decref(doc);
	return rc;
}

static void
describe_invalid_order(struct acme_client *client,
    const struct acme_order *order)
{
	char problem[768];

	if (order->error == NULL) {
		snprintf(client->err, sizeof(client->err), "the CA marked the "
		    "order invalid without an error");
		return;
	}
	problem_format(order->error, 0, problem, sizeof(problem));
	snprintf(client->err, sizeof(client->err), "the CA marked the order "
	    "invalid: %s", problem);
}

int
acme_order_wait(struct acme_client *client, const char *url,
    const char *wait_status, struct acme_order *order)
{
	time_t deadline = time(NULL) + client->config->acme.poll_timeout;
	long retry_after = -1, step_ms = 0;
	char resource[512];
	json_t *doc;
	int rc;

	snprintf(resource, sizeof(resource), "order %.400s to leave status "
	    "\"%s\"", url, wait_status);
	while (strcmp(order->status, wait_status) == 0) {
		if (acme_poll_sleep(client, retry_after, &step_ms, deadline,
		    resource) != 0 ||
		    acme_fetch_object(client, url, "order", &doc,
		    &retry_after) != 0)
			return -1;
		acme_order_clear(order);
		rc = acme_order_parse(doc, order, client->err,
		    sizeof(client->err));
		json_decref(doc);
		if (rc != 0)
			return -1;
	}
	if (strcmp(order->status, "invalid") == 0) {
		describe_invalid_order(client, order);
		return -1;
	}
	return 0;
}

int
acme_order_finalize(struct acme_client *client, const char *order_url,
    struct acme_order *order, const char *csr)
{
	struct http_response resp = { 0 };
	json_t *payload;
	char *text = NULL;
	int rc = -1;

	payload = json_pack("{s:s}", "csr", csr);
	if (payload != NULL)
		text = json_dumps(payload, JSON_COMPACT);
	json_decref(payload);
	if (text == NULL) {
		snprintf(client->err, sizeof(client->err), "out of memory");
		return -1;
	}
	if (acme_post(client, order->finalize, text, 0, "application/json",
	    &resp) != 0)
		goto out;
	acme_order_clear(order);
	if (parse_order_response(client, &resp, order) != 0)
		goto out;
	printf("finalize: order is %s\n", order->status);
	if (acme_order_wait(client, order_url, "processing", order) != 0)
		goto out;
	if (strcmp(order->status, "valid") != 0) {
		snprintf(client->err, sizeof(client->err), "the order is "
		    "\"%s\" after finalize, expected \"valid\"", order->status);
		goto out;
	}
	rc = 0;
out:
	free(text);
	http_response_clear(&resp);
	return rc;
}
