/*
 * Feeds one header field value to each parser in broker/headers.c, as
 * the broker receives them from the ACME server: Retry-After, Link (with
 * the relations the client looks for), Replay-Nonce and Content-Type.
 * The same value goes to http_url_is_https(), which checks the URLs that
 * Location and Link carry.
 */
#include "tests/fuzz/fuzz.h"

#include <time.h>

#include "broker/headers.h"
#include "broker/http.h"

/* 2024-01-01T00:00:00Z, so that a saved input replays the same way. */
#define FUZZ_NOW ((time_t)1704067200)
#define MAX_DELAY 86400L

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup("fuzz_broker_headers");
	return 0;
}

static void
check_retry_after(const char *value)
{
	long seconds = -1;

	if (header_retry_after(value, FUZZ_NOW, MAX_DELAY, &seconds) != 0)
		return;
	FUZZ_ASSERT(seconds >= 0);
	FUZZ_ASSERT(seconds <= MAX_DELAY);
}

/* Every collected target must lie between '<' and '>' in the value. */
static void
check_link(const char *value, const char *rel)
{
	struct string_list list = { 0 };
	size_t i;

	header_link_collect(value, rel, &list);
	for (i = 0; i < list.count; i++) {
		FUZZ_ASSERT(strchr(list.items[i], '>') == NULL);
		FUZZ_ASSERT(strstr(value, list.items[i]) != NULL);
	}
	string_list_clear(&list);
	FUZZ_ASSERT(list.items == NULL);
}

/*
 * A nonce the parser accepts has a length that base64url can produce.
 * NOTE: it may end in a character whose unused low bits are set, which
 * base64url_decode() rejects; ACME nonces are opaque, so this is allowed.
 */
static void
check_nonce(const char *value)
{
	size_t len = strlen(value);

	if (!header_nonce_is_valid(value))
		return;
	FUZZ_ASSERT(len >= 1 && len <= HEADER_NONCE_MAX_LEN);
	FUZZ_ASSERT(len % 4 != 1);
	FUZZ_ASSERT(strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_") == len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *value = fuzz_string(data, size);

	check_retry_after(value);
	check_link(value, "up");
	check_link(value, "alternate");
	check_link(value, "index");
	check_nonce(value);
	header_media_type_is(value, "application/problem+json");
	header_media_type_is(value, "application/pem-certificate-chain");
	http_url_is_https(value);
	free(value);
	return 0;
}
