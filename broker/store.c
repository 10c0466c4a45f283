#include "broker/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STORE_PATH_MAX 4096

/* Writes "a/b" into out; returns -1 with errno ENAMETOOLONG when cut. */
static int
join_path(char *out, size_t outlen, const char *a, const char *b)
{
	int n = snprintf(out, outlen, "%s/%s", a, b);

	if (n < 0 || (size_t)n >= outlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int
store_version_name(time_t when, const char *serial_hex, char *out,
    size_t outlen)
{
	struct tm tm;
	char stamp[32];
	int n;

	if (gmtime_r(&when, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm) == 0)
		return -1;
	n = snprintf(out, outlen, "%s-%s", stamp, serial_hex);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

static int
fsync_path(const char *path)
{
	int fd, rc;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static int
write_file(const char *dir, const char *name, const char *text, char *err,
    size_t errlen)
{
	char path[STORE_PATH_MAX];
	size_t len = strlen(text), done = 0;
	ssize_t n;
	int fd;

	if (join_path(path, sizeof(path), dir, name) != 0) {
		fd = -1;
		goto fail;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0644);
	if (fd < 0)
		goto fail;
	while (done < len) {
		n = write(fd, text + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		done += (size_t)n;
	}
	if (fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	return 0;

fail:
	snprintf(err, errlen, "cannot write %s: %s (check store directory "
	    "and its free space)", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* Removes a directory of plain files, as the temporary one is. */
static void
remove_tree(const char *dir)
{
	char path[STORE_PATH_MAX];
	struct dirent *entry;
	DIR *d;

	d = opendir(dir);
	if (d != NULL) {
		while ((entry = readdir(d)) != NULL) {
			if (strcmp(entry->d_name, ".") == 0 ||
			    strcmp(entry->d_name, "..") == 0)
				continue;
			if (join_path(path, sizeof(path), dir,
			    entry->d_name) == 0)
				unlink(path);
		}
		closedir(d);
	}
	rmdir(dir);
}

static int
write_all_files(const char *dir, const struct store_files *files, char *err,
    size_t errlen)
{
	char uri_line[STORE_PATH_MAX];

	snprintf(uri_line, sizeof(uri_line), "%s\n", files->key_uri);
	if (write_file(dir, "cert.pem", files->cert_pem, err, errlen) != 0 ||
	    write_file(dir, "chain.pem", files->chain_pem, err, errlen) != 0 ||
	    write_file(dir, "fullchain.pem", files->fullchain_pem, err,
	    errlen) != 0 ||
	    write_file(dir, "key.uri", uri_line, err, errlen) != 0)
		return -1;
	if (fsync_path(dir) != 0) {
		snprintf(err, errlen, "cannot fsync %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* Points LABEL/current at version through a symlink renamed into place. */
static int
replace_current(const char *label_dir, const char *version, char *err,
    size_t errlen)
{
	char link_tmp[STORE_PATH_MAX], current[STORE_PATH_MAX], name[32];

	snprintf(name, sizeof(name), ".current-%ld", (long)getpid());
	if (join_path(link_tmp, sizeof(link_tmp), label_dir, name) != 0 ||
	    join_path(current, sizeof(current), label_dir, "current") != 0) {
		snprintf(err, errlen, "store path too long: %s", label_dir);
		return -1;
	}
	unlink(link_tmp);
	if (symlink(version, link_tmp) != 0) {
		snprintf(err, errlen, "cannot create symlink %s: %s", link_tmp,
		    strerror(errno));
		return -1;
	}
	if (rename(link_tmp, current) != 0) {
		snprintf(err, errlen, "cannot replace %s: %s (remove it if it "
		    "is not a symlink)", current, strerror(errno));
		unlink(link_tmp);
		return -1;
	}
	return 0;
}

/* Creates path unless it exists; returns -1 with errno set otherwise. */
static int
make_dir(const char *path)
{
	return mkdir(path, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* Creates STORE, STORE/TENANT and STORE/TENANT/LABEL as needed. */
static int
make_label_dir(const char *store_dir, const char *tenant, const char *label,
    char *label_dir, size_t len, char *err, size_t errlen)
{
	char tenant_dir[STORE_PATH_MAX];

	if (make_dir(store_dir) != 0) {
		snprintf(err, errlen, "cannot create store directory %s: %s "
		    "(set store directory to a writable path)", store_dir,
		    strerror(errno));
		return -1;
	}
	if (join_path(tenant_dir, sizeof(tenant_dir), store_dir,
	    tenant) != 0 || make_dir(tenant_dir) != 0 ||
	    join_path(label_dir, len, tenant_dir, label) != 0 ||
	    make_dir(label_dir) != 0) {
		snprintf(err, errlen, "cannot create %s/%s/%s: %s (check "
		    "store directory permissions)", store_dir, tenant, label,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Checks one level of the store path. Sets *exists to 0 when path is
 * missing, so that the caller checks its parent instead.
 */
static int
check_dir(const char *path, int *exists, char *err, size_t errlen)
{
	struct stat st;

	*exists = 0;
	if (stat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "cannot read store path %s: %s (check "
		    "store directory permissions)", path, strerror(errno));
		return -1;
	}
	*exists = 1;
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "store path %s is not a directory "
		    "(remove or rename it)", path);
		return -1;
	}
	return 0;
}

static int
check_writable(const char *dir, char *err, size_t errlen)
{
	if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) == 0)
		return 0;
	snprintf(err, errlen, "store directory %s is not writable by the "
	    "broker user (uid %ld): %s (give that user write access to it)",
	    dir, (long)geteuid(), strerror(errno));
	return -1;
}

/* LABEL/current must be a symlink, because a version replaces it. */
static int
check_current(const char *label_dir, char *err, size_t errlen)
{
	char current[STORE_PATH_MAX];
	struct stat st;

	if (join_path(current, sizeof(current), label_dir, "current") != 0 ||
	    lstat(current, &st) != 0 || S_ISLNK(st.st_mode))
		return 0;
	snprintf(err, errlen, "store path %s is not a symlink (remove or "
	    "rename it)", current);
	return -1;
}

int
store_check_writable(const char *store_dir, const char *tenant,
    const char *label, char *err, size_t errlen)
{
	char tenant_dir[STORE_PATH_MAX], label_dir[STORE_PATH_MAX];
	char parent[STORE_PATH_MAX];
	const char *levels[3] = { store_dir, tenant_dir, label_dir };
	const char *deepest = NULL;
	int exists;

	if (join_path(tenant_dir, sizeof(tenant_dir), store_dir,
	    tenant) != 0 ||
	    join_path(label_dir, sizeof(label_dir), tenant_dir, label) != 0) {
		snprintf(err, errlen, "store path too long: %s/%s/%s",
		    store_dir, tenant, label);
		return -1;
	}
	for (size_t i = 0; i < 3; i++) {
		if (check_dir(levels[i], &exists, err, errlen) != 0)
			return -1;
		if (!exists)
			break;
		deepest = levels[i];
	}
	/* store_certificate creates a missing STORE in its parent. */
	if (deepest == NULL) {
		snprintf(parent, sizeof(parent), "%s", store_dir);
		deepest = dirname(parent);
	}
	if (check_writable(deepest, err, errlen) != 0)
		return -1;
	return deepest == label_dir ?
	    check_current(label_dir, err, errlen) : 0;
}

int
store_certificate(const char *store_dir, const char *tenant,
    const char *label, const char *version, const struct store_files *files,
    char **stored, char *err, size_t errlen)
{
	char label_dir[STORE_PATH_MAX], tmp[STORE_PATH_MAX];
	char final[STORE_PATH_MAX], tmp_name[256];
	int renamed = 0;

	*stored = NULL;
	if (make_label_dir(store_dir, tenant, label, label_dir,
	    sizeof(label_dir), err, errlen) != 0)
		return -1;
	snprintf(tmp_name, sizeof(tmp_name), ".tmp-%s-XXXXXX", version);
	if (join_path(final, sizeof(final), label_dir, version) != 0 ||
	    join_path(tmp, sizeof(tmp), label_dir, tmp_name) != 0 ||
	    mkdtemp(tmp) == NULL) {
		snprintf(err, errlen, "cannot create a directory in %s: %s "
		    "(check store directory permissions)", label_dir,
		    strerror(errno));
		return -1;
	}

	if (write_all_files(tmp, files, err, errlen) != 0)
		goto fail;
	if (rename(tmp, final) != 0) {
		snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, final,
		    strerror(errno));
		goto fail;
	}
	renamed = 1;
	if (fsync_path(label_dir) != 0) {
		snprintf(err, errlen, "cannot fsync %s: %s", label_dir,
		    strerror(errno));
		goto fail;
	}
	if (replace_current(label_dir, version, err, errlen) != 0)
		goto fail;

	/* VERSION and current are complete now; this only makes them
	 * durable, so a failure leaves them in place. */
	if (fsync_path(label_dir) != 0) {
		snprintf(err, errlen, "cannot fsync %s after storing %s: %s",
		    label_dir, version, strerror(errno));
		return -1;
	}
	*stored = strdup(final);
	if (*stored == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;

fail:
	remove_tree(renamed ? final : tmp);
	fsync_path(label_dir);
	return -1;
}
