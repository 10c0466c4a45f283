/*
 * Renewal time, retry backoff and order deadline arithmetic.
 */
#include "broker/scheduler.h"
#include "tests/unit/check.h"

#define DAY 86400

static struct config_daemon
defaults(void)
{
	struct config_daemon d = {
		.renew_fraction = 666,
		.renew_jitter = 0,
		.retry_base = 60,
		.retry_max = 3600,
		.order_deadline = 3600,
		.restart_max = 300,
	};

	return d;
}

static void
test_renewal_two_thirds(void)
{
	struct config_daemon d = defaults();

	/* 90 days: 666/1000 of 7776000 s is 5178816 s. */
	CHECK_INT(sched_renewal_time(&d, 1000, 1000 + 90 * DAY, 0.0),
	    1000 + 5178816);
}

static void
test_renewal_fraction_half(void)
{
	struct config_daemon d = defaults();

	d.renew_fraction = 500;
	CHECK_INT(sched_renewal_time(&d, 0, 10 * DAY, 0.0), 5 * DAY);
}

static void
test_renewal_before_expiry(void)
{
	struct config_daemon d = defaults();

	d.renew_before = 30 * DAY;
	CHECK_INT(sched_renewal_time(&d, 0, 90 * DAY, 0.0), 60 * DAY);
}

static void
test_renewal_jitter_advances(void)
{
	struct config_daemon d = defaults();

	d.renew_fraction = 500;
	d.renew_jitter = 3600;
	CHECK_INT(sched_renewal_time(&d, 0, 10 * DAY, 0.5), 5 * DAY - 1800);
	CHECK_INT(sched_renewal_time(&d, 0, 10 * DAY, 0.999),
	    5 * DAY - 3596);
}

static void
test_renewal_never_before_start(void)
{
	struct config_daemon d = defaults();

	/* renew-before longer than the lifetime: due at once. */
	d.renew_before = 365 * DAY;
	CHECK_INT(sched_renewal_time(&d, 5000, 5000 + 90 * DAY, 0.0), 5000);
	d.renew_before = 0;
	d.renew_jitter = 7 * DAY;
	CHECK_INT(sched_renewal_time(&d, 5000, 5000 + 60, 0.9), 5000);
}

static void
test_renewal_inverted_validity(void)
{
	struct config_daemon d = defaults();

	CHECK_INT(sched_renewal_time(&d, 2000, 1000, 0.0), 2000);
}

static void
test_retry_doubles(void)
{
	struct config_daemon d = defaults();

	/* random 0.0 gives the lower half: delay / 2. */
	CHECK_INT(sched_retry_delay(&d, 1, -1, 0.0), 30);
	CHECK_INT(sched_retry_delay(&d, 2, -1, 0.0), 60);
	CHECK_INT(sched_retry_delay(&d, 3, -1, 0.0), 120);
	CHECK_INT(sched_retry_delay(&d, 4, -1, 0.0), 240);
}

static void
test_retry_jitter_range(void)
{
	struct config_daemon d = defaults();

	CHECK_INT(sched_retry_delay(&d, 1, -1, 0.5), 45);
	CHECK_INT(sched_retry_delay(&d, 1, -1, 0.9999), 59);
}

static void
test_retry_capped(void)
{
	struct config_daemon d = defaults();

	CHECK_INT(sched_retry_delay(&d, 7, -1, 0.0), 1800);
	CHECK_INT(sched_retry_delay(&d, 50, -1, 0.0), 1800);
	CHECK_INT(sched_retry_delay(&d, 1000000, -1, 0.9999), 3599);
}

static void
test_retry_after_honoured(void)
{
	struct config_daemon d = defaults();

	CHECK_INT(sched_retry_delay(&d, 1, 600, 0.0), 600);
	/* A shorter Retry-After does not shorten the backoff. */
	CHECK_INT(sched_retry_delay(&d, 3, 10, 0.0), 120);
	CHECK_INT(sched_retry_delay(&d, 1, 0, 0.0), 30);
}

static void
test_retry_after_capped(void)
{
	struct config_daemon d = defaults();

	CHECK_INT(sched_retry_delay(&d, 1, 10 * DAY, 0.0),
	    SCHED_RETRY_AFTER_MAX);
}

static void
test_retry_tiny_base(void)
{
	struct config_daemon d = defaults();

	d.retry_base = 1;
	d.retry_max = 1;
	CHECK_INT(sched_retry_delay(&d, 1, -1, 0.0), 1);
	CHECK_INT(sched_retry_delay(&d, 9, -1, 0.99), 1);
}

static void
test_restart_delay(void)
{
	struct config_daemon d = defaults();

	CHECK_INT(sched_restart_delay(&d, 1), 1);
	CHECK_INT(sched_restart_delay(&d, 2), 2);
	CHECK_INT(sched_restart_delay(&d, 9), 256);
	CHECK_INT(sched_restart_delay(&d, 10), 300);
	CHECK_INT(sched_restart_delay(&d, 100000), 300);
}

static void
test_order_deadline(void)
{
	struct config_daemon d = defaults();

	CHECK_INT(sched_order_expired(&d, 1000, 1000 + 3600), 0);
	CHECK_INT(sched_order_expired(&d, 1000, 1000 + 3601), 1);
}

static void
test_random_range(void)
{
	double r;
	int i;

	for (i = 0; i < 1000; i++) {
		r = sched_random();
		CHECK(r >= 0.0);
		CHECK(r < 1.0);
	}
}

int
main(void)
{
	RUN(test_renewal_two_thirds);
	RUN(test_renewal_fraction_half);
	RUN(test_renewal_before_expiry);
	RUN(test_renewal_jitter_advances);
	RUN(test_renewal_never_before_start);
	RUN(test_renewal_inverted_validity);
	RUN(test_retry_doubles);
	RUN(test_retry_jitter_range);
	RUN(test_retry_capped);
	RUN(test_retry_after_honoured);
	RUN(test_retry_after_capped);
	RUN(test_retry_tiny_base);
	RUN(test_restart_delay);
	RUN(test_order_deadline);
	RUN(test_random_range);
	return check_done();
}
