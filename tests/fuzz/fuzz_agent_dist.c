/*
 * Parses one distribution endpoint body with dist_parse() (agent/dist.c),
 * which the agent runs on every 200 response before it writes a file. An
 * accepted body must hold a safe version name, three PEM members, and a
 * key of one mode with the members of that mode only. The first line of
 * the input is also decoded with dist_base64_decode(), whose output must
 * encode back to the same text.
 */
#include "tests/fuzz/fuzz.h"

#include <openssl/evp.h>

#include "agent/dist.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup("fuzz_agent_dist");
	return 0;
}

static void
check_base64(const char *text)
{
	unsigned char *out, *again;
	size_t len = 0;

	out = dist_base64_decode(text, &len);
	if (out == NULL)
		return;
	FUZZ_ASSERT(len <= strlen(text) / 4 * 3);
	again = malloc(4 * ((len + 2) / 3) + 1);
	FUZZ_ASSERT(again != NULL);
	EVP_EncodeBlock(again, out, (int)len);
	FUZZ_ASSERT(strcmp((char *)again, text) == 0);
	free(again);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dist_doc doc;
	char err[512], *text = fuzz_string(data, size);

	text[strcspn(text, "\n")] = '\0';
	check_base64(text);
	free(text);

	if (dist_parse((const char *)data, size, &doc, err,
	    sizeof(err)) != 0) {
		FUZZ_ASSERT(fuzz_is_terminated(err, sizeof(err)));
		FUZZ_ASSERT(doc.certificate == NULL && doc.blob == NULL);
		return 0;
	}
	FUZZ_ASSERT(dist_version_valid(doc.version));
	FUZZ_ASSERT(doc.certificate != NULL && doc.chain != NULL &&
	    doc.fullchain != NULL);
	if (doc.export == DIST_EXPORT_HSM) {
		FUZZ_ASSERT(doc.uri != NULL && doc.blob == NULL);
		FUZZ_ASSERT(strncmp(doc.uri, "pkcs11:", 7) == 0);
		FUZZ_ASSERT(strpbrk(doc.uri, "\"'$ {}\\") == NULL);
	} else {
		FUZZ_ASSERT(doc.export == DIST_EXPORT_WRAPPED);
		FUZZ_ASSERT(doc.uri == NULL && doc.blob != NULL);
		FUZZ_ASSERT(strlen(doc.recipient) == 71);
	}
	dist_clear(&doc);
	return 0;
}
