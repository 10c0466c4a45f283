/* Version directories, link swaps and the reload command; see install.h. */
#include "agent/install.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/dist.h"
#include "logging/log.h"

#define INSTALL_PATH_MAX 4352

static int
open_dir(const char *dir, char *err, size_t errlen)
{
	int fd;

	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s (create its "
		    "parent, or fix the directory in the configuration)", dir,
		    strerror(errno));
		return -1;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		snprintf(err, errlen, "cannot open the directory %s: %s", dir,
		    strerror(errno));
	return fd;
}

/* Reads link name of dirfd into out; 1: read, 0: none, -1: damaged. */
static int
read_link(int dirfd, const char *name, char *out, size_t size)
{
	ssize_t n;

	out[0] = '\0';
	n = readlinkat(dirfd, name, out, size);
	if (n < 0)
		return errno == ENOENT ? 0 : -1;
	if ((size_t)n >= size)
		return -1;
	out[n] = '\0';
	return dist_version_valid(out) ? 1 : -1;
}

int
install_current(const char *dir, char *out, size_t size, char *err,
    size_t errlen)
{
	int fd, rc;

	out[0] = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0) {
		snprintf(err, errlen, "cannot open the directory %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	rc = read_link(fd, "current", out, size);
	close(fd);
	if (rc < 0)
		snprintf(err, errlen, "%s/current is not a link to a version "
		    "directory; remove it and the agent fetches again", dir);
	return rc;
}

/* Removes directory name of dirfd with the files in it. */
static int
remove_version(int dirfd, const char *name)
{
	struct dirent *entry;
	DIR *d;
	int fd;

	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((entry = readdir(d)) != NULL)
		if (entry->d_type != DT_DIR)
			unlinkat(fd, entry->d_name, 0);
	closedir(d);
	return unlinkat(dirfd, name, AT_REMOVEDIR);
}

static int
write_all(int fd, const char *data, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Creates one file with its owner and mode, and syncs it. */
static int
write_file(const struct agent_cert *cert, int dirfd,
    const struct install_file *file, char *err, size_t errlen)
{
	mode_t mode = (mode_t)(file->secret ? cert->key_mode :
	    cert->cert_mode);
	int fd;

	fd = openat(dirfd, file->name, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create %s in %s: %s",
		    file->name, cert->directory, strerror(errno));
		return -1;
	}
	if ((cert->uid != (uid_t)-1 || cert->gid != (gid_t)-1) &&
	    fchown(fd, cert->uid, cert->gid) != 0) {
		snprintf(err, errlen, "cannot give %s to owner %s group %s: "
		    "%s (the agent's user must be that owner, or a member of "
		    "that group)", file->name, cert->owner ? cert->owner :
		    "(unchanged)", cert->group ? cert->group : "(unchanged)",
		    strerror(errno));
		close(fd);
		return -1;
	}
	if (fchmod(fd, mode) != 0 || write_all(fd, file->data,
	    file->len) != 0 || fsync(fd) != 0) {
		snprintf(err, errlen, "cannot write %s in %s: %s", file->name,
		    cert->directory, strerror(errno));
		close(fd);
		return -1;
	}
	return close(fd);
}

/* The mode of a version directory: readers of any file may enter it. */
static mode_t
version_dir_mode(const struct agent_cert *cert)
{
	int readable = cert->key_mode | cert->cert_mode;

	return (mode_t)(0700 | (readable & 040 ? 050 : 0) |
	    (readable & 04 ? 05 : 0));
}

/* Writes the files into the new directory tmp of dirfd. */
static int
write_version(const struct agent_cert *cert, int dirfd, const char *tmp,
    const struct install_file *files, size_t count, char *err,
    size_t errlen)
{
	size_t i;
	int fd, rc = -1;

	remove_version(dirfd, tmp);
	if (mkdirat(dirfd, tmp, 0700) != 0 ||
	    (fd = openat(dirfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "cannot create %s/%s: %s",
		    cert->directory, tmp, strerror(errno));
		return -1;
	}
	for (i = 0; i < count; i++)
		if (write_file(cert, fd, &files[i], err, errlen) != 0)
			goto out;
	if ((cert->uid != (uid_t)-1 || cert->gid != (gid_t)-1) &&
	    fchown(fd, cert->uid, cert->gid) != 0) {
		snprintf(err, errlen, "cannot give %s/%s to owner %s group "
		    "%s: %s", cert->directory, tmp, cert->owner ? cert->owner :
		    "(unchanged)", cert->group ? cert->group : "(unchanged)",
		    strerror(errno));
		goto out;
	}
	if (fchmod(fd, version_dir_mode(cert)) != 0 || fsync(fd) != 0) {
		snprintf(err, errlen, "cannot sync %s/%s: %s",
		    cert->directory, tmp, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

/* Points link name of dirfd at target, or removes it for "". */
static int
set_link(int dirfd, const char *name, const char *target)
{
	char tmp[64];

	if (target[0] == '\0')
		return unlinkat(dirfd, name, 0) != 0 && errno != ENOENT ?
		    -1 : 0;
	snprintf(tmp, sizeof(tmp), ".%s.new", name);
	unlinkat(dirfd, tmp, 0);
	if (symlinkat(target, dirfd, tmp) != 0)
		return -1;
	if (renameat(dirfd, tmp, dirfd, name) != 0) {
		unlinkat(dirfd, tmp, 0);
		return -1;
	}
	return 0;
}

int
install_version(const struct agent_cert *cert, const char *version,
    const struct install_file *files, size_t count,
    char old[INSTALL_NAME_MAX], char old_previous[INSTALL_NAME_MAX],
    char *err, size_t errlen)
{
	char tmp[INSTALL_NAME_MAX + 16];
	int dirfd, rc = -1;

	if ((dirfd = open_dir(cert->directory, err, errlen)) < 0)
		return -1;
	if (read_link(dirfd, "current", old, INSTALL_NAME_MAX) < 0 ||
	    read_link(dirfd, "previous", old_previous, INSTALL_NAME_MAX) < 0) {
		snprintf(err, errlen, "%s/current or previous is not a link "
		    "to a version directory; remove it", cert->directory);
		goto out;
	}
	if (strcmp(old, version) == 0) {
		snprintf(err, errlen, "version %s is current already",
		    version);
		goto out;
	}
	snprintf(tmp, sizeof(tmp), ".tmp-%s", version);
	if (write_version(cert, dirfd, tmp, files, count, err, errlen) != 0)
		goto undo;

	/* A version fetched again after a rollback replaces its old copy. */
	if (remove_version(dirfd, version) != 0 ||
	    renameat(dirfd, tmp, dirfd, version) != 0 || fsync(dirfd) != 0) {
		snprintf(err, errlen, "cannot rename %s/%s to %s: %s",
		    cert->directory, tmp, version, strerror(errno));
		goto undo;
	}
	if (set_link(dirfd, "current", version) != 0) {
		snprintf(err, errlen, "cannot point %s/current at %s: %s",
		    cert->directory, version, strerror(errno));
		remove_version(dirfd, version);
		goto out;
	}
	if (old[0] != '\0' && set_link(dirfd, "previous", old) != 0)
		log_warn("%s: cannot point %s/previous at %s: %s", cert->ref,
		    cert->directory, old, strerror(errno));
	fsync(dirfd);
	rc = 0;
	goto out;
undo:
	remove_version(dirfd, tmp);
out:
	close(dirfd);
	return rc;
}

int
install_rollback(const struct agent_cert *cert, const char *failed,
    const char *old, const char *old_previous, char *err, size_t errlen)
{
	int dirfd, rc = 0;

	if ((dirfd = open_dir(cert->directory, err, errlen)) < 0)
		return -1;
	if (set_link(dirfd, "current", old) != 0 ||
	    set_link(dirfd, "previous", old_previous) != 0) {
		snprintf(err, errlen, "cannot point %s/current back at %s: %s",
		    cert->directory, old[0] != '\0' ? old : "(none)",
		    strerror(errno));
		rc = -1;
	} else if (strcmp(failed, old) != 0 &&
	    strcmp(failed, old_previous) != 0) {
		remove_version(dirfd, failed);
	}
	fsync(dirfd);
	close(dirfd);
	return rc;
}

void
install_prune(const struct agent_cert *cert)
{
	char current[INSTALL_NAME_MAX], previous[INSTALL_NAME_MAX];
	struct dirent *entry;
	int dirfd, fd;
	DIR *d;

	dirfd = open(cert->directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (dirfd < 0)
		return;
	if (read_link(dirfd, "current", current, sizeof(current)) < 0 ||
	    read_link(dirfd, "previous", previous, sizeof(previous)) < 0 ||
	    (fd = dup(dirfd)) < 0 || (d = fdopendir(fd)) == NULL) {
		close(dirfd);
		return;
	}
	while ((entry = readdir(d)) != NULL) {
		if (entry->d_type != DT_DIR ||
		    strcmp(entry->d_name, current) == 0 ||
		    strcmp(entry->d_name, previous) == 0)
			continue;
		if (dist_version_valid(entry->d_name) ||
		    strncmp(entry->d_name, ".tmp-", 5) == 0)
			if (remove_version(dirfd, entry->d_name) != 0)
				log_warn("%s: cannot remove the old version "
				    "%s/%s: %s", cert->ref, cert->directory,
				    entry->d_name, strerror(errno));
	}
	closedir(d);
	close(dirfd);
}

/* Sets the child's environment and runs the command; never returns. */
static void
exec_reload(const struct agent_cert *cert, const char *version,
    int rollback)
{
	char dir[INSTALL_PATH_MAX], file[INSTALL_PATH_MAX + 32];
	int null_fd;

	setpgid(0, 0);
	null_fd = open("/dev/null", O_RDONLY);
	if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0)
		_exit(126);
	snprintf(dir, sizeof(dir), "%s/current", cert->directory);
	setenv("CUSTOS_CERT_REF", cert->ref, 1);
	setenv("CUSTOS_VERSION", version, 1);
	setenv("CUSTOS_VERSION_DIR", dir, 1);
	setenv("CUSTOS_ROLLBACK", rollback ? "1" : "0", 1);
	snprintf(file, sizeof(file), "%s/cert.pem", dir);
	setenv("CUSTOS_CERT", file, 1);
	snprintf(file, sizeof(file), "%s/chain.pem", dir);
	setenv("CUSTOS_CHAIN", file, 1);
	snprintf(file, sizeof(file), "%s/fullchain.pem", dir);
	setenv("CUSTOS_FULLCHAIN", file, 1);
	snprintf(file, sizeof(file), "%s/privkey.pem", dir);
	setenv("CUSTOS_KEY", file, 1);
	snprintf(file, sizeof(file), "%s/key.uri", dir);
	setenv("CUSTOS_KEY_URI_FILE", file, 1);
	execl("/bin/sh", "sh", "-c", cert->reload, (char *)NULL);
	dprintf(STDERR_FILENO, "custos-agent: error: cannot run /bin/sh: "
	    "%s\n", strerror(errno));
	_exit(127);
}

int
install_reload(const struct agent_cert *cert, const char *version,
    int rollback, int timeout, char *err, size_t errlen)
{
	struct timespec pause = { 0, 20 * 1000 * 1000 };
	time_t deadline = time(NULL) + timeout;
	int status = 0;
	pid_t pid, done;

	if (cert->reload == NULL)
		return 0;
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "cannot start the reload command: %s",
		    strerror(errno));
		return -1;
	}
	if (pid == 0)
		exec_reload(cert, version, rollback);
	while ((done = waitpid(pid, &status, WNOHANG)) == 0 &&
	    time(NULL) < deadline)
		nanosleep(&pause, NULL);
	if (done == 0) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		snprintf(err, errlen, "the reload command timed out after "
		    "%ds and was killed (raise reload-timeout, or fix the "
		    "command)", timeout);
		return -1;
	}
	if (done < 0) {
		snprintf(err, errlen, "cannot wait for the reload command: "
		    "%s", strerror(errno));
		return -1;
	}
	if (WIFSIGNALED(status)) {
		snprintf(err, errlen, "the reload command was killed by "
		    "signal %d", WTERMSIG(status));
		return -1;
	}
	if (WEXITSTATUS(status) != 0) {
		snprintf(err, errlen, "the reload command exited with status "
		    "%d", WEXITSTATUS(status));
		return -1;
	}
	return 0;
}
