/*
 * The signer's cache of keys found in the token: lookups by id, the
 * reference counts it takes and gives back, eviction of the least
 * recently used entry, and entries dropped when a key is destroyed.
 * Plain OpenSSL keys stand in for libp11's, which the cache never opens.
 */
#include <string.h>

#include <openssl/evp.h>

#include "signer/signer.h"
#include "tests/unit/check.h"

static struct key_cache cache;

static void
make_id(unsigned char id[KEY_ID_BYTES], int n)
{
	memset(id, 0, KEY_ID_BYTES);
	id[0] = (unsigned char)(n >> 8);
	id[1] = (unsigned char)n;
}

static void
test_get_returns_stored_key(void)
{
	unsigned char id[KEY_ID_BYTES], other[KEY_ID_BYTES];
	EVP_PKEY *key = EVP_EC_gen("P-256"), *got;
	char label[KEY_LABEL_MAX] = "";

	make_id(id, 1);
	make_id(other, 2);
	key_cache_put(&cache, id, key, "custos/account/pebble/main/01");
	got = key_cache_get(&cache, id, label, sizeof(label));
	CHECK(got == key);
	CHECK_STR(label, "custos/account/pebble/main/01");
	CHECK(key_cache_get(&cache, other, label, sizeof(label)) == NULL);

	/* The caller's reference and the one returned are its own. */
	EVP_PKEY_free(got);
	EVP_PKEY_free(key);
	got = key_cache_get(&cache, id, NULL, 0);
	CHECK(got == key);
	EVP_PKEY_free(got);
	key_cache_clear(&cache);
}

static void
test_forget_drops_entry(void)
{
	unsigned char id[KEY_ID_BYTES];
	EVP_PKEY *key = EVP_EC_gen("P-256");

	make_id(id, 1);
	key_cache_put(&cache, id, key, "a");
	key_cache_forget(&cache, id);
	CHECK(key_cache_get(&cache, id, NULL, 0) == NULL);
	/* Forgetting an id that is not cached changes nothing. */
	key_cache_forget(&cache, id);
	CHECK(key_cache_get(&cache, id, NULL, 0) == NULL);
	EVP_PKEY_free(key);
	key_cache_clear(&cache);
}

static void
test_put_same_id_replaces(void)
{
	unsigned char id[KEY_ID_BYTES];
	EVP_PKEY *first = EVP_EC_gen("P-256"), *second = EVP_EC_gen("P-256");
	EVP_PKEY *got;
	char label[KEY_LABEL_MAX] = "";
	size_t i, used = 0;

	make_id(id, 7);
	key_cache_put(&cache, id, first, "first");
	key_cache_put(&cache, id, second, "second");
	got = key_cache_get(&cache, id, label, sizeof(label));
	CHECK(got == second);
	CHECK_STR(label, "second");
	for (i = 0; i < KEY_CACHE_SIZE; i++)
		used += cache.entries[i].pkey != NULL;
	CHECK_INT(used, 1);
	EVP_PKEY_free(got);
	EVP_PKEY_free(first);
	EVP_PKEY_free(second);
	key_cache_clear(&cache);
}

/* A full cache evicts the entry used longest ago, not the oldest put. */
static void
test_full_cache_evicts_least_recent(void)
{
	unsigned char id[KEY_ID_BYTES];
	EVP_PKEY *key = EVP_EC_gen("P-256"), *got;
	int n;

	for (n = 0; n < KEY_CACHE_SIZE; n++) {
		make_id(id, n);
		key_cache_put(&cache, id, key, "k");
	}
	make_id(id, 0);
	got = key_cache_get(&cache, id, NULL, 0);
	CHECK(got == key);
	EVP_PKEY_free(got);

	make_id(id, KEY_CACHE_SIZE);
	key_cache_put(&cache, id, key, "k");
	make_id(id, 1);
	CHECK(key_cache_get(&cache, id, NULL, 0) == NULL);
	for (n = 0; n <= KEY_CACHE_SIZE; n++) {
		if (n == 1)
			continue;
		make_id(id, n);
		got = key_cache_get(&cache, id, NULL, 0);
		CHECK(got == key);
		EVP_PKEY_free(got);
	}
	key_cache_clear(&cache);
	CHECK(key_cache_get(&cache, id, NULL, 0) == NULL);
	EVP_PKEY_free(key);
}

static void
test_overlong_label_not_cached(void)
{
	unsigned char id[KEY_ID_BYTES];
	EVP_PKEY *key = EVP_EC_gen("P-256");
	char label[KEY_LABEL_MAX + 8];

	memset(label, 'x', sizeof(label) - 1);
	label[sizeof(label) - 1] = '\0';
	make_id(id, 3);
	key_cache_put(&cache, id, key, label);
	CHECK(key_cache_get(&cache, id, NULL, 0) == NULL);
	EVP_PKEY_free(key);
}

int
main(void)
{
	RUN(test_get_returns_stored_key);
	RUN(test_forget_drops_entry);
	RUN(test_put_same_id_replaces);
	RUN(test_full_cache_evicts_least_recent);
	RUN(test_overlong_label_not_cached);
	return check_done();
}
