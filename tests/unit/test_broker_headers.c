/* Tests for broker/headers.c: Retry-After, Link, Replay-Nonce and
 * Content-Type. */
#include <string.h>

#include "broker/headers.h"
#include "tests/unit/check.h"

/* Sun, 06 Nov 1994 08:49:37 GMT, the example date of RFC 9110. */
#define EXAMPLE_TIME ((time_t)784111777)

static void
test_retry_after_seconds(void)
{
	long s = -1;

	CHECK_INT(header_retry_after("120", 0, 600, &s), 0);
	CHECK_INT(s, 120);
	CHECK_INT(header_retry_after("0", 0, 600, &s), 0);
	CHECK_INT(s, 0);
	CHECK_INT(header_retry_after("007", 0, 600, &s), 0);
	CHECK_INT(s, 7);
}

static void
test_retry_after_capped(void)
{
	long s = -1;

	CHECK_INT(header_retry_after("86400", 0, 600, &s), 0);
	CHECK_INT(s, 600);
	CHECK_INT(header_retry_after("2147483648", 0, 600, &s), 0);
	CHECK_INT(s, 600);
}

static void
test_retry_after_rejects_bad_values(void)
{
	static const char *const bad[] = {
		"-5", "+5", "", "garbage", "12abc", "1.5", "5 ", "0x10",
		"99999999999999999999999999", "Sun, 99 Nov 1994 08:49:37 GMT",
		"Sun, 06 Nov", NULL,
	};
	long s;

	for (size_t i = 0; bad[i] != NULL; i++) {
		s = 12345;
		if (header_retry_after(bad[i], EXAMPLE_TIME, 600, &s) != -1)
			printf("#   accepted \"%s\"\n", bad[i]);
		CHECK_INT(header_retry_after(bad[i], EXAMPLE_TIME, 600, &s),
		    -1);
		CHECK_INT(s, 12345);
	}
}

static void
test_retry_after_imf_fixdate(void)
{
	long s = -1;

	CHECK_INT(header_retry_after("Sun, 06 Nov 1994 08:49:37 GMT",
	    EXAMPLE_TIME - 30, 600, &s), 0);
	CHECK_INT(s, 30);
}

static void
test_retry_after_rfc850_date(void)
{
	long s = -1;

	CHECK_INT(header_retry_after("Sunday, 06-Nov-94 08:49:37 GMT",
	    EXAMPLE_TIME - 45, 600, &s), 0);
	CHECK_INT(s, 45);
}

static void
test_retry_after_asctime_date(void)
{
	long s = -1;

	CHECK_INT(header_retry_after("Sun Nov  6 08:49:37 1994",
	    EXAMPLE_TIME - 5, 600, &s), 0);
	CHECK_INT(s, 5);
}

static void
test_retry_after_past_date(void)
{
	long s = -1;

	CHECK_INT(header_retry_after("Sun, 06 Nov 1994 08:49:37 GMT",
	    EXAMPLE_TIME + 3600, 600, &s), 0);
	CHECK_INT(s, 0);
}

static void
test_retry_after_far_date_capped(void)
{
	long s = -1;

	CHECK_INT(header_retry_after("Sun, 06 Nov 1994 08:49:37 GMT",
	    EXAMPLE_TIME - 7 * 86400, 600, &s), 0);
	CHECK_INT(s, 600);
}

static void
test_link_single_up(void)
{
	struct string_list list = { 0 };

	CHECK_INT(header_link_collect("<https://ca.test/acme/authz/1>;"
	    "rel=\"up\"", "up", &list), 0);
	CHECK_INT(list.count, 1);
	if (list.count == 1)
		CHECK_STR(list.items[0], "https://ca.test/acme/authz/1");
	string_list_clear(&list);
}

static void
test_link_several_in_one_field(void)
{
	struct string_list list = { 0 };

	CHECK_INT(header_link_collect("<https://ca.test/cert/1/0>;"
	    "rel=\"alternate\", <https://ca.test/dir>;rel=\"index\", "
	    "<https://ca.test/cert/1/1> ; rel=alternate", "alternate",
	    &list), 0);
	CHECK_INT(list.count, 2);
	if (list.count == 2) {
		CHECK_STR(list.items[0], "https://ca.test/cert/1/0");
		CHECK_STR(list.items[1], "https://ca.test/cert/1/1");
	}
	string_list_clear(&list);
}

static void
test_link_several_fields(void)
{
	struct string_list list = { 0 };

	CHECK_INT(header_link_collect("<https://ca.test/a>;rel=\"up\"", "up",
	    &list), 0);
	CHECK_INT(header_link_collect("<https://ca.test/b>;rel=\"up\"", "up",
	    &list), 0);
	CHECK_INT(list.count, 2);
	if (list.count == 2)
		CHECK_STR(list.items[1], "https://ca.test/b");
	string_list_clear(&list);
}

static void
test_link_rel_list_and_case(void)
{
	struct string_list list = { 0 };

	CHECK_INT(header_link_collect("<https://ca.test/a>; title=\"a, b; c\";"
	    " rel=\"index UP\"", "up", &list), 0);
	CHECK_INT(list.count, 1);
	CHECK_INT(header_link_collect("<https://ca.test/b>;rel=\"upper\"",
	    "up", &list), 0);
	CHECK_INT(list.count, 1);
	string_list_clear(&list);
}

static void
test_link_rejects_malformed(void)
{
	static const char *const bad[] = {
		"https://ca.test/a; rel=up",
		"<https://ca.test/a",
		"<https://ca.test/a>; rel=\"up",
		"<https://ca.test/a> rel=up",
		"<https://ca.test/a>;=up",
		NULL,
	};
	struct string_list list = { 0 };

	for (size_t i = 0; bad[i] != NULL; i++)
		CHECK_INT(header_link_collect(bad[i], "up", &list), -1);
	CHECK_INT(list.count, 0);
	string_list_clear(&list);
}

static void
test_nonce_valid(void)
{
	char longest[HEADER_NONCE_MAX_LEN + 1];

	memset(longest, 'A', HEADER_NONCE_MAX_LEN);
	longest[HEADER_NONCE_MAX_LEN] = '\0';
	CHECK_INT(header_nonce_is_valid("oFvnlFP1wIhRlYS2jTaXbA"), 1);
	CHECK_INT(header_nonce_is_valid("ab-_"), 1);
	CHECK_INT(header_nonce_is_valid("AB"), 1);
	CHECK_INT(header_nonce_is_valid(longest), 1);
}

static void
test_nonce_invalid(void)
{
	char too_long[HEADER_NONCE_MAX_LEN + 5];

	memset(too_long, 'A', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';
	CHECK_INT(header_nonce_is_valid(""), 0);
	CHECK_INT(header_nonce_is_valid("abc="), 0);
	CHECK_INT(header_nonce_is_valid("ab+/"), 0);
	CHECK_INT(header_nonce_is_valid("ab cd"), 0);
	CHECK_INT(header_nonce_is_valid("abcde"), 0);
	CHECK_INT(header_nonce_is_valid("a"), 0);
	CHECK_INT(header_nonce_is_valid(too_long), 0);
}

static void
test_media_type_ignores_parameters(void)
{
	CHECK_INT(header_media_type_is("application/problem+json; "
	    "charset=utf-8", "application/problem+json"), 1);
	CHECK_INT(header_media_type_is("application/json;charset=UTF-8",
	    "application/json"), 1);
	CHECK_INT(header_media_type_is("application/json ; q=1",
	    "application/json"), 1);
	CHECK_INT(header_media_type_is("application/json",
	    "application/json"), 1);
}

static void
test_media_type_ignores_case(void)
{
	CHECK_INT(header_media_type_is("Application/Problem+JSON",
	    "application/problem+json"), 1);
}

static void
test_media_type_mismatch(void)
{
	CHECK_INT(header_media_type_is("application/problem+jsonx",
	    "application/problem+json"), 0);
	CHECK_INT(header_media_type_is("application/json",
	    "application/problem+json"), 0);
	CHECK_INT(header_media_type_is("text/html; a=application/json",
	    "application/json"), 0);
	CHECK_INT(header_media_type_is("", "application/json"), 0);
	CHECK_INT(header_media_type_is("application/json x",
	    "application/json"), 0);
}

int
main(void)
{
	RUN(test_retry_after_seconds);
	RUN(test_retry_after_capped);
	RUN(test_retry_after_rejects_bad_values);
	RUN(test_retry_after_imf_fixdate);
	RUN(test_retry_after_rfc850_date);
	RUN(test_retry_after_asctime_date);
	RUN(test_retry_after_past_date);
	RUN(test_retry_after_far_date_capped);
	RUN(test_link_single_up);
	RUN(test_link_several_in_one_field);
	RUN(test_link_several_fields);
	RUN(test_link_rel_list_and_case);
	RUN(test_link_rejects_malformed);
	RUN(test_nonce_valid);
	RUN(test_nonce_invalid);
	RUN(test_media_type_ignores_parameters);
	RUN(test_media_type_ignores_case);
	RUN(test_media_type_mismatch);
	return check_done();
}
