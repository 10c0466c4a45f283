/*
 * Measures the count that a tenant with max-certificates or rate pays
 * before each order: store_usage_count over STORE/TENANT, RUNS times
 * without the daemon's cache, then once to fill a cache and RUNS times
 * more with it. The counts with a filled cache read only what changed.
 *
 *	usage_count STORE TENANT RUNS
 *
 * Prints one line of NAME=VALUE words: held, uncached_ms (median of RUNS
 * counts), cached_first_ms, cached_ms (median of RUNS counts after the
 * first), dir_reads and cert_reads (of the cached counts after the
 * first), and cache_kib, the heap that the filled cache uses (glibc's
 * mallinfo2). Exit status 0, or 1 with a message.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "broker/store_usage.h"

#define RUNS_MAX 1000

/* A LABEL that no store has, so that every current certificate counts. */
#define OTHER_LABEL "usage-count.invalid"

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(double *values, long count)
{
	qsort(values, (size_t)count, sizeof(*values), compare_doubles);
	return count % 2 != 0 ? values[count / 2] :
	    (values[count / 2 - 1] + values[count / 2]) / 2;
}

/* Runs one count and returns its milliseconds, or -1 with a message. */
static double
timed_count(struct store_usage_cache *cache, const char *store,
    const char *tenant, struct store_usage *usage)
{
	char err[512];
	double start = now_ms();

	if (store_usage_count_cached(cache, store, tenant, OTHER_LABEL,
	    time(NULL), usage, err, sizeof(err)) != 0) {
		fprintf(stderr, "usage_count: %s\n", err);
		return -1;
	}
	return now_ms() - start;
}

int
main(int argc, char **argv)
{
	static double uncached[RUNS_MAX], cached[RUNS_MAX];
	struct store_usage_cache *cache;
	struct store_usage_stats before, after;
	struct store_usage usage;
	size_t heap_before, heap_after;
	double first;
	char *end;
	long runs;

	if (argc != 4) {
		fprintf(stderr, "usage: usage_count STORE TENANT RUNS\n");
		return 1;
	}
	errno = 0;
	runs = strtol(argv[3], &end, 10);
	if (errno != 0 || *end != '\0' || runs < 1 || runs > RUNS_MAX) {
		fprintf(stderr, "usage_count: invalid RUNS \"%s\": expected a "
		    "number from 1 to %d\n", argv[3], RUNS_MAX);
		return 1;
	}
	for (long i = 0; i < runs; i++)
		if ((uncached[i] = timed_count(NULL, argv[1], argv[2],
		    &usage)) < 0)
			return 1;
	heap_before = mallinfo2().uordblks;
	cache = store_usage_cache_new();
	if (cache == NULL) {
		fprintf(stderr, "usage_count: out of memory\n");
		return 1;
	}
	first = timed_count(cache, argv[1], argv[2], &usage);
	store_usage_cache_stats(cache, &before);
	for (long i = 0; first >= 0 && i < runs; i++)
		if ((cached[i] = timed_count(cache, argv[1], argv[2],
		    &usage)) < 0)
			first = -1;
	store_usage_cache_stats(cache, &after);
	heap_after = mallinfo2().uordblks;
	store_usage_cache_free(cache);
	if (first < 0)
		return 1;
	printf("held=%ld uncached_ms=%.2f cached_first_ms=%.2f cached_ms=%.2f "
	    "dir_reads=%ld cert_reads=%ld cache_kib=%zu\n", usage.held,
	    median(uncached, runs), first, median(cached, runs),
	    after.dir_reads - before.dir_reads,
	    after.cert_reads - before.cert_reads,
	    heap_after > heap_before ? (heap_after - heap_before) / 1024 : 0);
	return 0;
}
