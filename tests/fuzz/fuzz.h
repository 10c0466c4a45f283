/*
 * Helpers shared by the libFuzzer harnesses in this folder. Each harness
 * defines LLVMFuzzerTestOneInput() and feeds the input to one decoder on a
 * trust boundary; docs/fuzzing.md lists them. A broken invariant aborts
 * through FUZZ_ASSERT, so libFuzzer records the input as a crash.
 */
#ifndef CUSTOS_FUZZ_H
#define CUSTOS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "logging/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(expr) do {						\
	if (!(expr)) {							\
		fprintf(stderr, "%s:%d: invariant failed: %s\n",	\
		    __FILE__, __LINE__, #expr);				\
		abort();						\
	}								\
} while (0)

/*
 * Returns a malloc'd copy of the input with a NUL appended, as the
 * decoders that take C strings receive it. A NUL inside the input ends the
 * string early, as it would for them. Aborts when memory runs out.
 */
static inline char *
fuzz_string(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);

	FUZZ_ASSERT(text != NULL);
	if (size > 0)
		memcpy(text, data, size);
	text[size] = '\0';
	return text;
}

/*
 * Quiets the decoders' warnings, which would flood the fuzzer's output,
 * and fixes jansson's hash seed so that a saved input replays the same
 * member order.
 */
static inline void
fuzz_setup(const char *program)
{
	log_init(program, LOG_LEVEL_ERROR);
	json_object_seed(1);
}

/* Checks that text is NUL-terminated within size bytes. */
static inline int
fuzz_is_terminated(const char *text, size_t size)
{
	return memchr(text, '\0', size) != NULL;
}

#endif
