/*
 * The command line's side of the daemon's API (broker/api.h): custos cert
 * sends its command to a running daemon instead of writing the database.
 */
#ifndef CUSTOS_BROKER_API_CLIENT_H
#define CUSTOS_BROKER_API_CLIENT_H

#include <stddef.h>

#include "broker/issue.h"
#include "config/config.h"

/*
 * Returns 1 when a daemon answers on the configured API socket, 0 when
 * the API is off, the socket does not exist or nothing listens on it, and
 * -1 with a message in err when connecting fails otherwise (for example
 * a permission denied).
 */
int api_client_probe(const struct custos_config *config, char *err,
    size_t errlen);

/* Where custos cert sends its requests, and as whom. */
struct api_endpoint {
	const char *socket;	/* the daemon's UNIX socket, or NULL */
	/* The TCP listener, "https://HOST:PORT", used when socket is NULL. */
	const char *url;
	const char *ca_file;	/* CA bundle for the server, or NULL */
	char *token;		/* bearer token, malloc'd, or NULL */
};

/*
 * Reads the bearer token from the first line of path into
 * endpoint->token. The file must be a regular file that grants nothing
 * to group or others. Returns 0, or -1 with a message in err that never
 * contains the token.
 */
int api_client_read_token(struct api_endpoint *endpoint, const char *path,
    char *err, size_t errlen);

/*
 * Checks that url is "https://HOST[:PORT]" with no path, user
 * information or blank. Returns 0, or -1 with a message in err.
 */
int api_client_check_url(const char *url, char *err, size_t errlen);

/* Wipes and frees the token. */
void api_client_endpoint_clear(struct api_endpoint *endpoint);

/*
 * Runs "custos cert ACTION ARGS" through the API and prints what the
 * direct commands print. options holds --tenant, --issuer and --key-type.
 * Returns 0, or -1 with a message in err.
 */
int api_client_cert(const struct api_endpoint *endpoint,
    const struct issue_options *options, const char *action, int argc,
    char **argv, char *err, size_t errlen);

#endif
