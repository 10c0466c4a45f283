#include "broker/acme.h"

#include <stdio.h>

#include "broker/headers.h"

int
acme_directory_fetch(struct acme_client *client)
{
	const char *url = client->issuer->directory;
	struct http_response resp = { 0 };
	const char *type, *location;
	char reason[512];
	json_t *doc = NULL;
	int rc = -1;

	if (!http_url_is_https(url)) {
		snprintf(client->err, sizeof(client->err), "issuer %s: "
		    "directory \"%s\" is not an https:// URL (fix issuer "
		    "directory in %s)", client->issuer->name, url,
		    client->config->path);
		return -1;
	}
	if (http_get(client->http, url, "application/json", &resp, reason,
	    sizeof(reason)) != 0) {
		snprintf(client->err, sizeof(client->err), "cannot fetch the "
		    "ACME directory: %s (check that the CA is running and "
		    "issuer directory in %s)", reason, client->config->path);
		return -1;
	}
	location = http_response_header(&resp, "Location", 0);
	if (resp.status >= 300 && resp.status < 400) {
		snprintf(client->err, sizeof(client->err), "ACME directory %s "
		    "returned HTTP %ld, a redirect to \"%.200s\", which "
		    "custos does not follow (set issuer directory in %s to "
		    "the final URL)", url, resp.status,
		    location != NULL ? location : "", client->config->path);
		goto out;
	}
	if (resp.status != 200) {
		snprintf(client->err, sizeof(client->err), "ACME directory %s "
		    "answered HTTP %ld (check issuer directory in %s)", url,
		    resp.status, client->config->path);
		goto out;
	}
	type = http_response_header(&resp, "Content-Type", 0);
	if (type == NULL || !header_media_type_is(type, "application/json")) {
		snprintf(client->err, sizeof(client->err), "ACME directory %s "
		    "is not application/json (check issuer directory in %s)",
		    url, client->config->path);
		goto out;
	}
	if (acme_body_object(&resp, "directory", &doc, client->err,
	    sizeof(client->err)) != 0 ||
	    acme_directory_parse(doc, &client->directory, client->err,
	    sizeof(client->err)) != 0)
		goto out;
	rc = 0;
out:
	json_decref(doc);
	http_response_clear(&resp);
	return rc;
}
