/*
 * "custos account list|register|import-eab|rollover|update|deactivate".
 */
#ifndef CUSTOS_BROKER_ACCOUNT_CMD_H
#define CUSTOS_BROKER_ACCOUNT_CMD_H

/* Runs "custos account ..."; argv[0] is "account". Returns the exit status. */
int account_command(int argc, char **argv);

#endif
