#include "broker/store_usage.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/asn1.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define USAGE_PATH_MAX 4096
#define DAY_SECONDS 86400
#define HOUR_SECONDS 3600

/*
 * Seconds that a file's mtime must lie in the past before its cached
 * reading is trusted. A change within the same timestamp tick as the
 * reading can leave the mtime as it was, so a recent mtime proves
 * nothing.
 */
#define SETTLE_SECONDS 2

/* The identity of a file or directory at one moment. */
struct file_id {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct timespec ctime;
};

/* The counts of one LABEL directory at its last reading. */
struct label_entry {
	struct file_id dir;
	struct file_id cert;	/* of LABEL/current/cert.pem, all zero when
				 * it was missing */
	int dir_settled;	/* dir's mtime was SETTLE_SECONDS old */
	int cert_settled;
	int cert_valid;		/* cert.pem parsed, so not_after is set */
	int taken;		/* moved to the list of the count under way */
	time_t not_after;
	time_t read_at;		/* the count's now when versions were read */
	time_t *recent;		/* version times under a day before read_at */
	size_t recent_count;
	char label[];
};

/* The entries of one STORE/TENANT directory, sorted by label. */
struct tenant_entries {
	char *dir;
	struct label_entry **items;
	size_t count;
};

struct store_usage_cache {
	struct tenant_entries *tenants;
	size_t tenant_count;
	struct store_usage_stats stats;
};

static void
file_id_of(const struct stat *st, struct file_id *id)
{
	memset(id, 0, sizeof(*id));
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->size = st->st_size;
	id->mtime = st->st_mtim;
	id->ctime = st->st_ctim;
}

static int
file_id_equal(const struct file_id *a, const struct file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	    a->mtime.tv_sec == b->mtime.tv_sec &&
	    a->mtime.tv_nsec == b->mtime.tv_nsec &&
	    a->ctime.tv_sec == b->ctime.tv_sec &&
	    a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/*
 * Returns 1 when id's mtime is at least SETTLE_SECONDS before clock.
 * NOTE: the ctime is not checked. A file whose mtime was set back (cp -p,
 * tar, touch -d) has a recent ctime, and where the kernel keeps coarse
 * per-tick timestamps, a rewrite that sets the mtime back again within
 * that tick leaves the whole identity unchanged.
 */
static int
file_id_settled(const struct file_id *id, time_t clock)
{
	return clock - id->mtime.tv_sec >= SETTLE_SECONDS;
}

/* Reads the time at the start of a VERSION name; -1 when it has none. */
static time_t
version_time(const char *name)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(name, "%Y%m%dT%H%M%SZ-", &tm);
	return end == NULL ? (time_t)-1 : timegm(&tm);
}

/* Reads the notAfter of the certificate in path into not_after. */
static int
read_not_after(const char *path, time_t *not_after)
{
	X509 *cert;
	FILE *f;
	struct tm tm;
	int rc = -1;

	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (cert != NULL &&
	    ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1) {
		*not_after = timegm(&tm);
		rc = 0;
	}
	X509_free(cert);
	return rc;
}

/*
 * Reads LABEL_DIR/current/cert.pem into entry, unless the entry already
 * parsed the same settled file. tenant_fd is LABEL_DIR's parent.
 */
static void
update_cert(struct label_entry *entry, int tenant_fd, const char *label_dir,
    time_t clock, struct store_usage_stats *stats)
{
	char path[USAGE_PATH_MAX + 32];
	struct file_id id;
	struct stat st;

	snprintf(path, sizeof(path), "%s/current/cert.pem", entry->label);
	if (fstatat(tenant_fd, path, &st, 0) != 0) {
		memset(&entry->cert, 0, sizeof(entry->cert));
		entry->cert_valid = 0;
		entry->cert_settled = 0;
		return;
	}
	file_id_of(&st, &id);
	if (entry->cert_settled && file_id_equal(&id, &entry->cert))
		return;
	stats->cert_reads++;
	snprintf(path, sizeof(path), "%s/current/cert.pem", label_dir);
	entry->cert = id;
	entry->cert_valid = read_not_after(path, &entry->not_after) == 0;
	/*
	 * A failed read is not kept, because it can pass while the file
	 * stays the same (no file descriptor or memory left).
	 */
	entry->cert_settled = entry->cert_valid && file_id_settled(&id, clock);
}

/*
 * Keeps the times of LABEL_DIR's versions that were stored less than a
 * day before now, unless the entry already read the same settled
 * directory at or before now. Returns -1 when memory runs out.
 */
static int
update_versions(struct label_entry *entry, const char *label_dir,
    const struct file_id *dir, time_t now, time_t clock,
    struct store_usage_stats *stats)
{
	struct dirent *item;
	time_t when, *grown;
	size_t cap = 0;
	DIR *d;

	if (entry->dir_settled && entry->read_at <= now &&
	    file_id_equal(dir, &entry->dir))
		return 0;
	stats->dir_reads++;
	free(entry->recent);
	entry->recent = NULL;
	entry->recent_count = 0;
	entry->dir = *dir;
	entry->read_at = now;
	/* An entry that fails to read stays unsettled, so it is read again. */
	entry->dir_settled = 0;
	d = opendir(label_dir);
	if (d == NULL)
		return 0;
	for (;;) {
		/* readdir returns NULL at the end and on an error alike. */
		errno = 0;
		item = readdir(d);
		if (item == NULL)
			break;
		if (item->d_name[0] == '.' ||
		    (when = version_time(item->d_name)) == (time_t)-1 ||
		    now - when >= DAY_SECONDS)
			continue;
		if (entry->recent_count == cap) {
			cap = cap == 0 ? 4 : cap * 2;
			grown = realloc(entry->recent, cap * sizeof(*grown));
			if (grown == NULL) {
				closedir(d);
				return -1;
			}
			entry->recent = grown;
		}
		entry->recent[entry->recent_count++] = when;
	}
	/* A list cut short by an error is used once, not kept. */
	if (errno == 0)
		entry->dir_settled = file_id_settled(dir, clock);
	closedir(d);
	return 0;
}

static void
entry_free(struct label_entry *entry)
{
	if (entry == NULL)
		return;
	free(entry->recent);
	free(entry);
}

static struct label_entry *
entry_new(const char *label)
{
	size_t len = strlen(label) + 1;
	struct label_entry *entry = calloc(1, sizeof(*entry) + len);

	if (entry != NULL)
		memcpy(entry->label, label, len);
	return entry;
}

static int
compare_entries(const void *a, const void *b)
{
	const struct label_entry *const *x = a, *const *y = b;

	return strcmp((*x)->label, (*y)->label);
}

static int
compare_key(const void *key, const void *item)
{
	const struct label_entry *const *entry = item;

	return strcmp(key, (*entry)->label);
}

/* Marks label's entry in list as taken and returns it, or NULL. */
static struct label_entry *
take_entry(struct tenant_entries *list, const char *label)
{
	struct label_entry **found;

	if (list == NULL || list->count == 0)
		return NULL;
	found = bsearch(label, list->items, list->count,
	    sizeof(*list->items), compare_key);
	if (found == NULL || (*found)->taken)
		return NULL;
	(*found)->taken = 1;
	return *found;
}

/* Finds or adds the entries of tenant_dir; NULL when memory runs out. */
static struct tenant_entries *
tenant_entries_of(struct store_usage_cache *cache, const char *tenant_dir)
{
	struct tenant_entries *grown;

	for (size_t i = 0; i < cache->tenant_count; i++)
		if (strcmp(cache->tenants[i].dir, tenant_dir) == 0)
			return &cache->tenants[i];
	grown = realloc(cache->tenants,
	    (cache->tenant_count + 1) * sizeof(*grown));
	if (grown == NULL)
		return NULL;
	cache->tenants = grown;
	memset(&grown[cache->tenant_count], 0, sizeof(*grown));
	grown[cache->tenant_count].dir = strdup(tenant_dir);
	if (grown[cache->tenant_count].dir == NULL)
		return NULL;
	return &grown[cache->tenant_count++];
}

/* Frees the entries of items that are not taken, and items. */
static void
drop_entries(struct label_entry **items, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (!items[i]->taken)
			entry_free(items[i]);
	free(items);
}

/* Adds entry's versions and held certificate to usage. */
static void
add_entry(const struct label_entry *entry, const char *label, time_t now,
    struct store_usage *usage)
{
	for (size_t i = 0; i < entry->recent_count; i++) {
		if (now - entry->recent[i] < HOUR_SECONDS)
			usage->last_hour++;
		if (now - entry->recent[i] < DAY_SECONDS)
			usage->last_day++;
	}
	if (strcmp(entry->label, label) != 0 && entry->cert_valid &&
	    entry->not_after > now)
		usage->held++;
}

int
store_usage_count_cached(struct store_usage_cache *cache,
    const char *store_dir, const char *tenant, const char *label,
    time_t now, struct store_usage *usage, char *err, size_t errlen)
{
	char tenant_dir[USAGE_PATH_MAX], label_dir[USAGE_PATH_MAX];
	struct store_usage_stats scratch = { 0 }, *stats;
	struct tenant_entries *old = NULL;
	struct label_entry **items = NULL, **grown, *entry, *pending = NULL;
	size_t count = 0, cap = 0;
	struct dirent *item;
	struct file_id dir_id;
	struct stat st;
	time_t clock = time(NULL);
	DIR *d;
	int n;

	memset(usage, 0, sizeof(*usage));
	stats = cache != NULL ? &cache->stats : &scratch;
	snprintf(tenant_dir, sizeof(tenant_dir), "%s/%s", store_dir, tenant);
	d = opendir(tenant_dir);
	if (d == NULL && errno == ENOENT)
		return 0;
	if (d == NULL) {
		snprintf(err, errlen, "cannot read store directory %s: %s "
		    "(the policy's certificate limits count its versions)",
		    tenant_dir, strerror(errno));
		return -1;
	}
	if (cache != NULL) {
		old = tenant_entries_of(cache, tenant_dir);
		if (old == NULL)
			goto oom;
	}
	while ((item = readdir(d)) != NULL) {
		if (item->d_name[0] == '.')
			continue;
		n = snprintf(label_dir, sizeof(label_dir), "%s/%s",
		    tenant_dir, item->d_name);
		if (n < 0 || (size_t)n >= sizeof(label_dir) ||
		    fstatat(dirfd(d), item->d_name, &st, 0) != 0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		entry = take_entry(old, item->d_name);
		if (entry == NULL && (entry = entry_new(item->d_name)) == NULL)
			goto oom;
		file_id_of(&st, &dir_id);
		if (update_versions(entry, label_dir, &dir_id, now, clock,
		    stats) != 0) {
			pending = entry;
			goto oom;
		}
		update_cert(entry, dirfd(d), label_dir, clock, stats);
		add_entry(entry, label, now, usage);
		if (cache == NULL) {
			entry_free(entry);
			continue;
		}
		if (count == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			grown = realloc(items, cap * sizeof(*grown));
			if (grown == NULL) {
				pending = entry;
				goto oom;
			}
			items = grown;
		}
		items[count++] = entry;
	}
	closedir(d);
	if (cache != NULL) {
		/* Labels that are gone leave with the old list. */
		drop_entries(old->items, old->count);
		for (size_t i = 0; i < count; i++)
			items[i]->taken = 0;
		qsort(items, count, sizeof(*items), compare_entries);
		old->items = items;
		old->count = count;
	}
	return 0;
oom:
	closedir(d);
	/* Every entry is dropped, so the next count reads them all again. */
	if (old != NULL) {
		drop_entries(old->items, old->count);
		old->items = NULL;
		old->count = 0;
	}
	for (size_t i = 0; i < count; i++)
		items[i]->taken = 0;
	drop_entries(items, count);
	entry_free(pending);
	snprintf(err, errlen, "out of memory counting store directory %s",
	    tenant_dir);
	return -1;
}

int
store_usage_count(const char *store_dir, const char *tenant,
    const char *label, time_t now, struct store_usage *usage, char *err,
    size_t errlen)
{
	return store_usage_count_cached(NULL, store_dir, tenant, label, now,
	    usage, err, errlen);
}

struct store_usage_cache *
store_usage_cache_new(void)
{
	return calloc(1, sizeof(struct store_usage_cache));
}

void
store_usage_cache_free(struct store_usage_cache *cache)
{
	if (cache == NULL)
		return;
	for (size_t i = 0; i < cache->tenant_count; i++) {
		drop_entries(cache->tenants[i].items,
		    cache->tenants[i].count);
		free(cache->tenants[i].dir);
	}
	free(cache->tenants);
	free(cache);
}

void
store_usage_cache_stats(const struct store_usage_cache *cache,
    struct store_usage_stats *stats)
{
	*stats = cache->stats;
}

int
store_usage_held(const char *store_dir, const char *tenant,
    const char *label, time_t now)
{
	char path[USAGE_PATH_MAX];
	time_t not_after;

	if (snprintf(path, sizeof(path), "%s/%s/%s/current/cert.pem",
	    store_dir, tenant, label) >= (int)sizeof(path))
		return 0;
	return read_not_after(path, &not_after) == 0 && not_after > now;
}
