/*
 * A minimal unit-test harness. Each test is a function; each failed CHECK
 * prints the expression, file and line, and marks the test failed. Output
 * is TAP ("ok N - name", "not ok N - name"), which tests/run.sh counts.
 *
 *	static void test_frame_roundtrip(void) { CHECK(x == 1); }
 *	int main(void) { RUN(test_frame_roundtrip); return check_done(); }
 */
#ifndef CUSTOS_CHECK_H
#define CUSTOS_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failed_in_test;
static int check_test_count;
static int check_failures;

#define CHECK(expr) do {						\
	if (!(expr)) {							\
		printf("#   %s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #expr);					\
		check_failed_in_test = 1;				\
	}								\
} while (0)

#define CHECK_STR(actual, expected) do {				\
	const char *check_a_ = (actual), *check_e_ = (expected);	\
	if (check_a_ == NULL || strcmp(check_a_, check_e_) != 0) {	\
		printf("#   %s:%d: %s is \"%s\", expected \"%s\"\n",	\
		    __FILE__, __LINE__, #actual,			\
		    check_a_ ? check_a_ : "(null)", check_e_);		\
		check_failed_in_test = 1;				\
	}								\
} while (0)

#define CHECK_INT(actual, expected) do {				\
	long long check_a_ = (long long)(actual);			\
	long long check_e_ = (long long)(expected);			\
	if (check_a_ != check_e_) {					\
		printf("#   %s:%d: %s is %lld, expected %lld\n",	\
		    __FILE__, __LINE__, #actual, check_a_, check_e_);	\
		check_failed_in_test = 1;				\
	}								\
} while (0)

#define RUN(fn) do {							\
	check_failed_in_test = 0;					\
	fn();								\
	check_test_count++;						\
	if (check_failed_in_test)					\
		check_failures++;					\
	printf("%s %d - %s\n", check_failed_in_test ? "not ok" : "ok",	\
	    check_test_count, #fn);					\
	fflush(stdout);							\
} while (0)

static inline int
check_done(void)
{
	printf("1..%d\n", check_test_count);
	return check_failures == 0 ? 0 : 1;
}

#endif
