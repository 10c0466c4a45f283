#ifndef CUSTOS_BROKER_RUN_LOCK_H
#define CUSTOS_BROKER_RUN_LOCK_H

#include <stddef.h>

/*
 * The exclusive lock on broker.state-dir/custos.lock that serialises the
 * processes using one token and one state directory: SoftHSM2 is not safe
 * for several processes that write one token. `custos issue` holds it for
 * its whole run and the daemon's supervisor for as long as it runs.
 */

#define RUN_LOCK_FILE "custos.lock"
/* How long `custos issue` waits for another `custos issue` to finish. */
#define RUN_LOCK_WAIT_SECONDS 600

enum run_lock_holder {
	RUN_LOCK_ISSUE,
	RUN_LOCK_DAEMON,
};

/*
 * Takes the lock for holder and returns its descriptor, which the caller
 * keeps open (close-on-exec) until it is done. An issue run waits, with
 * one message, while another issue run holds the lock, but fails at once
 * when a daemon holds it. A daemon fails at once while anything holds it.
 * Returns -1 with a one-line message in err.
 */
int run_lock_acquire(const char *state_dir, enum run_lock_holder holder,
    char *err, size_t errlen);

#endif
