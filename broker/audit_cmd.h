/*
 * custos audit: the review and administration commands of the audit log
 * (docs/audit.md).
 */
#ifndef CUSTOS_BROKER_AUDIT_CMD_H
#define CUSTOS_BROKER_AUDIT_CMD_H

/* The options of every audit subcommand; each uses its own. */
struct audit_options {
	const char *config_path;
	const char *key_path;
	const char *tenant;
	const char *name;
	const char *action;
	const char *outcome;
	const char *output;
	long long since, until;	/* seconds since the epoch */
	int has_since, has_until;
	int partial;
	int json;
	char **files;
	long file_count;
	char **listed;		/* files from the configuration, owned */
	long listed_count;
};

/* Runs "custos audit ARGS"; argv[0] is "audit". Returns the exit status. */
int audit_command(int argc, char **argv);

/* audit_show.c: prints the matching records of opt->files. */
int audit_show(struct audit_options *opt);

/* audit_admin.c: rotates the log, or with export_key writes the key. */
int audit_admin(const struct audit_options *opt, int export_key);

/* audit_cmd.c: fills opt->files from the configuration when empty. */
int audit_resolve_files(struct audit_options *opt);

#endif
