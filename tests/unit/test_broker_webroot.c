/*
 * Tests the webroot files of http-01 (broker/challenge_http.c) that the
 * daemon's order threads publish and withdraw at once. The signal handler
 * of `custos issue` removes the published files through the registry of
 * paths that these threads share, so no path may be lost from it.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "broker/challenge_http.h"
#include "tests/unit/check.h"

#define THREADS 8
#define ROUNDS 200

static char webroot[] = "/tmp/custos-test-webroot.XXXXXX";
static char challenge_dir[sizeof(webroot) + 64];

struct worker {
	pthread_t thread;
	int number;
	int failures;
};

/* Counts the files in the acme-challenge folder. */
static int
count_files(void)
{
	DIR *d = opendir(challenge_dir);
	struct dirent *entry;
	int count = 0;

	if (d == NULL)
		return -1;
	while ((entry = readdir(d)) != NULL)
		if (entry->d_name[0] != '.')
			count++;
	closedir(d);
	return count;
}

/* Publishes and withdraws its own tokens, then publishes its share. */
static void *
publish_many(void *arg)
{
	struct worker *w = arg;
	char token[64], err[512];
	int per_thread = CHALLENGE_MAX_TOKENS / THREADS;

	for (int round = 0; round < ROUNDS; round++) {
		snprintf(token, sizeof(token), "round-%d-%d", w->number,
		    round);
		if (challenge_webroot_publish(webroot, token, "ka", err,
		    sizeof(err)) != 0 ||
		    challenge_webroot_withdraw(webroot, token, err,
		    sizeof(err)) != 0)
			w->failures++;
	}
	for (int i = 0; i < per_thread; i++) {
		snprintf(token, sizeof(token), "kept-%d-%d", w->number, i);
		if (challenge_webroot_publish(webroot, token, "ka", err,
		    sizeof(err)) != 0)
			w->failures++;
	}
	return NULL;
}

static void
test_threads_fill_registry(void)
{
	struct worker workers[THREADS] = { 0 };
	char err[512];
	int failures = 0;

	for (int i = 0; i < THREADS; i++) {
		workers[i].number = i;
		CHECK_INT(pthread_create(&workers[i].thread, NULL,
		    publish_many, &workers[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(workers[i].thread, NULL);
		failures += workers[i].failures;
	}
	CHECK_INT(failures, 0);
	CHECK_INT(count_files(), CHALLENGE_MAX_TOKENS);
	/* Every slot is taken, so one more token is rejected. */
	CHECK_INT(challenge_webroot_publish(webroot, "one-more", "ka", err,
	    sizeof(err)), -1);
	CHECK(strstr(err, "more than 128 HTTP-01 tokens") != NULL);
	/* The registry names every file, so the handler removes them all. */
	challenge_webroot_remove_all();
	CHECK_INT(count_files(), 0);
}

int
main(void)
{
	char cmd[sizeof(webroot) + 16];
	int rc;

	if (mkdtemp(webroot) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(challenge_dir, sizeof(challenge_dir),
	    "%s/.well-known/acme-challenge", webroot);
	RUN(test_threads_fill_registry);
	rc = check_done();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", webroot);
	if (system(cmd) != 0)
		rc = 1;
	return rc;
}
