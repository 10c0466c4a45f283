/*
 * The signer's sandbox, entered after the token login and before the
 * first byte from the broker. It drops to an unprivileged user, limits
 * resources and forbids new privileges and core dumps. Last, a seccomp
 * allowlist kills the process on any system call it does not list.
 */
#include "signer.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "logging/log.h"

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
 * Forbids core dumps, new processes, new privileges and ptrace attachment
 * by other processes of the same user. Returns 0, or -1 with err set.
 */
int
sandbox_set_limits(char *err, size_t errlen)
{
	const struct rlimit zero = { 0, 0 };

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
