#include "broker/http.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "broker/version.h"

struct http_client {
	CURL *curl;		/* with the pool: only during a request */
	char *trust_bundle;
	long timeout;
	uint64_t requests;	/* transfers that got a response */
	uint64_t connects;	/* new connections those transfers opened */
	char error[CURL_ERROR_SIZE];
	struct http_response *resp;	/* filled by the callbacks */
	size_t body_cap;	/* bytes allocated for resp->body */
	int body_too_large;
	int too_many_headers;
};

/*
 * The TLS sessions and DNS cache that every client shares once
 * http_share_init() has run, with one mutex per kind of data that
 * libcurl locks. Connections are not in the share: libcurl does not
 * support one connection cache used by concurrent threads
 * (CURLSHOPT_SHARE). Instead the clients borrow easy handles from one
 * pool for each request, and a handle keeps its open connections from
 * one borrower to the next. The pool has at most pool_max handles, so
 * the process keeps at most that many connections, with their TLS
 * state, however many orders are in flight.
 */
static CURLSH *share;
static pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_free = PTHREAD_COND_INITIALIZER;
static CURL **pool_idle;	/* idle handles, the last returned on top */
static int pool_idle_count;
static int pool_handles;	/* handles that exist, idle or lent */
static int pool_max;

static void
lock_share(CURL *handle, curl_lock_data data, curl_lock_access access,
    void *arg)
{
	(void)handle;
	(void)access;
	(void)arg;
	pthread_mutex_lock(&share_locks[data]);
}

static void
unlock_share(CURL *handle, curl_lock_data data, void *arg)
{
	(void)handle;
	(void)arg;
	pthread_mutex_unlock(&share_locks[data]);
}

int
http_share_init(int max_connections, char *err, size_t errlen)
{
	CURLSHcode rc = CURLSHE_OK;

	if (share != NULL)
		return 0;
	if (max_connections < 1) {
		snprintf(err, errlen, "the connection limit %d is below 1",
		    max_connections);
		return -1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "libcurl initialisation failed");
		return -1;
	}
	pool_idle = calloc((size_t)max_connections, sizeof(*pool_idle));
	if (pool_idle == NULL) {
		snprintf(err, errlen, "out of memory creating the handle "
		    "pool");
		return -1;
	}
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&share_locks[i], NULL);
	share = curl_share_init();
	if (share == NULL) {
		free(pool_idle);
		pool_idle = NULL;
		snprintf(err, errlen, "out of memory creating the libcurl "
		    "share");
		return -1;
	}
	rc |= curl_share_setopt(share, CURLSHOPT_LOCKFUNC, lock_share);
	rc |= curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, unlock_share);
	rc |= curl_share_setopt(share, CURLSHOPT_SHARE,
	    CURL_LOCK_DATA_SSL_SESSION);
	rc |= curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	if (rc != CURLSHE_OK) {
		curl_share_cleanup(share);
		share = NULL;
		free(pool_idle);
		pool_idle = NULL;
		snprintf(err, errlen, "libcurl rejected a share option");
		return -1;
	}
	pool_max = max_connections;
	return 0;
}

void
http_share_cleanup(void)
{
	if (share == NULL)
		return;
	pthread_mutex_lock(&pool_lock);
	while (pool_idle_count > 0)
		curl_easy_cleanup(pool_idle[--pool_idle_count]);
	pool_handles = 0;
	pthread_mutex_unlock(&pool_lock);
	free(pool_idle);
	pool_idle = NULL;
	curl_share_cleanup(share);
	share = NULL;
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&share_locks[i]);
}

/*
 * Lends a handle of the pool: an idle one, a new one while the pool has
 * fewer than pool_max, or else the first one returned. Returns NULL only
 * when a new handle cannot be made.
 */
static CURL *
pool_borrow(void)
{
	CURL *handle = NULL;

	pthread_mutex_lock(&pool_lock);
	while (pool_idle_count == 0 && pool_handles >= pool_max)
		pthread_cond_wait(&pool_free, &pool_lock);
	if (pool_idle_count > 0) {
		handle = pool_idle[--pool_idle_count];
	} else {
		handle = curl_easy_init();
		if (handle != NULL)
			pool_handles++;
	}
	pthread_mutex_unlock(&pool_lock);
	return handle;
}

static void
pool_return(CURL *handle)
{
	pthread_mutex_lock(&pool_lock);
	pool_idle[pool_idle_count++] = handle;
	pthread_cond_signal(&pool_free);
	pthread_mutex_unlock(&pool_lock);
}

void
http_client_counts(const struct http_client *client, uint64_t *requests,
    uint64_t *connects)
{
	*requests = client != NULL ? client->requests : 0;
	*connects = client != NULL ? client->connects : 0;
}

int
http_url_is_https(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	int ok = 0;

	if (u == NULL)
		return 0;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		goto out;
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		goto out;
	ok = strcmp(scheme, "https") == 0 && host[0] != '\0';
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ok;
}

void
http_response_clear(struct http_response *resp)
{
	for (size_t i = 0; i < resp->header_count; i++) {
		free(resp->headers[i].name);
		free(resp->headers[i].value);
	}
	free(resp->headers);
	free(resp->body);
	memset(resp, 0, sizeof(*resp));
}

static void
clear_headers(struct http_response *resp)
{
	for (size_t i = 0; i < resp->header_count; i++) {
		free(resp->headers[i].name);
		free(resp->headers[i].value);
	}
	free(resp->headers);
	resp->headers = NULL;
	resp->header_count = 0;
}

static char *
trimmed_copy(const char *s, size_t len)
{
	while (len > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' ||
	    s[len - 1] == '\r' || s[len - 1] == '\n'))
		len--;
	return strndup(s, len);
}

/* Keeps one header field; a status line starts a new header block. */
static size_t
header_callback(char *data, size_t size, size_t count, void *arg)
{
	struct http_client *client = arg;
	struct http_response *resp = client->resp;
	size_t len = size * count;
	struct http_header *headers;
	const char *colon;

	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		clear_headers(resp);
		return len;
	}
	colon = memchr(data, ':', len);
	if (colon == NULL || colon == data)
		return len;
	if (resp->header_count >= HTTP_MAX_HEADERS) {
		client->too_many_headers = 1;
		return 0;
	}
	headers = reallocarray(resp->headers, resp->header_count + 1,
	    sizeof(*headers));
	if (headers == NULL)
		return 0;
	resp->headers = headers;
	headers[resp->header_count].name = trimmed_copy(data,
	    (size_t)(colon - data));
	headers[resp->header_count].value = trimmed_copy(colon + 1,
	    len - (size_t)(colon - data) - 1);
	resp->header_count++;
	if (headers[resp->header_count - 1].name == NULL ||
	    headers[resp->header_count - 1].value == NULL)
		return 0;
	return len;
}

static size_t
body_callback(char *data, size_t size, size_t count, void *arg)
{
	struct http_client *client = arg;
	struct http_response *resp = client->resp;
	size_t len = size * count, need, cap;
	char *body;

	if (len > HTTP_MAX_BODY - resp->body_len) {
		client->body_too_large = 1;
		return 0;
	}
	/*
	 * Doubling keeps the copies linear in the body size; growing by each
	 * chunk copied a 4 MiB body hundreds of times over.
	 */
	need = resp->body_len + len + 1;
	if (need > client->body_cap) {
		cap = client->body_cap != 0 ? client->body_cap : 16384;
		while (cap < need)
			cap *= 2;
		if (cap > HTTP_MAX_BODY + 1)
			cap = HTTP_MAX_BODY + 1;
		body = realloc(resp->body, cap);
		if (body == NULL)
			return 0;
		resp->body = body;
		client->body_cap = cap;
	}
	memcpy(resp->body + resp->body_len, data, len);
	resp->body_len += len;
	resp->body[resp->body_len] = '\0';
	return len;
}

static int
set_common_options(struct http_client *client, const char *trust_bundle,
    long timeout)
{
	CURL *c = client->curl;
	CURLcode rc = CURLE_OK;

	rc |= curl_easy_setopt(c, CURLOPT_ERRORBUFFER, client->error);
	rc |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	rc |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	rc |= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	rc |= curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout);
	rc |= curl_easy_setopt(c, CURLOPT_USERAGENT,
	    "custos/" CUSTOS_VERSION);
	rc |= curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_callback);
	rc |= curl_easy_setopt(c, CURLOPT_HEADERDATA, client);
	rc |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_callback);
	rc |= curl_easy_setopt(c, CURLOPT_WRITEDATA, client);
	rc |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	rc |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (share != NULL)
		rc |= curl_easy_setopt(c, CURLOPT_SHARE, share);
	if (trust_bundle != NULL) {
		/* CAINFO alone leaves the system CA directory trusted. */
		rc |= curl_easy_setopt(c, CURLOPT_CAINFO, trust_bundle);
		rc |= curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	}
	return rc == CURLE_OK ? 0 : -1;
}

int
http_client_new(const char *trust_bundle, long timeout,
    struct http_client **out, char *err, size_t errlen)
{
	struct http_client *client;

	*out = NULL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "libcurl initialisation failed");
		return -1;
	}
	client = calloc(1, sizeof(*client));
	if (client == NULL)
		goto nomem;
	client->timeout = timeout;
	if (trust_bundle != NULL) {
		client->trust_bundle = strdup(trust_bundle);
		if (client->trust_bundle == NULL)
			goto nomem;
	}
	/* With the pool, each request borrows a handle. */
	if (share != NULL) {
		*out = client;
		return 0;
	}
	client->curl = curl_easy_init();
	if (client->curl == NULL)
		goto nomem;
	if (set_common_options(client, trust_bundle, timeout) != 0) {
		http_client_free(client);
		snprintf(err, errlen,
		    "libcurl rejected an option (it needs 7.85 or later)");
		return -1;
	}
	*out = client;
	return 0;

nomem:
	http_client_free(client);
	snprintf(err, errlen, "out of memory creating the HTTP client");
	return -1;
}

void
http_client_free(struct http_client *client)
{
	if (client == NULL)
		return;
	if (client->curl != NULL)
		curl_easy_cleanup(client->curl);
	free(client->trust_bundle);
	free(client);
}

/*
 * With the pool, lends client a handle with its options set; without it,
 * the client has its own. Returns 0, or -1 with a message in err.
 */
static int
client_attach(struct http_client *client, char *err, size_t errlen)
{
	if (share == NULL)
		return 0;
	client->curl = pool_borrow();
	if (client->curl == NULL) {
		snprintf(err, errlen, "out of memory creating an HTTP handle");
		return -1;
	}
	/* Keeps the handle's open connections; drops its options. */
	curl_easy_reset(client->curl);
	if (set_common_options(client, client->trust_bundle,
	    client->timeout) != 0) {
		pool_return(client->curl);
		client->curl = NULL;
		snprintf(err, errlen, "libcurl rejected an option");
		return -1;
	}
	return 0;
}

static void
client_detach(struct http_client *client)
{
	if (share == NULL)
		return;
	pool_return(client->curl);
	client->curl = NULL;
}

/* Sets the options of method ("GET", "HEAD" or "POST" with body). */
static void
set_method(CURL *c, const char *method, const char *body)
{
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 0L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		return;
	}
	/* HTTPGET resets NOBODY, so it must come first. */
	curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c, CURLOPT_NOBODY, strcmp(method, "HEAD") == 0 ?
	    1L : 0L);
}

static int
perform(struct http_client *client, const char *method, const char *url,
    struct curl_slist *fields, const char *body,
    struct http_response *resp, char *err, size_t errlen)
{
	long connects = 0;
	CURLcode rc;

	memset(resp, 0, sizeof(*resp));
	if (client_attach(client, err, errlen) != 0)
		return -1;
	client->resp = resp;
	client->error[0] = '\0';
	client->body_cap = 0;
	client->body_too_large = 0;
	client->too_many_headers = 0;
	set_method(client->curl, method, body);
	curl_easy_setopt(client->curl, CURLOPT_URL, url);
	curl_easy_setopt(client->curl, CURLOPT_HTTPHEADER, fields);

	rc = curl_easy_perform(client->curl);
	curl_easy_setopt(client->curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(client->curl, CURLOPT_POSTFIELDS, NULL);
	curl_easy_setopt(client->curl, CURLOPT_NOBODY, 0L);
	client->resp = NULL;
	if (curl_easy_getinfo(client->curl, CURLINFO_NUM_CONNECTS,
	    &connects) == CURLE_OK && connects > 0)
		client->connects += (uint64_t)connects;
	if (rc == CURLE_OK) {
		client->requests++;
		curl_easy_getinfo(client->curl, CURLINFO_RESPONSE_CODE,
		    &resp->status);
		client_detach(client);
		return 0;
	}
	client_detach(client);

	if (client->body_too_large)
		snprintf(err, errlen, "%s %s: response body over %d bytes",
		    method, url, HTTP_MAX_BODY);
	else if (client->too_many_headers)
		snprintf(err, errlen, "%s %s: more than %d header fields",
		    method, url, HTTP_MAX_HEADERS);
	else
		snprintf(err, errlen, "%s %s: %s", method, url,
		    client->error[0] != '\0' ? client->error :
		    curl_easy_strerror(rc));
	http_response_clear(resp);
	return -1;
}

/* Builds the request header list; returns NULL when memory runs out. */
static struct curl_slist *
request_fields(const char *accept, const char *content_type)
{
	struct curl_slist *list = NULL, *next;
	char line[256];

	snprintf(line, sizeof(line), "Accept: %s",
	    accept != NULL ? accept : "*/*");
	list = curl_slist_append(NULL, line);
	if (list != NULL && content_type != NULL) {
		snprintf(line, sizeof(line), "Content-Type: %s", content_type);
		next = curl_slist_append(list, line);
		if (next == NULL) {
			curl_slist_free_all(list);
			return NULL;
		}
		list = next;
	}
	return list;
}

int
http_get(struct http_client *client, const char *url, const char *accept,
    struct http_response *resp, char *err, size_t errlen)
{
	struct curl_slist *fields = request_fields(accept, NULL);
	int rc;

	if (fields == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rc = perform(client, "GET", url, fields, NULL, resp, err, errlen);
	curl_slist_free_all(fields);
	return rc;
}

int
http_head(struct http_client *client, const char *url,
    struct http_response *resp, char *err, size_t errlen)
{
	struct curl_slist *fields = request_fields(NULL, NULL);
	int rc;

	if (fields == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rc = perform(client, "HEAD", url, fields, NULL, resp, err, errlen);
	curl_slist_free_all(fields);
	return rc;
}

int
http_post_jose(struct http_client *client, const char *url,
    const char *body, const char *accept, struct http_response *resp,
    char *err, size_t errlen)
{
	struct curl_slist *fields;
	int rc;

	fields = request_fields(accept, "application/jose+json");
	if (fields == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rc = perform(client, "POST", url, fields, body, resp, err, errlen);
	curl_slist_free_all(fields);
	return rc;
}

const char *
http_response_header(const struct http_response *resp, const char *name,
    size_t index)
{
	for (size_t i = 0; i < resp->header_count; i++) {
		if (strcasecmp(resp->headers[i].name, name) != 0)
			continue;
		if (index-- == 0)
			return resp->headers[i].value;
	}
	return NULL;
}
