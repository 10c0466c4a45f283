/*
 * The daemon's HTTP API (docs/api.md): JSON over HTTP/1.1 on a UNIX
 * socket, and optionally over TCP with TLS, served by libmicrohttpd in a
 * process of its own that the worker starts. On the socket a peer's
 * tenant comes from its credentials (SO_PEERCRED and SO_PEERGROUPS) and
 * the policy's users and groups, never from the request. On TCP a
 * caller is known only by its bearer token. The API process writes the
 * state database like custos cert does and wakes the worker with
 * SIGUSR1.
 */
#ifndef CUSTOS_BROKER_API_H
#define CUSTOS_BROKER_API_H

#include <stddef.h>
#include <stdint.h>

#include "broker/state.h"
#include "config/config.h"
#include "policy/policy.h"

/* Largest request body accepted; a larger one gets 413. */
#define API_BODY_MAX (64 * 1024)
/* Deepest nesting of JSON arrays and objects accepted in a body. */
#define API_JSON_DEPTH_MAX 8
/* Largest response body the command line reads. */
#define API_RESPONSE_MAX (4 * 1024 * 1024)

#define API_PROBLEM_PREFIX "urn:custos:error:"

struct api_server;

/*
 * Reads the TLS files of an api block with a listen address, as
 * api_bind() does, and checks the key file's owner and mode and that the
 * key belongs to the certificate, without binding anything. The
 * supervisor runs it before a reload replaces the running configuration.
 * Returns 0, or -1 with a message in err.
 */
int api_tls_check(const struct config_api *conf, char *err,
    size_t errlen);

/*
 * Binds and closes the TCP listen address of fresh when it differs from
 * the one of running, so that a reload is rejected while another program
 * uses the new address. The new worker binds it a moment later, so a
 * program that takes the port in between still makes that worker fail.
 * Returns 0, or -1 with a message in err.
 */
int api_listen_check(const struct config_api *running,
    const struct config_api *fresh, char *err, size_t errlen);

/*
 * Creates and binds the socket of config->api (as root, before the
 * worker drops privileges): creates its directory (0755) when missing,
 * replaces a stale socket, and sets mode 0666, or 0660 and the group of
 * config->api.group. With config->api.listen_address, also reads the
 * TLS files and binds the TCP listener. Sets *out to NULL when the API
 * is off.
 */
int api_bind(const struct custos_config *config, struct api_server **out,
    char *err, size_t errlen);

/*
 * Starts the API process, a child of the worker, which serves requests
 * until SIGTERM or the worker's death. It closes every descriptor it
 * inherits except stdio and the socket, writes no audit records, and
 * opens the state database itself once api_ready() is called. Call it
 * before the worker opens the database and starts threads, because
 * SQLite connections and threads do not survive fork(). config and
 * policy must stay valid in the worker until api_stop().
 */
int api_start(struct api_server *api, const struct custos_config *config,
    const struct policy *policy, char *err, size_t errlen);

/* Lets the API process open the database, which the worker migrated. */
void api_ready(struct api_server *api);

/*
 * Returns -1, after logging it, when the API process has exited, and 0
 * while it runs or when api is NULL.
 */
int api_check(struct api_server *api);

/* Stops the API process, removes the socket if it can, frees api. */
void api_stop(struct api_server *api);

/* api_rollback() results besides 0 and -1. */
#define API_ROLLBACK_NONE (-3)		/* no earlier version */
#define API_ROLLBACK_DEPLOY (-4)	/* switched, but the hook failed */

/*
 * Makes the newest earlier version of the certificate current again,
 * marks the replaced one rolled-back, switches the store's current
 * symlink and runs the deploy hook. The database changes first, so that a crash leaves the deploy
 * pending for the worker's next start. Sets restored and replaced to the
 * version names. Returns 0, -1, STATE_NOT_FOUND (no current version) or
 * one of the API_ROLLBACK_* values, with a message in err.
 */
/* NOTE: custos cert rollback still has its own copy in cert_cmd.c. */
int api_rollback(struct state *state, const struct custos_config *config,
    int64_t id, char *restored, char *replaced, size_t namelen, char *err,
    size_t errlen);

/*
 * Returns the deepest nesting of arrays and objects in JSON text, counted
 * outside strings, without parsing the rest; 0 for a scalar.
 */
int api_json_depth(const char *text, size_t len);

#endif
