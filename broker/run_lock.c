/*
 * The run lock: flock(2) on broker.state-dir/custos.lock. The holder
 * writes "issue PID" or "daemon PID" into the file, so that a process that
 * finds the lock taken can name the holder. flock locks belong to the
 * open file description, so the daemon's forked worker shares the
 * supervisor's lock, and the kernel releases it when the holder exits.
 */
#include "broker/run_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "logging/log.h"

#define RUN_LOCK_POLL_NS (200 * 1000 * 1000)

static const char *const holder_names[] = {
	[RUN_LOCK_ISSUE] = "issue",
	[RUN_LOCK_DAEMON] = "daemon",
};

/*
 * Opens the lock file, creating it readable by all so that a process
 * running as the broker user can wait on it too. A read-only descriptor
 * is enough for flock; only the holder note then goes unwritten.
 */
static int
open_lock_file(const char *path, char *err, size_t errlen)
{
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 && errno == EACCES)
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		snprintf(err, errlen, "cannot open lock file %s: %s (check "
		    "broker state-dir and its permissions)", path,
		    strerror(errno));
	return fd;
}

/* Reads the holder note; returns 1 when a daemon holds the lock. */
static int
read_holder(int fd, long *pid)
{
	char note[64];
	ssize_t n;

	*pid = 0;
	n = pread(fd, note, sizeof(note) - 1, 0);
	if (n <= 0)
		return 0;
	note[n] = '\0';
	if (sscanf(note, "daemon %ld", pid) == 1)
		return 1;
	if (sscanf(note, "issue %ld", pid) != 1)
		*pid = 0;
	return 0;
}

static void
write_holder(int fd, enum run_lock_holder holder)
{
	char note[64];
	int len;

	len = snprintf(note, sizeof(note), "%s %ld\n", holder_names[holder],
	    (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, note, (size_t)len, 0) != len)
		log_debug("cannot write the run lock's holder note: %s",
		    strerror(errno));
}

/* Reports a daemon that holds the lock; returns -1. */
static int
daemon_running(const char *path, long pid, char *err, size_t errlen)
{
	snprintf(err, errlen, "custos daemon (pid %ld) is running on this "
	    "state directory and holds %s; use custos cert add to have the "
	    "daemon issue the certificate, or stop the daemon first", pid,
	    path);
	return -1;
}

/* Waits for a lock that another `custos issue` holds. */
static int
wait_for_issue(int fd, const char *path, char *err, size_t errlen)
{
	struct timespec tick = { 0, RUN_LOCK_POLL_NS };
	time_t deadline = time(NULL) + RUN_LOCK_WAIT_SECONDS;
	int announced = 0;
	long pid;

	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			break;
		if (read_holder(fd, &pid))
			return daemon_running(path, pid, err, errlen);
		if (!announced) {
			log_info("waiting for another custos issue to finish "
			    "(pid %ld holds %s, waiting up to %d s)", pid,
			    path, RUN_LOCK_WAIT_SECONDS);
			announced = 1;
		}
		if (time(NULL) >= deadline) {
			snprintf(err, errlen, "another custos issue still "
			    "holds %s after %d s; try again when it has "
			    "finished", path, RUN_LOCK_WAIT_SECONDS);
			return -1;
		}
		nanosleep(&tick, NULL);
	}
	snprintf(err, errlen, "locking %s failed: %s", path, strerror(errno));
	return -1;
}

int
run_lock_acquire(const char *state_dir, enum run_lock_holder holder,
    char *err, size_t errlen)
{
	char *path = NULL;
	long pid;
	int fd = -1, rc = -1;

	if (asprintf(&path, "%s/%s", state_dir, RUN_LOCK_FILE) < 0) {
		path = NULL;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	fd = open_lock_file(path, err, errlen);
	if (fd < 0)
		goto out;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		rc = 0;
	else if (errno != EWOULDBLOCK)
		snprintf(err, errlen, "locking %s failed: %s", path,
		    strerror(errno));
	else if (holder == RUN_LOCK_ISSUE)
		rc = wait_for_issue(fd, path, err, errlen);
	else if (read_holder(fd, &pid))
		snprintf(err, errlen, "another custos daemon (pid %ld) is "
		    "already running on this state directory", pid);
	else
		snprintf(err, errlen, "custos issue (pid %ld) holds %s; start "
		    "the daemon when it has finished", pid, path);
	if (rc == 0)
		write_holder(fd, holder);
out:
	if (rc != 0 && fd >= 0) {
		close(fd);
		fd = -1;
	}
	free(path);
	return fd;
}
