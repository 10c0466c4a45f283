/*
 * Decodes one input with base64url_decode() (encoding/base64url.c), the
 * decoder behind nonces, JWS parts and key material from the wire, and
 * encodes it back. Decoding must never write past len * 3 / 4 + 1 bytes,
 * its documented bound, and a decoded value must survive an encode and
 * decode unchanged. The raw input is also encoded and decoded back.
 */
#include "tests/fuzz/fuzz.h"

#include "encoding/base64url.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup("fuzz_shared_base64url");
	return 0;
}

static void
check_decode(const char *text, size_t len)
{
	unsigned char *out = malloc(len * 3 / 4 + 1);
	unsigned char *again = malloc(len * 3 / 4 + 1);
	char *encoded;
	long n;

	FUZZ_ASSERT(out != NULL && again != NULL);
	n = base64url_decode(text, len, out);
	if (n >= 0) {
		FUZZ_ASSERT((size_t)n <= len * 3 / 4);
		encoded = base64url_encode_alloc(out, (size_t)n);
		FUZZ_ASSERT(encoded != NULL);
		FUZZ_ASSERT(strlen(encoded) == base64url_encoded_len(
		    (size_t)n));
		FUZZ_ASSERT(base64url_decode(encoded, strlen(encoded),
		    again) == n);
		FUZZ_ASSERT(memcmp(out, again, (size_t)n) == 0);
		free(encoded);
	}
	free(out);
	free(again);
}

static void
check_encode(const uint8_t *data, size_t size)
{
	char *encoded = base64url_encode_alloc(data, size);
	unsigned char *back;

	FUZZ_ASSERT(encoded != NULL);
	FUZZ_ASSERT(strspn(encoded, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_") == strlen(encoded));
	back = malloc(strlen(encoded) * 3 / 4 + 1);
	FUZZ_ASSERT(back != NULL);
	FUZZ_ASSERT(base64url_decode(encoded, strlen(encoded), back) ==
	    (long)size);
	FUZZ_ASSERT(size == 0 || memcmp(back, data, size) == 0);
	free(back);
	free(encoded);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_decode((const char *)data, size);
	check_encode(data, size);
	return 0;
}
