/* Tests for broker/store.c: atomic storage and clean failures. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "broker/names.h"
#include "broker/store.h"
#include "broker/store_usage.h"
#include "tests/unit/check.h"

static const struct store_files files = {
	.cert_pem = "-----BEGIN CERTIFICATE-----\nleaf\n"
	    "-----END CERTIFICATE-----\n",
	.chain_pem = "-----BEGIN CERTIFICATE-----\nissuer\n"
	    "-----END CERTIFICATE-----\n",
	.fullchain_pem = "-----BEGIN CERTIFICATE-----\nleaf\n"
	    "-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nissuer\n"
	    "-----END CERTIFICATE-----\n",
	.key_uri = "pkcs11:token=t;id=%01;type=private",
};

/* Makes a fresh directory under TMPDIR or /tmp into dir. */
static int
make_store(char *dir, size_t len)
{
	const char *base = getenv("TMPDIR");

	snprintf(dir, len, "%s/custos-store-test.XXXXXX",
	    base != NULL ? base : "/tmp");
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static void
remove_tree(const char *path)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0)
		printf("#   cannot remove %s\n", path);
}

static char *
read_text(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* Counts the entries of dir other than "." and "..". */
static int
count_entries(const char *dir)
{
	struct dirent *entry;
	int count = 0;
	DIR *d = opendir(dir);

	if (d == NULL)
		return -1;
	while ((entry = readdir(d)) != NULL)
		if (strcmp(entry->d_name, ".") != 0 &&
		    strcmp(entry->d_name, "..") != 0)
			count++;
	closedir(d);
	return count;
}

static void
test_store_version_name(void)
{
	char out[64];

	/* 2026-12-04 16:30:00 UTC */
	CHECK_INT(store_version_name((time_t)1796401800, "0a1b2c", out,
	    sizeof(out)), 0);
	CHECK_STR(out, "20261204T163000Z-0a1b2c");
	CHECK_INT(store_version_name((time_t)1796401800, "0a1b2c", out, 20),
	    -1);
}

static void
test_store_label_wildcard(void)
{
	char *label = names_store_label("*.example.com");
	char *plain = names_store_label("www.example.com");

	CHECK_STR(label, "_wildcard.example.com");
	CHECK_STR(plain, "www.example.com");
	free(label);
	free(plain);
}

static void
test_store_writes_files(void)
{
	char dir[PATH_MAX], path[PATH_MAX + 64], link[64], err[512] = "";
	char *stored = NULL;
	ssize_t n;

	if (make_store(dir, sizeof(dir)) != 0) {
		CHECK(!"cannot make a temporary directory");
		return;
	}
	CHECK_INT(store_certificate(dir, "t1", "a.test", "20261204T163000Z-01",
	    &files, &stored, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	snprintf(path, sizeof(path), "%s/t1/a.test/20261204T163000Z-01", dir);
	CHECK_STR(stored, path);
	CHECK_INT(count_entries(path), 4);

	snprintf(path, sizeof(path), "%s/t1/a.test/current/cert.pem", dir);
	CHECK_STR(read_text(path), files.cert_pem);
	snprintf(path, sizeof(path), "%s/t1/a.test/current/chain.pem", dir);
	CHECK_STR(read_text(path), files.chain_pem);
	snprintf(path, sizeof(path), "%s/t1/a.test/current/fullchain.pem", dir);
	CHECK_STR(read_text(path), files.fullchain_pem);
	snprintf(path, sizeof(path), "%s/t1/a.test/current/key.uri", dir);
	CHECK_STR(read_text(path), "pkcs11:token=t;id=%01;type=private\n");

	snprintf(path, sizeof(path), "%s/t1/a.test/current", dir);
	n = readlink(path, link, sizeof(link) - 1);
	CHECK_INT(n, strlen("20261204T163000Z-01"));
	link[n > 0 ? n : 0] = '\0';
	CHECK_STR(link, "20261204T163000Z-01");

	/* Only VERSION and current: no temporary names are left. */
	snprintf(path, sizeof(path), "%s/t1/a.test", dir);
	CHECK_INT(count_entries(path), 2);
	free(stored);
	remove_tree(dir);
}

static void
test_store_replaces_current(void)
{
	char dir[PATH_MAX], path[PATH_MAX + 64], link[64], err[512];
	char *stored = NULL;
	ssize_t n;

	if (make_store(dir, sizeof(dir)) != 0) {
		CHECK(!"cannot make a temporary directory");
		return;
	}
	CHECK_INT(store_certificate(dir, "t1", "a.test", "v1", &files, &stored,
	    err, sizeof(err)), 0);
	free(stored);
	CHECK_INT(store_certificate(dir, "t1", "a.test", "v2", &files, &stored,
	    err, sizeof(err)), 0);
	free(stored);

	snprintf(path, sizeof(path), "%s/t1/a.test/current", dir);
	n = readlink(path, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = '\0';
	CHECK_STR(link, "v2");
	snprintf(path, sizeof(path), "%s/t1/a.test", dir);
	CHECK_INT(count_entries(path), 3);
	remove_tree(dir);
}

/* An existing VERSION makes the rename fail before anything changes. */
static void
test_store_failed_rename_leaves_nothing(void)
{
	char dir[PATH_MAX], path[PATH_MAX + 64], err[512] = "";
	char *stored = (char *)"unchanged";

	if (make_store(dir, sizeof(dir)) != 0) {
		CHECK(!"cannot make a temporary directory");
		return;
	}
	snprintf(path, sizeof(path), "%s/t1", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/t1/a.test", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/t1/a.test/v1", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/t1/a.test/v1/other", dir);
	fclose(fopen(path, "w"));

	CHECK_INT(store_certificate(dir, "t1", "a.test", "v1", &files, &stored,
	    err, sizeof(err)), -1);
	CHECK(stored == NULL);
	CHECK(strstr(err, "cannot rename") != NULL);
	snprintf(path, sizeof(path), "%s/t1/a.test", dir);
	CHECK_INT(count_entries(path), 1);
	snprintf(path, sizeof(path), "%s/t1/a.test/v1", dir);
	CHECK_INT(count_entries(path), 1);
	remove_tree(dir);
}

/*
 * A directory named current cannot be replaced by a symlink: the new
 * VERSION, already renamed into place, must be removed again.
 */
static void
test_store_failed_current_rolls_back(void)
{
	char dir[PATH_MAX], path[PATH_MAX + 64], err[512] = "";
	char *stored = NULL;

	if (make_store(dir, sizeof(dir)) != 0) {
		CHECK(!"cannot make a temporary directory");
		return;
	}
	snprintf(path, sizeof(path), "%s/t1", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/t1/a.test", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/t1/a.test/current", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/t1/a.test/current/keep", dir);
	fclose(fopen(path, "w"));

	CHECK_INT(store_certificate(dir, "t1", "a.test", "v1", &files, &stored,
	    err, sizeof(err)), -1);
	CHECK(stored == NULL);
	CHECK(strstr(err, "/a.test/current") != NULL);
	snprintf(path, sizeof(path), "%s/t1/a.test", dir);
	CHECK_INT(count_entries(path), 1);
	snprintf(path, sizeof(path), "%s/t1/a.test/v1", dir);
	CHECK_INT(access(path, F_OK), -1);
	remove_tree(dir);
}

/* Two tenants storing the same first name write to separate places. */
static void
test_store_tenants_separate(void)
{
	char dir[PATH_MAX], path[PATH_MAX + 64], err[512] = "";
	char *stored_a = NULL, *stored_b = NULL;

	if (make_store(dir, sizeof(dir)) != 0) {
		CHECK(!"cannot make a temporary directory");
		return;
	}
	CHECK_INT(store_certificate(dir, "alpha", "a.test", "v1", &files,
	    &stored_a, err, sizeof(err)), 0);
	CHECK_INT(store_certificate(dir, "beta", "a.test", "v1", &files,
	    &stored_b, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	snprintf(path, sizeof(path), "%s/alpha/a.test/v1", dir);
	CHECK_STR(stored_a, path);
	snprintf(path, sizeof(path), "%s/beta/a.test/v1", dir);
	CHECK_STR(stored_b, path);
	CHECK_INT(count_entries(dir), 2);
	snprintf(path, sizeof(path), "%s/alpha/a.test", dir);
	CHECK_INT(count_entries(path), 2);
	snprintf(path, sizeof(path), "%s/beta/a.test", dir);
	CHECK_INT(count_entries(path), 2);
	free(stored_a);
	free(stored_b);
	remove_tree(dir);
}

static void
test_store_missing_parent(void)
{
	char err[512] = "";
	char *stored = NULL;

	CHECK_INT(store_certificate("/nonexistent-custos/store", "t1",
	    "a.test", "v1", &files, &stored, err, sizeof(err)), -1);
	CHECK(stored == NULL);
	CHECK(strstr(err, "cannot create store directory "
	    "/nonexistent-custos/store") != NULL);
}

/* The check creates nothing and finds each obstacle by its path. */
static void
test_store_check_writable(void)
{
	char dir[PATH_MAX], path[PATH_MAX + 64], expected[PATH_MAX + 128];
	char err[512] = "";
	FILE *f;

	if (make_store(dir, sizeof(dir)) != 0) {
		CHECK(!"cannot make a temporary directory");
		return;
	}
	CHECK_INT(store_check_writable(dir, "t1", "a.test", err,
	    sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_INT(count_entries(dir), 0);

	snprintf(path, sizeof(path), "%s/t1", dir);
	CHECK_INT(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/t1/file.test", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f != NULL)
		fclose(f);
	CHECK_INT(store_check_writable(dir, "t1", "file.test", err,
	    sizeof(err)), -1);
	snprintf(expected, sizeof(expected), "store path %s is not a "
	    "directory (remove or rename it)", path);
	CHECK_STR(err, expected);

	snprintf(path, sizeof(path), "%s/t1/cur.test", dir);
	CHECK_INT(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/t1/cur.test/current", dir);
	CHECK_INT(mkdir(path, 0755), 0);
	CHECK_INT(store_check_writable(dir, "t1", "cur.test", err,
	    sizeof(err)), -1);
	snprintf(expected, sizeof(expected), "store path %s is not a "
	    "symlink (remove or rename it)", path);
	CHECK_STR(err, expected);
	remove_tree(dir);
}

/* A missing store is fine when its parent exists, as it is created. */
static void
test_store_check_missing(void)
{
	char dir[PATH_MAX], path[PATH_MAX + 64], err[512] = "";

	if (make_store(dir, sizeof(dir)) != 0) {
		CHECK(!"cannot make a temporary directory");
		return;
	}
	snprintf(path, sizeof(path), "%s/store", dir);
	CHECK_INT(store_check_writable(path, "t1", "a.test", err,
	    sizeof(err)), 0);
	CHECK_INT(access(path, F_OK), -1);
	CHECK_INT(store_check_writable("/nonexistent-custos/store", "t1",
	    "a.test", err, sizeof(err)), -1);
	CHECK(strstr(err, "store directory /nonexistent-custos is not "
	    "writable") != NULL);
	remove_tree(dir);
}

/* Makes STORE/t1/LABEL/VERSION for a version stored age seconds ago. */
static void
make_version(const char *dir, const char *label, time_t age)
{
	char path[PATH_MAX + 128], version[64];

	snprintf(path, sizeof(path), "%s/t1", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/t1/%s", dir, label);
	mkdir(path, 0755);
	CHECK_INT(store_version_name(1800000000 - age, "0a", version,
	    sizeof(version)), 0);
	snprintf(path, sizeof(path), "%s/t1/%s/%s", dir, label, version);
	CHECK_INT(mkdir(path, 0755), 0);
}

/* Versions count by the time in their names; other entries do not. */
static void
test_store_usage_counts(void)
{
	char dir[PATH_MAX], path[PATH_MAX + 64], err[512] = "";
	struct store_usage usage;

	if (make_store(dir, sizeof(dir)) != 0) {
		CHECK(!"cannot make a temporary directory");
		return;
	}
	CHECK_INT(store_usage_count(dir, "t1", "a.test", 1800000000, &usage,
	    err, sizeof(err)), 0);
	CHECK_INT(usage.last_day, 0);
	make_version(dir, "a.test", 10);
	make_version(dir, "a.test", 3599);
	make_version(dir, "b.test", 3600);
	make_version(dir, "b.test", 86399);
	make_version(dir, "c.test", 86400);
	snprintf(path, sizeof(path), "%s/t1/a.test/.tmp-x", dir);
	CHECK_INT(mkdir(path, 0755), 0);
	CHECK_INT(store_usage_count(dir, "t1", "a.test", 1800000000, &usage,
	    err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_INT(usage.last_hour, 2);
	CHECK_INT(usage.last_day, 4);
	/* No current/cert.pem, so no name is held. */
	CHECK_INT(usage.held, 0);
	remove_tree(dir);
}

/* Writes path as a self-signed P-256 certificate valid until not_after. */
static int
write_cert(const char *path, time_t not_after)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *cert = X509_new();
	FILE *f = NULL;
	int rc = -1;

	if (key == NULL || cert == NULL ||
	    ASN1_TIME_set(X509_getm_notBefore(cert), not_after - 7776000) ==
	    NULL || ASN1_TIME_set(X509_getm_notAfter(cert), not_after) ==
	    NULL || X509_set_pubkey(cert, key) != 1 ||
	    X509_sign(cert, key, EVP_sha256()) == 0)
		goto out;
	f = fopen(path, "w");
	if (f != NULL && PEM_write_X509(f, cert) == 1)
		rc = 0;
out:
	if (f != NULL)
		fclose(f);
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

/* Sets the access and modification times of path to 10 s ago. */
static void
backdate(const char *path)
{
	struct timespec times[2];

	times[0].tv_sec = time(NULL) - 10;
	times[0].tv_nsec = 0;
	times[1] = times[0];
	CHECK_INT(utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW), 0);
}

/*
 * Makes STORE/t1/LABEL/cur holding a certificate valid until not_after,
 * and the symlink LABEL/current to it.
 */
static void
make_current(const char *dir, const char *label, time_t not_after)
{
	char path[PATH_MAX + 128];

	snprintf(path, sizeof(path), "%s/t1/%s/cur", dir, label);
	CHECK_INT(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/t1/%s/cur/cert.pem", dir, label);
	CHECK_INT(write_cert(path, not_after), 0);
	snprintf(path, sizeof(path), "%s/t1/%s/current", dir, label);
	CHECK_INT(symlink("cur", path), 0);
}

/* Sets the times of every file and folder of STORE/t1 to 10 s ago. */
static void
backdate_store(const char *dir)
{
	const char *paths[] = { "a.test", "b.test", "b.test/cur",
	    "b.test/cur/cert.pem", "c.test", "c.test/cur",
	    "c.test/cur/cert.pem" };
	char path[PATH_MAX + 128];

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		snprintf(path, sizeof(path), "%s/t1/%s", dir, paths[i]);
		backdate(path);
	}
}

/* Checks that the cached count at now matches the uncached one. */
static void
check_same_as_uncached(const char *dir, time_t now,
    const struct store_usage *cached)
{
	struct store_usage usage;
	char err[512] = "";

	CHECK_INT(store_usage_count(dir, "t1", "a.test", now, &usage, err,
	    sizeof(err)), 0);
	CHECK_INT(cached->held, usage.held);
	CHECK_INT(cached->last_hour, usage.last_hour);
	CHECK_INT(cached->last_day, usage.last_day);
}

/*
 * Makes a count cache and a fresh store directory into dir. Returns the
 * cache, or NULL after a failed check.
 */
static struct store_usage_cache *
new_cache_and_store(char *dir, size_t len)
{
	struct store_usage_cache *cache = store_usage_cache_new();

	CHECK(cache != NULL);
	if (cache != NULL && make_store(dir, len) == 0)
		return cache;
	CHECK(!"cannot make a cache and a temporary directory");
	store_usage_cache_free(cache);
	return NULL;
}

/* A second count reads nothing that has not changed since the first. */
static void
test_store_usage_cache_reuses(void)
{
	const time_t now = 1800000000;
	char dir[PATH_MAX], err[512] = "";
	struct store_usage_cache *cache;
	struct store_usage_stats stats;
	struct store_usage usage;

	cache = new_cache_and_store(dir, sizeof(dir));
	if (cache == NULL)
		return;
	make_version(dir, "a.test", 10);
	make_version(dir, "a.test", 3599);
	make_version(dir, "b.test", 3600);
	make_version(dir, "b.test", 86399);
	make_version(dir, "c.test", 86400);
	make_current(dir, "b.test", now + 1000);
	make_current(dir, "c.test", now - 1);
	backdate_store(dir);

	CHECK_INT(store_usage_count_cached(cache, dir, "t1", "a.test", now,
	    &usage, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_INT(usage.last_hour, 2);
	CHECK_INT(usage.last_day, 4);
	CHECK_INT(usage.held, 1);
	store_usage_cache_stats(cache, &stats);
	CHECK_INT(stats.dir_reads, 3);
	CHECK_INT(stats.cert_reads, 2);

	CHECK_INT(store_usage_count_cached(cache, dir, "t1", "a.test", now,
	    &usage, err, sizeof(err)), 0);
	CHECK_INT(usage.last_hour, 2);
	CHECK_INT(usage.last_day, 4);
	CHECK_INT(usage.held, 1);
	store_usage_cache_stats(cache, &stats);
	CHECK_INT(stats.dir_reads, 3);
	CHECK_INT(stats.cert_reads, 2);
	check_same_as_uncached(dir, now, &usage);

	/* An hour later, the same readings give the moved windows. */
	CHECK_INT(store_usage_count_cached(cache, dir, "t1", "a.test",
	    now + 3600, &usage, err, sizeof(err)), 0);
	CHECK_INT(usage.last_hour, 0);
	CHECK_INT(usage.last_day, 3);
	/* b.test's certificate expired at now + 1000. */
	CHECK_INT(usage.held, 0);
	store_usage_cache_stats(cache, &stats);
	CHECK_INT(stats.dir_reads, 3);
	check_same_as_uncached(dir, now + 3600, &usage);

	/* A count at an earlier now lists the versions again. */
	CHECK_INT(store_usage_count_cached(cache, dir, "t1", "a.test",
	    now - 10, &usage, err, sizeof(err)), 0);
	CHECK_INT(usage.last_hour, 3);
	store_usage_cache_stats(cache, &stats);
	CHECK_INT(stats.dir_reads, 6);
	check_same_as_uncached(dir, now - 10, &usage);
	store_usage_cache_free(cache);
	remove_tree(dir);
}

/* New versions, changed certificates and removed labels are seen. */
static void
test_store_usage_cache_changes(void)
{
	const time_t now = 1800000000;
	char dir[PATH_MAX], path[PATH_MAX + 64], err[512] = "";
	struct store_usage_cache *cache;
	struct store_usage_stats stats;
	struct store_usage usage;

	cache = new_cache_and_store(dir, sizeof(dir));
	if (cache == NULL)
		return;
	make_version(dir, "a.test", 10);
	make_version(dir, "b.test", 3600);
	make_version(dir, "c.test", 86400);
	make_current(dir, "b.test", now + 1000);
	make_current(dir, "c.test", now + 1000);
	backdate_store(dir);
	CHECK_INT(store_usage_count_cached(cache, dir, "t1", "a.test", now,
	    &usage, err, sizeof(err)), 0);
	CHECK_INT(usage.last_hour, 1);
	CHECK_INT(usage.held, 2);

	/* A new version changes the folder's mtime, so it is listed again. */
	make_version(dir, "a.test", 20);
	CHECK_INT(store_usage_count_cached(cache, dir, "t1", "a.test", now,
	    &usage, err, sizeof(err)), 0);
	CHECK_INT(usage.last_hour, 2);
	store_usage_cache_stats(cache, &stats);
	CHECK_INT(stats.dir_reads, 4);
	check_same_as_uncached(dir, now, &usage);

	/* A certificate rewritten in place, with no folder changed. */
	snprintf(path, sizeof(path), "%s/t1/b.test/cur/cert.pem", dir);
	CHECK_INT(write_cert(path, now - 1), 0);
	CHECK_INT(store_usage_count_cached(cache, dir, "t1", "a.test", now,
	    &usage, err, sizeof(err)), 0);
	CHECK_INT(usage.held, 1);
	store_usage_cache_stats(cache, &stats);
	CHECK_INT(stats.cert_reads, 3);
	check_same_as_uncached(dir, now, &usage);

	/* A removed label no longer counts. */
	snprintf(path, sizeof(path), "%s/t1/c.test", dir);
	remove_tree(path);
	CHECK_INT(store_usage_count_cached(cache, dir, "t1", "a.test", now,
	    &usage, err, sizeof(err)), 0);
	CHECK_INT(usage.held, 0);
	CHECK_INT(usage.last_day, 3);
	check_same_as_uncached(dir, now, &usage);

	/* Another tenant of the same cache starts from nothing. */
	CHECK_INT(store_usage_count_cached(cache, dir, "t2", "a.test", now,
	    &usage, err, sizeof(err)), 0);
	CHECK_INT(usage.last_day, 0);
	CHECK_INT(usage.held, 0);
	store_usage_cache_free(cache);
	remove_tree(dir);
}

/* Runs command through the shell in dir. */
static void
run_in(const char *dir, const char *command)
{
	char cmd[PATH_MAX + 512];

	snprintf(cmd, sizeof(cmd), "cd '%s' && %s", dir, command);
	CHECK_INT(system(cmd), 0);
}

/*
 * Sets the times of everything under dir to 10 s ago, so that the
 * cache trusts its next readings.
 */
static void
backdate_tree(const char *dir)
{
	run_in(dir, "find . -exec touch -h -d @$(($(date +%s) - 10)) {} +");
}

/*
 * Counts tenant's store with cache and without it at now, and checks
 * that the two counts match. Returns the cached count in usage.
 */
static void
check_cached_count(struct store_usage_cache *cache, const char *dir,
    const char *tenant, const char *label, time_t now, const char *step,
    struct store_usage *usage)
{
	struct store_usage plain;
	char err[512] = "";

	CHECK_INT(store_usage_count_cached(cache, dir, tenant, label, now,
	    usage, err, sizeof(err)), 0);
	CHECK_INT(store_usage_count(dir, tenant, label, now, &plain, err,
	    sizeof(err)), 0);
	if (usage->held != plain.held || usage->last_hour != plain.last_hour ||
	    usage->last_day != plain.last_day)
		printf("#   after %s (%s, now %lld): cached %ld/%ld/%ld, "
		    "uncached %ld/%ld/%ld (held/hour/day)\n", step, tenant,
		    (long long)now, usage->held, usage->last_hour,
		    usage->last_day, plain.held, plain.last_hour,
		    plain.last_day);
	CHECK_INT(usage->held, plain.held);
	CHECK_INT(usage->last_hour, plain.last_hour);
	CHECK_INT(usage->last_day, plain.last_day);
}

/* Writes STORE/TENANT/LABEL/VERSION/cert.pem, valid until not_after. */
static void
make_stored(const char *dir, const char *tenant, const char *label,
    time_t age, time_t not_after)
{
	char path[PATH_MAX + 256], version[64];

	snprintf(path, sizeof(path), "%s/%s", dir, tenant);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", dir, tenant, label);
	mkdir(path, 0755);
	CHECK_INT(store_version_name(1800000000 - age, "0a", version,
	    sizeof(version)), 0);
	snprintf(path, sizeof(path), "%s/%s/%s/%s", dir, tenant, label,
	    version);
	CHECK_INT(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/%s/%s/%s/cert.pem", dir, tenant,
	    label, version);
	CHECK_INT(write_cert(path, not_after), 0);
}

/*
 * Points STORE/TENANT/LABEL/current at the version stored age seconds
 * ago, through a symlink renamed into place as the store does it.
 */
static void
point_current(const char *dir, const char *tenant, const char *label,
    time_t age)
{
	char link[PATH_MAX + 256], tmp[PATH_MAX + 256], version[64];

	CHECK_INT(store_version_name(1800000000 - age, "0a", version,
	    sizeof(version)), 0);
	snprintf(link, sizeof(link), "%s/%s/%s/current", dir, tenant, label);
	snprintf(tmp, sizeof(tmp), "%s/%s/%s/.current.tmp", dir, tenant,
	    label);
	CHECK_INT(symlink(version, tmp), 0);
	CHECK_INT(rename(tmp, link), 0);
}

/*
 * Every change to the store below is made with all times set back to
 * 10 s ago, so that the cache would reuse a reading it failed to see
 * change. After each, the cached count must match the uncached one.
 */
static void
test_store_usage_cache_sequence(void)
{
	const time_t now = 1800000000;
	const char *odd[] = { "A.test", "a.test", "_wildcard.a.test",
	    "a.test-", "a-.test", "\xc3\xa9.test", "\xff", "0" };
	char dir[PATH_MAX], path[PATH_MAX + 256];
	struct store_usage_cache *cache;
	struct store_usage usage;

	cache = new_cache_and_store(dir, sizeof(dir));
	if (cache == NULL)
		return;
	make_stored(dir, "t1", "a.test", 10, now + 1000);
	make_stored(dir, "t1", "b.test", 100, now + 1000);
	point_current(dir, "t1", "b.test", 100);
	make_stored(dir, "t2", "b.test", 200, now + 1000);
	point_current(dir, "t2", "b.test", 200);
	backdate_tree(dir);
	check_cached_count(cache, dir, "t1", "a.test", now, "first count",
	    &usage);
	CHECK_INT(usage.held, 1);
	CHECK_INT(usage.last_hour, 2);
	check_cached_count(cache, dir, "t2", "a.test", now, "first count",
	    &usage);
	CHECK_INT(usage.held, 1);

	/* A new version whose current expires before now. */
	make_stored(dir, "t1", "b.test", 50, now - 5);
	point_current(dir, "t1", "b.test", 50);
	backdate_tree(dir);
	check_cached_count(cache, dir, "t1", "a.test", now, "new version",
	    &usage);
	CHECK_INT(usage.held, 0);
	CHECK_INT(usage.last_hour, 3);

	/* current swapped back to the older version. */
	point_current(dir, "t1", "b.test", 100);
	backdate_tree(dir);
	check_cached_count(cache, dir, "t1", "a.test", now, "current swapped",
	    &usage);
	CHECK_INT(usage.held, 1);

	/* cert.pem replaced by rename with one that has expired. */
	snprintf(path, sizeof(path), "%s/t1/b.test/current/cert.tmp", dir);
	CHECK_INT(write_cert(path, now - 1), 0);
	run_in(dir, "cd t1/b.test/current && mv cert.tmp cert.pem");
	backdate_tree(dir);
	check_cached_count(cache, dir, "t1", "a.test", now, "cert renamed",
	    &usage);
	CHECK_INT(usage.held, 0);

	/* cert.pem rewritten in place with a later notAfter. */
	snprintf(path, sizeof(path), "%s/t1/b.test/current/cert.pem", dir);
	CHECK_INT(write_cert(path, now + 2000), 0);
	backdate_tree(dir);
	check_cached_count(cache, dir, "t1", "a.test", now,
	    "cert rewritten", &usage);
	CHECK_INT(usage.held, 1);

	/* The label removed and made again with the same name. */
	run_in(dir, "rm -rf t1/b.test");
	make_stored(dir, "t1", "b.test", 7000, now - 1);
	point_current(dir, "t1", "b.test", 7000);
	backdate_tree(dir);
	check_cached_count(cache, dir, "t1", "a.test", now, "label remade",
	    &usage);
	CHECK_INT(usage.held, 0);
	CHECK_INT(usage.last_hour, 1);
	CHECK_INT(usage.last_day, 2);

	/* The label turned into a file, then back into a folder. */
	run_in(dir, "rm -rf t1/b.test && touch t1/b.test");
	backdate_tree(dir);
	check_cached_count(cache, dir, "t1", "a.test", now, "label a file",
	    &usage);
	CHECK_INT(usage.last_day, 1);
	run_in(dir, "rm t1/b.test");
	make_stored(dir, "t1", "b.test", 30, now + 1);
	point_current(dir, "t1", "b.test", 30);
	backdate_tree(dir);
	check_cached_count(cache, dir, "t1", "a.test", now, "label a folder",
	    &usage);
	CHECK_INT(usage.held, 1);

	/* A dangling current, then its version made. */
	point_current(dir, "t1", "b.test", 40);
	backdate_tree(dir);
	check_cached_count(cache, dir, "t1", "a.test", now, "dangling current",
	    &usage);
	CHECK_INT(usage.held, 0);
	make_stored(dir, "t1", "b.test", 40, now + 1);
	backdate_tree(dir);
	check_cached_count(cache, dir, "t1", "a.test", now, "current made",
	    &usage);
	CHECK_INT(usage.held, 1);

	/* Labels whose names sort in odd orders, in both tenants. */
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		make_stored(dir, "t1", odd[i], 60 + (time_t)i, now + 1);
		point_current(dir, "t1", odd[i], 60 + (time_t)i);
		make_stored(dir, "t2", odd[i], 60 + (time_t)i, now + 1);
	}
	backdate_tree(dir);
	check_cached_count(cache, dir, "t1", "a.test", now, "odd labels",
	    &usage);
	CHECK_INT(usage.held, 8);
	check_cached_count(cache, dir, "t2", "\xff", now, "odd labels",
	    &usage);
	CHECK_INT(usage.held, 1);
	run_in(dir, "rm -rf t1/_wildcard.a.test t1/0");
	backdate_tree(dir);
	check_cached_count(cache, dir, "t1", "\xff", now, "odd labels gone",
	    &usage);
	CHECK_INT(usage.held, 6);

	/* now a day later, then an hour back, then before every version. */
	check_cached_count(cache, dir, "t1", "a.test", now + 86400,
	    "a day later", &usage);
	CHECK_INT(usage.last_day, 0);
	check_cached_count(cache, dir, "t1", "a.test", now + 3600,
	    "now back", &usage);
	check_cached_count(cache, dir, "t1", "a.test", now - 86400,
	    "now before the versions", &usage);
	check_cached_count(cache, dir, "t2", "a.test", now + 50,
	    "other tenant", &usage);

	/* The tenant's folder removed and made again. */
	run_in(dir, "rm -rf t1");
	check_cached_count(cache, dir, "t1", "a.test", now, "tenant gone",
	    &usage);
	CHECK_INT(usage.last_day, 0);
	make_stored(dir, "t1", "b.test", 30, now + 1);
	point_current(dir, "t1", "b.test", 30);
	backdate_tree(dir);
	check_cached_count(cache, dir, "t1", "a.test", now, "tenant remade",
	    &usage);
	CHECK_INT(usage.held, 1);
	store_usage_cache_free(cache);
	remove_tree(dir);
}

/*
 * A certificate that cannot be opened for a moment, here because the
 * process has no file descriptor left, counts as held once it can be
 * opened again, although nothing in the store changed.
 */
static void
test_store_usage_cache_read_failure(void)
{
	const time_t now = 1800000000;
	char dir[PATH_MAX], err[512] = "";
	struct store_usage_cache *cache;
	struct store_usage usage;
	struct rlimit saved, low;
	int next_fd, rc;

	cache = new_cache_and_store(dir, sizeof(dir));
	if (cache == NULL)
		return;
	make_stored(dir, "t1", "b.test", 100, now + 1000);
	point_current(dir, "t1", "b.test", 100);
	backdate_tree(dir);

	/* Leaves one descriptor, which the tenant's folder takes. */
	next_fd = dup(0);
	CHECK(next_fd >= 0);
	close(next_fd);
	CHECK_INT(getrlimit(RLIMIT_NOFILE, &saved), 0);
	low = saved;
	low.rlim_cur = (rlim_t)next_fd + 1;
	CHECK_INT(setrlimit(RLIMIT_NOFILE, &low), 0);
	rc = store_usage_count_cached(cache, dir, "t1", "a.test", now, &usage,
	    err, sizeof(err));
	CHECK_INT(setrlimit(RLIMIT_NOFILE, &saved), 0);
	CHECK_INT(rc, 0);
	CHECK_INT(usage.held, 0);

	check_cached_count(cache, dir, "t1", "a.test", now,
	    "a failed open", &usage);
	CHECK_INT(usage.held, 1);
	CHECK_INT(usage.last_hour, 1);
	store_usage_cache_free(cache);
	remove_tree(dir);
}

int
main(void)
{
	RUN(test_store_version_name);
	RUN(test_store_label_wildcard);
	RUN(test_store_writes_files);
	RUN(test_store_replaces_current);
	RUN(test_store_failed_rename_leaves_nothing);
	RUN(test_store_failed_current_rolls_back);
	RUN(test_store_tenants_separate);
	RUN(test_store_missing_parent);
	RUN(test_store_check_writable);
	RUN(test_store_check_missing);
	RUN(test_store_usage_counts);
	RUN(test_store_usage_cache_reuses);
	RUN(test_store_usage_cache_changes);
	RUN(test_store_usage_cache_sequence);
	RUN(test_store_usage_cache_read_failure);
	return check_done();
}
