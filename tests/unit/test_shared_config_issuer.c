/*
 * Tests of the issuer block's account list, External Account Binding,
 * preferred chain and profile keys, with their full error messages.
 */
#include "config/config.h"
#include "tests/unit/check.h"

#include <stdio.h>
#include <stdlib.h>

/* Five lines, so that an issuer block after them starts on line 6. */
#define HSM_BLOCK \
	"hsm {\n" \
	"\tmodule /usr/lib/softhsm/libsofthsm2.so\n" \
	"\ttoken-label custos\n" \
	"\tpin-file /etc/custos/pin\n" \
	"}\n"
#define POLICY_BLOCK \
	"policy {\n" \
	"\tfile /etc/custos/policy.conf\n" \
	"}\n"

static char err[CONFIG_ERR_MAX];

/* Loads an hsm block, then the issuer text, then a policy block. */
static struct custos_config *
load_issuer(const char *issuer)
{
	struct custos_config *config = NULL;
	char text[4096];

	snprintf(text, sizeof(text), HSM_BLOCK "%s" POLICY_BLOCK, issuer);
	strcpy(err, "(no error)");
	if (config_load_string("t.conf", text, &config, err,
	    sizeof(err)) != 0)
		return NULL;
	return config;
}

/* Returns the error of issuer text that must fail. */
static const char *
issuer_error(const char *issuer)
{
	struct custos_config *config = load_issuer(issuer);

	if (config != NULL) {
		config_free(config);
		return "(loaded without error)";
	}
	return err;
}

static void
test_issuer_defaults(void)
{
	struct custos_config *config;
	const struct config_issuer *issuer;

	config = load_issuer("issuer ca {\n\tdirectory https://h/d\n}\n");
	CHECK(config != NULL);
	if (config == NULL)
		return;
	issuer = &config->issuers[0];
	CHECK_INT(issuer->account_count, 1);
	CHECK_STR(issuer->accounts[0], "ca");
	CHECK_STR(issuer->account, "ca");
	CHECK(issuer->eab_key_id == NULL);
	CHECK(issuer->eab_key_file == NULL);
	CHECK_INT(issuer->eab_algorithm, EAB_HS256);
	CHECK(issuer->preferred_chain == NULL);
	CHECK(issuer->profile == NULL);
	CHECK_INT(config_issuer_has_account(issuer, "ca"), 1);
	CHECK_INT(config_issuer_has_account(issuer, "other"), 0);
	config_free(config);
}

static void
test_issuer_account_list(void)
{
	struct custos_config *config;
	const struct config_issuer *issuer;

	config = load_issuer("issuer ca {\n\tdirectory https://h/d\n"
	    "\taccount main spare-1\n\taccount spare-2\n}\n");
	CHECK(config != NULL);
	if (config == NULL)
		return;
	issuer = &config->issuers[0];
	CHECK_INT(issuer->account_count, 3);
	CHECK_STR(issuer->accounts[0], "main");
	CHECK_STR(issuer->accounts[1], "spare-1");
	CHECK_STR(issuer->accounts[2], "spare-2");
	CHECK_STR(issuer->account, "main");
	CHECK_INT(config_issuer_has_account(issuer, "spare-2"), 1);
	CHECK_INT(config_issuer_has_account(issuer, "ca"), 0);
	config_free(config);
}

static void
test_issuer_account_errors(void)
{
	CHECK_STR(issuer_error("issuer ca {\n\tdirectory https://h/d\n"
	    "\taccount main main\n}\n"), "t.conf:8:15: repeated account "
	    "'main' for account; use 1 to 64 letters, digits, '.', '_' or "
	    "'-', starting with a letter or digit");
	CHECK_STR(issuer_error("issuer ca {\n\tdirectory https://h/d\n"
	    "\taccount a\n\taccount b a\n}\n"), "t.conf:9:12: repeated "
	    "account 'a' for account; use 1 to 64 letters, digits, '.', '_' "
	    "or '-', starting with a letter or digit");
	CHECK_STR(issuer_error("issuer ca {\n\tdirectory https://h/d\n"
	    "\taccount ok a/b\n}\n"), "t.conf:8:13: invalid name 'a/b' for "
	    "account; use 1 to 64 letters, digits, '.', '_' or '-', "
	    "starting with a letter or digit");
	CHECK_STR(issuer_error("issuer ca {\n\tdirectory https://h/d\n"
	    "\taccount\n}\n"), "t.conf:8:2: key 'account' has no value; use "
	    "1 to 64 letters, digits, '.', '_' or '-', starting with a "
	    "letter or digit");
}

static void
test_issuer_eab(void)
{
	struct custos_config *config;
	const struct config_issuer *issuer;

	config = load_issuer("issuer ca {\n\tdirectory https://h/d\n"
	    "\teab-key-id kid-1.A_b\n\teab-key-file /etc/custos/eab.key\n"
	    "\teab-algorithm HS512\n}\n");
	CHECK(config != NULL);
	if (config == NULL)
		return;
	issuer = &config->issuers[0];
	CHECK_STR(issuer->eab_key_id, "kid-1.A_b");
	CHECK_STR(issuer->eab_key_file, "/etc/custos/eab.key");
	CHECK_INT(issuer->eab_algorithm, EAB_HS512);
	CHECK_STR(eab_algorithm_name(issuer->eab_algorithm), "HS512");
	CHECK_STR(eab_algorithm_name(EAB_HS384), "HS384");
	config_free(config);
}

static void
test_issuer_eab_errors(void)
{
	CHECK_STR(issuer_error("issuer ca {\n\tdirectory https://h/d\n"
	    "\teab-key-id kid/1\n}\n"), "t.conf:8:13: invalid key id "
	    "'kid/1' for eab-key-id; use the key identifier the CA gave, of "
	    "letters, digits, '.', '_' and '-'");
	CHECK_STR(issuer_error("issuer ca {\n\tdirectory https://h/d\n"
	    "\teab-algorithm HS1\n}\n"), "t.conf:8:16: unknown MAC algorithm "
	    "'HS1' for eab-algorithm; use HS256, HS384 or HS512");
	CHECK_STR(issuer_error("issuer ca {\n\tdirectory https://h/d\n"
	    "\teab-key-file /k\n}\n"), "t.conf:6:1: block 'issuer ca' sets "
	    "eab-key-file without eab-key-id; add 'eab-key-id KID' as the "
	    "CA gave it");
	CHECK_STR(issuer_error("issuer ca {\n\tdirectory https://h/d\n"
	    "\teab-key-id k\n\teab-key-file eab.key\n}\n"), "t.conf:9:15: "
	    "relative path 'eab.key' for eab-key-file; use an absolute path "
	    "such as /etc/custos/eab.key");
}

static void
test_issuer_chain_and_profile(void)
{
	struct custos_config *config;

	config = load_issuer("issuer ca {\n\tdirectory https://h/d\n"
	    "\tpreferred-chain \"Pebble Root CA 1\"\n\tprofile shortlived\n"
	    "}\n");
	CHECK(config != NULL);
	if (config == NULL)
		return;
	CHECK_STR(config->issuers[0].preferred_chain, "Pebble Root CA 1");
	CHECK_STR(config->issuers[0].profile, "shortlived");
	config_free(config);

	CHECK_STR(issuer_error("issuer ca {\n\tdirectory https://h/d\n"
	    "\tprofile \"\"\n}\n"), "t.conf:8:10: invalid value '' for "
	    "profile; use a profile name that the CA's directory lists");
}

int
main(void)
{
	RUN(test_issuer_defaults);
	RUN(test_issuer_account_list);
	RUN(test_issuer_account_errors);
	RUN(test_issuer_eab);
	RUN(test_issuer_eab_errors);
	RUN(test_issuer_chain_and_profile);
	return check_done();
}
