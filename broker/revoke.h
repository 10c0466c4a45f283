/*
 * "custos revoke": revokes a stored certificate at its issuer.
 */
#ifndef CUSTOS_BROKER_REVOKE_H
#define CUSTOS_BROKER_REVOKE_H

/* Runs "custos revoke ..."; argv[0] is "revoke". Returns the exit status. */
int revoke_command(int argc, char **argv);

#endif
