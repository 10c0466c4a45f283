/*
 * Internationalised names to A-labels. This is the only file of the policy
 * library that calls libidn2; the signer does not link it (see name.h).
 */
#include "policy/name.h"

#include <idn2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * IDNA 2008 with UTS #46 non-transitional mapping ("faß" stays "faß") and
 * the STD3 rules. NOTE: libidn2 2.3.3 drops an ASCII '_' under these flags
 * instead of rejecting it, so ASCII characters are checked before the call
 * and the result is checked again after it.
 */
#define IDNA_FLAGS (IDN2_NONTRANSITIONAL | IDN2_USE_STD3_ASCII_RULES)

/* Maximum input length: 253 characters of up to 4 UTF-8 bytes each. */
#define INPUT_MAX (4 * POLICY_NAME_MAX + 1)

static int __attribute__((format(printf, 4, 5)))
idna_error(char *err, size_t errlen, const char *name, const char *fmt, ...)
{
	char quoted[POLICY_QUOTE_BUFSIZE];
	va_list ap;
	int n;

	if (err == NULL || errlen == 0)
		return -1;
	n = snprintf(err, errlen, "invalid name \"%s\": ",
	    policy_quote(name, quoted));
	if (n < 0 || (size_t)n >= errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * Checks that the A-label of len bytes decodes to a U-label that encodes
 * back to the same A-label, which rejects invalid Punycode and encodings
 * of code points that IDNA disallows or maps to something else.
 */
static int
check_alabel(const char *name, const char *label, size_t len, char *err,
    size_t errlen)
{
	char alabel[POLICY_LABEL_MAX + 1];
	char *ulabel = NULL, *back = NULL;
	int rc, ret = -1;

	memcpy(alabel, label, len);
	alabel[len] = '\0';

	rc = idn2_to_unicode_8z8z(alabel, &ulabel, 0);
	if (rc != IDN2_OK) {
		idna_error(err, errlen, name, "label \"%s\" is not a valid "
		    "A-label: %s", alabel, idn2_strerror(rc));
		goto out;
	}
	rc = idn2_to_ascii_8z(ulabel, &back, IDNA_FLAGS);
	if (rc != IDN2_OK) {
		idna_error(err, errlen, name, "label \"%s\" is not a valid "
		    "A-label: %s", alabel, idn2_strerror(rc));
		goto out;
	}
	if (strcmp(back, alabel) != 0) {
		idna_error(err, errlen, name, "label \"%s\" is not a valid "
		    "A-label: it decodes to a name whose A-label is \"%s\"",
		    alabel, back);
		goto out;
	}
	ret = 0;
out:
	free(ulabel);
	free(back);
	return ret;
}

/* Checks every "xn--" label of a canonical name with check_alabel(). */
static int
check_alabels(const char *canonical, const char *name, char *err,
    size_t errlen)
{
	const char *label, *dot;
	size_t len;

	for (label = canonical;; label = dot + 1) {
		dot = strchr(label, '.');
		len = dot ? (size_t)(dot - label) : strlen(label);
		if (len >= 4 && strncmp(label, "xn--", 4) == 0 &&
		    check_alabel(name, label, len, err, errlen) < 0)
			return -1;
		if (dot == NULL)
			return 0;
	}
}

/* Checks the ASCII bytes of a name that also contains non-ASCII ones. */
static int
check_ascii_bytes(const char *input, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; input[i] != '\0'; i++) {
		unsigned char c = (unsigned char)input[i];

		if (c >= 0x80 || c == '.' || c == '-' ||
		    (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z'))
			continue;
		if (c == '*' && i == 0 && input[1] == '.')
			continue;
		if (c == '*')
			return idna_error(err, errlen, input, "'*' is allowed "
			    "only as the whole leftmost label, as in "
			    "*.example.com");
		if (c > 0x20 && c < 0x7f)
			return idna_error(err, errlen, input, "character '%c' "
			    "is not a letter, digit or hyphen", c);
		return idna_error(err, errlen, input, "byte 0x%02x is not a "
		    "letter, digit or hyphen", c);
	}
	return 0;
}

/* Converts a name with non-ASCII characters into out. */
static int
convert_unicode(const char *input, char *out, size_t outlen, char *err,
    size_t errlen)
{
	char work[INPUT_MAX + 1];
	const char *prefix = "", *rest = work;
	char *ascii = NULL;
	size_t len = strlen(input);
	int rc, n, ret = -1;

	if (check_ascii_bytes(input, err, errlen) < 0)
		return -1;
	if (len > INPUT_MAX)
		return idna_error(err, errlen, input, "%zu bytes long, over "
		    "the maximum of %d", len, INPUT_MAX);
	memcpy(work, input, len + 1);
	if (len > 0 && work[len - 1] == '.')
		work[len - 1] = '\0';
	if (strncmp(work, "*.", 2) == 0) {
		prefix = "*.";
		rest = work + 2;
	}

	rc = idn2_to_ascii_8z(rest, &ascii, IDNA_FLAGS);
	if (rc != IDN2_OK) {
		idna_error(err, errlen, input, "%s (IDNA 2008, UTS #46)",
		    idn2_strerror(rc));
		goto out;
	}
	n = snprintf(out, outlen, "%s%s", prefix, ascii);
	if (n < 0 || (size_t)n >= outlen) {
		idna_error(err, errlen, input, "its A-label form is longer "
		    "than %d characters", POLICY_NAME_MAX);
		goto out;
	}
	ret = policy_name_check_written(out, input, err, errlen);
out:
	free(ascii);
	return ret;
}

int
policy_name_normalize(const char *input, char *out, size_t outlen,
    char *err, size_t errlen)
{
	const char *p;
	int ascii = 1;

	for (p = input; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			ascii = 0;
	if (ascii) {
		if (policy_name_normalize_ascii(input, out, outlen, err,
		    errlen) < 0)
			return -1;
	} else if (convert_unicode(input, out, outlen, err, errlen) < 0) {
		return -1;
	}
	return check_alabels(out, input, err, errlen);
}
