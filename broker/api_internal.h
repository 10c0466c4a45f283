/*
 * Shared by the API process's files: broker/api_server.c (socket, HTTP,
 * peer credentials), broker/api_tcp.c (TCP listener, TLS files),
 * broker/api_route.c (paths, methods, tenants) and broker/api_json.c
 * (bodies, replies, problem documents).
 */
#ifndef CUSTOS_BROKER_API_INTERNAL_H
#define CUSTOS_BROKER_API_INTERNAL_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "broker/api.h"
#include "broker/audit.h"
#include "broker/state.h"
#include "broker/tenant.h"

/* What the API process holds while it serves. */
struct api_context {
	const struct custos_config *config;
	const struct policy *policy;
	struct state *state;
	pid_t worker;		/* woken with SIGUSR1 after a change */
	struct audit_log *audit;	/* this process's own audit log */
};

/* One request, complete, as the routes see it. */
struct api_call {
	struct api_context *ctx;
	const struct caller *caller;	/* the peer's credentials */
	const char *method;
	const char *path;
	const char *query_tenant;	/* ?tenant=NAME, or NULL */
	const char *body;		/* NUL-terminated, or NULL */
	size_t body_len;
	const char *if_none_match;	/* If-None-Match header, or NULL */
	int has_authorization;	/* an Authorization header was sent */
};

/* The response to send: status, JSON body and optional headers. */
struct api_reply {
	unsigned int status;
	json_t *body;
	const char *allow;		/* Allow header of a 405 */
	char location[64];		/* Location header of a 201, or "" */
	int problem;			/* 1: application/problem+json */
	char etag[96];			/* ETag header, quoted, or "" */
	/* A text/plain body sent instead of body, malloc'd, or NULL. */
	char *text;
};

/* Error types; the document's type is API_PROBLEM_PREFIX and the name. */
enum api_error {
	API_ERR_NOT_FOUND = 0,
	API_ERR_METHOD,
	API_ERR_MALFORMED_JSON,
	API_ERR_INVALID_REQUEST,
	API_ERR_BODY_TOO_LARGE,
	API_ERR_MEDIA_TYPE,
	API_ERR_NO_TENANT,
	API_ERR_UNAUTHORIZED,
	API_ERR_POLICY_DENIED,
	API_ERR_CONFLICT,
	API_ERR_NO_RECIPIENT,
	API_ERR_DEPLOY_FAILED,
	API_ERR_NOT_IMPLEMENTED,
	API_ERR_INTERNAL,
};

struct MHD_Connection;

/* The API's TCP listener with TLS (broker/api_tcp.c). */
struct api_tcp {
	int fd;			/* -1 without a listener */
	char name[INET6_ADDRSTRLEN + 16];	/* "ADDRESS port PORT" */
	char *certificate;	/* PEM chain, malloc'd */
	char *key;		/* PEM private key, malloc'd */
	size_t key_len;
	int min_version;	/* 12 for TLS 1.2, 13 for TLS 1.3 */
	int per_address;	/* connections from one client address */
};

/*
 * Reads the TLS chain and key of conf as root, checks that the key file
 * is root's and grants nothing to group or others, and binds and listens
 * on the listen address. Sets tcp->fd to -1 when conf has no listen.
 * Returns 0, or -1 with a message in err; tcp then needs api_tcp_wipe().
 */
int api_tcp_bind(const struct config_api *conf, struct api_tcp *tcp,
    char *err, size_t errlen);

/* Wipes and frees the key and the certificate held in tcp. */
void api_tcp_wipe(struct api_tcp *tcp);

/* The GnuTLS priority string for tcp->min_version. */
const char *api_tcp_priorities(const struct api_tcp *tcp);

/*
 * Fills caller for a connection on the TCP listener: no uid or group
 * (both -1, which no policy lists), and "tcp ADDRESS" as the name in
 * logs. Such a caller acts only through its bearer token.
 */
void api_tcp_identify(struct MHD_Connection *connection,
    struct caller *caller);

/* Routes a request to its handler and fills reply. */
void api_route(const struct api_call *call, struct api_reply *reply);

/* Selects the tenant the request acts for, or sets reply to 403. */
const struct policy_tenant *api_select_tenant(const struct api_call *call,
    const char *requested, struct api_reply *reply);

/* POST /v1/certificates/import, run by the worker (broker/api_jobs.c). */
void api_import(const struct api_call *call, struct api_reply *reply);

/* POST /v1/certificates/ID/revoke, for a certificate the caller may see. */
void api_revoke(const struct api_call *call, const struct state_cert *cert,
    struct api_reply *reply);

/* api_dist.c: GET /v1/distribution/REF for an edge node's token. */
#define API_DIST_PATH "/v1/distribution"
void api_dist_route(const struct api_call *call, struct api_reply *reply);

/* api_metrics.c: GET /v1/metrics in the Prometheus text format. */
#define API_METRICS_PATH "/v1/metrics"
#define API_METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"
void api_metrics_route(const struct api_call *call,
    struct api_reply *reply);

/*
 * Writes NAME="VALUE", after a comma unless first is set, with \\, \"
 * and newline in value escaped as the text format requires.
 */
void api_metrics_put_label(FILE *out, const char *name, const char *value,
    int first);

/*
 * Sorts a failed attempt's error message into a few stable reasons by
 * the words it contains; "other" when none matches or error is NULL.
 */
const char *api_metrics_failure_reason(const char *error);

/* Returns 1 when the peer may act for the tenant named tenant. */
int api_may_act_for(const struct api_call *call, const char *tenant);

/* Sets reply to a problem document; detail names the value and the fix. */
void api_problem(struct api_reply *reply, enum api_error error,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Sets reply to status and body, taking the reference to body. */
void api_reply_json(struct api_reply *reply, unsigned int status,
    json_t *body);

/*
 * Parses a request body as one JSON object, after the depth check.
 * Returns the object, or NULL after setting reply to a problem.
 */
json_t *api_parse_object(const struct api_call *call,
    struct api_reply *reply);

/* The certificate as a JSON object; with versions when state is set. */
json_t *api_cert_json(const struct state_cert *cert, struct state *state,
    char *err, size_t errlen);

/* Formats Unix time as "YYYY-MM-DDTHH:MM:SSZ"; JSON null for 0. */
json_t *api_time_json(int64_t when);

#endif
