/*
 * HTTPS requests to an ACME server through a reused libcurl handle, so
 * that the connection is kept open between requests. After
 * http_share_init(), every client shares one TLS session cache and DNS
 * cache, and one pool of handles with their open connections.
 */
#ifndef CUSTOS_BROKER_HTTP_H
#define CUSTOS_BROKER_HTTP_H

#include <stddef.h>
#include <stdint.h>

/* Maximum response body; a larger body is an error, not a truncation. */
#define HTTP_MAX_BODY (4 * 1024 * 1024)
/* Maximum number of response header fields kept. */
#define HTTP_MAX_HEADERS 128

struct http_header {
	char *name;
	char *value;		/* surrounding white space removed */
};

struct http_response {
	long status;
	char *body;		/* NUL-terminated; body_len excludes it */
	size_t body_len;
	struct http_header *headers;
	size_t header_count;
};

struct http_client;

/*
 * Creates a client. trust_bundle, when not NULL, is the only set of trusted
 * CA certificates; otherwise the system store is used. timeout is the
 * limit for one request, in seconds. Returns 0 or -1 with a message in err.
 */
int http_client_new(const char *trust_bundle, long timeout,
    struct http_client **out, char *err, size_t errlen);
void http_client_free(struct http_client *client);

/*
 * Makes every client created afterwards share one libcurl TLS session
 * cache and DNS cache, locked for use from several threads, and borrow
 * a handle from one pool of at most max_connections for each request.
 * A handle keeps its open connections, so the process has at most
 * max_connections open; a request waits while every handle is lent.
 * Call it before any thread starts. Returns 0, or -1 with a message in
 * err.
 */
int http_share_init(int max_connections, char *err, size_t errlen);
/*
 * Frees the share and the pool's handles. Call it after every request
 * has ended.
 */
void http_share_cleanup(void);

/*
 * Sets *requests to the requests of client that got a response and
 * *connects to the connections they opened (CURLINFO_NUM_CONNECTS
 * summed), so that requests minus connects were sent on reused ones.
 */
void http_client_counts(const struct http_client *client,
    uint64_t *requests, uint64_t *connects);

/*
 * Each request fills resp (cleared first; free it with http_response_clear)
 * and returns 0 whatever the HTTP status, or -1 with a message in err when
 * no complete response arrived. accept may be NULL.
 */
int http_get(struct http_client *client, const char *url, const char *accept,
    struct http_response *resp, char *err, size_t errlen);
int http_head(struct http_client *client, const char *url,
    struct http_response *resp, char *err, size_t errlen);
/* POSTs body with Content-Type application/jose+json. */
int http_post_jose(struct http_client *client, const char *url,
    const char *body, const char *accept, struct http_response *resp,
    char *err, size_t errlen);

void http_response_clear(struct http_response *resp);

/*
 * Returns the value of the index-th header field called name (compared
 * case-insensitively), or NULL.
 */
const char *http_response_header(const struct http_response *resp,
    const char *name, size_t index);

/* Returns 1 when url is an absolute https:// URL with a host. */
int http_url_is_https(const char *url);

#endif
