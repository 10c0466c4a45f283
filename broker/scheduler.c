#include "broker/scheduler.h"

#include <stdint.h>
#include <sys/random.h>

int64_t
sched_renewal_time(const struct config_daemon *daemon, int64_t not_before,
    int64_t not_after, double random)
{
	int64_t lifetime = not_after - not_before, when;

	if (lifetime < 0)
		lifetime = 0;
	if (daemon->renew_before > 0)
		when = not_after - daemon->renew_before;
	else
		when = not_before + lifetime * daemon->renew_fraction / 1000;
	when -= (int64_t)(random * daemon->renew_jitter);
	return when < not_before ? not_before : when;
}

int64_t
sched_retry_delay(const struct config_daemon *daemon, int failures,
    int64_t retry_after, double random)
{
	int64_t delay = daemon->retry_base;
	int i;

	for (i = 1; i < failures && delay < daemon->retry_max; i++)
		delay *= 2;
	if (delay > daemon->retry_max)
		delay = daemon->retry_max;

	/* Half fixed, half random, so that retries of many spread out. */
	delay = delay / 2 + (int64_t)(random * (double)(delay - delay / 2));
	if (delay < 1)
		delay = 1;
	if (retry_after > SCHED_RETRY_AFTER_MAX)
		retry_after = SCHED_RETRY_AFTER_MAX;
	return retry_after > delay ? retry_after : delay;
}

int64_t
sched_restart_delay(const struct config_daemon *daemon, int failures)
{
	int64_t delay = 1;
	int i;

	for (i = 1; i < failures && delay < daemon->restart_max; i++)
		delay *= 2;
	return delay > daemon->restart_max ? daemon->restart_max : delay;
}

int
sched_order_expired(const struct config_daemon *daemon, int64_t created,
    int64_t now)
{
	return now - created > daemon->order_deadline;
}

double
sched_random(void)
{
	uint32_t value;

	if (getrandom(&value, sizeof(value), 0) != sizeof(value))
		return 0.5;
	return value / 4294967296.0;
}
