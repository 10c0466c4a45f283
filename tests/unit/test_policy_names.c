/*
 * Name normalisation with and without libidn2, the canonical-form check
 * the signer relies on, and IP address literals.
 */
#include <stdlib.h>
#include <string.h>

#include "policy/name.h"
#include "tests/unit/check.h"

struct name_case {
	const char *input;
	const char *output;	/* NULL when the input is rejected */
	const char *error;	/* the full message when rejected */
};

static const struct name_case idna_cases[] = {
	{ "www.example.com", "www.example.com", NULL },
	{ "WWW.Example.COM", "www.example.com", NULL },
	{ "www.example.com.", "www.example.com", NULL },
	{ "*.Example.com.", "*.example.com", NULL },
	{ "b\xc3\xbc" "cher.example", "xn--bcher-kva.example", NULL },
	{ "B\xc3\x9c" "CHER.example", "xn--bcher-kva.example", NULL },
	{ "*.b\xc3\xbc" "cher.example", "*.xn--bcher-kva.example", NULL },
	{ "XN--BCHER-KVA.example", "xn--bcher-kva.example", NULL },
	/* Non-transitional: sharp s stays, it is not mapped to "ss". */
	{ "fa\xc3\x9f.de", "xn--fa-hia.de", NULL },
	/* UTS #46 maps full-width letters and the ideographic full stop. */
	{ "\xef\xbd\x85\xef\xbd\x98.com", "ex.com", NULL },
	{ "a\xe3\x80\x82" "example", "a.example", NULL },
	{ "", NULL, "invalid name \"\": empty name; give a DNS name such as "
	    "www.example.com" },
	{ ".", NULL, "invalid name \".\": empty label; remove the extra "
	    "dot" },
	{ "a..b", NULL, "invalid name \"a..b\": empty label; remove the "
	    "extra dot" },
	{ "a.b..", NULL, "invalid name \"a.b..\": empty label; remove the "
	    "extra dot" },
	{ ".a.b", NULL, "invalid name \".a.b\": empty label; remove the "
	    "extra dot" },
	{ "a_b.example", NULL, "invalid name \"a_b.example\": character '_' "
	    "is not a letter, digit or hyphen" },
	{ "a b.example", NULL, "invalid name \"a b.example\": byte 0x20 is "
	    "not a letter, digit or hyphen; write an internationalised name "
	    "as its A-label (xn--...)" },
	{ "\xc3\xbc_b.example", NULL, "invalid name \"??_b.example\": "
	    "character '_' is not a letter, digit or hyphen" },
	{ "-a.example", NULL, "invalid name \"-a.example\": label \"-a\" "
	    "starts or ends with a hyphen" },
	{ "a-.example", NULL, "invalid name \"a-.example\": label \"a-\" "
	    "starts or ends with a hyphen" },
	{ "ab--cd.example", NULL, "invalid name \"ab--cd.example\": label "
	    "\"ab--cd\" has hyphens in the third and fourth positions, which "
	    "IDNA reserves for xn-- labels" },
	{ "*", NULL, "invalid name \"*\": '*' needs a domain after it, as in "
	    "*.example.com" },
	{ "*.*.example.com", NULL, "invalid name \"*.*.example.com\": '*' is "
	    "allowed only as the whole leftmost label, as in *.example.com" },
	{ "www.*.example.com", NULL, "invalid name \"www.*.example.com\": "
	    "'*' is allowed only as the whole leftmost label, as in "
	    "*.example.com" },
	{ "w*.example.com", NULL, "invalid name \"w*.example.com\": '*' is "
	    "allowed only as the whole leftmost label, as in *.example.com" },
	{ "*.b\xc3\xbc*.example", NULL, "invalid name \"*.b??*.example\": "
	    "'*' is allowed only as the whole leftmost label, as in "
	    "*.example.com" },
	{ "192.0.2.1", NULL, "invalid name \"192.0.2.1\": the last label is "
	    "all digits; request an IP address as an ip identifier" },
	/* Invalid Punycode, and A-labels that do not round-trip. */
	{ "xn--bcher-kva2.example", NULL, "invalid name "
	    "\"xn--bcher-kva2.example\": label \"xn--bcher-kva2\" is not a "
	    "valid A-label: string contains invalid punycode data" },
	{ "xn--zz.example", NULL, "invalid name \"xn--zz.example\": label "
	    "\"xn--zz\" is not a valid A-label: string contains invalid "
	    "punycode data" },
	{ "xn--abc.example", NULL, "invalid name \"xn--abc.example\": label "
	    "\"xn--abc\" is not a valid A-label: string contains a "
	    "disallowed character" },
	/* "xn--bel-ska" encodes "\xc3\x9c" "bel", with a capital U-umlaut. */
	{ "xn--bel-ska.example", NULL, "invalid name \"xn--bel-ska.example\": "
	    "label \"xn--bel-ska\" is not a valid A-label: it decodes to a "
	    "name whose A-label is \"xn--bel-goa\"" },
	/* Mixed scripts as libidn2 reports them: the bidi rule. */
	{ "a\xd7\x90.example", NULL, "invalid name \"a??.example\": string "
	    "has forbidden bi-directional properties (IDNA 2008, UTS #46)" },
	/* A zero-width joiner outside its allowed context. */
	{ "a\xe2\x80\x8d" "b.example", NULL, "invalid name "
	    "\"a???b.example\": string contains a forbidden context-j "
	    "character (IDNA 2008, UTS #46)" },
	{ "\xf0\x9f\x92\xa9.example", NULL, "invalid name \"????.example\": "
	    "string contains a disallowed character (IDNA 2008, UTS #46)" },
	{ "xn--ls8h.example", NULL, "invalid name \"xn--ls8h.example\": label "
	    "\"xn--ls8h\" is not a valid A-label: string contains a "
	    "disallowed character" },
};

static void
check_cases(const struct name_case *cases, size_t count,
    policy_normalize_fn normalize)
{
	char out[POLICY_NAME_BUFSIZE], err[512];
	size_t i;
	int rc;

	for (i = 0; i < count; i++) {
		out[0] = '\0';
		err[0] = '\0';
		rc = normalize(cases[i].input, out, sizeof(out), err,
		    sizeof(err));
		if (cases[i].output != NULL) {
			if (rc != 0)
				printf("# case %zu: %s\n", i, err);
			CHECK_INT(rc, 0);
			CHECK_STR(out, cases[i].output);
		} else {
			CHECK_INT(rc, -1);
			CHECK_STR(err, cases[i].error);
		}
	}
}

static void
test_names_idna(void)
{
	check_cases(idna_cases, sizeof(idna_cases) / sizeof(idna_cases[0]),
	    policy_name_normalize);
}

static const struct name_case ascii_cases[] = {
	{ "WWW.Example.COM.", "www.example.com", NULL },
	{ "xn--bcher-kva.example", "xn--bcher-kva.example", NULL },
	/* Without libidn2 an A-label is only checked as LDH. */
	{ "xn--zz.example", "xn--zz.example", NULL },
	{ "b\xc3\xbc" "cher.example", NULL, "invalid name \"b??cher.example\": "
	    "non-ASCII characters; write the name as its A-label (xn--...)" },
	{ "a..b", NULL, "invalid name \"a..b\": empty label; remove the "
	    "extra dot" },
};

static void
test_names_ascii(void)
{
	check_cases(ascii_cases, sizeof(ascii_cases) / sizeof(ascii_cases[0]),
	    policy_name_normalize_ascii);
}

static void
test_names_lengths(void)
{
	char input[600], out[POLICY_NAME_BUFSIZE], err[512];
	size_t i;

	/* 63, 63, 63 and 61 characters with dots: 253 in all. */
	memset(input, 'a', sizeof(input));
	for (i = 63; i < 253; i += 64)
		input[i] = '.';
	input[253] = '\0';
	CHECK_INT(policy_name_normalize(input, out, sizeof(out), err,
	    sizeof(err)), 0);
	CHECK_INT(strlen(out), 253);
	CHECK_INT(policy_name_check_canonical(out, err, sizeof(err)), 0);

	/* 253 characters and a trailing dot are allowed. */
	input[253] = '.';
	input[254] = '\0';
	CHECK_INT(policy_name_normalize(input, out, sizeof(out), err,
	    sizeof(err)), 0);
	CHECK_INT(strlen(out), 253);

	input[253] = 'a';
	CHECK_INT(policy_name_normalize(input, out, sizeof(out), err,
	    sizeof(err)), -1);
	CHECK(strstr(err, "254 characters long, over the maximum of 253") !=
	    NULL);

	/* U-umlaut and 55 letters: an A-label of 63 characters. */
	strcpy(input, "\xc3\xbc");
	memset(input + 2, 'a', 55);
	strcpy(input + 57, ".example");
	CHECK_INT(policy_name_normalize(input, out, sizeof(out), err,
	    sizeof(err)), 0);
	CHECK_INT(strlen(out), 63 + strlen(".example"));
	CHECK(strncmp(out, "xn--", 4) == 0);

	/* One letter more: libidn2 rejects the 64-character A-label. */
	strcpy(input, "\xc3\xbc");
	memset(input + 2, 'a', 56);
	strcpy(input + 58, ".example");
	CHECK_INT(policy_name_normalize(input, out, sizeof(out), err,
	    sizeof(err)), -1);
	CHECK_STR(err, "invalid name \"??aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaa.examp...\": punycode encoded data will be too "
	    "large (IDNA 2008, UTS #46)");
}

static void
test_names_canonical(void)
{
	char err[512];

	CHECK_INT(policy_name_check_canonical("www.example.com", err,
	    sizeof(err)), 0);
	CHECK_INT(policy_name_check_canonical("*.example.com", err,
	    sizeof(err)), 0);
	CHECK_INT(policy_name_check_canonical("localhost", err,
	    sizeof(err)), 0);
	CHECK_INT(policy_name_check_canonical("Www.example.com", err,
	    sizeof(err)), -1);
	CHECK_STR(err, "invalid name \"Www.example.com\": upper-case letter "
	    "'W'; canonical names are lower case");
	CHECK_INT(policy_name_check_canonical("example.com.", err,
	    sizeof(err)), -1);
	CHECK_STR(err, "invalid name \"example.com.\": trailing dot; "
	    "canonical names have none");
	CHECK_INT(policy_name_check_canonical("a\nb.example", err,
	    sizeof(err)), -1);
	CHECK_STR(err, "invalid name \"a?b.example\": byte 0x0a is not a "
	    "letter, digit or hyphen; write an internationalised name as "
	    "its A-label (xn--...)");
}

struct ip_case {
	const char *input;
	const char *output;
	const char *error;
};

static const struct ip_case ip_cases[] = {
	{ "192.0.2.1", "192.0.2.1", NULL },
	{ "0.0.0.0", "0.0.0.0", NULL },
	{ "2001:DB8::1", "2001:db8::1", NULL },
	{ "2001:0db8:0:0:0:0:0:0001", "2001:db8::1", NULL },
	{ "2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1", NULL },
	{ "::", "::", NULL },
	{ "010.1.1.1", NULL, "invalid IP address \"010.1.1.1\": octet with "
	    "a leading zero is ambiguous (some parsers read it as octal); "
	    "remove the leading zeros" },
	{ "1.2.3.04", NULL, "invalid IP address \"1.2.3.04\": octet with a "
	    "leading zero is ambiguous (some parsers read it as octal); "
	    "remove the leading zeros" },
	{ "1.2.3", NULL, "invalid IP address \"1.2.3\": not an IPv4 address "
	    "in dotted-decimal form such as 192.0.2.1" },
	{ "256.1.1.1", NULL, "invalid IP address \"256.1.1.1\": not an IPv4 "
	    "address in dotted-decimal form such as 192.0.2.1" },
	{ "0x7f.0.0.1", NULL, "invalid IP address \"0x7f.0.0.1\": not an "
	    "IPv4 address in dotted-decimal form such as 192.0.2.1" },
	{ "*.192.0.2.1", NULL, "invalid IP address \"*.192.0.2.1\": a "
	    "wildcard is not allowed in an IP address" },
	{ "[2001:db8::1]", NULL, "invalid IP address \"[2001:db8::1]\": "
	    "remove the brackets around the IPv6 address" },
	{ "fe80::1%eth0", NULL, "invalid IP address \"fe80::1%eth0\": an "
	    "IPv6 zone index is not allowed; remove the %zone suffix" },
	{ "2001:db8::1::2", NULL, "invalid IP address \"2001:db8::1::2\": "
	    "not an IPv6 address such as 2001:db8::1" },
	{ "::ffff:192.0.2.1", NULL, "invalid IP address \"::ffff:192.0.2.1\""
	    ": IPv4-mapped IPv6 address; write the IPv4 address 192.0.2.1" },
};

static void
test_names_ip(void)
{
	char out[POLICY_NAME_BUFSIZE], err[512];
	size_t i;
	int rc;

	for (i = 0; i < sizeof(ip_cases) / sizeof(ip_cases[0]); i++) {
		err[0] = '\0';
		rc = policy_ip_normalize(ip_cases[i].input, out, sizeof(out),
		    err, sizeof(err));
		if (ip_cases[i].output != NULL) {
			CHECK_INT(rc, 0);
			CHECK_STR(out, ip_cases[i].output);
		} else {
			CHECK_INT(rc, -1);
			CHECK_STR(err, ip_cases[i].error);
		}
	}
	CHECK_INT(policy_ip_check_canonical("2001:db8::1", err, sizeof(err)),
	    0);
	CHECK_INT(policy_ip_check_canonical("2001:0db8::1", err,
	    sizeof(err)), -1);
	CHECK_STR(err, "invalid IP address \"2001:0db8::1\": not in "
	    "canonical form; write 2001:db8::1");
}

static void
test_names_quote(void)
{
	char text[100], quoted[POLICY_QUOTE_BUFSIZE];

	memset(text, 'x', 99);
	text[99] = '\0';
	policy_quote(text, quoted);
	CHECK_INT(strlen(quoted), 67);
	CHECK_STR(quoted + 64, "...");
	CHECK_STR(policy_quote("a\tb\x7f", quoted), "a?b?");
}

int
main(void)
{
	RUN(test_names_idna);
	RUN(test_names_ascii);
	RUN(test_names_lengths);
	RUN(test_names_canonical);
	RUN(test_names_ip);
	RUN(test_names_quote);
	return check_done();
}
