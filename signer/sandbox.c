/*
 * The signer's sandbox, entered after the token login and before the
 * first byte from the broker. It drops to an unprivileged user, limits
 * resources and forbids new privileges and core dumps. Then Landlock
 * (landlock.c) confines its files, and last, a seccomp allowlist kills
 * the process on any system call it does not list. The environment is
 * cleared earlier, before the PKCS#11 module is loaded.
 */
#include "signer.h"

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "logging/log.h"

/* Variable that lists more environment names for the module to see. */
#define KEEP_ENV_LIST "CUSTOS_SIGNER_KEEP_ENV"
#define KEEP_ENV_MAX 1024
#define KEEP_ENV_COUNT 16
/* Descriptors allowed above the highest one open at sandbox entry. */
#define NOFILE_SPARE 8

#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_ASAN 1
#endif
#endif

/*
 * Switches to user when running as root; otherwise keeps the current
 * user. Returns 0, or -1 with err set.
 */
int
sandbox_drop_privileges(const char *user, char *err, size_t errlen)
{
	struct passwd *pw;
	uid_t uid;
	gid_t gid;

	if (geteuid() != 0)
		return 0;
	errno = 0;
	pw = getpwnam(user);
	if (pw == NULL) {
		snprintf(err, errlen, "user '%s' not found (run useradd "
		    "--system --no-create-home %s, or set signer.user)", user,
		    user);
		return -1;
	}
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (uid == 0) {
		snprintf(err, errlen, "signer.user '%s' is root; choose an "
		    "unprivileged user", user);
		return -1;
	}
	if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
		snprintf(err, errlen, "switching to user '%s' failed: %s",
		    user, strerror(errno));
		return -1;
	}
	/* With every id changed, neither root id may be taken back. */
	if (setuid(0) == 0 || setgid(0) == 0 || getuid() != uid ||
	    geteuid() != uid || getgid() != gid || getegid() != gid) {
		snprintf(err, errlen, "privileges of root could be regained "
		    "after switching to user '%s'", user);
		return -1;
	}
	return 0;
}

/*
 * Clears the environment before the PKCS#11 module is loaded, so that
 * nothing the broker inherited reaches the module, OpenSSL or libp11.
 * It keeps SOFTHSM2_CONF and each name listed, separated by spaces, in
 * CUSTOS_SIGNER_KEEP_ENV (for another module's variables). Returns 0, or
 * -1 with err set.
 */
int
sandbox_clear_environment(char *err, size_t errlen)
{
	const char *list = getenv(KEEP_ENV_LIST);
	char names[sizeof("SOFTHSM2_CONF ") + KEEP_ENV_MAX];
	char *values[KEEP_ENV_COUNT] = { NULL };
	const char *kept[KEEP_ENV_COUNT];
	char *name, *save = NULL;
	size_t i, count = 0;
	int rc = -1;

	if (list != NULL && strlen(list) > KEEP_ENV_MAX) {
		snprintf(err, errlen, "%s is longer than %d bytes",
		    KEEP_ENV_LIST, KEEP_ENV_MAX);
		return -1;
	}
	snprintf(names, sizeof(names), "SOFTHSM2_CONF %s", list ? list : "");
	for (name = strtok_r(names, " ", &save); name != NULL;
	    name = strtok_r(NULL, " ", &save)) {
		if (count == KEEP_ENV_COUNT) {
			snprintf(err, errlen, "%s names more than %d "
			    "variables", KEEP_ENV_LIST, KEEP_ENV_COUNT - 1);
			goto out;
		}
		kept[count] = name;
		values[count] = getenv(name);
		if (values[count] != NULL &&
		    (values[count] = strdup(values[count])) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		count++;
	}
	if (clearenv() != 0) {
		snprintf(err, errlen, "clearing the environment failed");
		goto out;
	}
	for (i = 0; i < count; i++) {
		if (values[i] != NULL && setenv(kept[i], values[i], 1) != 0) {
			snprintf(err, errlen, "keeping environment variable "
			    "%s failed: %s", kept[i], strerror(errno));
			goto out;
		}
	}
	rc = 0;
out:
	for (i = 0; i < count; i++)
		free(values[i]);
	return rc;
}

/* Returns the highest open descriptor, or -1 with err set. */
static int
highest_open_fd(char *err, size_t errlen)
{
	struct dirent *entry;
	DIR *dir;
	long fd, highest = -1;

	dir = opendir("/proc/self/fd");
	if (dir == NULL) {
		snprintf(err, errlen, "cannot list /proc/self/fd: %s",
		    strerror(errno));
		return -1;
	}
	while ((entry = readdir(dir)) != NULL) {
		fd = strtol(entry->d_name, NULL, 10);
		if (entry->d_name[0] != '.' && fd > highest &&
		    fd != dirfd(dir))
			highest = fd;
	}
	closedir(dir);
	return (int)highest;
}

/*
 * Sets RLIMIT_NOFILE just above the descriptors open now. Under strace,
 * SoftHSM2 2.6.1 held at most two files open at once (an object and its
 * lock file), and listing the token directory takes one more, so
 * NOFILE_SPARE leaves room for that and a little more.
 */
static int
limit_descriptors(char *err, size_t errlen)
{
	struct rlimit limit;
	int highest = highest_open_fd(err, errlen);

	if (highest < 0)
		return -1;
	limit.rlim_cur = limit.rlim_max = (rlim_t)highest + 1 + NOFILE_SPARE;
	if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
		snprintf(err, errlen, "setting RLIMIT_NOFILE to %llu failed: "
		    "%s", (unsigned long long)limit.rlim_cur, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Forbids core dumps, new processes, new privileges and ptrace attachment
 * by other processes of the same user, and caps open descriptors. Returns
 * 0, or -1 with err set.
 */
int
sandbox_set_limits(char *err, size_t errlen)
{
	const struct rlimit zero = { 0, 0 };

	if (limit_descriptors(err, errlen) != 0)
		return -1;
	if (setrlimit(RLIMIT_CORE, &zero) != 0) {
		snprintf(err, errlen, "setting RLIMIT_CORE failed: %s",
		    strerror(errno));
		return -1;
	}
	/* The filter forbids fork too; this limit is a second barrier. */
	if (setrlimit(RLIMIT_NPROC, &zero) != 0) {
		snprintf(err, errlen, "setting RLIMIT_NPROC failed: %s",
		    strerror(errno));
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		snprintf(err, errlen, "prctl failed: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * The allowlist. Every request type run under strace (SoftHSM2 2.6.1,
 * libp11 0.4.12, OpenSSL 3.0, glibc 2.36) used only fcntl, getpid, openat,
 * close, read, newfstatat, write, lseek, ftruncate, brk and exit_group.
 * The other entries cover the rarer paths named in their comments.
 * SoftHSM reopens and locks its token files on every operation, and
 * seccomp cannot see paths, so file access cannot be narrowed here.
 */
static const int allowed_syscalls[] = {
	/* IPC, logging and SoftHSM's token files. */
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(close),
	SCMP_SYS(openat), SCMP_SYS(newfstatat), SCMP_SYS(fstat),
	/* SoftHSM locks each object file and rewrites it in place. */
	SCMP_SYS(fcntl), SCMP_SYS(lseek), SCMP_SYS(ftruncate),
	/* SoftHSM lists the token directory and unlinks object files
	 * when it destroys an object. */
	SCMP_SYS(getdents64), SCMP_SYS(unlink),
	/* Heap growth and release; mmap and mprotect are checked below. */
	SCMP_SYS(brk), SCMP_SYS(munmap), SCMP_SYS(mremap),
	SCMP_SYS(madvise),
	/* libp11 and OpenSSL call getpid() to detect a fork. */
	SCMP_SYS(getpid),
	/* OpenSSL reseeds its DRBG later in a long run. */
	SCMP_SYS(getrandom),
	/* Contended locks in SoftHSM and OpenSSL. */
	SCMP_SYS(futex),
	/* glibc falls back to the system call when the vDSO is missing. */
	SCMP_SYS(clock_gettime),
	SCMP_SYS(exit), SCMP_SYS(exit_group),
};

static int
add_rules(scmp_filter_ctx ctx)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < sizeof(allowed_syscalls) / sizeof(int); i++)
		rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW,
		    allowed_syscalls[i], 0);

	/* Memory may be mapped and protected, but never made executable. */
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));

	/*
	 * SoftHSM's error paths call syslog(3), which opens an AF_UNIX
	 * socket. Those calls fail with EACCES instead of killing the signer.
	 */
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES),
	    SCMP_SYS(socket), 0);
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES),
	    SCMP_SYS(connect), 0);

#ifdef SANDBOX_ASAN
	/* AddressSanitizer builds only: ASan drops its signal stack at exit. */
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sigaltstack), 0);
#endif
	return rc;
}

/*
 * Installs the filter on every thread of the process. Any system call not
 * listed kills the process with SIGSYS, and so does a call made with
 * another architecture's numbers. Returns 0, or -1 with err set.
 */
int
sandbox_install_filter(char *err, size_t errlen)
{
	scmp_filter_ctx ctx;
	int rc = -1;

	ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (ctx == NULL) {
		snprintf(err, errlen, "seccomp_init failed");
		return -1;
	}
	if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS) != 0 ||
	    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) != 0) {
		snprintf(err, errlen, "setting seccomp filter attributes "
		    "failed");
		goto out;
	}
	if (add_rules(ctx) != 0) {
		snprintf(err, errlen, "adding seccomp rules failed");
		goto out;
	}
	rc = seccomp_load(ctx);
	if (rc != 0) {
		snprintf(err, errlen, "loading the seccomp filter failed: %s",
		    strerror(-rc));
		rc = -1;
	}
out:
	seccomp_release(ctx);
	return rc;
}
