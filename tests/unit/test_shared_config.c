/*
 * Tests of the configuration reader: good files, defaults, and every error
 * with its full message. The sample files live in tests/data/config and are
 * opened relative to the working directory, which is the source tree when
 * the tests run through make.
 */
#include "config/config.h"
#include "tests/unit/check.h"

#include <stdio.h>
#include <stdlib.h>

#define DATA_DIR "tests/data/config/"

/* Five lines each, so that a block placed after them starts on line 6. */
#define HSM_BLOCK \
	"hsm {\n" \
	"\tmodule /usr/lib/softhsm/libsofthsm2.so\n" \
	"\ttoken-label custos\n" \
	"\tpin-file /etc/custos/pin\n" \
	"}\n"
#define ISSUER_BLOCK \
	"issuer local {\n" \
	"\tdirectory https://127.0.0.1:14000/dir\n" \
	"\tagree-tos yes\n" \
	"\tcontact mailto:ops@example.org\n" \
	"}\n"
/* Placed last, so that it moves no line that a test points at. */
#define POLICY_BLOCK \
	"policy {\n" \
	"\tfile /etc/custos/policy.conf\n" \
	"}\n"

static char err[CONFIG_ERR_MAX];

/* Loads text that must fail and returns the error message. */
static const char *
load_error(const char *text)
{
	struct custos_config *config = NULL;

	strcpy(err, "(no error)");
	if (config_load_string("t.conf", text, &config, err,
	    sizeof(err)) == 0) {
		config_free(config);
		return "(loaded without error)";
	}
	if (config != NULL)
		return "(configuration set on error)";
	return err;
}

/* Loads one block, placed before valid hsm and issuer blocks. */
static const char *
block_error(const char *block)
{
	static char text[4096];

	snprintf(text, sizeof(text), "%s" HSM_BLOCK ISSUER_BLOCK POLICY_BLOCK,
	    block);
	return load_error(text);
}

/* Loads one issuer block after a valid hsm block, from line 6. */
static const char *
issuer_error(const char *issuer)
{
	static char text[4096];

	snprintf(text, sizeof(text), HSM_BLOCK "%s" POLICY_BLOCK, issuer);
	return load_error(text);
}

static struct custos_config *
load_ok(const char *text)
{
	struct custos_config *config = NULL;

	err[0] = '\0';
	if (config_load_string("t.conf", text, &config, err,
	    sizeof(err)) != 0)
		printf("#   unexpected error: %s\n", err);
	return config;
}

static void
test_config_full_file(void)
{
	struct custos_config *config = NULL;
	const struct config_issuer *pebble, *staging;

	CHECK_INT(config_load(DATA_DIR "full.conf", &config, err,
	    sizeof(err)), 0);
	if (config == NULL) {
		printf("#   %s\n", err);
		return;
	}
	CHECK_STR(config->path, DATA_DIR "full.conf");
	CHECK_STR(config->hsm.module, "/usr/lib/softhsm/libsofthsm2.so");
	CHECK_STR(config->hsm.token_label, "custos test");
	CHECK(config->hsm.token_serial == NULL);
	CHECK_STR(config->hsm.pin_file, "/etc/custos/pin");
	CHECK_STR(config->signer.user, "signer-test");
	CHECK_STR(config->signer.program, "/usr/libexec/custos-signer");
	CHECK_STR(config->broker.user, "broker_test");
	CHECK_STR(config->broker.state_dir, "/srv/custos");
	CHECK_INT(config->challenge.http01_mode, HTTP01_LISTEN);
	CHECK_STR(config->challenge.http01_address, "::1");
	CHECK_INT(config->challenge.http01_port, 5002);
	CHECK(config->challenge.webroot == NULL);
	CHECK_STR(config->store.directory, "/srv/custos/certificates");
	CHECK_INT(config->acme.poll_interval, 5);
	CHECK_INT(config->acme.poll_timeout, 600);
	CHECK_INT(config->acme.http_timeout, 60);
	CHECK_INT(config->acme.bad_nonce_retries, 0);
	CHECK_INT(config->acme.account_key_type, KEY_TYPE_EC_P384);
	CHECK_INT(config->acme.certificate_key_type, KEY_TYPE_RSA_3072);

	CHECK_INT(config->issuer_count, 2);
	pebble = config_find_issuer(config, "pebble");
	staging = config_find_issuer(config, "staging");
	CHECK(pebble == &config->issuers[0]);
	CHECK(staging == &config->issuers[1]);
	CHECK(config_find_issuer(config, NULL) == NULL);
	CHECK(config_find_issuer(config, "missing") == NULL);
	if (pebble == NULL || staging == NULL)
		goto out;
	CHECK_STR(pebble->directory, "https://127.0.0.1:14000/dir");
	CHECK_STR(pebble->trust_bundle, "/etc/custos/pebble-ca.pem");
	CHECK_INT(pebble->contact_count, 2);
	CHECK_STR(pebble->contacts[0], "mailto:ops@example.org");
	CHECK_STR(pebble->contacts[1], "mailto:security@example.org");
	CHECK_INT(pebble->agree_tos, 1);
	CHECK_STR(pebble->origin.file, DATA_DIR "full.conf");
	CHECK_INT(pebble->origin.line, 37);
	CHECK_INT(pebble->origin.column, 1);
	CHECK_STR(staging->directory, "https://localhost:14001/dir");
	CHECK(staging->trust_bundle == NULL);
	CHECK_INT(staging->contact_count, 0);
	CHECK_INT(staging->agree_tos, 0);
out:
	config_free(config);
}

static void
test_config_defaults(void)
{
	struct custos_config *config = NULL;

	CHECK_INT(config_load(DATA_DIR "minimal.conf", &config, err,
	    sizeof(err)), 0);
	if (config == NULL) {
		printf("#   %s\n", err);
		return;
	}
	CHECK(config->hsm.token_label == NULL);
	CHECK_STR(config->hsm.token_serial, "0123456789abcdef");
	CHECK_STR(config->signer.user, "custos-signer");
	CHECK(config->signer.program == NULL);
	CHECK_STR(config->broker.user, "custos");
	CHECK_STR(config->broker.state_dir, "/var/lib/custos");
	CHECK_INT(config->challenge.http01_mode, HTTP01_LISTEN);
	CHECK_STR(config->challenge.http01_address, "0.0.0.0");
	CHECK_INT(config->challenge.http01_port, 80);
	CHECK(config->challenge.webroot == NULL);
	CHECK_STR(config->store.directory, "/var/lib/custos/store");
	CHECK_INT(config->acme.poll_interval, 2);
	CHECK_INT(config->acme.poll_first_ms, 50);
	CHECK_INT(config->acme.poll_timeout, 300);
	CHECK_INT(config->acme.http_timeout, 30);
	CHECK_INT(config->acme.bad_nonce_retries, 5);
	CHECK_INT(config->acme.account_key_type, KEY_TYPE_EC_P256);
	CHECK_INT(config->acme.certificate_key_type, KEY_TYPE_EC_P256);
	CHECK_INT(config->issuer_count, 1);
	CHECK(config_find_issuer(config, NULL) == &config->issuers[0]);
	CHECK_INT(config->issuers[0].agree_tos, 0);
	CHECK_INT(config->issuers[0].contact_count, 0);
	config_free(config);
}

static void
test_config_webroot_and_units(void)
{
	struct custos_config *config = load_ok(
	    "challenge {\n"
	    "\thttp-01 webroot \"/var/www/html\"\n"
	    "}\n"
	    "acme {\n"
	    "\tpoll-interval 1h\n"
	    "\tpoll-timeout 24h\n"
	    "\thttp-timeout 10m\n"
	    "\tbad-nonce-retries 20\n"
	    "\tpoll-first 1000\n"
	    "}\n" HSM_BLOCK ISSUER_BLOCK POLICY_BLOCK);

	CHECK(config != NULL);
	if (config == NULL)
		return;
	CHECK_INT(config->challenge.http01_mode, HTTP01_WEBROOT);
	CHECK_STR(config->challenge.webroot, "/var/www/html");
	CHECK_INT(config->acme.poll_interval, 3600);
	CHECK_INT(config->acme.poll_timeout, 86400);
	CHECK_INT(config->acme.http_timeout, 600);
	CHECK_INT(config->acme.bad_nonce_retries, 20);
	CHECK_INT(config->acme.poll_first_ms, 1000);
	config_free(config);
}

static void
test_config_file_errors(void)
{
	struct custos_config *config = NULL;

	CHECK_INT(config_load(DATA_DIR "bad-unknown-key.conf", &config, err,
	    sizeof(err)), -1);
	CHECK_STR(err, DATA_DIR "bad-unknown-key.conf:4:2: unknown key 'pin' "
	    "in block 'hsm' (expected one of: module, token-label, "
	    "token-serial, pin-file)");
	CHECK_INT(config_load(DATA_DIR "bad-unclosed-block.conf", &config,
	    err, sizeof(err)), -1);
	CHECK_STR(err, DATA_DIR "bad-unclosed-block.conf:1:5: unbalanced "
	    "'{': block 'hsm' is not closed; add '}' on a line of its own");
	CHECK_INT(config_load(DATA_DIR "missing.conf", &config, err,
	    sizeof(err)), -1);
	CHECK_STR(err, DATA_DIR "missing.conf: cannot open: No such file or "
	    "directory");
	CHECK(config == NULL);
}

static void
test_config_top_level_errors(void)
{
	CHECK_STR(block_error("log {\n}\n"), "t.conf:1:1: unknown key 'log' "
	    "at top level (expected one of: hsm, signer, broker, challenge, "
	    "store, acme, issuer, policy, dns-zone, daemon, audit, api)");
	CHECK_STR(block_error("acme 5\n"), "t.conf:1:1: 'acme' must be a "
	    "block; write 'acme {' and its keys on the lines below");
	CHECK_STR(block_error("acme {\n}\nacme {\n}\n"), "t.conf:3:1: "
	    "duplicate block 'acme'; the first is at line 1, merge the two");
	CHECK_STR(block_error("acme fast {\n}\n"), "t.conf:1:6: block 'acme' "
	    "takes no name; write 'acme {'");
	CHECK_STR(load_error(ISSUER_BLOCK), "t.conf: missing block 'hsm'; "
	    "add 'hsm {' with its keys (see docs/configuration.md)");
	CHECK_STR(load_error(HSM_BLOCK), "t.conf: missing block 'issuer'; "
	    "add 'issuer NAME {' with its keys (see docs/configuration.md)");
	CHECK_STR(load_error(""), "t.conf: missing block 'hsm'; add 'hsm {' "
	    "with its keys (see docs/configuration.md)");
	CHECK_STR(load_error(HSM_BLOCK ISSUER_BLOCK), "t.conf: missing block "
	    "'policy'; add 'policy {' with its keys (see "
	    "docs/configuration.md)");
}

static void
test_config_issuer_block_errors(void)
{
	CHECK_STR(issuer_error("issuer pebble\n"), "t.conf:6:1: 'issuer' "
	    "must be a block; write 'issuer NAME {' and its keys on the "
	    "lines below");
	CHECK_STR(issuer_error("issuer {\n}\n"), "t.conf:6:1: block 'issuer' "
	    "takes one name, got 0; write 'issuer NAME {'");
	CHECK_STR(issuer_error("issuer a b {\n}\n"), "t.conf:6:1: block "
	    "'issuer' takes one name, got 2; write 'issuer NAME {'");
	CHECK_STR(issuer_error("issuer ../etc {\n}\n"), "t.conf:6:8: invalid "
	    "issuer name '../etc'; use 1 to 64 letters, digits, '.', '_' or "
	    "'-', starting with a letter or digit");
	CHECK_STR(issuer_error("issuer \"\" {\n}\n"), "t.conf:6:8: invalid "
	    "issuer name ''; use 1 to 64 letters, digits, '.', '_' or '-', "
	    "starting with a letter or digit");
	CHECK_STR(issuer_error(ISSUER_BLOCK ISSUER_BLOCK), "t.conf:11:8: "
	    "duplicate issuer 'local'; the first is at line 6, rename or "
	    "remove one");
	CHECK_STR(issuer_error("issuer a {\n}\n"), "t.conf:6:1: block "
	    "'issuer a' is missing required key 'directory'; add 'directory' "
	    "with the https:// URL of the ACME directory");
	CHECK_STR(issuer_error("issuer a {\n\tdirectory https://h/\n"
	    "\temail ops@example.org\n}\n"), "t.conf:8:2: unknown key "
	    "'email' in block 'issuer a' (expected one of: directory, "
	    "trust-bundle, contact, agree-tos, account, eab-key-id, "
	    "eab-key-file, eab-algorithm, preferred-chain, profile)");
}

static void
test_config_key_errors(void)
{
	CHECK_STR(load_error("hsm {\n\tmodule /a.so\n\tmodule /b.so\n}\n"),
	    "t.conf:3:2: duplicate key 'module' in block 'hsm'; the first is "
	    "at line 2, remove one");
	CHECK_STR(load_error("hsm {\n\tmodule {\n\t}\n}\n"), "t.conf:2:2: "
	    "key 'module' takes no block; write 'module' and its value on "
	    "one line");
	CHECK_STR(load_error("hsm {\n\tmodule\n}\n"), "t.conf:2:2: key "
	    "'module' has no value; use an absolute path such as "
	    "/usr/lib/softhsm/libsofthsm2.so");
	CHECK_STR(load_error("hsm {\n\tmodule /my lib.so\n}\n"), "t.conf:2:13: "
	    "key 'module' takes 1 value, got 2; use an absolute path such "
	    "as /usr/lib/softhsm/libsofthsm2.so, in double quotes if it "
	    "contains spaces");
	CHECK_STR(block_error("signer {\n\tgroup custos\n}\n"), "t.conf:2:2: "
	    "unknown key 'group' in block 'signer' (expected one of: user, "
	    "program)");
}

static void
test_config_hsm_errors(void)
{
	CHECK_STR(load_error("hsm {\n\ttoken-label a\n\tpin-file /p\n}\n"),
	    "t.conf:1:1: block 'hsm' is missing required key 'module'; add "
	    "'module' with an absolute path such as "
	    "/usr/lib/softhsm/libsofthsm2.so");
	CHECK_STR(load_error("hsm {\n\tmodule /m.so\n\ttoken-label a\n}\n"),
	    "t.conf:1:1: block 'hsm' is missing required key 'pin-file'; add "
	    "'pin-file' with an absolute path such as /etc/custos/pin");
	CHECK_STR(load_error("hsm {\n\tmodule /m.so\n\tpin-file /p\n}\n"),
	    "t.conf:1:1: block 'hsm' is missing required key 'token-label' "
	    "or 'token-serial'; add one of them");
	CHECK_STR(load_error("hsm {\n\tmodule /m.so\n\ttoken-label a\n"
	    "\ttoken-serial 1\n\tpin-file /p\n}\n"), "t.conf:4:2: block 'hsm' "
	    "sets both token-label and token-serial; keep one of them");
	CHECK_STR(load_error("hsm {\n\tmodule lib/softhsm2.so\n}\n"),
	    "t.conf:2:9: relative path 'lib/softhsm2.so' for module; use an "
	    "absolute path such as /usr/lib/softhsm/libsofthsm2.so");
	CHECK_STR(load_error("hsm {\n\tpin-file \"\"\n}\n"), "t.conf:2:11: "
	    "relative path '' for pin-file; use an absolute path such as "
	    "/etc/custos/pin");
	CHECK_STR(load_error("hsm {\n\ttoken-label "
	    "\"123456789012345678901234567890123\"\n}\n"), "t.conf:2:14: "
	    "invalid value '123456789012345678901234567890123' for "
	    "token-label; use 1 to 32 bytes of text");
	CHECK_STR(load_error("hsm {\n\ttoken-serial \"\"\n}\n"), "t.conf:2:15: "
	    "invalid value '' for token-serial; use 1 to 16 bytes of text");
	CHECK_STR(load_error("hsm {\n\ttoken-label \"a\\tb\"\n}\n"),
	    "t.conf:2:14: invalid value 'a\\tb' for token-label; use 1 to 32 "
	    "bytes of text");
}

static void
test_config_path_too_long(void)
{
	char text[4200];
	char long_path[4097];

	memset(long_path, 'a', sizeof(long_path) - 1);
	long_path[0] = '/';
	long_path[sizeof(long_path) - 1] = '\0';
	snprintf(text, sizeof(text), "store {\n\tdirectory %s\n}\n",
	    long_path);
	CHECK_STR(load_error(text), "t.conf:2:12: path for directory is "
	    "longer than 4095 bytes; use a shorter path");
}

static void
test_config_user_errors(void)
{
	CHECK_STR(block_error("signer {\n\tuser -root\n}\n"), "t.conf:2:7: "
	    "invalid user name '-root' for user; use a user name of letters, "
	    "digits, '_', '-' and '.'");
	CHECK_STR(block_error("broker {\n\tuser \"cus tos\"\n}\n"),
	    "t.conf:2:7: invalid user name 'cus tos' for user; use a user "
	    "name of letters, digits, '_', '-' and '.'");
	CHECK_STR(block_error("broker {\n\tstate-dir var/lib\n}\n"),
	    "t.conf:2:12: relative path 'var/lib' for state-dir; use an "
	    "absolute path such as /var/lib/custos");
	CHECK_STR(block_error("signer {\n\tprogram custos-signer\n}\n"),
	    "t.conf:2:10: relative path 'custos-signer' for program; use an "
	    "absolute path such as /usr/libexec/custos-signer");
}

static void
test_config_http01_errors(void)
{
	CHECK_STR(block_error("challenge {\n\thttp-01 listen 0.0.0.0 0\n}\n"),
	    "t.conf:2:25: invalid port '0' for http-01; use a number from 1 "
	    "to 65535");
	CHECK_STR(block_error("challenge {\n\thttp-01 listen :: 65536\n}\n"),
	    "t.conf:2:20: invalid port '65536' for http-01; use a number "
	    "from 1 to 65535");
	CHECK_STR(block_error("challenge {\n\thttp-01 listen :: http\n}\n"),
	    "t.conf:2:20: invalid port 'http' for http-01; use a number "
	    "from 1 to 65535");
	CHECK_STR(block_error("challenge {\n\thttp-01 listen localhost 80\n"
	    "}\n"), "t.conf:2:17: invalid listen address 'localhost' for "
	    "http-01; use an IPv4 or IPv6 address such as 0.0.0.0 or ::");
	CHECK_STR(block_error("challenge {\n\thttp-01 listen 80\n}\n"),
	    "t.conf:2:2: http-01 listen takes 2 values, got 1; use 'listen "
	    "ADDRESS PORT' or 'webroot DIRECTORY'");
	CHECK_STR(block_error("challenge {\n\thttp-01 webroot /a /b\n}\n"),
	    "t.conf:2:2: http-01 webroot takes 1 value, got 2; use 'listen "
	    "ADDRESS PORT' or 'webroot DIRECTORY'");
	CHECK_STR(block_error("challenge {\n\thttp-01 webroot www\n}\n"),
	    "t.conf:2:18: relative path 'www' for http-01; use 'listen "
	    "ADDRESS PORT' or 'webroot DIRECTORY'");
	CHECK_STR(block_error("challenge {\n\thttp-01 serve 80\n}\n"),
	    "t.conf:2:10: unknown mode 'serve' for http-01; use 'listen "
	    "ADDRESS PORT' or 'webroot DIRECTORY'");
	CHECK_STR(block_error("challenge {\n\thttp-01\n}\n"), "t.conf:2:2: "
	    "key 'http-01' has no value; use 'listen ADDRESS PORT' or "
	    "'webroot DIRECTORY'");
}

static void
test_config_duration_errors(void)
{
	CHECK_STR(block_error("acme {\n\tpoll-interval soon\n}\n"),
	    "t.conf:2:16: invalid duration 'soon' for poll-interval; use "
	    "seconds, or a number with s, m or h: 2s, 1m");
	CHECK_STR(block_error("acme {\n\thttp-timeout 5ms\n}\n"),
	    "t.conf:2:15: invalid duration '5ms' for http-timeout; use "
	    "seconds, or a number with s, m or h: 30s, 1m");
	CHECK_STR(block_error("acme {\n\thttp-timeout -5\n}\n"),
	    "t.conf:2:15: invalid duration '-5' for http-timeout; use "
	    "seconds, or a number with s, m or h: 30s, 1m");
	CHECK_STR(block_error("acme {\n\tpoll-first 0\n}\n"),
	    "t.conf:2:13: poll-first '0' is out of range; use a number from "
	    "1 to 60000");
	CHECK_STR(block_error("acme {\n\tpoll-interval 0\n}\n"),
	    "t.conf:2:16: poll-interval '0' is out of range; use a duration "
	    "from 1s to 1h");
	CHECK_STR(block_error("acme {\n\tpoll-interval 0h\n}\n"),
	    "t.conf:2:16: poll-interval '0h' is out of range; use a duration "
	    "from 1s to 1h");
	CHECK_STR(block_error("acme {\n\tpoll-interval 61m\n}\n"),
	    "t.conf:2:16: poll-interval '61m' is out of range; use a "
	    "duration from 1s to 1h");
	CHECK_STR(block_error("acme {\n\tpoll-timeout 999999999h\n}\n"),
	    "t.conf:2:15: poll-timeout '999999999h' is out of range; use a "
	    "duration from 1s to 24h");
	CHECK_STR(block_error("acme {\n\tpoll-timeout 9999999999\n}\n"),
	    "t.conf:2:15: invalid duration '9999999999' for poll-timeout; "
	    "use seconds, or a number with s, m or h: 300s, 5m");
	CHECK_STR(block_error("acme {\n\thttp-timeout 601s\n}\n"),
	    "t.conf:2:15: http-timeout '601s' is out of range; use a "
	    "duration from 1s to 10m");
	CHECK_STR(block_error("acme {\n\tpoll-interval 1m\n"
	    "\tpoll-timeout 30s\n}\n"), "t.conf:1:1: poll-interval (60s) is "
	    "longer than poll-timeout (30s); lower poll-interval or raise "
	    "poll-timeout");
}

static void
test_config_acme_value_errors(void)
{
	CHECK_STR(block_error("acme {\n\tbad-nonce-retries 21\n}\n"),
	    "t.conf:2:20: bad-nonce-retries '21' is out of range; use a "
	    "number from 0 to 20");
	CHECK_STR(block_error("acme {\n\tbad-nonce-retries -1\n}\n"),
	    "t.conf:2:20: invalid number '-1' for bad-nonce-retries; use a "
	    "number from 0 to 20");
	CHECK_STR(block_error("acme {\n\taccount-key-type ed25519\n}\n"),
	    "t.conf:2:19: unknown key type 'ed25519' for account-key-type; "
	    "use one of ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096");
	CHECK_STR(block_error("acme {\n\tcertificate-key-type EC-P256\n}\n"),
	    "t.conf:2:23: unknown key type 'EC-P256' for "
	    "certificate-key-type; use one of ec-p256, ec-p384, rsa-2048, "
	    "rsa-3072, rsa-4096");
}

static void
test_config_issuer_value_errors(void)
{
	CHECK_STR(issuer_error("issuer a {\n\tdirectory http://h/dir\n}\n"),
	    "t.conf:7:12: non-https URL 'http://h/dir' for directory; use "
	    "the https:// URL of the ACME directory");
	CHECK_STR(issuer_error("issuer a {\n\tdirectory https://\n}\n"),
	    "t.conf:7:12: non-https URL 'https://' for directory; use the "
	    "https:// URL of the ACME directory");
	CHECK_STR(issuer_error("issuer a {\n\tdirectory https:///dir\n}\n"),
	    "t.conf:7:12: non-https URL 'https:///dir' for directory; use "
	    "the https:// URL of the ACME directory");
	CHECK_STR(issuer_error("issuer a {\n\tdirectory "
	    "https://u:secret@h/dir\n}\n"), "t.conf:7:12: URL for directory "
	    "contains user information (\"user@\"); remove it, because an "
	    "ACME directory URL carries no credentials");
	CHECK_STR(issuer_error("issuer a {\n\tdirectory https://u@h\n}\n"),
	    "t.conf:7:12: URL for directory contains user information "
	    "(\"user@\"); remove it, because an ACME directory URL carries "
	    "no credentials");
	CHECK_STR(issuer_error("issuer a {\n\tdirectory https://h/a@b\n"
	    "\ttrust-bundle ca.pem\n}\n"), "t.conf:8:15: relative path "
	    "'ca.pem' for trust-bundle; use an absolute path such as "
	    "/etc/custos/ca.pem");
	CHECK_STR(issuer_error("issuer a {\n\tdirectory \"https://h/a b\"\n"
	    "}\n"), "t.conf:7:12: invalid URL 'https://h/a b' for directory; "
	    "use the https:// URL of the ACME directory");
	CHECK_STR(issuer_error("issuer a {\n\tdirectory https://h/\n"
	    "\ttrust-bundle ca.pem\n}\n"), "t.conf:8:15: relative path "
	    "'ca.pem' for trust-bundle; use an absolute path such as "
	    "/etc/custos/ca.pem");
	CHECK_STR(issuer_error("issuer a {\n\tdirectory https://h/\n"
	    "\tagree-tos true\n}\n"), "t.conf:8:12: invalid value 'true' for "
	    "agree-tos; use yes or no");
}

static void
test_config_contact_errors(void)
{
	static const char *const bad[][2] = {
		{ "ops@example.org", "non-mailto URL 'ops@example.org'" },
		{ "mailto:", "invalid e-mail address 'mailto:'" },
		{ "mailto:@example.org",
		    "invalid e-mail address 'mailto:@example.org'" },
		{ "mailto:ops@", "invalid e-mail address 'mailto:ops@'" },
		{ "mailto:a@b@example.org",
		    "invalid e-mail address 'mailto:a@b@example.org'" },
		{ "mailto:a@example.org,b@example.org", "invalid e-mail "
		    "address 'mailto:a@example.org,b@example.org'" },
		{ "\"mailto:a@example.org?subject=x\"",
		    "invalid e-mail address 'mailto:a@example.org?subject=x'" },
		{ "\"mailto:a b@example.org\"",
		    "invalid e-mail address 'mailto:a b@example.org'" },
	};
	char text[256], expected[512];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "issuer a {\n\tdirectory "
		    "https://h/\n\tcontact %s\n}\n", bad[i][0]);
		snprintf(expected, sizeof(expected), "t.conf:8:10: %s for "
		    "contact; use a mailto: URL such as "
		    "mailto:admin@example.org", bad[i][1]);
		CHECK_STR(issuer_error(text), expected);
	}
}

static void
test_key_type_names(void)
{
	enum key_type type = KEY_TYPE_COUNT;
	int i;

	for (i = 0; i < KEY_TYPE_COUNT; i++) {
		CHECK_INT(key_type_parse(key_type_name((enum key_type)i),
		    &type), 0);
		CHECK_INT(type, i);
	}
	CHECK_STR(key_type_name(KEY_TYPE_EC_P256), "ec-p256");
	CHECK_STR(key_type_name(KEY_TYPE_RSA_4096), "rsa-4096");
	CHECK(key_type_name(KEY_TYPE_COUNT) == NULL);
	CHECK_INT(key_type_parse("rsa-1024", &type), -1);
	CHECK_INT(key_type_parse("", &type), -1);
}

static void
test_config_account_and_policy(void)
{
	struct custos_config *config;

	config = load_ok(HSM_BLOCK ISSUER_BLOCK
	    "issuer second {\n\tdirectory https://h/\n\taccount web-1\n}\n"
	    POLICY_BLOCK);
	CHECK(config != NULL);
	if (config == NULL)
		return;
	CHECK_STR(config->issuers[0].account, "local");
	CHECK_STR(config->issuers[1].account, "web-1");
	CHECK_STR(config->policy.file, "/etc/custos/policy.conf");
	config_free(config);

	CHECK_STR(issuer_error("issuer a {\n\tdirectory https://h/\n"
	    "\taccount -x\n}\n"), "t.conf:8:10: invalid name '-x' for "
	    "account; use 1 to 64 letters, digits, '.', '_' or '-', starting "
	    "with a letter or digit");
	CHECK_STR(block_error("policy {\n\tfile policy.conf\n}\n"),
	    "t.conf:2:7: relative path 'policy.conf' for file; use an "
	    "absolute path such as /etc/custos/policy.conf");
}

/* Loads one block before the required ones; the caller frees it. */
static struct custos_config *
load_block(const char *block)
{
	static char text[4096];
	struct custos_config *config = NULL;

	snprintf(text, sizeof(text), "%s" HSM_BLOCK ISSUER_BLOCK POLICY_BLOCK,
	    block);
	if (config_load_string("t.conf", text, &config, err,
	    sizeof(err)) != 0)
		return NULL;
	return config;
}

static void
test_config_daemon_block(void)
{
	struct custos_config *config;

	config = load_block("");
	CHECK(config != NULL);
	if (config != NULL) {
		CHECK_INT(config->daemon.renew_fraction, 666);
		CHECK_INT(config->daemon.renew_before, 0);
		CHECK_INT(config->daemon.retry_base, 60);
		CHECK_INT(config->daemon.retry_max, 21600);
		CHECK_INT(config->daemon.concurrency, 32);
		CHECK_INT(config->daemon.connections, 8);
		CHECK(config->daemon.deploy_hook == NULL);
		config_free(config);
	}
	config = load_block("daemon {\n\trenew-fraction 0.5\n"
	    "\trenew-before 2h\n\tretry-base 5s\n\tretry-max 1m\n"
	    "\tdeploy-hook /usr/local/bin/deploy\n\tconcurrency 256\n"
	    "\tconnections 1\n}\n");
	CHECK(config != NULL);
	if (config != NULL) {
		CHECK_INT(config->daemon.concurrency, 256);
		CHECK_INT(config->daemon.connections, 1);
		CHECK_INT(config->daemon.renew_fraction, 500);
		CHECK_INT(config->daemon.renew_before, 7200);
		CHECK_INT(config->daemon.retry_base, 5);
		CHECK_INT(config->daemon.retry_max, 60);
		CHECK_STR(config->daemon.deploy_hook, "/usr/local/bin/deploy");
		config_free(config);
	}
	config = load_block("daemon {\n\trenew-fraction 2/3\n}\n");
	CHECK(config != NULL);
	if (config != NULL) {
		CHECK_INT(config->daemon.renew_fraction, 666);
		config_free(config);
	}
}

static void
test_config_daemon_errors(void)
{
	CHECK_STR(block_error("daemon {\n\trenew-fraction 3/2\n}\n"),
	    "t.conf:2:17: invalid fraction '3/2' for renew-fraction; use a "
	    "fraction of the lifetime from 0.001 to 0.999, such as 2/3 or "
	    "0.5");
	CHECK_STR(block_error("daemon {\n\trenew-fraction 0.0001\n}\n"),
	    "t.conf:2:17: invalid fraction '0.0001' for renew-fraction; use "
	    "a fraction of the lifetime from 0.001 to 0.999, such as 2/3 or "
	    "0.5");
	CHECK_STR(block_error("daemon {\n\trenew-fraction 1\n}\n"),
	    "t.conf:2:17: invalid fraction '1' for renew-fraction; use a "
	    "fraction of the lifetime from 0.001 to 0.999, such as 2/3 or "
	    "0.5");
	CHECK_STR(block_error("daemon {\n\tretry-base 2h\n"
	    "\tretry-max 1h\n}\n"), "t.conf:1:1: retry-base (7200s) is "
	    "longer than retry-max (3600s); lower retry-base or raise "
	    "retry-max");
	CHECK_STR(block_error("daemon {\n\tconcurrency 0\n}\n"),
	    "t.conf:2:14: concurrency '0' is out of range; use a number from "
	    "1 to 256");
	CHECK_STR(block_error("daemon {\n\tconcurrency 257\n}\n"),
	    "t.conf:2:14: concurrency '257' is out of range; use a number "
	    "from 1 to 256");
	CHECK_STR(block_error("daemon {\n\tconcurrency many\n}\n"),
	    "t.conf:2:14: invalid number 'many' for concurrency; use a number "
	    "of orders from 1 to 256");
	CHECK_STR(block_error("daemon {\n\tconnections 0\n}\n"),
	    "t.conf:2:14: connections '0' is out of range; use a number from "
	    "1 to 256");
	CHECK_STR(block_error("daemon {\n\tconnections 257\n}\n"),
	    "t.conf:2:14: connections '257' is out of range; use a number "
	    "from 1 to 256");
	CHECK_STR(block_error("daemon {\n\tdeploy-hook deploy.sh\n}\n"),
	    "t.conf:2:14: relative path 'deploy.sh' for deploy-hook; use an "
	    "absolute path such as /etc/custos/deploy");
}

int
main(void)
{
	RUN(test_config_full_file);
	RUN(test_config_defaults);
	RUN(test_config_webroot_and_units);
	RUN(test_config_file_errors);
	RUN(test_config_top_level_errors);
	RUN(test_config_issuer_block_errors);
	RUN(test_config_key_errors);
	RUN(test_config_hsm_errors);
	RUN(test_config_path_too_long);
	RUN(test_config_user_errors);
	RUN(test_config_http01_errors);
	RUN(test_config_duration_errors);
	RUN(test_config_acme_value_errors);
	RUN(test_config_issuer_value_errors);
	RUN(test_config_contact_errors);
	RUN(test_key_type_names);
	RUN(test_config_account_and_policy);
	RUN(test_config_daemon_block);
	RUN(test_config_daemon_errors);
	return check_done();
}
