/*
 * The API's JSON depth check, which runs before jansson parses a body,
 * and the api block of the configuration.
 */
#include "broker/api.h"
#include "broker/api_internal.h"
#include "config/config.h"
#include "tests/unit/check.h"

#include <stdio.h>
#include <stdlib.h>
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

static void
test_config_api_tcp_keys(void)
{
	struct custos_config *config = load("api {\n"
	    "\tsocket /run/custos/api.sock\n"
	    "\tlisten 127.0.0.1 8443\n"
	    "\ttls-certificate /etc/custos/api-cert.pem\n"
	    "\ttls-key /etc/custos/api-key.pem\n"
	    "\ttls-min-version 1.3\n"
	    "\tconnections-per-address 2\n"
	    "}\n");

	CHECK(config != NULL);
	if (config == NULL)
		return;
	CHECK_STR(config->api.listen_address, "127.0.0.1");
	CHECK_INT(config->api.listen_port, 8443);
	CHECK_STR(config->api.tls_certificate, "/etc/custos/api-cert.pem");
	CHECK_STR(config->api.tls_key, "/etc/custos/api-key.pem");
	CHECK_INT(config->api.tls_min_version, 13);
	CHECK_INT(config->api.connections_per_address, 2);
	CHECK_INT(config->api.allow_remote, 0);
	config_free(config);
}

static void
test_config_api_tcp_defaults(void)
{
	struct custos_config *config = load("api {\n"
	    "\tsocket /run/custos/api.sock\n"
	    "\tlisten ::1 8443\n"
	    "\ttls-certificate /etc/custos/api-cert.pem\n"
	    "\ttls-key /etc/custos/api-key.pem\n"
	    "}\n");

	CHECK(config != NULL);
	if (config == NULL)
		return;
	CHECK_STR(config->api.listen_address, "::1");
	CHECK_INT(config->api.tls_min_version, 12);
	CHECK_INT(config->api.connections_per_address, 8);
	config_free(config);
	config = load("api {\n\tsocket /run/custos/api.sock\n}\n");
	CHECK(config != NULL);
	if (config == NULL)
		return;
	CHECK(config->api.listen_address == NULL);
	config_free(config);
}

#define TLS_FILES \
	"\ttls-certificate /etc/custos/api-cert.pem\n" \
	"\ttls-key /etc/custos/api-key.pem\n"

static void
test_config_api_remote(void)
{
	struct custos_config *config;

	CHECK(load("api {\n\tsocket /run/a.sock\n\tlisten 192.0.2.7 8443\n"
	    TLS_FILES "}\n") == NULL);
	CHECK(strstr(err, "api listen address 192.0.2.7 is not a loopback "
	    "address") != NULL);
	CHECK(strstr(err, "allow-remote yes") != NULL);
	CHECK(load("api {\n\tsocket /run/a.sock\n\tlisten 0.0.0.0 8443\n"
	    TLS_FILES "}\n") == NULL);
	CHECK(strstr(err, "0.0.0.0 is not a loopback") != NULL);
	CHECK(load("api {\n\tsocket /run/a.sock\n\tlisten :: 8443\n"
	    TLS_FILES "}\n") == NULL);
	CHECK(strstr(err, ":: is not a loopback") != NULL);
	config = load("api {\n\tsocket /run/a.sock\n\tlisten 0.0.0.0 8443\n"
	    TLS_FILES "\tallow-remote yes\n}\n");
	CHECK(config != NULL);
	if (config != NULL)
		CHECK_INT(config->api.allow_remote, 1);
	config_free(config);
	config = load("api {\n\tsocket /run/a.sock\n\tlisten 127.8.9.1 1\n"
	    TLS_FILES "}\n");
	CHECK(config != NULL);
	config_free(config);
}

static void
test_config_api_tcp_errors(void)
{
	CHECK(load("api {\n\tsocket /run/a.sock\n\tlisten 127.0.0.1 "
	    "8443\n}\n") == NULL);
	CHECK(strstr(err, "without both 'tls-certificate' and 'tls-key'") !=
	    NULL);
	CHECK(load("api {\n\tsocket /run/a.sock\n\tlisten 127.0.0.1 8443\n"
	    "\ttls-certificate /etc/c.pem\n}\n") == NULL);
	CHECK(strstr(err, "tls-key") != NULL);
	CHECK(load("api {\n\tsocket /run/a.sock\n" TLS_FILES "}\n") ==
	    NULL);
	CHECK(strstr(err, "without 'listen'") != NULL);
	CHECK(load("api {\n\tsocket /run/a.sock\n\tallow-remote yes\n"
	    "}\n") == NULL);
	CHECK(strstr(err, "'allow-remote' without 'listen'") != NULL);
	CHECK(load("api {\n\tsocket /run/a.sock\n\tlisten localhost 8443\n"
	    TLS_FILES "}\n") == NULL);
	CHECK(strstr(err, "invalid address 'localhost'") != NULL);
	CHECK(load("api {\n\tsocket /run/a.sock\n\tlisten 127.0.0.1 0\n"
	    TLS_FILES "}\n") == NULL);
	CHECK(strstr(err, "invalid port '0'") != NULL);
	CHECK(load("api {\n\tsocket /run/a.sock\n\tlisten 127.0.0.1\n"
	    TLS_FILES "}\n") == NULL);
	CHECK(strstr(err, "listen") != NULL);
	CHECK(load("api {\n\tsocket /run/a.sock\n\tlisten 127.0.0.1 8443\n"
	    TLS_FILES "\ttls-min-version 1.1\n}\n") == NULL);
	CHECK(strstr(err, "unsupported TLS version '1.1'") != NULL);
	CHECK(load("api {\n\tsocket /run/a.sock\n\tlisten 127.0.0.1 8443\n"
	    TLS_FILES "\tconnections-per-address 0\n}\n") == NULL);
	CHECK(strstr(err, "connections-per-address '0' is out of range; use "
	    "a number from 1 to 32") != NULL);
	CHECK(load("api {\n\tsocket /run/a.sock\n\tlisten 127.0.0.1 8443\n"
	    TLS_FILES "\tconnections-per-address 33\n}\n") == NULL);
	CHECK(strstr(err, "connections-per-address '33' is out of range") !=
	    NULL);
	CHECK(load("api {\n\tsocket /run/a.sock\n\tlisten 127.0.0.1 8443\n"
	    "\ttls-certificate /etc/c.pem\n\ttls-key api-key.pem\n}\n") ==
	    NULL);
	CHECK(strstr(err, "relative path 'api-key.pem'") != NULL);
}

/* Writes one label into a string; returns it, malloc'd. */
static char *
label_text(const char *value, int first)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	if (out == NULL)
		return NULL;
	api_metrics_put_label(out, "label", value, first);
	fclose(out);
	return text;
}

static void
test_metrics_label_escaping(void)
{
	static const struct {
		const char *value;
		int first;
		const char *expected;
	} cases[] = {
		{ "www.example.com", 1, "label=\"www.example.com\"" },
		{ "a", 0, ",label=\"a\"" },
		{ "", 1, "label=\"\"" },
		{ "say \"hi\"", 1, "label=\"say \\\"hi\\\"\"" },
		{ "C:\\dir", 1, "label=\"C:\\\\dir\"" },
		{ "two\nlines", 1, "label=\"two\\nlines\"" },
		{ "tab\tstays", 1, "label=\"tab\tstays\"" },
	};
	char *text;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		text = label_text(cases[i].value, cases[i].first);
		CHECK_STR(text != NULL ? text : "(null)", cases[i].expected);
		free(text);
	}
}

static void
test_metrics_failure_reasons(void)
{
	CHECK_STR(api_metrics_failure_reason(NULL), "other");
	CHECK_STR(api_metrics_failure_reason("something odd"), "other");
	CHECK_STR(api_metrics_failure_reason("new order: rateLimited: too "
	    "many certificates (HTTP 429)"), "rate_limited");
	CHECK_STR(api_metrics_failure_reason("x.test: denied, no rule "
	    "allows it"), "policy");
	CHECK_STR(api_metrics_failure_reason("the signer closed its "
	    "connection"), "signer");
	CHECK_STR(api_metrics_failure_reason("the deploy hook exited with "
	    "status 1"), "deploy");
	CHECK_STR(api_metrics_failure_reason("GET https://127.0.0.1:14000/"
	    "dir: Couldn't connect to server"), "network");
	CHECK_STR(api_metrics_failure_reason("order 5: poll timed out"),
	    "timeout");
	CHECK_STR(api_metrics_failure_reason("finalize: badCSR: bad key "
	    "(HTTP 400)"), "ca_error");
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
	RUN(test_config_api_tcp_keys);
	RUN(test_config_api_tcp_defaults);
	RUN(test_config_api_remote);
	RUN(test_config_api_tcp_errors);
	RUN(test_metrics_label_escaping);
	RUN(test_metrics_failure_reasons);
	return check_done();
}
