/*
 * The daemon's timing arithmetic: when a certificate is due for renewal
 * and how long a failed attempt waits before the next. Every function is
 * pure; the caller passes the random number, so that tests can fix it.
 * Times are Unix seconds.
 */
#ifndef CUSTOS_BROKER_SCHEDULER_H
#define CUSTOS_BROKER_SCHEDULER_H

#include <stdint.h>

#include "config/config.h"

/* Retry-After values above this many seconds are capped to it. */
#define SCHED_RETRY_AFTER_MAX 86400

/*
 * Returns the renewal time of a certificate valid from not_before to
 * not_after: not_after - renew_before when renew_before is set, else
 * not_before plus renew_fraction thousandths of the lifetime. It is then
 * advanced by random * renew_jitter seconds (random in [0, 1)), but never
 * before not_before.
 */
int64_t sched_renewal_time(const struct config_daemon *daemon,
    int64_t not_before, int64_t not_after, double random);

/*
 * Returns the delay in seconds before retry number failures (1 for the
 * first failure): retry_base doubled per earlier failure, capped at
 * retry_max, then scaled into [1/2, 1] of itself by random in [0, 1). A
 * retry_after of 0 or more (seconds, from the CA) raises the delay to at
 * least that, capped at SCHED_RETRY_AFTER_MAX.
 */
int64_t sched_retry_delay(const struct config_daemon *daemon, int failures,
    int64_t retry_after, double random);

/* Returns the signer restart delay: 1 s doubled per failure, capped. */
int64_t sched_restart_delay(const struct config_daemon *daemon,
    int failures);

/* Returns 1 when an order created at created has passed the deadline. */
int sched_order_expired(const struct config_daemon *daemon, int64_t created,
    int64_t now);

/* Returns a random number in [0, 1) from the system's generator. */
double sched_random(void);

#endif
