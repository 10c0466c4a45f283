/*
 * The audit block of the configuration: its defaults, each key, and the
 * error message of each invalid value.
 */
#include "config/config.h"
#include "tests/unit/check.h"

#include <stdio.h>
#include <stdlib.h>

#define BASE_BLOCKS \
	"hsm {\n" \
	"\tmodule /usr/lib/softhsm/libsofthsm2.so\n" \
	"\ttoken-label custos\n" \
	"\tpin-file /etc/custos/pin\n" \
	"}\n" \
	"issuer local {\n" \
	"\tdirectory https://127.0.0.1:14000/dir\n" \
	"}\n" \
	"policy {\n" \
	"\tfile /etc/custos/policy.conf\n" \
	"}\n"

static char err[CONFIG_ERR_MAX];

/* Loads the base blocks and then audit_block (11 lines before it). */
static struct custos_config *
load(const char *audit_block)
{
	struct custos_config *config = NULL;
	char text[2048];

	snprintf(text, sizeof(text), "%s%s", BASE_BLOCKS, audit_block);
	strcpy(err, "(no error)");
	if (config_load_string("t.conf", text, &config, err,
	    sizeof(err)) != 0)
		return NULL;
	return config;
}

static void
test_audit_defaults(void)
{
	struct custos_config *config = load("");

	CHECK(config != NULL);
	if (config == NULL)
		return;
	CHECK_STR(config->audit.file, "/var/log/custos/audit.log");
	CHECK_INT(config->audit.checkpoint_interval, 3600);
	CHECK_INT(config->audit.rotate_size, 64LL * 1024 * 1024);
	config_free(config);
}

static void
test_audit_keys(void)
{
	struct custos_config *config = load("audit {\n"
	    "\tfile /srv/log/audit.log\n"
	    "\tcheckpoint-interval 5m\n"
	    "\trotate-size 2G\n"
	    "}\n");

	CHECK(config != NULL);
	if (config == NULL)
		return;
	CHECK_STR(config->audit.file, "/srv/log/audit.log");
	CHECK_INT(config->audit.checkpoint_interval, 300);
	CHECK_INT(config->audit.rotate_size, 2LL * 1024 * 1024 * 1024);
	config_free(config);
}

static void
test_audit_rotate_size_forms(void)
{
	struct custos_config *config;

	static const struct {
		const char *block;
		long long bytes;
	} cases[] = {
		{ "audit {\n\trotate-size 0\n}\n", 0 },
		{ "audit {\n\trotate-size 4096\n}\n", 4096 },
		{ "audit {\n\trotate-size 512K\n}\n", 512 * 1024 },
		{ "audit {\n\trotate-size 3M\n}\n", 3 * 1024 * 1024 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		config = load(cases[i].block);
		CHECK(config != NULL);
		if (config == NULL)
			continue;
		CHECK_INT(config->audit.rotate_size, cases[i].bytes);
		config_free(config);
	}
}

static void
test_audit_errors(void)
{
	CHECK(load("audit {\n\tfile audit.log\n}\n") == NULL);
	CHECK_STR(err, "t.conf:13:7: relative path 'audit.log' for file; use "
	    "an absolute path such as /var/log/custos/audit.log");
	CHECK(load("audit {\n\trotate-size 100\n}\n") == NULL);
	CHECK_STR(err, "t.conf:13:14: rotate-size '100' is out of range; use "
	    "0 or a size from 4K to 1024G");
	CHECK(load("audit {\n\trotate-size 1T\n}\n") == NULL);
	CHECK(strstr(err, "t.conf:13:14: invalid size '1T' for rotate-size; "
	    "use bytes, or a number with K, M or G") != NULL);
	CHECK(load("audit {\n\tcheckpoint-interval 0\n}\n") == NULL);
	CHECK_STR(err, "t.conf:13:22: checkpoint-interval '0' is out of "
	    "range; use a duration from 1s to 24h");
	CHECK(load("audit {\n\tsize 1M\n}\n") == NULL);
	CHECK_STR(err, "t.conf:13:2: unknown key 'size' in block 'audit' "
	    "(expected one of: file, checkpoint-interval, rotate-size)");
}

int
main(void)
{
	RUN(test_audit_defaults);
	RUN(test_audit_keys);
	RUN(test_audit_rotate_size_forms);
	RUN(test_audit_errors);
	return check_done();
}
