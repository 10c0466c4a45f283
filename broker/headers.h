/*
 * Parsers for the HTTP response header fields that ACME uses. Each takes
 * one field value with the surrounding white space already removed.
 */
#ifndef CUSTOS_BROKER_HEADERS_H
#define CUSTOS_BROKER_HEADERS_H

#include <stddef.h>
#include <time.h>

/* Maximum length of a Replay-Nonce value, in characters. */
#define HEADER_NONCE_MAX_LEN 256

/* A growable list of malloc'd strings. */
struct string_list {
	char **items;
	size_t count;
};

void string_list_clear(struct string_list *list);

/*
 * Parses a Retry-After value: delta-seconds or an HTTP-date (IMF-fixdate,
 * RFC 850 or asctime form). Sets *seconds to the delay from now, 0 for a
 * date in the past, and at most max_seconds. Returns 0, or -1 for a
 * negative, malformed or overflowing value.
 */
int header_retry_after(const char *value, time_t now, long max_seconds,
    long *seconds);

/*
 * Appends to list the target URL of every link in a Link value whose rel
 * parameter contains rel (compared case-insensitively). Call it once per
 * Link field. Returns 0, or -1 when the value is malformed or memory runs
 * out; the list then keeps what was appended before.
 */
int header_link_collect(const char *value, const char *rel,
    struct string_list *list);

/*
 * Returns 1 when value is a usable Replay-Nonce: 1 to HEADER_NONCE_MAX_LEN
 * characters of the base64url alphabet forming a valid unpadded encoding.
 */
int header_nonce_is_valid(const char *value);

/*
 * Returns 1 when the media type of a Content-Type value equals media_type,
 * ignoring case, white space and parameters such as charset.
 */
int header_media_type_is(const char *value, const char *media_type);

#endif
