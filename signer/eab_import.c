/*
 * custos-signer --import-eab: the setup step that stores an issuer's
 * External Account Binding HMAC key in the token.
 *
 *	custos-signer --import-eab --config FILE --issuer NAME
 *	    [--key-id KID] [--key-file FILE]
 *
 * The key file is read while the signer still runs as the caller, before
 * the token is opened. The signer then drops privileges and enters its
 * seccomp filter as for serving, and only then creates the key object.
 * The key is wiped from memory on every path and never printed.
 */
#include "signer.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "logging/log.h"

#define EAB_KEY_BUFSIZE 512
#define DEFAULT_USER "custos-signer"

struct import_options {
	const char *config_path;
	const char *issuer;
	const char *key_id;
	const char *key_file;
};

static const char import_usage[] =
    "usage: custos-signer --import-eab --config FILE --issuer NAME\n"
    "                     [--key-id KID] [--key-file FILE]\n"
    "\n"
    "Stores the External Account Binding HMAC key of an issuer in the\n"
    "token as a sensitive, non-extractable secret key labelled\n"
    "custos/eab/ISSUER/KID, replacing an earlier import. The key file\n"
    "holds the key as the CA gave it: base64url or base64, with or\n"
    "without padding. \"custos account import-eab\" runs this.\n"
    "\n"
    "  --config FILE    configuration file\n"
    "  --issuer NAME    issuer block whose eab-key-id the key belongs to\n"
    "  --key-id KID     must equal the issuer's eab-key-id (default: it)\n"
    "  --key-file FILE  key file (default: the issuer's eab-key-file)\n"
    "  --help           print this help\n";

/* Returns 0 to go on, 1 after --help, -1 on a usage error. */
static int
parse_import_args(int argc, char **argv, struct import_options *opts)
{
	static const struct option longopts[] = {
		{ "import-eab", no_argument, NULL, 'E' },
		{ "config", required_argument, NULL, 'c' },
		{ "issuer", required_argument, NULL, 'i' },
		{ "key-id", required_argument, NULL, 'k' },
		{ "key-file", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'E':
			break;
		case 'c':
			opts->config_path = optarg;
			break;
		case 'i':
			opts->issuer = optarg;
			break;
		case 'k':
			opts->key_id = optarg;
			break;
		case 'f':
			opts->key_file = optarg;
			break;
		case 'h':
			fputs(import_usage, stdout);
			return 1;
		default:
			fputs(import_usage, stderr);
			return -1;
		}
	}
	if (optind != argc || opts->config_path == NULL ||
	    opts->issuer == NULL) {
		log_error("--import-eab needs --config FILE and --issuer NAME "
		    "(see --import-eab --help)");
		return -1;
	}
	return 0;
}

/*
 * Checks the options against the issuer's block and sets *kid and *file.
 * The key id must be the configured one, because the signer computes the
 * MAC with the key that eab-key-id names.
 */
static const struct config_issuer *
import_target(const struct custos_config *config,
    const struct import_options *opts, const char **kid, const char **file)
{
	const struct config_issuer *issuer;

	issuer = config_find_issuer(config, opts->issuer);
	if (issuer == NULL) {
		log_error("issuer '%s' not found in %s (check --issuer)",
		    opts->issuer, config->path);
		return NULL;
	}
	if (issuer->eab_key_id == NULL) {
		log_error("issuer %s has no eab-key-id in %s; add the key id "
		    "that the CA gave", issuer->name, config->path);
		return NULL;
	}
	*kid = opts->key_id != NULL ? opts->key_id : issuer->eab_key_id;
	*file = opts->key_file != NULL ? opts->key_file :
	    issuer->eab_key_file;
	if (strcmp(*kid, issuer->eab_key_id) != 0) {
		log_error("--key-id '%s' is not eab-key-id '%s' of issuer %s; "
		    "change eab-key-id first", *kid, issuer->eab_key_id,
		    issuer->name);
		return NULL;
	}
	if (*file == NULL) {
		log_error("no EAB key file for issuer %s; pass --key-file or "
		    "set eab-key-file", issuer->name);
		return NULL;
	}
	return issuer;
}

static int
enter_import_sandbox(const struct custos_config *config)
{
	const char *user = config->signer.user ? config->signer.user :
	    DEFAULT_USER;
	char err[SIGNER_ERR_MAX];

	if (sandbox_drop_privileges(user, err, sizeof(err)) != 0 ||
	    sandbox_set_limits(err, sizeof(err)) != 0 ||
	    sandbox_install_filter(err, sizeof(err)) != 0) {
		log_error("%s", err);
		return -1;
	}
	return 0;
}

/* Reads the key, opens the token, enters the sandbox and stores the key. */
static int
import_key(const struct custos_config *config,
    const struct import_options *opts)
{
	struct signer_token token = { 0 };
	const struct config_issuer *issuer;
	unsigned char key[EAB_KEY_BUFSIZE];
	char err[SIGNER_ERR_MAX];
	const char *kid, *file;
	size_t keylen = 0;
	int rc = -1;

	issuer = import_target(config, opts, &kid, &file);
	if (issuer == NULL)
		return -1;
	if (eab_read_key(file, key, sizeof(key), &keylen, err,
	    sizeof(err)) != 0 ||
	    token_open(&token, &config->hsm, err, sizeof(err)) != 0) {
		log_error("%s", err);
		goto out;
	}
	if (enter_import_sandbox(config) != 0)
		goto out;
	if (eab_store_key(&token, issuer->name, kid, key, keylen, err,
	    sizeof(err)) != 0) {
		log_error("%s", err);
		goto out;
	}
	log_info("stored the EAB key of issuer %s (key id %s) in token '%s' "
	    "as custos/eab/%s/%s", issuer->name, kid, token.label,
	    issuer->name, kid);
	rc = 0;
out:
	explicit_bzero(key, sizeof(key));
	return rc;
}

void
eab_import_main(int argc, char **argv)
{
	struct import_options opts = { 0 };
	struct custos_config *config = NULL;
	char err[CONFIG_ERR_MAX];
	int rc;

	rc = parse_import_args(argc, argv, &opts);
	if (rc != 0)
		exit(rc > 0 ? 0 : 1);
	if (config_load(opts.config_path, &config, err, sizeof(err)) != 0) {
		log_error("%s", err);
		exit(1);
	}
	rc = import_key(config, &opts);
	/*
	 * _exit, as after serving: the filter does not allow C_Finalize,
	 * and SoftHSM has written the object to its token files already.
	 */
	_exit(rc == 0 ? 0 : 1);
}
