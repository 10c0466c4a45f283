/*
 * The EAB key file decoder, which accepts base64url and standard base64
 * with or without padding, and the label of an imported EAB key.
 */
#include <string.h>

#include "signer/signer.h"
#include "tests/unit/check.h"

/* Decodes text and returns the length, with the bytes in out. */
static long
decode(const char *text, unsigned char *out)
{
	return eab_key_decode(text, strlen(text), out);
}

static void
test_eab_decode_forms(void)
{
	/* 0xfb 0xff 0xbf encodes as "-_-_" or "+/+/" (no padding needed). */
	static const unsigned char three[] = { 0xfb, 0xff, 0xbf };
	unsigned char out[64];

	CHECK_INT(decode("-_-_", out), 3);
	CHECK(memcmp(out, three, 3) == 0);
	CHECK_INT(decode("+/+/", out), 3);
	CHECK(memcmp(out, three, 3) == 0);
	CHECK_INT(decode("+/+/\n", out), 3);
	CHECK_INT(decode("-_-_ \r\n", out), 3);
	/* One byte 0xff: "_w" unpadded, "_w==" padded, "/w==" standard. */
	CHECK_INT(decode("_w", out), 1);
	CHECK_INT(out[0], 0xff);
	CHECK_INT(decode("_w==", out), 1);
	CHECK_INT(out[0], 0xff);
	CHECK_INT(decode("/w==", out), 1);
	CHECK_INT(out[0], 0xff);
	CHECK_INT(decode("/w==\n", out), 1);
	/* Two bytes with one '='. */
	CHECK_INT(decode("AAE=", out), 2);
	CHECK_INT(out[1], 0x01);
}

static void
test_eab_decode_rejects(void)
{
	unsigned char out[64];

	CHECK_INT(decode("", out), -1);
	CHECK_INT(decode("\n", out), -1);
	CHECK_INT(decode("==", out), -1);
	CHECK_INT(decode("-_+/", out), -1);	/* both alphabets */
	CHECK_INT(decode("_w=", out), -1);	/* padding to 3 characters */
	CHECK_INT(decode("_w===", out), -1);	/* three '=' */
	CHECK_INT(decode("_w=x", out), -1);	/* '=' inside */
	CHECK_INT(decode("AA AA", out), -1);	/* a blank inside */
	CHECK_INT(decode("AA.A", out), -1);
	CHECK_INT(decode("A", out), -1);	/* one character: no byte */
}

static void
test_eab_label(void)
{
	char label[128];

	CHECK_INT(eab_label_format("pebble", "kid-1", label, sizeof(label)),
	    0);
	CHECK_STR(label, "custos/eab/pebble/kid-1");
	CHECK_INT(eab_label_format("", "kid-1", label, sizeof(label)), -1);
	CHECK_INT(eab_label_format("pebble", "", label, sizeof(label)), -1);
	CHECK_INT(eab_label_format("a/b", "k", label, sizeof(label)), -1);
	CHECK_INT(eab_label_format("a", "k/1", label, sizeof(label)), -1);
	CHECK_INT(eab_label_format("pebble", "kid-1", label, 16), -1);
}

int
main(void)
{
	RUN(test_eab_decode_forms);
	RUN(test_eab_decode_rejects);
	RUN(test_eab_label);
	return check_done();
}
