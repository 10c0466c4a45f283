/*
 * Base64url without padding (RFC 4648 section 5), as JOSE and ACME use it.
 */
#ifndef CUSTOS_BASE64URL_H
#define CUSTOS_BASE64URL_H

#include <stddef.h>

/* Returns the encoded length of len bytes, without the terminating NUL. */
size_t base64url_encoded_len(size_t len);

/*
 * Encodes len bytes into out, which must hold base64url_encoded_len(len) + 1
 * bytes; the result is NUL-terminated. Returns the encoded length.
 */
size_t base64url_encode(const unsigned char *in, size_t len, char *out);

/* Returns a malloc'd NUL-terminated encoding, or NULL when out of memory. */
char *base64url_encode_alloc(const unsigned char *in, size_t len);

/*
 * Decodes text of len characters into out (at least len * 3 / 4 + 1 bytes).
 * Accepts no padding, no white space and nothing outside the base64url
 * alphabet. Returns the decoded length, or -1 when the text is invalid.
 */
long base64url_decode(const char *in, size_t len, unsigned char *out);

#endif
