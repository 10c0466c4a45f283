/*
 * The signer's file-system confinement with Landlock, applied after the
 * token login and before the seccomp filter. Once it is in force, the
 * signer may open files only below the SoftHSM2 token directory. With
 * Landlock ABI 4 and later it may not bind or connect TCP sockets, and
 * with ABI 6 and later it may not reach abstract UNIX sockets or signal
 * processes outside its domain. Descriptors opened before, such as the
 * broker's socket and standard error, stay usable.
 *
 * SoftHSM2 2.6.1 (file object store), measured with strace on every
 * request type, opens only files below directories.tokendir after login:
 * object and lock files read-write with O_CREAT and O_TRUNC, ftruncate on
 * them, and the "generation" file. It lists and unlinks files there when
 * another process changes the token or a key is destroyed.
 */
#include "signer.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Debian 12's kernel headers describe ABI 2, so later rights are here. */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#define NET_BIND_TCP (1ULL << 0)
#define NET_CONNECT_TCP (1ULL << 1)
#define SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define SCOPE_SIGNAL (1ULL << 1)

/* Every file-system right of ABI 1. */
#define FS_RIGHTS_ABI1 ((1ULL << 13) - 1)

/* Rights that SoftHSM2 needs below its token directory. */
#define TOKEN_DIR_RIGHTS (LANDLOCK_ACCESS_FS_READ_FILE | \
	LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_DIR | \
	LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_REG | \
	LANDLOCK_ACCESS_FS_TRUNCATE)

#define SOFTHSM_MODULE_NAME "libsofthsm2.so"
#define SOFTHSM_DEFAULT_CONF "/etc/softhsm/softhsm2.conf"
#define SOFTHSM_TOKENDIR_KEY "directories.tokendir"

/*
 * struct landlock_ruleset_attr as of ABI 6. An older kernel accepts this
 * larger struct as long as the members it lacks are zero.
 */
struct ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

/* Returns the kernel's Landlock ABI version, or -1 with errno set. */
int
landlock_abi_version(void)
{
	return (int)syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
}

static char *
trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' ||
	    end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

/*
 * Reads directories.tokendir from a SoftHSM2 configuration file, in the
 * file's own syntax: "key = value" lines and "#" comment lines.
 */
static int
read_token_dir(const char *conf, char *dir, size_t dirlen, char *err,
    size_t errlen)
{
	char line[PATH_MAX + 64];
	char *key, *value, *eq;
	FILE *f;
	int rc = -1;

	f = fopen(conf, "re");
	if (f == NULL) {
		snprintf(err, errlen, "cannot read SoftHSM2 configuration "
		    "'%s': %s (check SOFTHSM2_CONF)", conf, strerror(errno));
		return -1;
	}
	while (rc != 0 && fgets(line, sizeof(line), f) != NULL) {
		key = trim(line);
		eq = strchr(key, '=');
		if (*key == '#' || eq == NULL)
			continue;
		*eq = '\0';
		value = trim(eq + 1);
		if (strcmp(trim(key), SOFTHSM_TOKENDIR_KEY) != 0)
			continue;
		if (value[0] != '/' || strlen(value) >= dirlen) {
			snprintf(err, errlen, "%s '%s' in '%s' is not an "
			    "absolute path of at most %zu bytes",
			    SOFTHSM_TOKENDIR_KEY, value, conf, dirlen - 1);
			break;
		}
		snprintf(dir, dirlen, "%s", value);
		rc = 0;
	}
	if (rc != 0 && err[0] == '\0')
		snprintf(err, errlen, "SoftHSM2 configuration '%s' has no "
		    "%s line", conf, SOFTHSM_TOKENDIR_KEY);
	fclose(f);
	return rc;
}

/*
 * Finds the directory the token files live in. For SoftHSM2 it is
 * directories.tokendir of the file SOFTHSM2_CONF names, or of the
 * module's default file. Returns 0 with the directory in dir, 1 with dir
 * empty for a module other than SoftHSM2, or -1 with err set.
 */
int
landlock_find_token_dir(const char *module, char *dir, size_t dirlen,
    char *err, size_t errlen)
{
	char copy[PATH_MAX];
	const char *conf = getenv("SOFTHSM2_CONF");

	dir[0] = '\0';
	err[0] = '\0';
	snprintf(copy, sizeof(copy), "%s", module);
	if (strcmp(basename(copy), SOFTHSM_MODULE_NAME) != 0)
		return 1;
	if (conf == NULL || conf[0] == '\0')
		conf = SOFTHSM_DEFAULT_CONF;
	return read_token_dir(conf, dir, dirlen, err, errlen);
}

/* Fills the ruleset with every right that this kernel's ABI defines. */
static void
handled_rights(int abi, struct ruleset_attr *attr)
{
	memset(attr, 0, sizeof(*attr));
	attr->handled_access_fs = FS_RIGHTS_ABI1;
	if (abi >= 2)
		attr->handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		attr->handled_access_fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		attr->handled_access_fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	if (abi >= 4)
		attr->handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP;
	if (abi >= 6)
		attr->scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL;
}

/* Allows the rights SoftHSM2 needs below dir. */
static int
add_token_dir_rule(int ruleset, const char *dir, uint64_t handled,
    char *err, size_t errlen)
{
	struct landlock_path_beneath_attr rule = { 0 };
	int rc;

	rule.parent_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rule.parent_fd < 0) {
		snprintf(err, errlen, "cannot open token directory '%s': %s "
		    "(check directories.tokendir in the SoftHSM2 "
		    "configuration)", dir, strerror(errno));
		return -1;
	}
	rule.allowed_access = TOKEN_DIR_RIGHTS & handled;
	rc = (int)syscall(SYS_landlock_add_rule, ruleset,
	    LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
	if (rc != 0)
		snprintf(err, errlen, "adding the Landlock rule for '%s' "
		    "failed: %s", dir, strerror(errno));
	close(rule.parent_fd);
	return rc;
}

/*
 * Confines the calling process to the files below dir. No-new-privileges
 * must be set already. Returns the ABI version used (1 or more), 0 with
 * the reason in err when the kernel lacks Landlock, or -1 with err set.
 */
int
landlock_confine(const char *dir, char *err, size_t errlen)
{
	struct ruleset_attr attr;
	int abi, ruleset, rc = -1;

	abi = landlock_abi_version();
	if (abi < 1) {
		snprintf(err, errlen, "Landlock is not available: %s",
		    errno == EOPNOTSUPP ? "disabled at boot (add landlock "
		    "to the lsm= kernel parameter)" : errno == ENOSYS ?
		    "the kernel predates Linux 5.13" : strerror(errno));
		return 0;
	}
	handled_rights(abi, &attr);
	ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr,
	    sizeof(attr), 0);
	if (ruleset < 0) {
		snprintf(err, errlen, "creating the Landlock ruleset (ABI "
		    "%d) failed: %s", abi, strerror(errno));
		return -1;
	}
	if (add_token_dir_rule(ruleset, dir, attr.handled_access_fs, err,
	    errlen) != 0)
		goto out;
	if (syscall(SYS_landlock_restrict_self, ruleset, 0) != 0) {
		snprintf(err, errlen, "enforcing the Landlock ruleset "
		    "failed: %s", strerror(errno));
		goto out;
	}
	rc = abi;
out:
	close(ruleset);
	return rc;
}
