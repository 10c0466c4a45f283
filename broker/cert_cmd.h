/*
 * "custos cert add|list|show|reissue|remove|rollback": the managed
 * certificates that the daemon (broker/daemon.h) issues and renews.
 */
#ifndef CUSTOS_BROKER_CERT_CMD_H
#define CUSTOS_BROKER_CERT_CMD_H

/* Runs "custos cert ..."; argv[0] is "cert". Returns the exit status. */
int cert_command(int argc, char **argv);

#endif
