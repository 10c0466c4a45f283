/*
 * One GET /v1/distribution/REF with the node's bearer token and
 * If-None-Match, over the API's UNIX socket or an http(s):// URL.
 */
#ifndef CUSTOS_AGENT_FETCH_H
#define CUSTOS_AGENT_FETCH_H

#include <stddef.h>

/* Largest body read; a larger one fails the request. */
#define FETCH_BODY_MAX (1024 * 1024)

struct fetch_result {
	long status;		/* HTTP status, 0 before a response */
	char etag[128];		/* the ETag header, "" when absent */
	char *body;		/* NUL-terminated, NULL when empty */
	size_t body_len;
};

/* The endpoint and transport settings of the requests. */
struct fetch_target {
	const char *endpoint;	/* socket path, or an http(s):// URL */
	const char *ca_file;	/* PEM roots for https; NULL: the system's */
	const char *token;
	int timeout;		/* seconds */
};

/*
 * Fetches REF. etag, when not NULL, is sent as If-None-Match. Returns 0
 * with result filled (any HTTP status), or -1 with err set when no
 * response arrived. The token is never in err.
 */
int fetch_dist(const struct fetch_target *target, const char *ref,
    const char *etag, struct fetch_result *result, char *err,
    size_t errlen);

void fetch_result_clear(struct fetch_result *result);

#endif
