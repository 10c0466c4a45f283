/* Base64url without padding: RFC 4648 vectors and what must be rejected. */
#include <stdlib.h>
#include <string.h>

#include "encoding/base64url.h"
#include "tests/unit/check.h"

static const struct {
	const char *plain;
	const char *encoded;
} rfc4648_vectors[] = {
	{ "", "" },
	{ "f", "Zg" },
	{ "fo", "Zm8" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg" },
	{ "fooba", "Zm9vYmE" },
	{ "foobar", "Zm9vYmFy" },
};

static void
test_encode_rfc4648_vectors(void)
{
	char out[16];
	size_t i, len;

	for (i = 0; i < sizeof(rfc4648_vectors) / sizeof(*rfc4648_vectors);
	    i++) {
		len = strlen(rfc4648_vectors[i].plain);
		CHECK_INT(base64url_encoded_len(len),
		    strlen(rfc4648_vectors[i].encoded));
		base64url_encode((const unsigned char *)
		    rfc4648_vectors[i].plain, len, out);
		CHECK_STR(out, rfc4648_vectors[i].encoded);
	}
}

static void
test_decode_rfc4648_vectors(void)
{
	unsigned char out[16];
	size_t i;
	long len;

	for (i = 0; i < sizeof(rfc4648_vectors) / sizeof(*rfc4648_vectors);
	    i++) {
		len = base64url_decode(rfc4648_vectors[i].encoded,
		    strlen(rfc4648_vectors[i].encoded), out);
		CHECK_INT(len, strlen(rfc4648_vectors[i].plain));
		if (len >= 0)
			CHECK(memcmp(out, rfc4648_vectors[i].plain,
			    (size_t)len) == 0);
	}
}

/* 0xfb 0xff is "+/8=" in base64 and "-_8" in base64url. */
static void
test_url_alphabet_bytes(void)
{
	static const unsigned char bytes[] = { 0xfb, 0xff };
	unsigned char out[4];
	char *text = base64url_encode_alloc(bytes, sizeof(bytes));

	CHECK_STR(text, "-_8");
	CHECK_INT(base64url_decode("-_8", 3, out), 2);
	CHECK_INT(out[0], 0xfb);
	CHECK_INT(out[1], 0xff);
	free(text);
}

static void
test_decode_rejects_padding(void)
{
	unsigned char out[16];

	CHECK_INT(base64url_decode("Zg==", 4, out), -1);
	CHECK_INT(base64url_decode("Zm8=", 4, out), -1);
}

static void
test_decode_rejects_standard_alphabet(void)
{
	unsigned char out[16];

	CHECK_INT(base64url_decode("+/8", 3, out), -1);
	CHECK_INT(base64url_decode("Zm+v", 4, out), -1);
}

static void
test_decode_rejects_other_characters(void)
{
	unsigned char out[16];

	CHECK_INT(base64url_decode("Zm 9v", 5, out), -1);
	CHECK_INT(base64url_decode("Zm9v\n", 5, out), -1);
	CHECK_INT(base64url_decode("Zm\0v", 4, out), -1);
	CHECK_INT(base64url_decode("Zm9\xc3", 4, out), -1);
}

static void
test_decode_rejects_lone_character(void)
{
	unsigned char out[16];

	CHECK_INT(base64url_decode("Z", 1, out), -1);
	CHECK_INT(base64url_decode("Zm9vY", 5, out), -1);
}

/* "Zg" and "Zm8" end in zero bits; "Zh" and "Zm9" do not. */
static void
test_decode_rejects_nonzero_trailing_bits(void)
{
	unsigned char out[16];

	CHECK_INT(base64url_decode("Zg", 2, out), 1);
	CHECK_INT(base64url_decode("Zh", 2, out), -1);
	CHECK_INT(base64url_decode("Zm8", 3, out), 2);
	CHECK_INT(base64url_decode("Zm9", 3, out), -1);
}

static void
test_roundtrip_all_byte_values(void)
{
	unsigned char in[256], out[256];
	char text[400];
	size_t i;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)i;
	CHECK_INT(base64url_encode(in, sizeof(in), text), 342);
	CHECK_INT(base64url_decode(text, strlen(text), out), 256);
	CHECK(memcmp(in, out, sizeof(in)) == 0);
}

int
main(void)
{
	RUN(test_encode_rfc4648_vectors);
	RUN(test_decode_rfc4648_vectors);
	RUN(test_url_alphabet_bytes);
	RUN(test_decode_rejects_padding);
	RUN(test_decode_rejects_standard_alphabet);
	RUN(test_decode_rejects_other_characters);
	RUN(test_decode_rejects_lone_character);
	RUN(test_decode_rejects_nonzero_trailing_bits);
	RUN(test_roundtrip_all_byte_values);
	return check_done();
}
