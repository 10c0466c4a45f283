/*
 * Tests of the dns-01 and tls-alpn-01 configuration: the challenge types,
 * dns-zone blocks, their defaults and every error with its message.
 */
#include "config/config.h"
#include "tests/unit/check.h"

#include <stdio.h>
#include <stdlib.h>

/* Nine lines, so that a block placed after them starts on line 10. */
#define BASE \
	"hsm {\n" \
	"\tmodule /usr/lib/softhsm/libsofthsm2.so\n" \
	"\ttoken-label custos\n" \
	"\tpin-file /etc/custos/pin\n" \
	"}\n" \
	"issuer local {\n" \
	"\tdirectory https://127.0.0.1:14000/dir\n" \
	"}\n" \
	"policy {\n\tfile /etc/custos/policy.conf\n}\n"

static char err[CONFIG_ERR_MAX];

/* Loads BASE followed by text; returns NULL and sets err on failure. */
static struct custos_config *
load(const char *text)
{
	struct custos_config *config = NULL;
	char buf[4096];

	snprintf(buf, sizeof(buf), BASE "%s", text);
	err[0] = '\0';
	if (config_load_string("t.conf", buf, &config, err,
	    sizeof(err)) != 0)
		return NULL;
	return config;
}

static const char *
load_error(const char *text)
{
	struct custos_config *config = load(text);

	if (config != NULL) {
		config_free(config);
		return "(loaded without error)";
	}
	return err;
}

#define ZONE_OK \
	"dns-zone Example.ORG. {\n" \
	"\tserver 192.0.2.53 5353\n" \
	"\ttsig-key custos hmac-sha512 /etc/custos/tsig.key\n" \
	"\tnameserver 192.0.2.1 53\n" \
	"\tnameserver 2001:db8::1 53\n" \
	"\tpropagation advisory\n" \
	"}\n"

static void
test_defaults(void)
{
	struct custos_config *config = load("");

	CHECK(config != NULL);
	if (config == NULL)
		return;
	CHECK_INT(config->challenge.type_count, 1);
	CHECK_INT(config->challenge.types[0], CHALLENGE_HTTP01);
	CHECK_STR(config->challenge.tlsalpn01_address, "0.0.0.0");
	CHECK_INT(config->challenge.tlsalpn01_port, 443);
	CHECK_INT(config->challenge.dns_resolver_count, 0);
	CHECK_INT(config->dns_zone_count, 0);
	config_free(config);
}

static void
test_zone_values(void)
{
	struct custos_config *config = load("challenge {\n"
	    "\ttypes dns-01 tls-alpn-01\n"
	    "\ttls-alpn-01 listen 127.0.0.1 5001\n"
	    "\tdns-resolver 127.0.0.1 53\n"
	    "}\n" ZONE_OK);
	const struct config_dns_zone *zone;

	CHECK(config != NULL);
	if (config == NULL)
		return;
	CHECK_INT(config->challenge.type_count, 2);
	CHECK_INT(config->challenge.types[0], CHALLENGE_DNS01);
	CHECK_INT(config->challenge.types[1], CHALLENGE_TLSALPN01);
	CHECK_INT(config->challenge.tlsalpn01_port, 5001);
	CHECK_STR(config->challenge.dns_resolvers[0].address, "127.0.0.1");
	zone = config_find_dns_zone(config, "example.org");
	CHECK(zone != NULL);
	if (zone != NULL) {
		CHECK_STR(zone->server.address, "192.0.2.53");
		CHECK_INT(zone->server.port, 5353);
		CHECK_STR(zone->tsig_name, "custos");
		CHECK_STR(zone->tsig_algorithm, "hmac-sha512");
		CHECK_INT(zone->nameserver_count, 2);
		CHECK_STR(zone->nameservers[1].address, "2001:db8::1");
		CHECK_INT(zone->ttl, 60);
		CHECK_INT(zone->propagation_timeout, 120);
		CHECK_INT(zone->propagation_interval, 2);
		CHECK_INT(zone->propagation, DNS_PROPAGATION_ADVISORY);
		CHECK_INT(zone->hook_timeout, 60);
	}
	CHECK(config_challenge_enabled(config, CHALLENGE_DNS01));
	CHECK(!config_challenge_enabled(config, CHALLENGE_HTTP01));
	config_free(config);
}

static void
test_zone_errors(void)
{
	CHECK_STR(load_error("dns-zone example.org {\n\tserver 192.0.2.1 53\n"
	    "\ttsig-key k hmac-sha384 /k\n}\n"), "t.conf:14:13: TSIG "
	    "algorithm hmac-sha384 does not work with ldns 1.8.3, which "
	    "misspells its name; use hmac-sha256 or hmac-sha512");
	CHECK_STR(load_error("dns-zone example.org {\n\tserver 192.0.2.1 53\n"
	    "\ttsig-key k hmac-md5 /k\n}\n"), "t.conf:14:13: unsupported "
	    "TSIG algorithm 'hmac-md5'; use hmac-sha256 or hmac-sha512");
	CHECK_STR(load_error("dns-zone example.org {\n\tserver 192.0.2.1 53\n"
	    "}\n"), "t.conf:12:1: block 'dns-zone example.org' is missing "
	    "required key 'tsig-key'; add 'tsig-key NAME ALGORITHM FILE' "
	    "(updates must be signed)");
	CHECK_STR(load_error("dns-zone example.org {\n\tttl 60\n}\n"),
	    "t.conf:12:1: block 'dns-zone example.org' sets neither 'server' "
	    "nor 'hook'; add 'server ADDRESS PORT' with 'tsig-key', or 'hook "
	    "PROGRAM'");
	CHECK_STR(load_error("dns-zone example.org {\n\tserver 192.0.2.1 53\n"
	    "\ttsig-key k hmac-sha256 /k\n\thook /bin/h\n}\n"), "t.conf:12:1: "
	    "block 'dns-zone example.org' sets both 'server' and 'hook'; keep "
	    "one of them");
	CHECK_STR(load_error("dns-zone example.org {\n\thook /bin/h\n"
	    "\tserver ns.example.org 53\n}\n"), "t.conf:14:9: invalid address "
	    "'ns.example.org' for server; use an IPv4 or IPv6 address such "
	    "as 127.0.0.1 or ::1");
	CHECK_STR(load_error("dns-zone exa_mple..org {\n\thook /bin/h\n}\n"),
	    "t.conf:12:10: invalid zone name 'exa_mple..org'; use a DNS name "
	    "such as example.org, with A-labels (xn--...) for international "
	    "names");
	CHECK_STR(load_error("dns-zone a.org {\n\thook /bin/h\n}\n"
	    "dns-zone A.org. {\n\thook /bin/h\n}\n"), "t.conf:15:10: duplicate "
	    "dns-zone 'a.org'; the first is at line 12, merge the two");
	CHECK_STR(load_error("dns-zone a.org {\n\thook /bin/h\n"
	    "\tpropagation-timeout 5s\n\tpropagation-interval 10s\n}\n"),
	    "t.conf:12:1: block 'dns-zone a.org' has propagation-interval "
	    "longer than propagation-timeout; lower the interval");
	CHECK_STR(load_error("dns-zone a.org {\n\thook /bin/h\n"
	    "\tpropagation maybe\n}\n"), "t.conf:14:14: invalid value 'maybe' "
	    "for propagation; use required or advisory");
}

static void
test_challenge_errors(void)
{
	CHECK_STR(load_error("challenge {\n\ttypes dns-01\n}\n"), "t.conf: "
	    "challenge types list dns-01 but no 'dns-zone' block exists; add "
	    "'dns-zone ZONE {' (see docs/configuration.md)");
	CHECK_STR(load_error("challenge {\n\ttypes http-01 http-01\n}\n"),
	    "t.conf:13:16: repeated challenge type 'http-01' for types; use "
	    "one or more of http-01, dns-01, tls-alpn-01");
	CHECK_STR(load_error("challenge {\n\ttypes dns-02\n}\n"),
	    "t.conf:13:8: unknown challenge type 'dns-02' for types; use one "
	    "or more of http-01, dns-01, tls-alpn-01");
	CHECK_STR(load_error("challenge {\n\ttls-alpn-01 serve 0.0.0.0 443\n"
	    "}\n"), "t.conf:13:14: unknown mode 'serve' for tls-alpn-01; use "
	    "'listen ADDRESS PORT'");
	CHECK_STR(load_error("challenge {\n\tdns-resolver 127.0.0.1 0\n}\n"),
	    "t.conf:13:25: invalid port '0' for dns-resolver; use a number "
	    "from 1 to 65535");
}

int
main(void)
{
	RUN(test_defaults);
	RUN(test_zone_values);
	RUN(test_zone_errors);
	RUN(test_challenge_errors);
	return check_done();
}
