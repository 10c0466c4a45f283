/*
 * Helpers that the audit log's writer and its verifier share: the hash
 * of a record, record times and the list of rotated files.
 */
#include "broker/audit.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#define ROTATED_DIGITS 12

void
audit_hash_hex(const void *data, size_t len, char hex[AUDIT_HASH_HEX + 1])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != AUDIT_HASH_HEX / 2) {
		/* Only an OpenSSL failure gets here; no record matches it. */
		memset(hex, 'x', AUDIT_HASH_HEX);
		hex[AUDIT_HASH_HEX] = '\0';
		return;
	}
	for (unsigned int i = 0; i < mdlen; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 0x0f];
	}
	hex[AUDIT_HASH_HEX] = '\0';
}

void
audit_time_now(char *out, size_t outlen)
{
	struct timespec ts;
	struct tm tm;
	char date[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, outlen, "%s.%03ldZ", date, ts.tv_nsec / 1000000);
}

/* Reads exactly count digits into *value. */
static int
read_number(const char **text, int count, int *value)
{
	*value = 0;
	for (int i = 0; i < count; i++) {
		if (**text < '0' || **text > '9')
			return -1;
		*value = *value * 10 + (*(*text)++ - '0');
	}
	return 0;
}

int
audit_time_parse(const char *text, long long *seconds)
{
	struct tm tm;
	int year, month, day, hour = 0, minute = 0, second = 0;
	const char *p = text;

	memset(&tm, 0, sizeof(tm));
	if (read_number(&p, 4, &year) != 0 || *p++ != '-' ||
	    read_number(&p, 2, &month) != 0 || *p++ != '-' ||
	    read_number(&p, 2, &day) != 0)
		return -1;
	if (*p == 'T') {
		p++;
		if (read_number(&p, 2, &hour) != 0 || *p++ != ':' ||
		    read_number(&p, 2, &minute) != 0 || *p++ != ':' ||
		    read_number(&p, 2, &second) != 0)
			return -1;
		if (*p == '.') {
			p++;
			if (*p < '0' || *p > '9')
				return -1;
			p += strspn(p, "0123456789");
		}
		if (*p++ != 'Z')
			return -1;
	}
	if (*p != '\0' || month < 1 || month > 12 || day < 1 || day > 31 ||
	    hour > 23 || minute > 59 || second > 60)
		return -1;
	tm.tm_year = year - 1900;
	tm.tm_mon = month - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = minute;
	tm.tm_sec = second;
	*seconds = (long long)timegm(&tm);
	return 0;
}

/* Returns 1 when name is base followed by '.' and 12 digits. */
static int
is_rotated_name(const char *name, const char *base)
{
	size_t len = strlen(base);

	return strncmp(name, base, len) == 0 && name[len] == '.' &&
	    strlen(name + len + 1) == ROTATED_DIGITS &&
	    strspn(name + len + 1, "0123456789") == ROTATED_DIGITS;
}

static int
compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Splits path into a directory (".") and a base name; both malloc'd. */
static int
split_path(const char *path, char **dir, char **base)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL) {
		*dir = strdup(".");
		*base = strdup(path);
	} else {
		*dir = slash == path ? strdup("/") :
		    strndup(path, (size_t)(slash - path));
		*base = strdup(slash + 1);
	}
	return *dir != NULL && *base != NULL ? 0 : -1;
}

/* Appends a copy of text to the list. */
static int
add_file(char ***files, long *count, const char *dir, const char *name)
{
	char **grown = realloc(*files, (size_t)(*count + 1) * sizeof(**files));

	if (grown == NULL)
		return -1;
	*files = grown;
	if (asprintf(&grown[*count], "%s/%s", dir, name) < 0)
		return -1;
	(*count)++;
	return 0;
}

long
audit_list_files(const char *path, char ***files, char *err, size_t errlen)
{
	char *dir = NULL, *base = NULL;
	struct dirent *entry;
	long count = 0, rotated;
	int current = 0;
	DIR *d = NULL;

	*files = NULL;
	if (split_path(path, &dir, &base) != 0)
		goto nomem;
	d = opendir(dir);
	if (d == NULL) {
		snprintf(err, errlen, "cannot read directory %s: %s (check "
		    "audit file in the configuration)", dir, strerror(errno));
		goto fail;
	}
	while ((entry = readdir(d)) != NULL) {
		if (strcmp(entry->d_name, base) == 0)
			current = 1;
		else if (is_rotated_name(entry->d_name, base) &&
		    add_file(files, &count, dir, entry->d_name) != 0)
			goto nomem;
	}
	rotated = count;
	/* With no rotated file the list may still be NULL. */
	if (rotated > 1)
		qsort(*files, (size_t)rotated, sizeof(**files),
		    compare_names);
	if (current && add_file(files, &count, dir, base) != 0)
		goto nomem;
	closedir(d);
	free(dir);
	free(base);
	return count;
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	if (d != NULL)
		closedir(d);
	audit_free_files(*files, count);
	*files = NULL;
	free(dir);
	free(base);
	return -1;
}

void
audit_free_files(char **files, long count)
{
	for (long i = 0; i < count; i++)
		free(files[i]);
	free(files);
}
