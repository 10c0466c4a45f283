#include "broker/store_usage.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#define USAGE_PATH_MAX 4096

/* Returns 1 when path names a directory whose name does not start "." */
static int
is_entry_dir(const char *dir, const char *name, char *path, size_t len)
{
	struct stat st;
	int n;

	if (name[0] == '.')
		return 0;
	n = snprintf(path, len, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= len)
		return 0;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Reads the time at the start of a VERSION name; -1 when it has none. */
static time_t
version_time(const char *name)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(name, "%Y%m%dT%H%M%SZ-", &tm);
	return end == NULL ? (time_t)-1 : timegm(&tm);
}

/* Returns 1 when LABEL_DIR/current/cert.pem is valid after now. */
static int
current_unexpired(const char *label_dir, time_t now)
{
	char path[USAGE_PATH_MAX + 32];
	X509 *cert = NULL;
	FILE *f;
	int unexpired = 0;

	snprintf(path, sizeof(path), "%s/current/cert.pem", label_dir);
	f = fopen(path, "re");
	if (f == NULL)
		return 0;
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (cert != NULL)
		unexpired = X509_cmp_time(X509_get0_notAfter(cert), &now) > 0;
	X509_free(cert);
	return unexpired;
}

/* Adds the versions of one LABEL stored in the last hour and day. */
static void
count_versions(const char *label_dir, time_t now, struct store_usage *usage)
{
	struct dirent *entry;
	time_t when;
	DIR *d;

	d = opendir(label_dir);
	if (d == NULL)
		return;
	while ((entry = readdir(d)) != NULL) {
		if (entry->d_name[0] == '.' ||
		    (when = version_time(entry->d_name)) == (time_t)-1)
			continue;
		if (now - when < 3600)
			usage->last_hour++;
		if (now - when < 86400)
			usage->last_day++;
	}
	closedir(d);
}

int
store_usage_count(const char *store_dir, const char *tenant,
    const char *label, time_t now, struct store_usage *usage, char *err,
    size_t errlen)
{
	char tenant_dir[USAGE_PATH_MAX], label_dir[USAGE_PATH_MAX];
	struct dirent *entry;
	DIR *d;

	memset(usage, 0, sizeof(*usage));
	snprintf(tenant_dir, sizeof(tenant_dir), "%s/%s", store_dir, tenant);
	d = opendir(tenant_dir);
	if (d == NULL && errno == ENOENT)
		return 0;
	if (d == NULL) {
		snprintf(err, errlen, "cannot read store directory %s: %s "
		    "(the policy's certificate limits count its versions)",
		    tenant_dir, strerror(errno));
		return -1;
	}
	while ((entry = readdir(d)) != NULL) {
		if (!is_entry_dir(tenant_dir, entry->d_name, label_dir,
		    sizeof(label_dir)))
			continue;
		count_versions(label_dir, now, usage);
		if (strcmp(entry->d_name, label) != 0 &&
		    current_unexpired(label_dir, now))
			usage->held++;
	}
	closedir(d);
	return 0;
}

int
store_usage_held(const char *store_dir, const char *tenant,
    const char *label, time_t now)
{
	char label_dir[USAGE_PATH_MAX];

	if (snprintf(label_dir, sizeof(label_dir), "%s/%s/%s", store_dir,
	    tenant, label) >= (int)sizeof(label_dir))
		return 0;
	return current_unexpired(label_dir, now);
}
