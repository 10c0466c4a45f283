/*
 * Private keys already found in the token, by CKA_ID. libp11 0.4.12
 * searches the whole token on every lookup (PKCS11_enumerate_keys), and
 * SoftHSM2 2.6.1 reopens object files for it, so the cost of a lookup
 * grows with the number of keys in the token. The cache keeps libp11's
 * EVP_PKEY and the key's label for the most recently used keys. It uses
 * memory only, so the sandbox needs no further system call for it.
 *
 * An entry goes when its key is destroyed or generated again with the
 * same id (key_cache_forget), when the cache is full and the entry is the
 * least recently used one, and at token_close().
 */
#include "signer.h"

#include <stdio.h>
#include <string.h>

static struct key_cache_entry *
cache_find(struct key_cache *cache, const unsigned char id[KEY_ID_BYTES])
{
	size_t i;

	for (i = 0; i < KEY_CACHE_SIZE; i++)
		if (cache->entries[i].pkey != NULL &&
		    memcmp(cache->entries[i].id, id, KEY_ID_BYTES) == 0)
			return &cache->entries[i];
	return NULL;
}

static void
entry_clear(struct key_cache_entry *entry)
{
	EVP_PKEY_free(entry->pkey);
	memset(entry, 0, sizeof(*entry));
}

/*
 * Returns a new reference to the cached key with CKA_ID id and copies its
 * label into label (when not NULL), or returns NULL when id is not cached.
 */
EVP_PKEY *
key_cache_get(struct key_cache *cache, const unsigned char id[KEY_ID_BYTES],
    char *label, size_t labellen)
{
	struct key_cache_entry *entry = cache_find(cache, id);

	if (entry == NULL || EVP_PKEY_up_ref(entry->pkey) != 1)
		return NULL;
	entry->last_used = ++cache->clock;
	if (label != NULL)
		snprintf(label, labellen, "%s", entry->label);
	return entry->pkey;
}

/*
 * Stores a reference to pkey under id, replacing the least recently used
 * entry when the cache is full. A label longer than any key_label_format()
 * writes is not cached, so that key_cache_get() never returns it cut.
 */
void
key_cache_put(struct key_cache *cache, const unsigned char id[KEY_ID_BYTES],
    EVP_PKEY *pkey, const char *label)
{
	struct key_cache_entry *entry = cache_find(cache, id);
	size_t i;

	if (strlen(label) >= sizeof(entry->label))
		return;
	if (entry == NULL) {
		entry = &cache->entries[0];
		for (i = 1; i < KEY_CACHE_SIZE && entry->pkey != NULL; i++)
			if (cache->entries[i].pkey == NULL ||
			    cache->entries[i].last_used < entry->last_used)
				entry = &cache->entries[i];
	}
	if (EVP_PKEY_up_ref(pkey) != 1)
		return;
	entry_clear(entry);
	memcpy(entry->id, id, KEY_ID_BYTES);
	entry->pkey = pkey;
	snprintf(entry->label, sizeof(entry->label), "%s", label);
	entry->last_used = ++cache->clock;
}

/* Drops the entry of id, if any. */
void
key_cache_forget(struct key_cache *cache,
    const unsigned char id[KEY_ID_BYTES])
{
	struct key_cache_entry *entry = cache_find(cache, id);

	if (entry != NULL)
		entry_clear(entry);
}

/* Drops every entry; token_close() calls it before libp11 is unloaded. */
void
key_cache_clear(struct key_cache *cache)
{
	size_t i;

	for (i = 0; i < KEY_CACHE_SIZE; i++)
		entry_clear(&cache->entries[i]);
	cache->clock = 0;
}
