/*
 * "custos cert add|import|list|show|reissue|remove|rollback": the managed
 * certificates that the daemon (broker/daemon.h) issues and renews, and
 * those imported by hand, which it only lists.
 */
#ifndef CUSTOS_BROKER_CERT_CMD_H
#define CUSTOS_BROKER_CERT_CMD_H

#include <stddef.h>

#include "broker/issue.h"
#include "config/config.h"

/* Runs "custos cert ..."; argv[0] is "cert". Returns the exit status. */
int cert_command(int argc, char **argv);

/*
 * Runs "custos cert import" (broker/cert_import_cmd.c). Returns 0, or -1
 * with err set.
 */
int cert_import_command(const struct custos_config *config,
    const struct issue_options *opt, const char *chain_path,
    const char *key_id, char *err, size_t errlen);

#endif
