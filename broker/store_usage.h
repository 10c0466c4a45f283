/*
 * Counts of a tenant's certificates in the store (broker/store.h), for
 * the policy's max-certificates and rate limits.
 */
#ifndef CUSTOS_BROKER_STORE_USAGE_H
#define CUSTOS_BROKER_STORE_USAGE_H

#include <stddef.h>
#include <time.h>

struct store_usage {
	/* LABELs whose current version has not expired, except the one
	 * being renewed, because its new version replaces the current. */
	long held;
	long last_hour;		/* versions stored in the last 3600 s */
	long last_day;		/* versions stored in the last 86400 s */
};

/*
 * Counts STORE/TENANT at time now. label is the LABEL the request stores
 * into, left out of held. A version's time is the one in its name, which
 * store_version_name wrote when it was stored. A missing tenant directory
 * counts as empty. Returns 0, or -1 with a message in err.
 */
int store_usage_count(const char *store_dir, const char *tenant,
    const char *label, time_t now, struct store_usage *usage, char *err,
    size_t errlen);

/*
 * A memory of what each LABEL directory contributed to earlier counts,
 * so that a count reads again only the directories and certificates
 * whose identity or mtime changed. Not locked: the daemon keeps one
 * under its usage lock.
 */
struct store_usage_cache;

/* Reads done by the counts of one cache, for tests and benchmarks. */
struct store_usage_stats {
	long dir_reads;		/* LABEL directories listed */
	long cert_reads;	/* current/cert.pem files parsed */
};

struct store_usage_cache *store_usage_cache_new(void);
void store_usage_cache_free(struct store_usage_cache *cache);
void store_usage_cache_stats(const struct store_usage_cache *cache,
    struct store_usage_stats *stats);

/*
 * Counts as store_usage_count does, with the readings of cache, which
 * may be NULL. A reading is used again only when the file's device,
 * inode, size, mtime and ctime are unchanged. Its mtime must also have
 * been at least 2 s old when it was read, because a change within the
 * same timestamp tick can leave the mtime as it was. A certificate that
 * could not be read or parsed is read again at every count.
 */
int store_usage_count_cached(struct store_usage_cache *cache,
    const char *store_dir, const char *tenant, const char *label,
    time_t now, struct store_usage *usage, char *err, size_t errlen);

/*
 * Returns 1 when STORE/TENANT/LABEL has a current version that has not
 * expired at now, so that it counts in held.
 */
int store_usage_held(const char *store_dir, const char *tenant,
    const char *label, time_t now);

#endif
