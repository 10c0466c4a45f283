/*
 * Identifier names as the policy compares them. DNS names are in canonical
 * ASCII form: lower-case LDH labels, A-labels for internationalised names,
 * no trailing dot, and at most one '*' as the whole leftmost label. IP
 * addresses (RFC 8738 identifiers) are in the text inet_ntop(3) produces.
 *
 * Everything here except policy_name_normalize() is in name.c and needs no
 * library. policy_name_normalize() is in idna.c, the only file that calls
 * libidn2, which the signer does not link: the signer receives names that
 * the broker already normalised and only checks them with
 * policy_name_check_canonical().
 *
 * Every function returns 0 on success, or -1 with a one-line message in
 * err that quotes the value and says what to write instead.
 */
#ifndef CUSTOS_POLICY_NAME_H
#define CUSTOS_POLICY_NAME_H

#include <stddef.h>

/* RFC 1035 limits, the name counted without its trailing dot. */
#define POLICY_NAME_MAX 253
#define POLICY_LABEL_MAX 63
/* Holds any canonical DNS name or IP address text, with its NUL. */
#define POLICY_NAME_BUFSIZE 256

struct policy_ip {
	int family;			/* AF_INET or AF_INET6 */
	unsigned char addr[16];		/* network order; IPv4 uses 4 */
};

/* A name normaliser: policy_name_normalize or policy_name_normalize_ascii. */
typedef int (*policy_normalize_fn)(const char *input, char *out,
    size_t outlen, char *err, size_t errlen);

/*
 * Checks that name is a DNS name in canonical form:
 *  - 1 to 253 characters and no trailing dot;
 *  - labels of 1 to 63 lower-case letters, digits and hyphens, neither
 *    starting nor ending with a hyphen;
 *  - hyphens in the third and fourth positions only in "xn--" labels;
 *  - a last label that is not all digits;
 *  - '*' only as the whole leftmost label of a name of two labels or more.
 * It does not decode "xn--" labels.
 */
int policy_name_check_canonical(const char *name, char *err, size_t errlen);

/*
 * Checks canonical as policy_name_check_canonical() does, except that a
 * trailing dot counts as an empty label, and quotes written in messages:
 * the name as the user wrote it before it was converted.
 */
int policy_name_check_written(const char *canonical, const char *written,
    char *err, size_t errlen);

/*
 * Converts a DNS name to canonical form: removes one trailing dot, lowers
 * ASCII letters and converts internationalised labels to A-labels (IDNA
 * 2008 with UTS #46 non-transitional mapping, through libidn2). Every
 * "xn--" label must decode and encode back to itself. Rejects what
 * policy_name_check_canonical() rejects and what libidn2 reports, such as
 * disallowed code points and bidirectional or contextual rule violations.
 * Defined in idna.c.
 */
int policy_name_normalize(const char *input, char *out, size_t outlen,
    char *err, size_t errlen);

/*
 * Converts an ASCII DNS name to canonical form without libidn2: removes one
 * trailing dot and lowers letters. Rejects any non-ASCII byte, asking for
 * the A-label, and does not decode "xn--" labels.
 */
int policy_name_normalize_ascii(const char *input, char *out, size_t outlen,
    char *err, size_t errlen);

/*
 * Parses an IPv4 or IPv6 address literal. Rejects wildcards, brackets,
 * zone indexes, IPv4 octets with a leading zero (inet_aton(3) reads
 * "010" as octal 8) and IPv4-mapped IPv6 addresses (::ffff:a.b.c.d),
 * which must be written as the IPv4 address.
 */
int policy_ip_parse(const char *input, struct policy_ip *ip, char *err,
    size_t errlen);

/* Formats ip as inet_ntop(3) does into out. */
int policy_ip_format(const struct policy_ip *ip, char *out, size_t outlen);

/* Parses an IP address and writes its canonical text into out. */
int policy_ip_normalize(const char *input, char *out, size_t outlen,
    char *err, size_t errlen);

/* Checks that input is an IP address written in canonical text. */
int policy_ip_check_canonical(const char *input, char *err, size_t errlen);

#define POLICY_QUOTE_BUFSIZE 72

/*
 * Copies text into out (POLICY_QUOTE_BUFSIZE bytes) for use in a message:
 * at most 64 characters, bytes outside printable ASCII replaced by '?', and
 * "..." appended when it was cut. Returns out.
 */
const char *policy_quote(const char *text, char *out);

#endif
