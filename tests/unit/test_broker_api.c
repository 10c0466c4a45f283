/*
 * The API's JSON depth check, which runs before jansson parses a body,
 * and the api block of the configuration.
 */
#include "broker/api.h"
#include "config/config.h"
#include "tests/unit/check.h"

#include <stdio.h>
#include <string.h>

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

static int
depth(const char *text)
{
	return api_json_depth(text, strlen(text));
}

static void
test_depth_counts_nesting(void)
{
	CHECK_INT(depth("1"), 0);
	CHECK_INT(depth("{}"), 1);
	CHECK_INT(depth("{\"a\":[1,{\"b\":[]}]}"), 4);
	CHECK_INT(depth("[[],[],[]]"), 2);
	CHECK_INT(depth("[[[[[[[[[1]]]]]]]]]"), 9);
}

static void
test_depth_skips_strings(void)
{
	CHECK_INT(depth("{\"a\":\"[[[[{{{{\"}"), 1);
	CHECK_INT(depth("[\"\\\"[[[\"]"), 1);
	CHECK_INT(depth("[\"\\\\\",[]]"), 2);
}

static void
test_depth_unbalanced_input(void)
{
	CHECK_INT(depth("]]]]{"), 1);
	CHECK_INT(depth("[[[["), 4);
	CHECK_INT(api_json_depth("[[[", 1), 1);
}

static struct custos_config *
load(const char *block)
{
	struct custos_config *config = NULL;
	char text[2048];

	snprintf(text, sizeof(text), "%s%s", BASE_BLOCKS, block);
	strcpy(err, "(no error)");
	if (config_load_string("t.conf", text, &config, err,
	    sizeof(err)) != 0)
		return NULL;
	return config;
}

static void
test_config_api_off_by_default(void)
{
	struct custos_config *config = load("");

	CHECK(config != NULL);
	if (config == NULL)
		return;
	CHECK(config->api.socket == NULL);
	CHECK(config->api.group == NULL);
	config_free(config);
}

static void
test_config_api_keys(void)
{
	struct custos_config *config = load("api {\n"
	    "\tsocket /run/custos/api.sock\n"
	    "\tgroup custos-api\n"
	    "}\n");

	CHECK(config != NULL);
	if (config == NULL)
		return;
	CHECK_STR(config->api.socket, "/run/custos/api.sock");
	CHECK_STR(config->api.group, "custos-api");
	config_free(config);
}

static void
test_config_api_errors(void)
{
	CHECK(load("api {\n\tgroup custos-api\n}\n") == NULL);
	CHECK(strstr(err, "socket") != NULL);
	CHECK(load("api {\n\tsocket run/api.sock\n}\n") == NULL);
	CHECK(strstr(err, "t.conf:13:9") != NULL);
	CHECK(load("api {\n\tsocket /run/a.sock\n\tgroup \"a b\"\n}\n") ==
	    NULL);
	CHECK(strstr(err, "invalid group name") != NULL);
}

int
main(void)
{
	RUN(test_depth_counts_nesting);
	RUN(test_depth_skips_strings);
	RUN(test_depth_unbalanced_input);
	RUN(test_config_api_off_by_default);
	RUN(test_config_api_keys);
	RUN(test_config_api_errors);
	return check_done();
}
