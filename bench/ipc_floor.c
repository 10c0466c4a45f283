/*
 * Measures the floor of any signer that runs in a process of its own:
 * request and reply round trips over a socketpair between two processes
 * that do no other work. The child reads each request and writes its
 * reply at once. The parent sends the next request only after a reply,
 * because the broker's shared signer connection works that way.
 *
 *	ipc_floor REQUEST-BYTES REPLY-BYTES COUNT
 *
 * Prints one line of NAME=VALUE words: count, seconds (wall time of the
 * loop), per_second, us_per_round_trip and cpu_s (both processes' user
 * and system time). Exit status 0, or 1 with a message.
 *
 * With D the direct C_Sign rate of a key, no such signer can reach a
 * ratio to D above 1 / (1 + D * round trip), whatever it does inside.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FRAME_MAX 65536
#define COUNT_MAX 10000000L

static long
parse_count(const char *text, const char *what, long max)
{
	char *end;
	long value;

	errno = 0;
	value = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || value < 1 ||
	    value > max) {
		fprintf(stderr, "ipc_floor: invalid %s \"%s\": expected a "
		    "number from 1 to %ld\n", what, text, max);
		exit(1);
	}
	return value;
}

/* Reads or writes exactly len bytes. Returns 0, or -1 on error or EOF. */
static int
move_all(int fd, unsigned char *buf, size_t len, int writing)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = writing ? write(fd, buf + done, len - done) :
		    read(fd, buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

static double
cpu_seconds(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

int
main(int argc, char **argv)
{
	static unsigned char buf[FRAME_MAX];
	struct timespec start, end;
	size_t request_len, reply_len;
	long count, i;
	double wall, cpu;
	int sv[2], status;
	pid_t child;

	if (argc != 4) {
		fprintf(stderr, "usage: ipc_floor REQUEST-BYTES REPLY-BYTES "
		    "COUNT\n");
		return 1;
	}
	request_len = (size_t)parse_count(argv[1], "REQUEST-BYTES",
	    FRAME_MAX);
	reply_len = (size_t)parse_count(argv[2], "REPLY-BYTES", FRAME_MAX);
	count = parse_count(argv[3], "COUNT", COUNT_MAX);
	memset(buf, 'x', sizeof(buf));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
		perror("ipc_floor: socketpair");
		return 1;
	}
	child = fork();
	if (child < 0) {
		perror("ipc_floor: fork");
		return 1;
	}
	if (child == 0) {
		close(sv[0]);
		for (i = 0; i < count; i++)
			if (move_all(sv[1], buf, request_len, 0) != 0 ||
			    move_all(sv[1], buf, reply_len, 1) != 0)
				_exit(1);
		_exit(0);
	}
	close(sv[1]);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (i = 0; i < count; i++) {
		if (move_all(sv[0], buf, request_len, 1) != 0 ||
		    move_all(sv[0], buf, reply_len, 0) != 0) {
			fprintf(stderr, "ipc_floor: the echo process closed "
			    "the socket after %ld round trips\n", i);
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &end);
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		fprintf(stderr, "ipc_floor: the echo process failed; "
		    "run it again\n");
		return 1;
	}
	wall = (double)(end.tv_sec - start.tv_sec) +
	    (end.tv_nsec - start.tv_nsec) / 1e9;
	cpu = cpu_seconds(RUSAGE_SELF) + cpu_seconds(RUSAGE_CHILDREN);
	printf("count=%ld seconds=%.3f per_second=%.0f us_per_round_trip=%.2f "
	    "cpu_s=%.3f\n", count, wall, count / wall, wall / count * 1e6,
	    cpu);
	return 0;
}
