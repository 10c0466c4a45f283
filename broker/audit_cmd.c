/*
 * custos audit: verify, show, rotate and export-key. verify and show only
 * read log files and need no signer. rotate and export-key start the
 * signer, because rotate signs checkpoints and export-key reads the audit
 * key from the token.
 */
#include "broker/audit_cmd.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "broker/audit.h"
#include "broker/audit_signer.h"
#include "broker/issue.h"
#include "broker/tenant.h"
#include "logging/log.h"

static const char audit_usage[] =
    "usage: custos audit verify [--key PEM] [--partial] [--config FILE]\n"
    "                           [FILE...]\n"
    "       custos audit show [--config FILE] [--tenant NAME] [--name NAME]\n"
    "                         [--action ACTION] [--outcome OUTCOME]\n"
    "                         [--since TIME] [--until TIME] [--json]\n"
    "                         [FILE...]\n"
    "       custos audit rotate [--config FILE]\n"
    "       custos audit export-key [--config FILE] [--output FILE]\n"
    "\n"
    "verify      checks the hash chain of FILE... (oldest first; default:\n"
    "            the configured audit file and its rotated files) and,\n"
    "            with --key, every checkpoint signature; prints the first\n"
    "            broken record as FILE:LINE and exits 1\n"
    "show        prints the records that match every filter given\n"
    "rotate      signs a checkpoint, then renames the audit file to\n"
    "            FILE.SEQ; the next record links to its last one\n"
    "export-key  writes the audit key's public key (PEM) for auditors\n"
    "\n"
    "options:\n"
    "  -c, --config FILE    configuration file (default "
    ISSUE_DEFAULT_CONFIG ")\n"
    "  -k, --key PEM        public key from export-key\n"
    "  -p, --partial        allow the first FILE to start after record 1\n"
    "  -t, --tenant NAME    records whose actor or object names the tenant\n"
    "  -n, --name NAME      records whose names or subject contain NAME\n"
    "  -a, --action ACTION  an action such as certificate.issue, or its\n"
    "                       first part such as certificate\n"
    "  -O, --outcome WORD   success, failure, allowed or denied\n"
    "  -s, --since TIME     records at or after TIME (2026-01-31 or\n"
    "                       2026-01-31T12:00:00Z)\n"
    "  -u, --until TIME     records before TIME\n"
    "  -j, --json           print the records as they are stored\n"
    "  -o, --output FILE    write the key to FILE instead of stdout\n"
    "  -h, --help           print this help\n";

static int
usage_error(const char *message, const char *arg)
{
	fprintf(stderr, "custos: error: %s%s%s%s\n\n%s", message,
	    arg ? " \"" : "", arg ? arg : "", arg ? "\"" : "", audit_usage);
	return 1;
}

static int
parse_time_option(const char *option, const char *text, long long *out)
{
	if (audit_time_parse(text, out) == 0)
		return 0;
	log_error("invalid %s \"%s\"; use a UTC date such as 2026-01-31 or "
	    "a time such as 2026-01-31T12:00:00Z", option, text);
	return -1;
}

static int
parse_options(int argc, char **argv, struct audit_options *opt)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "partial", no_argument, NULL, 'p' },
		{ "tenant", required_argument, NULL, 't' },
		{ "name", required_argument, NULL, 'n' },
		{ "action", required_argument, NULL, 'a' },
		{ "outcome", required_argument, NULL, 'O' },
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "json", no_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:k:pt:n:a:O:s:u:jo:h", options,
	    NULL)) != -1) {
		switch (c) {
		case 'c':
			opt->config_path = optarg;
			break;
		case 'k':
			opt->key_path = optarg;
			break;
		case 'p':
			opt->partial = 1;
			break;
		case 't':
			opt->tenant = optarg;
			break;
		case 'n':
			opt->name = optarg;
			break;
		case 'a':
			opt->action = optarg;
			break;
		case 'O':
			opt->outcome = optarg;
			break;
		case 'j':
			opt->json = 1;
			break;
		case 'o':
			opt->output = optarg;
			break;
		case 's':
			if (parse_time_option("--since", optarg,
			    &opt->since) != 0)
				return 1;
			opt->has_since = 1;
			break;
		case 'u':
			if (parse_time_option("--until", optarg,
			    &opt->until) != 0)
				return 1;
			opt->has_until = 1;
			break;
		case 'h':
			fputs(audit_usage, stdout);
			return -1;
		default:
			fprintf(stderr, "\n%s", audit_usage);
			return 1;
		}
	}
	opt->files = argv + optind;
	opt->file_count = argc - optind;
	return 0;
}

int
audit_resolve_files(struct audit_options *opt)
{
	struct custos_config *config;
	char err[CONFIG_ERR_MAX];
	long count;

	if (opt->file_count > 0)
		return 0;
	if (config_load(opt->config_path, &config, err, sizeof(err)) != 0) {
		log_error("%s (or name the audit files)", err);
		return -1;
	}
	count = audit_list_files(config->audit.file, &opt->listed, err,
	    sizeof(err));
	if (count == 0)
		snprintf(err, sizeof(err), "audit log %s does not exist yet",
		    config->audit.file);
	config_free(config);
	if (count <= 0) {
		log_error("%s", err);
		return -1;
	}
	opt->listed_count = count;
	opt->files = opt->listed;
	opt->file_count = count;
	return 0;
}

static EVP_PKEY *
read_public_key(const char *path)
{
	EVP_PKEY *key;
	FILE *f = fopen(path, "re");

	if (f == NULL) {
		log_error("cannot open key %s: %s (write it with \"custos "
		    "audit export-key\")", path, strerror(errno));
		return NULL;
	}
	key = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	if (key == NULL)
		log_error("%s is not a PEM public key (write it with "
		    "\"custos audit export-key\")", path);
	return key;
}

static int
command_verify(struct audit_options *opt)
{
	struct audit_verify v;
	EVP_PKEY *key = NULL;
	int rc = 1;

	if (opt->key_path != NULL &&
	    (key = read_public_key(opt->key_path)) == NULL)
		return 1;
	if (audit_resolve_files(opt) != 0) {
		EVP_PKEY_free(key);
		return 1;
	}
	audit_verify_init(&v, key);
	v.allow_partial = opt->partial;
	for (long i = 0; i < opt->file_count; i++) {
		if (audit_verify_file(&v, opt->files[i]) != 0) {
			log_error("%s", v.error);
			goto out;
		}
	}
	if (v.next_seq == v.first_seq || v.first_seq == 0) {
		log_error("no audit records in the files given");
		goto out;
	}
	printf("chain intact: records %llu to %llu in %ld %s\n",
	    v.first_seq, v.next_seq - 1, opt->file_count,
	    opt->file_count == 1 ? "file" : "files");
	printf("head: record %llu, sha256 %s\n", v.next_seq - 1,
	    v.prev_hash);
	if (key != NULL)
		printf("checkpoints: %llu, every signature verified\n",
		    v.checkpoints);
	else
		printf("checkpoints: %llu, signatures not checked (pass --key "
		    "with the key from \"custos audit export-key\")\n",
		    v.checkpoints);
	rc = 0;
out:
	audit_verify_clear(&v);
	EVP_PKEY_free(key);
	return rc;
}

int
audit_command(int argc, char **argv)
{
	struct audit_options opt = { .config_path = ISSUE_DEFAULT_CONFIG };
	const char *sub;
	int rc;

	if (argc < 2)
		return usage_error("missing audit command", NULL);
	sub = argv[1];
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
		fputs(audit_usage, stdout);
		return 0;
	}
	rc = parse_options(argc - 1, argv + 1, &opt);
	if (rc != 0)
		return rc > 0 ? 1 : 0;
	if (strcmp(sub, "verify") == 0)
		rc = command_verify(&opt);
	else if (strcmp(sub, "show") == 0)
		rc = audit_show(&opt);
	else if (opt.file_count > 0)
		rc = usage_error("unexpected argument", opt.files[0]);
	else if (strcmp(sub, "rotate") == 0)
		rc = audit_admin(&opt, 0);
	else if (strcmp(sub, "export-key") == 0)
		rc = audit_admin(&opt, 1);
	else
		rc = usage_error("unknown audit command", sub);
	audit_free_files(opt.listed, opt.listed_count);
	return rc;
}
