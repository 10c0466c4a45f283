#include "broker/dns_journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NAME_CHARS "abcdefghijklmnopqrstuvwxyz0123456789-_."
#define VALUE_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" \
	"0123456789-_"
#define FILE_PREFIX "pending-"

static int
make_dir(const char *state_dir, char *dir, size_t size, char *err,
    size_t errlen)
{
	snprintf(dir, size, "%s/%s", state_dir, DNS_JOURNAL_DIR);
	if (mkdir(dir, 0700) == 0 || errno == EEXIST)
		return 0;
	snprintf(err, errlen, "cannot create %s: %s (check broker state-dir "
	    "and its owner)", dir, strerror(errno));
	return -1;
}

int
dns_journal_open(const char *state_dir, struct dns_journal *journal,
    char *err, size_t errlen)
{
	char dir[4096];

	journal->fd = -1;
	journal->outstanding = 0;
	if (make_dir(state_dir, dir, sizeof(dir), err, errlen) != 0)
		return -1;
	snprintf(journal->path, sizeof(journal->path), "%s/" FILE_PREFIX
	    "%ld-%ld", dir, (long)getpid(), (long)time(NULL));
	journal->fd = open(journal->path, O_WRONLY | O_CREAT | O_EXCL |
	    O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (journal->fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s (check broker "
		    "state-dir and its owner)", journal->path,
		    strerror(errno));
		return -1;
	}
	if (flock(journal->fd, LOCK_EX | LOCK_NB) != 0) {
		snprintf(err, errlen, "cannot lock %s: %s", journal->path,
		    strerror(errno));
		close(journal->fd);
		unlink(journal->path);
		journal->fd = -1;
		return -1;
	}
	return 0;
}

int
dns_journal_write(struct dns_journal *journal, const char *action,
    const char *zone, const char *record, const char *value, char *err,
    size_t errlen)
{
	char line[1024];
	int n;

	n = snprintf(line, sizeof(line), "%s %s %s %s\n", action, zone,
	    record, value);
	if (n < 0 || (size_t)n >= sizeof(line) ||
	    write(journal->fd, line, (size_t)n) != n ||
	    fdatasync(journal->fd) != 0) {
		snprintf(err, errlen, "cannot write %s: %s (check free space "
		    "in broker state-dir)", journal->path, strerror(errno));
		return -1;
	}
	if (strcmp(action, "add") == 0)
		journal->outstanding++;
	else if (journal->outstanding > 0)
		journal->outstanding--;
	return 0;
}

void
dns_journal_close(struct dns_journal *journal)
{
	if (journal->fd < 0)
		return;
	if (journal->outstanding == 0)
		unlink(journal->path);
	close(journal->fd);
	journal->fd = -1;
}

static int
field_ok(const char *text, const char *allowed)
{
	return text[0] != '\0' && strspn(text, allowed) == strlen(text);
}

int
dns_journal_parse_line(char *line, char **action, char **zone,
    char **record, char **value)
{
	char *save = NULL;

	*action = strtok_r(line, " ", &save);
	*zone = strtok_r(NULL, " ", &save);
	*record = strtok_r(NULL, " ", &save);
	*value = strtok_r(NULL, " ", &save);
	if (*value == NULL || strtok_r(NULL, " ", &save) != NULL)
		return -1;
	if (strcmp(*action, "add") != 0 && strcmp(*action, "remove") != 0)
		return -1;
	if (!field_ok(*zone, NAME_CHARS) || !field_ok(*record, NAME_CHARS) ||
	    !field_ok(*value, VALUE_CHARS))
		return -1;
	return 0;
}

struct leftover {
	char *zone;
	char *record;
	char *value;
	int removed;
};

/* Lists the values that lines add and later lines do not remove. */
static size_t
outstanding_values(char *text, struct leftover *items, size_t max)
{
	char *line, *save = NULL, *action, *zone, *record, *value;
	size_t count = 0;

	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (dns_journal_parse_line(line, &action, &zone, &record,
		    &value) != 0)
			continue;
		if (strcmp(action, "add") == 0 && count < max) {
			items[count++] = (struct leftover){ zone, record,
			    value, 0 };
			continue;
		}
		for (size_t i = 0; i < count; i++)
			if (!items[i].removed &&
			    strcmp(items[i].zone, zone) == 0 &&
			    strcmp(items[i].record, record) == 0 &&
			    strcmp(items[i].value, value) == 0) {
				items[i].removed = 1;
				break;
			}
	}
	return count;
}

static char *
read_locked_file(int fd)
{
	char *text = malloc(DNS_JOURNAL_MAX + 1);
	size_t len = 0;
	ssize_t n;

	if (text == NULL)
		return NULL;
	while (len < DNS_JOURNAL_MAX &&
	    (n = read(fd, text + len, DNS_JOURNAL_MAX - len)) > 0)
		len += (size_t)n;
	text[len] = '\0';
	return text;
}

/* Recovers one file; returns the number of values still left. */
static size_t
recover_file(const char *path, dns_leftover_fn remove, void *arg)
{
	struct leftover items[512];
	size_t count, left = 0;
	char *text;
	int fd;

	fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	/* A file that another process locks belongs to a run in progress. */
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		close(fd);
		return 0;
	}
	text = read_locked_file(fd);
	if (text == NULL) {
		close(fd);
		return 1;
	}
	count = outstanding_values(text, items, 512);
	for (size_t i = 0; i < count; i++)
		if (!items[i].removed && remove(arg, items[i].zone,
		    items[i].record, items[i].value) != 0)
			left++;
	if (left == 0)
		unlink(path);
	free(text);
	close(fd);
	return left;
}

int
dns_journal_recover(const char *state_dir, dns_leftover_fn remove,
    void *arg, size_t *left, char *err, size_t errlen)
{
	char dir[4096], path[4096 + 300];
	struct dirent *entry;
	DIR *d;

	*left = 0;
	if (make_dir(state_dir, dir, sizeof(dir), err, errlen) != 0)
		return -1;
	d = opendir(dir);
	if (d == NULL) {
		snprintf(err, errlen, "cannot read %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	while ((entry = readdir(d)) != NULL) {
		if (strncmp(entry->d_name, FILE_PREFIX,
		    strlen(FILE_PREFIX)) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, entry->d_name);
		*left += recover_file(path, remove, arg);
	}
	closedir(d);
	return 0;
}
