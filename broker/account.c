/*
 * Account records in the state directory, cooldowns after rate limits,
 * and the order in which an issuance tries issuers and accounts.
 */
#include "broker/account.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "broker/http.h"
#include "logging/log.h"

#define COOLDOWN_FILE ".cooldown"

static const char *const record_members[] = {
	"key_id", "url", "status", "created", "last_used", "cooldown_until",
	"cooldown_reason", NULL,
};

/* Returns 1 when name can be one component of a path. */
static int
is_file_name(const char *name)
{
	return name[0] != '\0' && name[0] != '.' && strchr(name, '/') == NULL;
}

int
account_record_path(const char *state_dir, const char *issuer,
    const char *account, char **dir, char **path, char *err, size_t errlen)
{
	char *directory = NULL;

	*path = NULL;
	if (dir != NULL)
		*dir = NULL;
	if (!is_file_name(issuer) || (account != NULL &&
	    !is_file_name(account))) {
		snprintf(err, errlen, "issuer \"%s\" or account \"%s\" cannot "
		    "be a file name (use plain names in the configuration)",
		    issuer, account != NULL ? account : "");
		return -1;
	}
	if (asprintf(&directory, "%s/accounts/%s", state_dir, issuer) < 0 ||
	    asprintf(path, "%s/%s.json", directory,
	    account != NULL ? account : COOLDOWN_FILE) < 0) {
		free(directory);
		*path = NULL;
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (dir != NULL)
		*dir = directory;
	else
		free(directory);
	return 0;
}

/* Reads an optional integer member; absent leaves *out unchanged. */
static int
get_time(const json_t *doc, const char *name, long long *out, char *reason,
    size_t reasonlen)
{
	const json_t *value = json_object_get(doc, name);

	if (value == NULL)
		return 0;
	if (!json_is_integer(value) || json_integer_value(value) < 0) {
		snprintf(reason, reasonlen, "member \"%s\" is not a number of "
		    "seconds", name);
		return -1;
	}
	*out = json_integer_value(value);
	return 0;
}

static int
read_record(const json_t *doc, struct account_record *record, char *reason,
    size_t reasonlen)
{
	const char *key_id = NULL, *url, *status, *cooldown_reason;

	if (ipc_check_members(doc, record_members, reason, reasonlen) != 0 ||
	    (json_object_get(doc, "key_id") != NULL &&
	    ipc_get_key_id(doc, "key_id", &key_id, reason, reasonlen) != 0) ||
	    ipc_get_string(doc, "url", 2048, 1, &url, reason,
	    reasonlen) != 0 ||
	    ipc_get_string(doc, "status", sizeof(record->status) - 1, 1,
	    &status, reason, reasonlen) != 0 ||
	    ipc_get_string(doc, "cooldown_reason", ACCOUNT_REASON_MAX - 1, 1,
	    &cooldown_reason, reason, reasonlen) != 0 ||
	    get_time(doc, "created", &record->created, reason,
	    reasonlen) != 0 ||
	    get_time(doc, "last_used", &record->last_used, reason,
	    reasonlen) != 0 ||
	    get_time(doc, "cooldown_until", &record->cooldown_until, reason,
	    reasonlen) != 0)
		return -1;
	if (url != NULL && !http_url_is_https(url)) {
		snprintf(reason, reasonlen, "member \"url\" is not https://");
		return -1;
	}
	if (key_id != NULL)
		memcpy(record->key_id, key_id, IPC_KEY_ID_LEN + 1);
	if (status != NULL)
		snprintf(record->status, sizeof(record->status), "%s", status);
	if (cooldown_reason != NULL)
		snprintf(record->cooldown_reason,
		    sizeof(record->cooldown_reason), "%s", cooldown_reason);
	if (url != NULL && (record->url = strdup(url)) == NULL) {
		snprintf(reason, reasonlen, "out of memory");
		return -1;
	}
	return 0;
}

int
account_record_load(const char *path, struct account_record *record,
    char *err, size_t errlen)
{
	json_error_t error;
	char reason[160];
	json_t *doc;
	int fd, rc = -1;

	memset(record, 0, sizeof(*record));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0) {
		snprintf(err, errlen, "cannot read account record %s: %s (run "
		    "custos issue as root or as the broker user)", path,
		    strerror(errno));
		return -1;
	}
	doc = json_loadfd(fd, JSON_REJECT_DUPLICATES, &error);
	close(fd);
	if (doc == NULL || !json_is_object(doc))
		snprintf(reason, sizeof(reason), "%s",
		    doc == NULL ? error.text : "not a JSON object");
	else if (read_record(doc, record, reason, sizeof(reason)) == 0)
		rc = 0;
	if (rc != 0) {
		account_record_clear(record);
		snprintf(err, errlen, "invalid account record %s: %s (remove "
		    "it to register a new account)", path, reason);
	}
	json_decref(doc);
	return rc;
}

void
account_record_clear(struct account_record *record)
{
	free(record->url);
	memset(record, 0, sizeof(*record));
}

static json_t *
record_json(const struct account_record *record)
{
	json_t *doc = json_object();
	int rc = 0;

	if (doc == NULL)
		return NULL;
	if (record->key_id[0] != '\0')
		rc |= json_object_set_new(doc, "key_id",
		    json_string(record->key_id));
	if (record->url != NULL)
		rc |= json_object_set_new(doc, "url", json_string(record->url));
	if (record->status[0] != '\0')
		rc |= json_object_set_new(doc, "status",
		    json_string(record->status));
	if (record->created > 0)
		rc |= json_object_set_new(doc, "created",
		    json_integer(record->created));
	if (record->last_used > 0)
		rc |= json_object_set_new(doc, "last_used",
		    json_integer(record->last_used));
	if (record->cooldown_until > 0)
		rc |= json_object_set_new(doc, "cooldown_until",
		    json_integer(record->cooldown_until)) |
		    json_object_set_new(doc, "cooldown_reason",
		    json_string(record->cooldown_reason));
	if (rc != 0) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

/* Creates STATE-DIR/accounts/ISSUER and its parent, mode 0700. */
static int
make_record_dir(const char *dir)
{
	char *parent, *slash;
	int rc;

	parent = strdup(dir);
	if (parent == NULL)
		return -1;
	slash = strrchr(parent, '/');
	if (slash != NULL)
		*slash = '\0';
	rc = mkdir(parent, 0700) != 0 && errno != EEXIST ? -1 : 0;
	free(parent);
	if (rc == 0 && mkdir(dir, 0700) != 0 && errno != EEXIST)
		rc = -1;
	return rc;
}

static int
write_all(int fd, const char *text)
{
	size_t len = strlen(text);

	return write(fd, text, len) == (ssize_t)len ? 0 : -1;
}

/* Writes text to path through path.tmp, fsynced and renamed. */
static int
replace_file(const char *dir, const char *path, const char *text)
{
	char *tmp = NULL;
	int fd = -1, dfd, rc = -1;

	if (make_record_dir(dir) != 0 || asprintf(&tmp, "%s.tmp", path) < 0) {
		tmp = NULL;
		goto out;
	}
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write_all(fd, text) != 0 || write_all(fd, "\n") != 0 ||
	    fsync(fd) != 0 || rename(tmp, path) != 0)
		goto out;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	rc = 0;
out:
	if (rc != 0 && tmp != NULL)
		unlink(tmp);
	if (fd >= 0)
		close(fd);
	free(tmp);
	return rc;
}

int
account_record_save(const char *dir, const char *path,
    const struct account_record *record, char *err, size_t errlen)
{
	json_t *doc = record_json(record);
	char *text = NULL;
	int rc = -1;

	if (doc != NULL)
		text = json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS);
	if (text == NULL)
		snprintf(err, errlen, "out of memory");
	else if (replace_file(dir, path, text) != 0)
		snprintf(err, errlen, "cannot write account record %s: %s "
		    "(check broker state-dir and its permissions)", path,
		    strerror(errno));
	else
		rc = 0;
	free(text);
	json_decref(doc);
	return rc;
}

int
account_cooldown(const char *state_dir, const char *issuer,
    const char *account, long seconds, const char *reason, char *err,
    size_t errlen)
{
	struct account_record record;
	char *dir = NULL, *path = NULL;
	int rc = -1;

	if (seconds < 1)
		seconds = 1;
	if (seconds > ACCOUNT_COOLDOWN_MAX)
		seconds = ACCOUNT_COOLDOWN_MAX;
	if (account_record_path(state_dir, issuer, account, &dir, &path, err,
	    errlen) != 0 ||
	    account_record_load(path, &record, err, errlen) != 0)
		goto out;
	record.cooldown_until = (long long)time(NULL) + seconds;
	snprintf(record.cooldown_reason, sizeof(record.cooldown_reason), "%s",
	    reason);
	rc = account_record_save(dir, path, &record, err, errlen);
	account_record_clear(&record);
	if (rc == 0)
		log_warn("%s %s%s%s cools down for %ld seconds: %s",
		    account != NULL ? "account" : "issuer", issuer,
		    account != NULL ? "/" : "", account != NULL ? account : "",
		    seconds, reason);
out:
	free(dir);
	free(path);
	return rc;
}

/* Returns 1 when list names word. */
static int
lists(const struct policy_word *list, size_t count, const char *word)
{
	for (size_t i = 0; i < count; i++)
		if (strcmp(list[i].text, word) == 0)
			return 1;
	return 0;
}

/*
 * Reads the cooldown end and last use of an issuer (account NULL) or
 * account, and logs a cooldown still running at now. Returns 0, or -1 on
 * an invalid record.
 */
static int
read_cooldown(const char *state_dir, const char *issuer, const char *account,
    time_t now, long long *until, long long *last_used, char *err,
    size_t errlen)
{
	struct account_record record;
	char *path = NULL;
	int rc = -1;

	if (account_record_path(state_dir, issuer, account, NULL, &path, err,
	    errlen) == 0 && account_record_load(path, &record, err,
	    errlen) == 0) {
		if (record.cooldown_until > (long long)now)
			log_info("%s %s%s%s cools down for %lld more seconds "
			    "after: %s; trying it last", account ? "account" :
			    "issuer", issuer, account ? "/" : "",
			    account ? account : "",
			    record.cooldown_until - (long long)now,
			    record.cooldown_reason);
		*until = record.cooldown_until;
		*last_used = record.last_used;
		account_record_clear(&record);
		rc = 0;
	}
	free(path);
	return rc;
}

static int
add_candidate(struct account_plan *plan, const struct config_issuer *issuer,
    const char *account, long long last_used, long long cooldown_until)
{
	struct account_candidate *grown;

	grown = realloc(plan->items, (plan->count + 1) * sizeof(*grown));
	if (grown == NULL)
		return -1;
	plan->items = grown;
	grown[plan->count].issuer = issuer;
	grown[plan->count].account = account;
	grown[plan->count].last_used = last_used;
	grown[plan->count].cooldown_until = cooldown_until;
	plan->count++;
	return 0;
}

static int
by_last_use(const void *a, const void *b)
{
	const struct account_candidate *x = a, *y = b;

	return (x->last_used > y->last_used) - (x->last_used < y->last_used);
}

static int
by_cooldown_end(const void *a, const void *b)
{
	const struct account_candidate *x = a, *y = b;

	return (x->cooldown_until > y->cooldown_until) -
	    (x->cooldown_until < y->cooldown_until);
}

/*
 * Adds the issuer's permitted accounts, least recently used first, each
 * with the later of its own and the issuer's cooldown ends.
 */
static int
add_issuer(const struct custos_config *config,
    const struct policy_tenant *tenant, const struct config_issuer *issuer,
    time_t now, struct account_plan *plan, char *err, size_t errlen)
{
	const char *state_dir = config->broker.state_dir;
	size_t first = plan->count;
	long long issuer_until = 0, until, last_used;

	if (read_cooldown(state_dir, issuer->name, NULL, now, &issuer_until,
	    &last_used, err, errlen) != 0)
		return -1;
	for (size_t i = 0; i < issuer->account_count; i++) {
		if (!lists(tenant->accounts, tenant->account_count,
		    issuer->accounts[i]))
			continue;
		if (read_cooldown(state_dir, issuer->name,
		    issuer->accounts[i], now, &until, &last_used, err,
		    errlen) != 0)
			return -1;
		if (add_candidate(plan, issuer, issuer->accounts[i],
		    last_used, until > issuer_until ? until :
		    issuer_until) != 0) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	qsort(plan->items + first, plan->count - first, sizeof(*plan->items),
	    by_last_use);
	return 0;
}

/*
 * Moves the candidates cooling down at now behind the others, keeping
 * the order of the others, and orders them by the end of their cooldown.
 */
static void
defer_cooling(struct account_plan *plan, time_t now)
{
	struct account_candidate *sorted;
	size_t ready = 0, next_ready = 0, next_cooling, i;

	sorted = malloc(plan->count * sizeof(*sorted));
	if (sorted == NULL)
		return;
	for (i = 0; i < plan->count; i++)
		if (plan->items[i].cooldown_until <= (long long)now)
			ready++;
	next_cooling = ready;
	for (i = 0; i < plan->count; i++) {
		if (plan->items[i].cooldown_until <= (long long)now)
			sorted[next_ready++] = plan->items[i];
		else
			sorted[next_cooling++] = plan->items[i];
	}
	qsort(sorted + ready, plan->count - ready, sizeof(*sorted),
	    by_cooldown_end);
	memcpy(plan->items, sorted, plan->count * sizeof(*sorted));
	free(sorted);
}

int
account_plan_build(const struct custos_config *config,
    const struct policy_tenant *tenant, const char *pinned, time_t now,
    struct account_plan *plan, char *err, size_t errlen)
{
	const struct config_issuer *issuer;

	memset(plan, 0, sizeof(*plan));
	for (size_t i = 0; i < tenant->issuer_count; i++) {
		issuer = config_find_issuer(config, tenant->issuers[i].text);
		if (issuer == NULL || (pinned != NULL &&
		    strcmp(pinned, issuer->name) != 0))
			continue;
		if (add_issuer(config, tenant, issuer, now, plan, err,
		    errlen) != 0) {
			account_plan_clear(plan);
			return -1;
		}
	}
	if (plan->count > 0) {
		defer_cooling(plan, now);
		return 0;
	}
	snprintf(err, errlen, "tenant %s has no usable issuer and account%s%s "
	    "(check the tenant's issuers and accounts, and the issuer "
	    "blocks' account lists)", tenant->name,
	    pinned != NULL ? " for issuer " : "", pinned != NULL ? pinned : "");
	return -1;
}

void
account_plan_clear(struct account_plan *plan)
{
	free(plan->items);
	memset(plan, 0, sizeof(*plan));
}
