/*
 * Formats one body as an RFC 7807 problem document (broker/problem.c),
 * as the broker does for every error response, into a 1024-byte buffer
 * and into buffers of 7, 1 and 0 bytes. Each result must be
 * NUL-terminated, and the short ones must be prefixes of the long one.
 */
#include "tests/fuzz/fuzz.h"

#include "broker/problem.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup("fuzz_broker_problem");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t short_sizes[] = { 1, 7 };
	char line[1024], cut[8];
	json_t *doc;
	size_t i;

	problem_format_body((const char *)data, size, 400, line, sizeof(line));
	FUZZ_ASSERT(fuzz_is_terminated(line, sizeof(line)));
	FUZZ_ASSERT(line[0] != '\0');

	for (i = 0; i < sizeof(short_sizes) / sizeof(short_sizes[0]); i++) {
		memset(cut, 'x', sizeof(cut));
		problem_format_body((const char *)data, size, 400, cut,
		    short_sizes[i]);
		FUZZ_ASSERT(fuzz_is_terminated(cut, short_sizes[i]));
		FUZZ_ASSERT(strncmp(line, cut, strlen(cut)) == 0);
	}
	problem_format_body((const char *)data, size, 400, cut, 0);

	doc = json_loadb((const char *)data, size, 0, NULL);
	problem_is(doc, "badNonce");
	problem_is(doc, "");
	problem_format(doc, 0, line, sizeof(line));
	FUZZ_ASSERT(fuzz_is_terminated(line, sizeof(line)));
	json_decref(doc);
	return 0;
}
