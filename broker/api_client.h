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

/*
 * Runs "custos cert ACTION ARGS" through the API and prints what the
 * direct commands print. options holds --tenant, --issuer and --key-type.
 * Returns 0, or -1 with a message in err.
 */
int api_client_cert(const struct custos_config *config,
    const struct issue_options *options, const char *action, int argc,
    char **argv, char *err, size_t errlen);

#endif
