/*
 * Reads one text as a Custos configuration file with config_load_string()
 * (config/config.c), as the broker and the signer read theirs at start.
 * An accepted configuration must have its required settings set and
 * lookups of its issuers must succeed.
 */
#include "tests/fuzz/fuzz.h"

#include "config/config.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup("fuzz_shared_config");
	return 0;
}

static void
check_config(const struct custos_config *config)
{
	const struct config_issuer *issuer;
	size_t i;

	FUZZ_ASSERT(config->hsm.module != NULL);
	FUZZ_ASSERT((config->hsm.token_label == NULL) !=
	    (config->hsm.token_serial == NULL));
	FUZZ_ASSERT(config->acme.account_key_type < KEY_TYPE_COUNT);
	FUZZ_ASSERT(config->acme.certificate_key_type < KEY_TYPE_COUNT);
	for (i = 0; i < config->issuer_count; i++) {
		issuer = &config->issuers[i];
		FUZZ_ASSERT(issuer->name != NULL);
		FUZZ_ASSERT(issuer->directory != NULL);
		FUZZ_ASSERT(issuer->account != NULL);
		FUZZ_ASSERT(config_find_issuer(config, issuer->name) ==
		    issuer);
	}
	if (config->issuer_count == 1)
		FUZZ_ASSERT(config_find_issuer(config, NULL) ==
		    &config->issuers[0]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct custos_config *config = NULL;
	char *text = fuzz_string(data, size);
	char err[CONFIG_ERR_MAX];

	if (config_load_string("fuzz.conf", text, &config, err,
	    sizeof(err)) == 0) {
		FUZZ_ASSERT(config != NULL);
		check_config(config);
		config_free(config);
	} else {
		FUZZ_ASSERT(fuzz_is_terminated(err, sizeof(err)));
	}
	free(text);
	return 0;
}
