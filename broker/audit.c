/*
 * The audit log's writer. Every append takes an exclusive flock(2) on the
 * log's directory, not on the file: rotation replaces the file, and a lock
 * on the old file would not stop a writer that opened the new one. Under
 * the lock it reads the last record, appends the new one with one write,
 * fsyncs the file (and the directory when it created the file) and, past
 * rotate-size, renames the file.
 */
#include "broker/audit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ZERO_HASH \
	"0000000000000000000000000000000000000000000000000000000000000000"

struct audit_log {
	char *path;
	char *base;		/* file name inside the directory */
	int dir_fd;
	int fd;			/* the file as last opened; -1: none */
	int checkpoint_interval;
	long long rotate_size;
	time_t last_checkpoint;
};

/*
 * The actor of every record the calling thread writes. It is per thread
 * because the daemon's order threads each act for their own tenant.
 */
struct audit_actor {
	char tenant[POLICY_NAME_BUFSIZE];
	char user[64];
	long long uid;		/* -1: none */
	char token_id[POLICY_TOKEN_ID_MAX + 1];
};

static _Thread_local struct audit_actor thread_actor = { .uid = -1 };

/*
 * Serialises the threads of this process, which share the log's
 * descriptors, because flock() on one descriptor does not exclude them.
 */
static pthread_mutex_t log_mutex = PTHREAD_MUTEX_INITIALIZER;

static int
split_config_path(struct audit_log *log, const char *path, char *err,
    size_t errlen)
{
	const char *slash = strrchr(path, '/');
	char *dir;

	if (path[0] != '/' || slash == NULL || slash[1] == '\0') {
		snprintf(err, errlen, "invalid audit file \"%s\"; use an "
		    "absolute path such as /var/log/custos/audit.log", path);
		return -1;
	}
	log->path = strdup(path);
	log->base = strdup(slash + 1);
	dir = slash == path ? strdup("/") :
	    strndup(path, (size_t)(slash - path));
	if (log->path == NULL || log->base == NULL || dir == NULL) {
		free(dir);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	log->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (log->dir_fd < 0)
		snprintf(err, errlen, "cannot open audit log directory %s: %s "
		    "(create it, writable by the broker user, or set audit "
		    "file in the configuration)", dir, strerror(errno));
	free(dir);
	return log->dir_fd < 0 ? -1 : 0;
}

/*
 * Opens the file by its name in the directory, creating it. Sets
 * *created when this call made it. The caller holds the lock.
 */
/*
 * Gives a file that root just created the owner and group of the log's
 * directory. A root command such as `custos cert add` can start a new
 * file after a rotation, and the daemon's worker, which runs as the
 * broker user who owns the directory, must still append to it.
 */
static int
give_to_dir_owner(struct audit_log *log, int fd, char *err, size_t errlen)
{
	struct stat dir;

	if (geteuid() != 0)
		return 0;
	if (fstat(log->dir_fd, &dir) != 0 ||
	    fchown(fd, dir.st_uid, dir.st_gid) != 0) {
		snprintf(err, errlen, "cannot give new audit log %s to the "
		    "owner of its directory: %s", log->path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

static int
open_file(struct audit_log *log, int *created, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	*created = fstatat(log->dir_fd, log->base, &st,
	    AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT;
	fd = openat(log->dir_fd, log->base, O_RDWR | O_APPEND | O_CREAT |
	    O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0640);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open audit log %s: %s (it must "
		    "be writable by the broker user)", log->path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "audit log %s is not a regular file",
		    log->path);
		return -1;
	}
	if (*created && give_to_dir_owner(log, fd, err, errlen) != 0) {
		close(fd);
		return -1;
	}
	if (log->fd >= 0)
		close(log->fd);
	log->fd = fd;
	return 0;
}

/* Reopens the file when another process rotated or removed it. */
static int
ensure_current(struct audit_log *log, int *created, char *err,
    size_t errlen)
{
	struct stat named, held;

	*created = 0;
	if (log->fd >= 0 && fstat(log->fd, &held) == 0 &&
	    fstatat(log->dir_fd, log->base, &named,
	    AT_SYMLINK_NOFOLLOW) == 0 && named.st_dev == held.st_dev &&
	    named.st_ino == held.st_ino)
		return 0;
	return open_file(log, created, err, errlen);
}

int
audit_open(const struct config_audit *config, struct audit_log **out,
    char *err, size_t errlen)
{
	struct audit_log *log;
	int created;

	*out = NULL;
	log = calloc(1, sizeof(*log));
	if (log == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	log->fd = -1;
	log->dir_fd = -1;
	log->checkpoint_interval = config->checkpoint_interval;
	log->rotate_size = config->rotate_size;
	log->last_checkpoint = time(NULL);
	if (split_config_path(log, config->file, err, errlen) != 0 ||
	    flock(log->dir_fd, LOCK_EX) != 0) {
		if (log->dir_fd >= 0)
			snprintf(err, errlen, "cannot lock the directory of "
			    "%s: %s", config->file, strerror(errno));
		audit_close(log);
		return -1;
	}
	if (ensure_current(log, &created, err, errlen) != 0) {
		audit_close(log);
		return -1;
	}
	if (created)
		fsync(log->dir_fd);
	flock(log->dir_fd, LOCK_UN);
	*out = log;
	return 0;
}

void
audit_close(struct audit_log *log)
{
	if (log == NULL)
		return;
	if (audit_current() == log)
		audit_set_current(NULL);
	if (log->fd >= 0)
		close(log->fd);
	if (log->dir_fd >= 0)
		close(log->dir_fd);
	free(log->path);
	free(log->base);
	free(log);
}

void
audit_descriptors(const struct audit_log *log, int *dir_fd, int *file_fd)
{
	*dir_fd = log != NULL ? log->dir_fd : -1;
	*file_fd = log != NULL ? log->fd : -1;
}

void
audit_set_actor(struct audit_log *log, const char *tenant,
    const char *user, uid_t uid, const char *token_id)
{
	struct audit_actor *actor = &thread_actor;

	if (log == NULL)
		return;
	snprintf(actor->tenant, sizeof(actor->tenant), "%s",
	    tenant ? tenant : "");
	snprintf(actor->user, sizeof(actor->user), "%s", user ? user : "");
	/* A caller on the API's TCP listener has no uid: (uid_t)-1. */
	actor->uid = uid == (uid_t)-1 ? -1 : (long long)uid;
	snprintf(actor->token_id, sizeof(actor->token_id), "%s",
	    token_id ? token_id : "");
}

/*
 * Reads the last line of fd, which is size bytes long, into head.
 * Returns 0, or -1 when the tail is not one whole record.
 */
static int
read_last_record(int fd, const char *name, off_t size,
    struct audit_head *head, char *err, size_t errlen)
{
	/* One byte more than a record, for the newline before it. */
	size_t want = size <= AUDIT_RECORD_MAX ? (size_t)size :
	    AUDIT_RECORD_MAX + 1;
	char *buf = malloc(want + 1), *start;
	json_t *record = NULL, *seq, *action;
	ssize_t n;
	int rc = -1;

	if (buf == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	n = pread(fd, buf, want, size - (off_t)want);
	if (n != (ssize_t)want || buf[want - 1] != '\n') {
		snprintf(err, errlen, "audit log %s ends in a partial record; "
		    "run \"custos audit verify %s\" and keep a copy before "
		    "repairing it", name, name);
		goto out;
	}
	start = memrchr(buf, '\n', want - 1);
	if (start == NULL && (off_t)want < size) {
		snprintf(err, errlen, "the last record of audit log %s is "
		    "longer than %d bytes", name, AUDIT_RECORD_MAX);
		goto out;
	}
	start = start == NULL ? buf : start + 1;
	/* The hash covers the record's bytes and its newline. */
	audit_hash_hex(start, (size_t)(buf + want - start), head->hash);
	buf[want - 1] = '\0';
	record = json_loads(start, JSON_REJECT_DUPLICATES, NULL);
	seq = json_object_get(record, "seq");
	action = json_object_get(record, "action");
	if (!json_is_integer(seq) || json_integer_value(seq) < 1) {
		snprintf(err, errlen, "the last record of audit log %s has "
		    "no valid \"seq\"; run \"custos audit verify %s\"", name,
		    name);
		goto out;
	}
	head->seq = (unsigned long long)json_integer_value(seq);
	snprintf(head->action, sizeof(head->action), "%s",
	    json_is_string(action) ? json_string_value(action) : "");
	rc = 0;
out:
	json_decref(record);
	free(buf);
	return rc;
}

/* Finds the newest FILE.SEQ in the directory; name is "" when none. */
static int
newest_rotated(struct audit_log *log, char *name, size_t namelen)
{
	size_t len = strlen(log->base);
	struct dirent *entry;
	DIR *d;
	int fd;

	name[0] = '\0';
	fd = openat(log->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((entry = readdir(d)) != NULL) {
		const char *digits = entry->d_name + len + 1;

		if (strncmp(entry->d_name, log->base, len) != 0 ||
		    entry->d_name[len] != '.' || strlen(digits) != 12 ||
		    strspn(digits, "0123456789") != 12)
			continue;
		if (strcmp(entry->d_name, name) > 0)
			snprintf(name, namelen, "%s", entry->d_name);
	}
	closedir(d);
	return 0;
}

/*
 * Reads the head of the chain: the last record of the file, or of the
 * newest rotated file when the file is empty. The caller holds the lock.
 */
static int
read_head_locked(struct audit_log *log, struct audit_head *head, char *err,
    size_t errlen)
{
	char name[NAME_MAX + 1], shown[PATH_MAX];
	struct stat st;
	int fd, rc;

	memset(head, 0, sizeof(*head));
	snprintf(head->hash, sizeof(head->hash), "%s", ZERO_HASH);
	if (fstat(log->fd, &st) != 0) {
		snprintf(err, errlen, "cannot read audit log %s: %s",
		    log->path, strerror(errno));
		return -1;
	}
	if (st.st_size > 0)
		return read_last_record(log->fd, log->path, st.st_size, head,
		    err, errlen);
	if (newest_rotated(log, name, sizeof(name)) != 0) {
		snprintf(err, errlen, "cannot list the directory of audit "
		    "log %s: %s", log->path, strerror(errno));
		return -1;
	}
	if (name[0] == '\0')
		return 0;
	snprintf(shown, sizeof(shown), "%s.%s", log->path,
	    name + strlen(log->base) + 1);
	fd = openat(log->dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) != 0 || st.st_size == 0) {
		snprintf(err, errlen, "cannot read the last record of rotated "
		    "audit log %s", shown);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	rc = read_last_record(fd, shown, st.st_size, head, err, errlen);
	close(fd);
	return rc;
}

static void
unlock_log(struct audit_log *log)
{
	flock(log->dir_fd, LOCK_UN);
	pthread_mutex_unlock(&log_mutex);
}

static int
lock_log(struct audit_log *log, int *created, char *err, size_t errlen)
{
	pthread_mutex_lock(&log_mutex);
	while (flock(log->dir_fd, LOCK_EX) != 0) {
		if (errno != EINTR) {
			snprintf(err, errlen, "cannot lock the directory of "
			    "audit log %s: %s", log->path, strerror(errno));
			pthread_mutex_unlock(&log_mutex);
			return -1;
		}
	}
	if (ensure_current(log, created, err, errlen) != 0) {
		unlock_log(log);
		return -1;
	}
	return 0;
}

int
audit_read_head(struct audit_log *log, struct audit_head *head, char *err,
    size_t errlen)
{
	int created, rc;

	if (lock_log(log, &created, err, errlen) != 0)
		return -1;
	rc = read_head_locked(log, head, err, errlen);
	unlock_log(log);
	return rc;
}

/* Builds the actor member from what audit_set_actor() stored. */
static json_t *
actor_object(void)
{
	const struct audit_actor *set = &thread_actor;
	json_t *actor = json_object();

	if (actor == NULL)
		return NULL;
	if (set->tenant[0] != '\0')
		json_object_set_new(actor, "tenant", json_string(set->tenant));
	if (set->user[0] != '\0')
		json_object_set_new(actor, "user", json_string(set->user));
	if (set->uid >= 0)
		json_object_set_new(actor, "uid", json_integer(set->uid));
	if (set->token_id[0] != '\0')
		json_object_set_new(actor, "token_id",
		    json_string(set->token_id));
	return actor;
}

/*
 * Formats one record line, newline included, in a fixed member order.
 * ASCII-only output keeps terminal escapes and odd encodings out of it.
 */
static char *
format_record(const struct audit_head *head,
    const char *source, const char *action, const json_t *object,
    const char *outcome, const char *reason)
{
	char now[40], *text, *line = NULL;
	json_t *record;

	audit_time_now(now, sizeof(now));
	record = json_pack("{s:I, s:s, s:s, s:s, s:o, s:s}", "seq",
	    (json_int_t)(head->seq + 1), "time", now, "prev", head->hash,
	    "source", source, "actor", actor_object(), "action", action);
	if (record == NULL)
		return NULL;
	if (object != NULL)
		json_object_set_new(record, "object",
		    json_deep_copy(object));
	json_object_set_new(record, "outcome", json_string(outcome));
	if (reason != NULL)
		json_object_set_new(record, "reason", json_string(reason));
	text = json_dumps(record, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(record);
	if (text != NULL && asprintf(&line, "%s\n", text) < 0)
		line = NULL;
	free(text);
	return line;
}

static int
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Renames the file to FILE.SEQ; the caller holds the lock. */
static int
rotate_locked(struct audit_log *log, unsigned long long seq, char *rotated,
    size_t rotatedlen, char *err, size_t errlen)
{
	char name[NAME_MAX + 1];

	snprintf(name, sizeof(name), "%s.%012llu", log->base, seq);
	if (renameat2(log->dir_fd, log->base, log->dir_fd, name,
	    RENAME_NOREPLACE) != 0 || fsync(log->dir_fd) != 0) {
		snprintf(err, errlen, "cannot rotate audit log %s to %s: %s",
		    log->path, name, strerror(errno));
		return -1;
	}
	if (rotated != NULL)
		snprintf(rotated, rotatedlen, "%s.%012llu", log->path, seq);
	return 0;
}

/* Checks the length of the record that follows head. */
static int
check_record_size(const struct audit_head *head, const char *line,
    char *err, size_t errlen)
{
	size_t len = strlen(line);

	if (len <= AUDIT_RECORD_MAX)
		return 0;
	snprintf(err, errlen, "audit record %llu is %zu bytes, over the "
	    "limit of %d", head->seq + 1, len, AUDIT_RECORD_MAX);
	return -1;
}

/*
 * Appends records (one or more whole lines) with one write and one
 * fsync. The caller holds the lock and checked each record's size. A
 * write that fails part way (a full disk, RLIMIT_FSIZE) is cut back to
 * the old end of the file, because a partial record there would block
 * every later append until an operator repairs the log.
 */
static int
append_locked(struct audit_log *log, int created, const char *text,
    char *err, size_t errlen)
{
	size_t len = strlen(text);
	struct stat st;
	int saved_errno;

	if (fstat(log->fd, &st) != 0) {
		snprintf(err, errlen, "cannot read audit log %s: %s",
		    log->path, strerror(errno));
		return -1;
	}
	if (write_all(log->fd, text, len) != 0) {
		saved_errno = errno;
		if (ftruncate(log->fd, st.st_size) == 0)
			snprintf(err, errlen, "writing audit log %s failed: "
			    "%s", log->path, strerror(saved_errno));
		else
			snprintf(err, errlen, "writing audit log %s failed: "
			    "%s, and removing the partial record failed: %s",
			    log->path, strerror(saved_errno),
			    strerror(errno));
		return -1;
	}
	if (fsync(log->fd) != 0 || (created && fsync(log->dir_fd) != 0)) {
		snprintf(err, errlen, "writing audit log %s failed: %s",
		    log->path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Rotates when the file has reached rotate-size. */
static int
rotate_if_full(struct audit_log *log, unsigned long long seq, char *err,
    size_t errlen)
{
	struct stat st;

	if (log->rotate_size <= 0 || fstat(log->fd, &st) != 0 ||
	    st.st_size < log->rotate_size)
		return 0;
	return rotate_locked(log, seq, NULL, 0, err, errlen);
}

int
audit_append(struct audit_log *log, const char *source, const char *action,
    const json_t *object, const char *outcome, const char *reason,
    char *err, size_t errlen)
{
	struct audit_head head;
	char *line = NULL;
	int created, rc = -1;

	if (lock_log(log, &created, err, errlen) != 0)
		return -1;
	if (read_head_locked(log, &head, err, errlen) != 0)
		goto out;
	line = format_record(&head, source, action, object, outcome,
	    reason);
	if (line == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (check_record_size(&head, line, err, errlen) != 0 ||
	    append_locked(log, created, line, err, errlen) != 0 ||
	    rotate_if_full(log, head.seq + 1, err, errlen) != 0)
		goto out;
	rc = 0;
out:
	free(line);
	unlock_log(log);
	return rc;
}

int
audit_append_many(struct audit_log *log, const struct audit_entry *entries,
    size_t count, char *err, size_t errlen)
{
	struct audit_head head;
	char *text = NULL, *line;
	size_t used = 0, cap = 0, len;
	int created, rc = -1;

	if (count == 0)
		return 0;
	if (lock_log(log, &created, err, errlen) != 0)
		return -1;
	if (read_head_locked(log, &head, err, errlen) != 0)
		goto out;
	for (size_t i = 0; i < count; i++) {
		line = format_record(&head, entries[i].source,
		    entries[i].action, entries[i].object, entries[i].outcome,
		    entries[i].reason);
		if (line == NULL) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		if (check_record_size(&head, line, err, errlen) != 0) {
			free(line);
			goto out;
		}
		len = strlen(line);
		if (used + len + 1 > cap) {
			size_t want = (used + len + 1) * 2;
			char *grown = realloc(text, want);

			if (grown == NULL) {
				snprintf(err, errlen, "out of memory");
				free(line);
				goto out;
			}
			text = grown;
			cap = want;
		}
		memcpy(text + used, line, len + 1);
		/* The next record chains to this one, newline included. */
		audit_hash_hex(line, len, head.hash);
		head.seq++;
		used += len;
		free(line);
	}
	if (append_locked(log, created, text, err, errlen) != 0 ||
	    rotate_if_full(log, head.seq, err, errlen) != 0)
		goto out;
	rc = 0;
out:
	free(text);
	unlock_log(log);
	return rc;
}

int
audit_rotate(struct audit_log *log, char *rotated, size_t rotatedlen,
    char *err, size_t errlen)
{
	struct audit_head head;
	char name[NAME_MAX + 1], *line = NULL;
	json_t *object = NULL;
	int created, rc = -1;

	if (lock_log(log, &created, err, errlen) != 0)
		return -1;
	if (read_head_locked(log, &head, err, errlen) != 0)
		goto out;
	snprintf(name, sizeof(name), "%s.%012llu", log->base, head.seq + 1);
	object = json_pack("{s:s}", "rotated_to", name);
	line = object ? format_record(&head, "broker", "audit.rotate",
	    object, "success", NULL) : NULL;
	if (line == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (check_record_size(&head, line, err, errlen) != 0 ||
	    append_locked(log, created, line, err, errlen) != 0 ||
	    rotate_locked(log, head.seq + 1, rotated, rotatedlen, err,
	    errlen) != 0)
		goto out;
	rc = 0;
out:
	json_decref(object);
	free(line);
	unlock_log(log);
	return rc;
}

void
audit_signature_clear(struct audit_signature *sig)
{
	free(sig->signature);
	memset(sig, 0, sizeof(*sig));
}

int
audit_checkpoint_due(const struct audit_log *log)
{
	return log != NULL &&
	    time(NULL) - log->last_checkpoint >= log->checkpoint_interval;
}

int
audit_checkpoint(struct audit_log *log, audit_sign_fn sign, void *arg,
    char *err, size_t errlen)
{
	struct audit_signature sig = { 0 };
	struct audit_head head;
	char ignored[AUDIT_ERR_MAX];
	json_t *object = NULL;
	int rc = -1;

	if (audit_read_head(log, &head, err, errlen) != 0)
		return -1;
	if (head.seq == 0 || strcmp(head.action, "audit.checkpoint") == 0)
		return 0;
	if (sign(arg, head.hash, &sig, err, errlen) != 0) {
		object = json_pack("{s:I, s:s}", "head_seq",
		    (json_int_t)head.seq, "head", head.hash);
		audit_append(log, "broker", "audit.checkpoint", object,
		    "failure", err, ignored, sizeof(ignored));
		goto out;
	}
	object = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s}", "head_seq",
	    (json_int_t)head.seq, "head", head.hash, "key_id", sig.key_id,
	    "algorithm", sig.algorithm, "signed_at", sig.signed_at,
	    "signature", sig.signature);
	if (object == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (audit_append(log, "signer", "audit.checkpoint", object,
	    "success", NULL, err, errlen) != 0)
		goto out;
	log->last_checkpoint = time(NULL);
	rc = 0;
out:
	json_decref(object);
	audit_signature_clear(&sig);
	return rc;
}
