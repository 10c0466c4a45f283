/*
 * URL origins as the signer compares a request URL with the directory URL
 * of the key's issuer: scheme, host and port, case-insensitive where RFC
 * 3986 says so, default ports filled in, and anything ambiguous rejected.
 */
#include <string.h>

#include "signer/signer.h"
#include "tests/unit/check.h"

/* Returns 1 when both URLs parse and have the same origin. */
static int
same_origin(const char *a, const char *b)
{
	struct url_origin oa, ob;
	char err[128];

	if (url_origin_parse(a, &oa, err, sizeof(err)) != 0 ||
	    url_origin_parse(b, &ob, err, sizeof(err)) != 0)
		return -1;
	return url_origin_equal(&oa, &ob);
}

static int
parses(const char *url)
{
	struct url_origin origin;
	char err[128];

	return url_origin_parse(url, &origin, err, sizeof(err)) == 0;
}

static void
test_origin_parts(void)
{
	struct url_origin o;
	char err[128];

	CHECK_INT(url_origin_parse("https://ACME.Example.COM:14000/dir?x#y",
	    &o, err, sizeof(err)), 0);
	CHECK_STR(o.scheme, "https");
	CHECK_STR(o.host, "acme.example.com");
	CHECK_INT(o.port, 14000);
}

static void
test_origin_default_ports(void)
{
	struct url_origin o;
	char err[128];

	CHECK_INT(url_origin_parse("https://a.test/x", &o, err, sizeof(err)),
	    0);
	CHECK_INT(o.port, 443);
	CHECK_INT(url_origin_parse("http://a.test", &o, err, sizeof(err)), 0);
	CHECK_INT(o.port, 80);
	CHECK_STR(o.scheme, "http");
	CHECK_INT(same_origin("https://a.test/", "https://a.test:443/x"), 1);
	CHECK_INT(same_origin("https://a.test:/", "https://a.test/"), 1);
	CHECK_INT(same_origin("http://a.test/", "http://a.test:80/"), 1);
	CHECK_INT(same_origin("https://a.test:0443/", "https://a.test/"), 1);
}

static void
test_origin_case(void)
{
	CHECK_INT(same_origin("HTTPS://A.TEST/dir", "https://a.test/new"), 1);
	CHECK_INT(same_origin("hTtPs://a.Test:8443/", "https://A.test:8443"),
	    1);
}

static void
test_origin_differs(void)
{
	CHECK_INT(same_origin("https://a.test/", "http://a.test/"), 0);
	CHECK_INT(same_origin("http://a.test:443/", "https://a.test/"), 0);
	CHECK_INT(same_origin("https://a.test/", "https://b.test/"), 0);
	CHECK_INT(same_origin("https://a.test/", "https://a.test:8443/"), 0);
	CHECK_INT(same_origin("https://a.test/", "https://a.test./"), 0);
	CHECK_INT(same_origin("https://a.test/", "https://www.a.test/"), 0);
	CHECK_INT(same_origin("https://a.test/", "https://a.test.evil/"), 0);
	CHECK_INT(same_origin("https://127.0.0.1/", "https://127.1/"), 0);
	CHECK_INT(same_origin("https://127.0.0.1:14000/",
	    "https://127.0.0.1:14001/"), 0);
}

static void
test_origin_ipv6(void)
{
	struct url_origin o;
	char err[128], text[300];

	CHECK_INT(url_origin_parse("https://[2001:DB8:0:0::1]:8443/x", &o,
	    err, sizeof(err)), 0);
	CHECK_STR(o.host, "2001:db8::1");
	CHECK_INT(o.port, 8443);
	url_origin_format(&o, text, sizeof(text));
	CHECK_STR(text, "https://[2001:db8::1]:8443");
	CHECK_INT(same_origin("https://[::1]/", "https://[0:0::1]:443/"), 1);
	CHECK_INT(same_origin("https://[::1]/", "https://[::2]/"), 0);
	CHECK_INT(parses("https://[::1/"), 0);
	CHECK_INT(parses("https://[::1]x/"), 0);
	CHECK_INT(parses("https://[a.test]/"), 0);
	CHECK_INT(parses("https://::1/"), 0);
}

static void
test_origin_rejects(void)
{
	/* User information could hide the real host from a naive reader. */
	CHECK_INT(parses("https://127.0.0.1:14000@evil.test/"), 0);
	CHECK_INT(parses("https://user@a.test/"), 0);
	CHECK_INT(parses("https://a.test:14000@/"), 0);
	CHECK_INT(parses("ftp://a.test/"), 0);
	CHECK_INT(parses("https:/a.test/"), 0);
	CHECK_INT(parses("https://"), 0);
	CHECK_INT(parses("https:///dir"), 0);
	CHECK_INT(parses("https://:443/"), 0);
	CHECK_INT(parses("https://a%2etest/"), 0);
	CHECK_INT(parses("https://a_b.test/"), 0);
	CHECK_INT(parses("https://a.test\\@b.test/"), 0);
	CHECK_INT(parses("https://a.test:0/"), 0);
	CHECK_INT(parses("https://a.test:65536/"), 0);
	CHECK_INT(parses("https://a.test:123456/"), 0);
	CHECK_INT(parses("https://a.test:-1/"), 0);
	CHECK_INT(parses("https://a.test:80:80/"), 0);
	CHECK_INT(parses("https://a.test:8o/"), 0);
}

static void
test_origin_accepts(void)
{
	CHECK_INT(parses("https://a.test"), 1);
	CHECK_INT(parses("https://a.test?query"), 1);
	CHECK_INT(parses("https://a.test#fragment"), 1);
	CHECK_INT(parses("https://a.test:65535/"), 1);
	CHECK_INT(parses("https://xn--bcher-kva.example/"), 1);
}

static void
test_origin_format(void)
{
	struct url_origin o;
	char err[128], text[300];

	CHECK_INT(url_origin_parse("HTTPS://Pebble.Test/dir", &o, err,
	    sizeof(err)), 0);
	url_origin_format(&o, text, sizeof(text));
	CHECK_STR(text, "https://pebble.test:443");
}

int
main(void)
{
	RUN(test_origin_parts);
	RUN(test_origin_default_ports);
	RUN(test_origin_case);
	RUN(test_origin_differs);
	RUN(test_origin_ipv6);
	RUN(test_origin_rejects);
	RUN(test_origin_accepts);
	RUN(test_origin_format);
	return check_done();
}
