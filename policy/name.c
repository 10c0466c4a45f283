/*
 * Canonical DNS names and IP address literals, without libidn2 (see
 * name.h). The signer links this file, so it uses only libc.
 */
#include "policy/name.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define QUOTE_CHARS 64

const char *
policy_quote(const char *text, char *out)
{
	size_t i;

	for (i = 0; text[i] != '\0' && i < QUOTE_CHARS; i++) {
		unsigned char c = (unsigned char)text[i];

		out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	out[i] = '\0';
	if (text[i] != '\0')
		memcpy(out + i, "...", 4);
	return out;
}

/* Formats "invalid WHAT "VALUE": " and the message; returns -1. */
static int __attribute__((format(printf, 5, 0)))
format_error(char *err, size_t errlen, const char *what, const char *value,
    const char *fmt, va_list ap)
{
	char quoted[POLICY_QUOTE_BUFSIZE];
	int n;

	if (err == NULL || errlen == 0)
		return -1;
	n = snprintf(err, errlen, "invalid %s \"%s\": ", what,
	    policy_quote(value, quoted));
	if (n < 0 || (size_t)n >= errlen)
		return -1;
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	return -1;
}

static int __attribute__((format(printf, 4, 5)))
name_error(char *err, size_t errlen, const char *name, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	format_error(err, errlen, "name", name, fmt, ap);
	va_end(ap);
	return -1;
}

static int __attribute__((format(printf, 4, 5)))
address_error(char *err, size_t errlen, const char *text, const char *fmt,
    ...)
{
	va_list ap;

	va_start(ap, fmt);
	format_error(err, errlen, "IP address", text, fmt, ap);
	va_end(ap);
	return -1;
}

static int
is_ldh(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/*
 * Checks the characters of one label of len bytes. Here and below, name is
 * the name as the caller wrote it, which messages quote.
 */
static int
check_label_chars(const char *name, const char *label, size_t len,
    char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)label[i];

		if (is_ldh(c))
			continue;
		if (c >= 'A' && c <= 'Z')
			return name_error(err, errlen, name, "upper-case "
			    "letter '%c'; canonical names are lower case", c);
		if (c == '*')
			return name_error(err, errlen, name, "'*' is allowed "
			    "only as the whole leftmost label, as in "
			    "*.example.com");
		if (c > 0x20 && c < 0x7f)
			return name_error(err, errlen, name, "character '%c' "
			    "is not a letter, digit or hyphen", c);
		return name_error(err, errlen, name, "byte 0x%02x is not a "
		    "letter, digit or hyphen; write an internationalised "
		    "name as its A-label (xn--...)", c);
	}
	return 0;
}

/* Checks one label of len bytes; leftmost is 1 for the first label. */
static int
check_label(const char *name, const char *label, size_t len, int leftmost,
    char *err, size_t errlen)
{
	if (len == 0)
		return name_error(err, errlen, name, "empty label; remove the "
		    "extra dot");
	if (len > POLICY_LABEL_MAX)
		return name_error(err, errlen, name, "label \"%.*s...\" is %zu "
		    "characters long, over the maximum of %d", 16, label,
		    len, POLICY_LABEL_MAX);
	if (leftmost && len == 1 && label[0] == '*')
		return 0;
	if (check_label_chars(name, label, len, err, errlen) < 0)
		return -1;
	if (label[0] == '-' || label[len - 1] == '-')
		return name_error(err, errlen, name, "label \"%.*s\" starts or "
		    "ends with a hyphen", (int)len, label);
	if (len >= 4 && label[2] == '-' && label[3] == '-' &&
	    strncmp(label, "xn", 2) != 0)
		return name_error(err, errlen, name, "label \"%.*s\" has "
		    "hyphens in the third and fourth positions, which IDNA "
		    "reserves for xn-- labels", (int)len, label);
	return 0;
}

static int
is_all_digits(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return len > 0;
}

int
policy_name_check_written(const char *canonical, const char *name,
    char *err, size_t errlen)
{
	const char *label, *dot;
	size_t len = strlen(canonical), label_len;

	if (len == 0)
		return name_error(err, errlen, name, "empty name; give a DNS "
		    "name such as www.example.com");
	if (len > POLICY_NAME_MAX)
		return name_error(err, errlen, name, "%zu characters long, "
		    "over the maximum of %d", len, POLICY_NAME_MAX);
	if (strcmp(canonical, "*") == 0)
		return name_error(err, errlen, name, "'*' needs a domain after "
		    "it, as in *.example.com");

	for (label = canonical;; label = dot + 1) {
		dot = strchr(label, '.');
		label_len = dot ? (size_t)(dot - label) : strlen(label);
		if (check_label(name, label, label_len, label == canonical,
		    err, errlen) < 0)
			return -1;
		if (dot == NULL)
			break;
	}
	if (is_all_digits(label, label_len))
		return name_error(err, errlen, name, "the last label is all "
		    "digits; request an IP address as an ip identifier");
	return 0;
}

int
policy_name_check_canonical(const char *name, char *err, size_t errlen)
{
	size_t len = strlen(name);

	if (len > 0 && len <= POLICY_NAME_MAX + 1 && name[len - 1] == '.')
		return name_error(err, errlen, name, "trailing dot; canonical "
		    "names have none");
	return policy_name_check_written(name, name, err, errlen);
}

int
policy_name_normalize_ascii(const char *input, char *out, size_t outlen,
    char *err, size_t errlen)
{
	size_t len = strlen(input), i;

	for (i = 0; i < len; i++)
		if ((unsigned char)input[i] >= 0x80)
			return name_error(err, errlen, input, "non-ASCII "
			    "characters; write the name as its A-label "
			    "(xn--...)");
	if (len > 0 && input[len - 1] == '.')
		len--;
	if (len == 0 && input[0] != '\0')
		return name_error(err, errlen, input, "empty label; remove the "
		    "extra dot");
	if (len > POLICY_NAME_MAX)
		return name_error(err, errlen, input, "%zu characters long, "
		    "over the maximum of %d", len, POLICY_NAME_MAX);
	if (len >= outlen)
		return name_error(err, errlen, input, "longer than the "
		    "%zu-byte buffer", outlen);

	for (i = 0; i < len; i++) {
		char c = input[i];

		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	out[len] = '\0';
	return policy_name_check_written(out, input, err, errlen);
}

/* Rejects IPv4 octets with a leading zero, which inet_aton reads as octal. */
static int
check_ipv4_octets(const char *input, char *err, size_t errlen)
{
	const char *p = input;

	while (*p != '\0') {
		if (p[0] == '0' && p[1] >= '0' && p[1] <= '9')
			return address_error(err, errlen, input, "octet with a "
			    "leading zero is ambiguous (some parsers read it "
			    "as octal); remove the leading zeros");
		while (*p != '\0' && *p != '.')
			p++;
		if (*p == '.')
			p++;
	}
	return 0;
}

static const unsigned char ipv4_mapped_prefix[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
};

int
policy_ip_parse(const char *input, struct policy_ip *ip, char *err,
    size_t errlen)
{
	memset(ip, 0, sizeof(*ip));
	if (strchr(input, '*') != NULL)
		return address_error(err, errlen, input, "a wildcard is not "
		    "allowed in an IP address");
	if (input[0] == '[')
		return address_error(err, errlen, input, "remove the brackets "
		    "around the IPv6 address");
	if (strchr(input, '%') != NULL)
		return address_error(err, errlen, input, "an IPv6 zone index "
		    "is not allowed; remove the %%zone suffix");

	if (strchr(input, ':') == NULL) {
		if (check_ipv4_octets(input, err, errlen) < 0)
			return -1;
		if (inet_pton(AF_INET, input, ip->addr) != 1)
			return address_error(err, errlen, input, "not an IPv4 "
			    "address in dotted-decimal form such as "
			    "192.0.2.1");
		ip->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, input, ip->addr) != 1)
		return address_error(err, errlen, input, "not an IPv6 address "
		    "such as 2001:db8::1");
	if (memcmp(ip->addr, ipv4_mapped_prefix, 12) == 0)
		return address_error(err, errlen, input, "IPv4-mapped IPv6 "
		    "address; write the IPv4 address %u.%u.%u.%u",
		    ip->addr[12], ip->addr[13], ip->addr[14], ip->addr[15]);
	ip->family = AF_INET6;
	return 0;
}

int
policy_ip_format(const struct policy_ip *ip, char *out, size_t outlen)
{
	if (inet_ntop(ip->family, ip->addr, out, (socklen_t)outlen) == NULL)
		return -1;
	return 0;
}

int
policy_ip_normalize(const char *input, char *out, size_t outlen,
    char *err, size_t errlen)
{
	struct policy_ip ip;

	if (policy_ip_parse(input, &ip, err, errlen) < 0)
		return -1;
	if (policy_ip_format(&ip, out, outlen) < 0)
		return address_error(err, errlen, input, "longer than the "
		    "%zu-byte buffer", outlen);
	return 0;
}

int
policy_ip_check_canonical(const char *input, char *err, size_t errlen)
{
	char text[POLICY_NAME_BUFSIZE];

	if (policy_ip_normalize(input, text, sizeof(text), err, errlen) < 0)
		return -1;
	if (strcmp(text, input) != 0)
		return address_error(err, errlen, input, "not in canonical "
		    "form; write %s", text);
	return 0;
}
