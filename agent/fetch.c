/* The agent's HTTP client, on libcurl; see agent/fetch.h. */
#include "agent/fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#define URL_MAX 4096

static size_t
on_body(char *data, size_t size, size_t count, void *arg)
{
	struct fetch_result *result = arg;
	size_t len = size * count;
	char *grown;

	if (len > FETCH_BODY_MAX - result->body_len)
		return 0;
	grown = realloc(result->body, result->body_len + len + 1);
	if (grown == NULL)
		return 0;
	memcpy(grown + result->body_len, data, len);
	result->body = grown;
	result->body_len += len;
	grown[result->body_len] = '\0';
	return len;
}

/* Keeps the value of the ETag header, without its line end. */
static size_t
on_header(char *data, size_t size, size_t count, void *arg)
{
	struct fetch_result *result = arg;
	size_t len = size * count, vlen;
	const char *value;

	if (len > 5 && strncasecmp(data, "ETag:", 5) == 0) {
		value = data + 5;
		while (value < data + len && (*value == ' ' || *value == '\t'))
			value++;
		vlen = (size_t)(data + len - value);
		while (vlen > 0 && (value[vlen - 1] == '\r' ||
		    value[vlen - 1] == '\n' || value[vlen - 1] == ' '))
			vlen--;
		if (vlen >= sizeof(result->etag))
			vlen = 0;
		memcpy(result->etag, value, vlen);
		result->etag[vlen] = '\0';
	}
	return len;
}

/* Builds the request's URL with REF percent-encoded. */
static int
build_url(CURL *curl, const char *endpoint, const char *ref, char *url,
    size_t size)
{
	char *escaped = curl_easy_escape(curl, ref, 0);
	const char *base = endpoint;
	size_t blen;
	int n;

	if (escaped == NULL)
		return -1;
	if (endpoint[0] == '/')
		base = "http://localhost";
	blen = strlen(base);
	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	n = snprintf(url, size, "%.*s/v1/distribution/%s", (int)blen, base,
	    escaped);
	curl_free(escaped);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

int
fetch_dist(const struct fetch_target *target, const char *ref,
    const char *etag, struct fetch_result *result, char *err, size_t errlen)
{
	const char *endpoint = target->endpoint;
	char url[URL_MAX], *auth = NULL, *match = NULL;
	struct curl_slist *headers = NULL, *added;
	CURLcode code;
	CURL *curl;
	int rc = -1;

	memset(result, 0, sizeof(*result));
	if ((curl = curl_easy_init()) == NULL) {
		snprintf(err, errlen, "cannot start libcurl");
		return -1;
	}
	if (build_url(curl, endpoint, ref, url, sizeof(url)) != 0 ||
	    asprintf(&auth, "Authorization: Bearer %s", target->token) < 0 ||
	    (etag != NULL && asprintf(&match, "If-None-Match: %s",
	    etag) < 0)) {
		auth = NULL;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	headers = curl_slist_append(NULL, auth);
	if (headers != NULL && match != NULL &&
	    (added = curl_slist_append(headers, match)) != NULL)
		headers = added;
	if (endpoint[0] == '/')
		curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, endpoint);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long)target->timeout);
	if (target->ca_file != NULL)
		curl_easy_setopt(curl, CURLOPT_CAINFO, target->ca_file);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, result);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, result);
	code = curl_easy_perform(curl);
	if (code != CURLE_OK) {
		snprintf(err, errlen, "GET %s failed: %s%s", url,
		    curl_easy_strerror(code), code == CURLE_WRITE_ERROR ?
		    " (body larger than 1 MiB, or out of memory)" : "");
		fetch_result_clear(result);
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result->status);
	rc = 0;
out:
	for (added = headers; added != NULL; added = added->next)
		explicit_bzero(added->data, strlen(added->data));
	curl_slist_free_all(headers);
	if (auth != NULL) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	free(match);
	curl_easy_cleanup(curl);
	return rc;
}

void
fetch_result_clear(struct fetch_result *result)
{
	free(result->body);
	memset(result, 0, sizeof(*result));
}
