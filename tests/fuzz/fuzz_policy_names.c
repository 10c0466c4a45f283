/*
 * Feeds one name to the identifier normalisers and checks of
 * policy/name.c and policy/idna.c: policy_name_normalize() (libidn2),
 * policy_name_normalize_ascii(), policy_name_check_canonical() and the
 * IP address functions. Whatever a normaliser returns must pass the
 * canonical check and normalise to itself again; output buffers are heap
 * blocks of the exact size, so AddressSanitizer detects any overflow.
 */
#include "tests/fuzz/fuzz.h"

#include <sys/socket.h>

#include "policy/name.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup("fuzz_policy_names");
	return 0;
}

static void
check_normalizer(const char *input, policy_normalize_fn normalize)
{
	char *out = malloc(POLICY_NAME_BUFSIZE);
	char *again = malloc(POLICY_NAME_BUFSIZE);
	char *small = malloc(8);
	char err[512];

	FUZZ_ASSERT(out != NULL && again != NULL && small != NULL);
	if (normalize(input, out, POLICY_NAME_BUFSIZE, err,
	    sizeof(err)) == 0) {
		FUZZ_ASSERT(strlen(out) <= POLICY_NAME_MAX);
		FUZZ_ASSERT(policy_name_check_canonical(out, err,
		    sizeof(err)) == 0);
		FUZZ_ASSERT(normalize(out, again, POLICY_NAME_BUFSIZE, err,
		    sizeof(err)) == 0);
		FUZZ_ASSERT(strcmp(out, again) == 0);
	}
	FUZZ_ASSERT(fuzz_is_terminated(err, sizeof(err)));
	if (normalize(input, small, 8, err, sizeof(err)) == 0)
		FUZZ_ASSERT(strlen(small) < 8);
	free(out);
	free(again);
	free(small);
}

static void
check_ip(const char *input)
{
	char *out = malloc(POLICY_NAME_BUFSIZE);
	struct policy_ip ip, back;
	char err[512];

	FUZZ_ASSERT(out != NULL);
	if (policy_ip_parse(input, &ip, err, sizeof(err)) == 0) {
		FUZZ_ASSERT(ip.family == AF_INET || ip.family == AF_INET6);
		FUZZ_ASSERT(policy_ip_format(&ip, out,
		    POLICY_NAME_BUFSIZE) == 0);
		FUZZ_ASSERT(policy_ip_check_canonical(out, err,
		    sizeof(err)) == 0);
		FUZZ_ASSERT(policy_ip_parse(out, &back, err,
		    sizeof(err)) == 0);
		FUZZ_ASSERT(back.family == ip.family);
		FUZZ_ASSERT(memcmp(back.addr, ip.addr, sizeof(ip.addr)) == 0);
	}
	if (policy_ip_normalize(input, out, POLICY_NAME_BUFSIZE, err,
	    sizeof(err)) == 0)
		FUZZ_ASSERT(policy_ip_check_canonical(out, err,
		    sizeof(err)) == 0);
	policy_ip_check_canonical(input, err, sizeof(err));
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *input = fuzz_string(data, size);
	char quoted[POLICY_QUOTE_BUFSIZE];
	char err[512];

	check_normalizer(input, policy_name_normalize);
	check_normalizer(input, policy_name_normalize_ascii);
	policy_name_check_canonical(input, err, sizeof(err));
	check_ip(input);
	policy_quote(input, quoted);
	FUZZ_ASSERT(strlen(quoted) < sizeof(quoted));
	free(input);
	return 0;
}
