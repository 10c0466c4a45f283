/*
 * "custos policy check" and "custos policy lint": read a policy file and
 * report on it without starting the signer or contacting a CA.
 */
#ifndef CUSTOS_BROKER_POLICY_CMD_H
#define CUSTOS_BROKER_POLICY_CMD_H

/* Exit statuses of both subcommands. */
#define POLICY_EXIT_OK 0
#define POLICY_EXIT_DENIED 1	/* a name is denied, or lint found an error */
#define POLICY_EXIT_USAGE 2	/* bad options, or an unreadable file */

/* Runs "custos policy ..."; argv[0] is "policy". Returns the exit status. */
int policy_command(int argc, char **argv);

#endif
