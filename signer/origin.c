/*
 * The origin of a URL (RFC 6454): scheme, host and port. The signer signs
 * for an account key only when the request URL has the origin of that
 * account's issuer directory, so a broker cannot send a tenant's signed
 * request to another server. The parser is strict and rejects what it
 * cannot compare safely (user information, percent-encoded hosts).
 */
#include "signer.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int
is_host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.';
}

/* Parses "[IPv6]" into its inet_ntop form, so that spellings compare. */
static int
parse_ipv6_host(const char *text, size_t len, struct url_origin *out)
{
	char literal[INET6_ADDRSTRLEN + 1];
	unsigned char addr[16];

	if (len < 3 || len - 2 >= sizeof(literal) || text[len - 1] != ']')
		return -1;
	memcpy(literal, text + 1, len - 2);
	literal[len - 2] = '\0';
	if (inet_pton(AF_INET6, literal, addr) != 1 ||
	    inet_ntop(AF_INET6, addr, out->host, sizeof(out->host)) == NULL)
		return -1;
	return 0;
}

static int
parse_host(const char *text, size_t len, struct url_origin *out)
{
	size_t i;

	if (len == 0 || len >= sizeof(out->host))
		return -1;
	if (text[0] == '[')
		return parse_ipv6_host(text, len, out);
	for (i = 0; i < len; i++) {
		if (!is_host_char(text[i]))
			return -1;
		out->host[i] = (char)(text[i] >= 'A' && text[i] <= 'Z' ?
		    text[i] - 'A' + 'a' : text[i]);
	}
	out->host[len] = '\0';
	return 0;
}

/* Parses the digits after ':'; no digits means the default port. */
static int
parse_port(const char *text, size_t len, struct url_origin *out)
{
	unsigned long port = 0;
	size_t i;

	if (len == 0)
		return 0;
	if (len > 5)
		return -1;
	for (i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return -1;
		port = port * 10 + (unsigned long)(text[i] - '0');
	}
	if (port == 0 || port > 65535)
		return -1;
	out->port = (unsigned int)port;
	return 0;
}

/* Splits the authority into host and port; an IPv6 host has brackets. */
static int
parse_authority(const char *text, size_t len, struct url_origin *out)
{
	const char *end = text + len;
	const char *colon;

	if (memchr(text, '@', len) != NULL)
		return -1;
	if (len > 0 && text[0] == '[') {
		colon = memchr(text, ']', len);
		if (colon == NULL)
			return -1;
		colon++;
		if (colon < end && *colon != ':')
			return -1;
	} else {
		colon = memchr(text, ':', len);
		if (colon == NULL)
			colon = end;
	}
	if (parse_host(text, (size_t)(colon - text), out) != 0)
		return -1;
	if (colon == end)
		return 0;
	return parse_port(colon + 1, (size_t)(end - colon - 1), out);
}

/*
 * Parses the origin of an http or https URL: the scheme in lower case,
 * the host in lower case (an IPv6 address in inet_ntop form, without
 * brackets) and the port, 443 or 80 when absent. Rejects user
 * information, an empty host and a host with characters other than
 * letters, digits, '-' and '.'. Returns 0, or -1 with err set.
 */
int
url_origin_parse(const char *url, struct url_origin *out, char *err,
    size_t errlen)
{
	const char *authority;
	size_t len;

	memset(out, 0, sizeof(*out));
	if (strncasecmp(url, "https://", 8) == 0) {
		snprintf(out->scheme, sizeof(out->scheme), "https");
		out->port = 443;
		authority = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		snprintf(out->scheme, sizeof(out->scheme), "http");
		out->port = 80;
		authority = url + 7;
	} else {
		snprintf(err, errlen, "URL does not start with https:// or "
		    "http://");
		return -1;
	}
	len = strcspn(authority, "/?#");
	if (parse_authority(authority, len, out) != 0) {
		snprintf(err, errlen, "URL has an invalid host or port, or "
		    "user information");
		return -1;
	}
	return 0;
}

int
url_origin_equal(const struct url_origin *a, const struct url_origin *b)
{
	return strcmp(a->scheme, b->scheme) == 0 &&
	    strcmp(a->host, b->host) == 0 && a->port == b->port;
}

/* Writes "scheme://host:port", with brackets around an IPv6 host. */
void
url_origin_format(const struct url_origin *origin, char *out, size_t outlen)
{
	int ipv6 = strchr(origin->host, ':') != NULL;

	snprintf(out, outlen, "%s://%s%s%s:%u", origin->scheme,
	    ipv6 ? "[" : "", origin->host, ipv6 ? "]" : "", origin->port);
}
