/*
 * The SQLite state: migrations from an older schema, certificates, tasks,
 * orders, attempts and versions.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <sys/resource.h>

#include <sqlite3.h>

#include "broker/state.h"
#include "tests/unit/check.h"

static char dir[] = "/tmp/custos-state-XXXXXX";
static char path[128];
static char err[512];

static void
fresh_path(void)
{
	static int n;

	snprintf(path, sizeof(path), "%s/%d.db", dir, n++);
}

/*
 * Runs first, before any other test has initialised SQLite: with
 * state_library_init(), a connection that has read a few pages costs
 * well under the 75 KiB that SQLite's default first page allocation
 * alone takes.
 */
static void
test_connection_memory_is_small(void)
{
	struct state *conns[8] = { NULL };
	sqlite3_int64 before, per_connection;
	int64_t next_cert = 0, next_due = 0;
	int opened = 0;

	state_library_init();
	fresh_path();
	CHECK_INT(state_open(path, &conns[0], err, sizeof(err)), 0);
	state_close(conns[0]);
	before = sqlite3_memory_used();
	for (int i = 0; i < 8; i++) {
		if (state_open(path, &conns[i], err, sizeof(err)) != 0)
			break;
		opened++;
		state_task_next(conns[i], &next_cert, &next_due, err,
		    sizeof(err));
	}
	CHECK_INT(opened, 8);
	per_connection = (sqlite3_memory_used() - before) / 8;
	printf("# %lld bytes per connection\n", (long long)per_connection);
	CHECK(per_connection < 64 * 1024);
	for (int i = 0; i < opened; i++)
		state_close(conns[i]);
}

static struct state_cert
sample_cert(const char *label)
{
	struct state_cert c = {
		.tenant = "lab",
		.label = (char *)label,
		.names = "a.demo.test b.demo.test",
		.key_type = "ec-p256",
		.issuer = "pebble",
		.created = 1000,
	};

	return c;
}

/* Returns the integer result of sql run directly on the file. */
static long long
query_int(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *stmt;
	long long value = -1;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		return -1;
	if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK) {
		if (sqlite3_step(stmt) == SQLITE_ROW)
			value = sqlite3_column_int64(stmt, 0);
		sqlite3_finalize(stmt);
	}
	sqlite3_close(db);
	return value;
}

static void
test_open_new_database(void)
{
	struct state *st;

	fresh_path();
	CHECK_INT(state_open(path, &st, err, sizeof(err)), 0);
	CHECK_INT(state_schema_version(st), STATE_SCHEMA_VERSION);
	state_close(st);
	CHECK_INT(query_int("PRAGMA user_version"), STATE_SCHEMA_VERSION);
	CHECK_INT(query_int("SELECT count(*) FROM sqlite_master WHERE"
	    " type = 'index' AND name = 'tasks_due'"), 1);
	CHECK_INT(query_int("SELECT count(*) FROM sqlite_master WHERE"
	    " type = 'index' AND name = 'versions_deploy_pending'"), 1);
	CHECK_INT(query_int("SELECT count(*) FROM sqlite_master WHERE"
	    " type = 'index' AND name = 'attempts_running'"), 1);
}

static void
test_wal_mode(void)
{
	struct state *st;
	sqlite3 *db;
	sqlite3_stmt *stmt;
	const unsigned char *mode = NULL;

	fresh_path();
	CHECK_INT(state_open(path, &st, err, sizeof(err)), 0);
	state_close(st);
	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_INT(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt,
	    NULL), SQLITE_OK);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		mode = sqlite3_column_text(stmt, 0);
	CHECK_STR((const char *)mode, "wal");
	sqlite3_finalize(stmt);
	sqlite3_close(db);
}

static void
test_migrate_from_version_one(void)
{
	struct state_cert got;
	struct state *st;
	int64_t id = 1;

	fresh_path();
	CHECK_INT(state_open_schema(path, 1, &st, err, sizeof(err)), 0);
	CHECK_INT(state_schema_version(st), 1);
	state_close(st);
	/* Rows written by a version 1 program, without last_error. */
	CHECK_INT(query_int("SELECT count(*) FROM pragma_table_info('tasks')"
	    " WHERE name = 'last_error'"), 0);
	query_int("INSERT INTO certificates (id, tenant, label, names,"
	    " key_type, issuer, created) VALUES (1, 'lab', 'a.demo.test',"
	    " 'a.demo.test b.demo.test', 'ec-p256', 'pebble', 1000)");
	query_int("INSERT INTO tasks (cert_id, due) VALUES (1, 5000)");

	CHECK_INT(state_open(path, &st, err, sizeof(err)), 0);
	CHECK_INT(state_schema_version(st), STATE_SCHEMA_VERSION);
	CHECK_INT(state_cert_get(st, id, &got, err, sizeof(err)), 0);
	CHECK_STR(got.names, "a.demo.test b.demo.test");
	CHECK_INT(got.due, 5000);
	CHECK(got.last_error == NULL);
	CHECK_INT(got.imported, 0);
	CHECK_INT(got.not_after, 0);
	state_cert_clear(&got);
	state_close(st);
	CHECK_INT(query_int("SELECT count(*) FROM pragma_table_info('tasks')"
	    " WHERE name = 'last_error'"), 1);
}

static void
test_newer_schema_rejected(void)
{
	struct state *st;

	fresh_path();
	CHECK_INT(state_open(path, &st, err, sizeof(err)), 0);
	state_close(st);
	CHECK_INT(query_int("PRAGMA user_version = 99"), -1);
	CHECK_INT(query_int("PRAGMA user_version"), 99);
	CHECK_INT(state_open(path, &st, err, sizeof(err)), -1);
	CHECK(strstr(err, "schema version 99 is newer") != NULL);
}

static void
test_foreign_keys_enforced(void)
{
	struct state_order order = { .cert_id = 42, .generation = 1,
	    .status = ORDER_NEW };
	struct state *st;

	fresh_path();
	CHECK_INT(state_open(path, &st, err, sizeof(err)), 0);
	CHECK_INT(state_order_save(st, &order, err, sizeof(err)), -1);
	CHECK(strstr(err, "FOREIGN KEY") != NULL);
	state_close(st);
}

static void
test_duplicate_label_rejected(void)
{
	struct state_cert cert = sample_cert("a.demo.test");
	struct state *st;
	int64_t id1 = 0, id2 = 0;

	fresh_path();
	CHECK_INT(state_open(path, &st, err, sizeof(err)), 0);
	CHECK_INT(state_cert_add(st, &cert, 0, &id1, err, sizeof(err)), 0);
	CHECK_INT(state_cert_add(st, &cert, 0, &id2, err, sizeof(err)), -1);
	CHECK(strstr(err, "already has a certificate stored as "
	    "a.demo.test") != NULL);
	/* After removal the label is free again. */
	CHECK_INT(state_cert_remove(st, id1, err, sizeof(err)), 0);
	CHECK_INT(state_cert_add(st, &cert, 0, &id2, err, sizeof(err)), 0);
	CHECK(id2 != id1);
	state_close(st);
}

static void
test_task_order(void)
{
	struct state_cert a = sample_cert("a"), b = sample_cert("b");
	struct state *st;
	int64_t ida, idb, cert_id = 0, due = 0;

	fresh_path();
	CHECK_INT(state_open(path, &st, err, sizeof(err)), 0);
	CHECK_INT(state_task_next(st, &cert_id, &due, err, sizeof(err)), 0);
	CHECK_INT(state_cert_add(st, &a, 900, &ida, err, sizeof(err)), 0);
	CHECK_INT(state_cert_add(st, &b, 100, &idb, err, sizeof(err)), 0);
	CHECK_INT(state_task_next(st, &cert_id, &due, err, sizeof(err)), 1);
	CHECK_INT(cert_id, idb);
	CHECK_INT(due, 100);

	CHECK_INT(state_task_set(st, idb, 2000, 3, "timed out", err,
	    sizeof(err)), 0);
	CHECK_INT(state_task_next(st, &cert_id, &due, err, sizeof(err)), 1);
	CHECK_INT(cert_id, ida);
	CHECK_INT(state_cert_remove(st, ida, err, sizeof(err)), 0);
	CHECK_INT(state_task_next(st, &cert_id, &due, err, sizeof(err)), 1);
	CHECK_INT(cert_id, idb);
	CHECK_INT(due, 2000);
	state_close(st);
}

static void
test_task_failures_recorded(void)
{
	struct state_cert cert = sample_cert("a"), got;
	struct state *st;
	int64_t id;

	fresh_path();
	CHECK_INT(state_open(path, &st, err, sizeof(err)), 0);
	CHECK_INT(state_cert_add(st, &cert, 0, &id, err, sizeof(err)), 0);
	CHECK_INT(state_task_set(st, id, 60, 2, "connection refused", err,
	    sizeof(err)), 0);
	CHECK_INT(state_cert_get(st, id, &got, err, sizeof(err)), 0);
	CHECK_INT(got.failures, 2);
	CHECK_STR(got.last_error, "connection refused");
	state_cert_clear(&got);
	CHECK_INT(state_task_set(st, id, 90, 7, NULL, err, sizeof(err)), 0);
	CHECK_INT(state_cert_get(st, id, &got, err, sizeof(err)), 0);
	CHECK_INT(got.failures, 0);
	CHECK(got.last_error == NULL);
	state_cert_clear(&got);
	state_close(st);
}

static void
test_missing_cert(void)
{
	struct state_cert got;
	struct state *st;

	fresh_path();
	CHECK_INT(state_open(path, &st, err, sizeof(err)), 0);
	CHECK_INT(state_cert_get(st, 7, &got, err, sizeof(err)),
	    STATE_NOT_FOUND);
	CHECK_STR(err, "no certificate with id 7 (see custos cert list)");
	CHECK_INT(state_cert_remove(st, 7, err, sizeof(err)),
	    STATE_NOT_FOUND);
	CHECK_INT(state_cert_reissue(st, 7, 0, err, sizeof(err)),
	    STATE_NOT_FOUND);
	state_close(st);
}

static void
test_reissue_starts_new_request(void)
{
	struct state_cert cert = sample_cert("a"), got;
	struct state_order order = { .generation = 1, .status = ORDER_PENDING,
	    .url = "https://ca.test/order/1" }, open;
	struct state *st;
	int64_t id;

	fresh_path();
	CHECK_INT(state_open(path, &st, err, sizeof(err)), 0);
	CHECK_INT(state_cert_add(st, &cert, 500, &id, err, sizeof(err)), 0);
	order.cert_id = id;
	CHECK_INT(state_order_save(st, &order, err, sizeof(err)), 0);
	CHECK_INT(state_cert_reissue(st, id, 77, err, sizeof(err)), 0);
	CHECK_INT(state_cert_get(st, id, &got, err, sizeof(err)), 0);
	CHECK_INT(got.generation, 2);
	CHECK_INT(got.due, 77);
	state_cert_clear(&got);
	/* The open order belongs to request 1, not to request 2. */
	CHECK_INT(state_order_open(st, id, 2, &open, err, sizeof(err)),
	    STATE_NOT_FOUND);
	CHECK_INT(state_order_open(st, id, 1, &open, err, sizeof(err)), 0);
	CHECK_STR(open.url, "https://ca.test/order/1");
	state_order_clear(&open);
	state_close(st);
}

/*
 * A reissue while request 1 still runs: storing request 1's version must
 * leave request 2 due, not push it to request 1's renewal time.
 */
static void
test_reissue_during_request(void)
{
	struct state_cert cert = sample_cert("a"), got;
	struct state_order order = { .generation = 1, .status = ORDER_PENDING };
	struct state_version v = { .name = "v1", .serial = "01",
	    .not_before = 100, .not_after = 9000, .created = 120 };
	struct state *st;
	int64_t id;

	fresh_path();
	CHECK_INT(state_open(path, &st, err, sizeof(err)), 0);
	CHECK_INT(state_cert_add(st, &cert, 100, &id, err, sizeof(err)), 0);
	order.cert_id = id;
	CHECK_INT(state_order_save(st, &order, err, sizeof(err)), 0);
	CHECK_INT(state_cert_reissue(st, id, 110, err, sizeof(err)), 0);
	v.cert_id = id;
	v.order_id = order.id;
	CHECK_INT(state_version_activate(st, &v, NULL, 6000, err,
	    sizeof(err)), 0);
	CHECK_INT(state_cert_get(st, id, &got, err, sizeof(err)), 0);
	CHECK_INT(got.generation, 2);
	CHECK_INT(got.due, 120);
	state_cert_clear(&got);
	state_close(st);
}

/* A failure of request 1 after a reissue leaves request 2 due. */
static void
test_reissue_after_failure(void)
{
	struct state_cert cert = sample_cert("a"), got;
	struct state *st;
	int64_t id;

	fresh_path();
	CHECK_INT(state_open(path, &st, err, sizeof(err)), 0);
	CHECK_INT(state_cert_add(st, &cert, 100, &id, err, sizeof(err)), 0);
	CHECK_INT(state_cert_reissue(st, id, 110, err, sizeof(err)), 0);
	CHECK_INT(state_task_retry(st, id, 1, 500, 1, "timed out", err,
	    sizeof(err)), 0);
	CHECK_INT(state_cert_get(st, id, &got, err, sizeof(err)), 0);
	CHECK_INT(got.due, 110);
	CHECK_INT(got.failures, 0);
	CHECK(got.last_error == NULL);
	state_cert_clear(&got);
	/* A failure of request 2 itself is recorded. */
	CHECK_INT(state_task_retry(st, id, 2, 500, 1, "timed out", err,
	    sizeof(err)), 0);
	CHECK_INT(state_cert_get(st, id, &got, err, sizeof(err)), 0);
	CHECK_INT(got.due, 500);
	CHECK_INT(got.failures, 1);
	CHECK_STR(got.last_error, "timed out");
	state_cert_clear(&got);
	state_close(st);
}

static void
test_import_has_no_task(void)
{
	struct state_cert cert = sample_cert("a@0a"), got;
	struct state_version v = { .name = "20250101T000000Z-0a",
	    .serial = "0a", .not_before = 100, .not_after = 9000,
	    .created = 200 }, current;
	struct state *st;
	int64_t id = 0, next_id = 0, due = 0;

	fresh_path();
	CHECK_INT(state_open(path, &st, err, sizeof(err)), 0);
	CHECK_INT(state_cert_import(st, &cert, &v, &id, err, sizeof(err)), 0);
	CHECK_INT(v.cert_id, id);
	CHECK_INT(state_cert_get(st, id, &got, err, sizeof(err)), 0);
	CHECK_INT(got.imported, 1);
	CHECK_INT(got.not_after, 9000);
	CHECK_INT(got.due, 0);
	state_cert_clear(&got);
	CHECK_INT(state_version_current(st, id, &current, err, sizeof(err)),
	    0);
	CHECK_STR(current.name, "20250101T000000Z-0a");
	CHECK_INT(current.deploy_pending, DEPLOY_NEW);
	state_version_clear(&current);
	/* The scheduler finds nothing to run, and reissue finds no row. */
	CHECK_INT(state_task_next(st, &next_id, &due, err, sizeof(err)), 0);
	CHECK_INT(state_cert_reissue(st, id, 77, err, sizeof(err)),
	    STATE_NOT_FOUND);
	CHECK_INT(query_int("SELECT count(*) FROM tasks"), 0);
	/* The same label again is rejected and leaves no version behind. */
	CHECK_INT(state_cert_import(st, &cert, &v, &id, err, sizeof(err)),
	    -1);
	CHECK(strstr(err, "already has a certificate stored as a@0a") !=
	    NULL);
	CHECK_INT(query_int("SELECT count(*) FROM versions"), 1);
	state_close(st);
}

static void
test_job_lifecycle(void)
{
	struct state_job job;
	struct state *st;
	int64_t first = 0, second = 0;
	int count = 0;

	fresh_path();
	CHECK_INT(state_open(path, &st, err, sizeof(err)), 0);
	CHECK_INT(state_job_next(st, &job, err, sizeof(err)), 0);
	CHECK_INT(state_job_add(st, "import", "lab", 0, "{\"a\": 1}", 10,
	    &first, err, sizeof(err)), 0);
	CHECK_INT(state_job_add(st, "revoke", "lab", 7, "{}", 11, &second,
	    err, sizeof(err)), 0);

	/* The oldest pending job runs first and cannot be cancelled. */
	CHECK_INT(state_job_next(st, &job, err, sizeof(err)), 1);
	CHECK_INT(job.id, first);
	CHECK_STR(job.kind, "import");
	CHECK_STR(job.request, "{\"a\": 1}");
	CHECK_INT(job.cert_id, 0);
	state_job_clear(&job);
	CHECK_INT(state_job_cancel(st, first, err, sizeof(err)), 0);
	CHECK_INT(state_job_finish(st, first, 201, "{\"id\": 3}", err,
	    sizeof(err)), 0);
	CHECK_INT(state_job_get(st, first, &job, err, sizeof(err)), 0);
	CHECK_STR(job.status, JOB_DONE);
	CHECK_INT(job.http_status, 201);
	CHECK_STR(job.response, "{\"id\": 3}");
	state_job_clear(&job);

	/* A pending job can be cancelled, and then never runs. */
	CHECK_INT(state_job_cancel(st, second, err, sizeof(err)), 1);
	CHECK_INT(state_job_next(st, &job, err, sizeof(err)), 0);

	/* A job running at a crash ends as a 500. */
	CHECK_INT(state_job_add(st, "revoke", "lab", 7, "{}", 12, &second,
	    err, sizeof(err)), 0);
	CHECK_INT(state_job_next(st, &job, err, sizeof(err)), 1);
	state_job_clear(&job);
	CHECK_INT(state_recover(st, 20, &count, err, sizeof(err)), 0);
	CHECK_INT(state_job_get(st, second, &job, err, sizeof(err)), 0);
	CHECK_STR(job.status, JOB_DONE);
	CHECK_INT(job.http_status, 500);
	CHECK(strstr(job.response, "the worker stopped") != NULL);
	state_job_clear(&job);
	CHECK_INT(state_job_get(st, 999, &job, err, sizeof(err)),
	    STATE_NOT_FOUND);

	/* A new job a day later removes the finished ones. */
	CHECK_INT(state_job_add(st, "import", "lab", 0, "{}", 12 + 86401,
	    &second, err, sizeof(err)), 0);
	CHECK_INT(query_int("SELECT count(*) FROM jobs"), 1);
	state_close(st);
}

static void
test_order_lifecycle(void)
{
	struct state_cert cert = sample_cert("a");
	struct state_order order = { .generation = 1, .status = ORDER_NEW,
	    .created = 10 }, open;
	struct state *st;
	int64_t id;

	fresh_path();
	CHECK_INT(state_open(path, &st, err, sizeof(err)), 0);
	CHECK_INT(state_cert_add(st, &cert, 0, &id, err, sizeof(err)), 0);
	order.cert_id = id;
	CHECK_INT(state_order_save(st, &order, err, sizeof(err)), 0);
	CHECK(order.id > 0);
	order.url = "https://ca.test/order/9";
	order.key_id = "00aa";
	snprintf(order.status, sizeof(order.status), ORDER_FINALIZING);
	CHECK_INT(state_order_save(st, &order, err, sizeof(err)), 0);
	CHECK_INT(state_order_open(st, id, 1, &open, err, sizeof(err)), 0);
	CHECK_INT(open.id, order.id);
	CHECK_STR(open.url, "https://ca.test/order/9");
	CHECK_STR(open.key_id, "00aa");
	CHECK_STR(open.status, ORDER_FINALIZING);
	CHECK_INT(open.created, 10);
	state_order_clear(&open);

	snprintf(order.status, sizeof(order.status), ORDER_ABANDONED);
	CHECK_INT(state_order_save(st, &order, err, sizeof(err)), 0);
	CHECK_INT(state_order_open(st, id, 1, &open, err, sizeof(err)),
	    STATE_NOT_FOUND);
	state_close(st);
}

static void
test_order_url_unique(void)
{
	struct state_cert cert = sample_cert("a");
	struct state_order order = { .generation = 1, .status = ORDER_PENDING,
	    .url = "https://ca.test/order/1" };
	struct state *st;
	int64_t id;

	fresh_path();
	CHECK_INT(state_open(path, &st, err, sizeof(err)), 0);
	CHECK_INT(state_cert_add(st, &cert, 0, &id, err, sizeof(err)), 0);
	order.cert_id = id;
	CHECK_INT(state_order_save(st, &order, err, sizeof(err)), 0);
	order.id = 0;
	CHECK_INT(state_order_save(st, &order, err, sizeof(err)), -1);
	state_close(st);
}

static void
test_attempt_recovery(void)
{
	struct state_cert cert = sample_cert("a");
	struct state *st;
	int64_t id, a1, a2;
	int count = -1;

	fresh_path();
	CHECK_INT(state_open(path, &st, err, sizeof(err)), 0);
	CHECK_INT(state_cert_add(st, &cert, 0, &id, err, sizeof(err)), 0);
	CHECK_INT(state_attempt_begin(st, id, 10, &a1, err, sizeof(err)), 0);
	CHECK_INT(state_attempt_end(st, a1, 20, "failed", "timed out", err,
	    sizeof(err)), 0);
	CHECK_INT(state_attempt_begin(st, id, 30, &a2, err, sizeof(err)), 0);
	CHECK_INT(state_recover(st, 40, &count, err, sizeof(err)), 0);
	CHECK_INT(count, 1);
	state_close(st);
	CHECK_INT(query_int("SELECT count(*) FROM attempts WHERE result ="
	    " 'interrupted' AND finished = 40"), 1);
	CHECK_INT(query_int("SELECT count(*) FROM attempts WHERE result ="
	    " 'failed'"), 1);
}

/* The rows of one tally, as "tenant/key=value " each. */
static char counts_seen[256];

static void
collect_count(const struct state_count *row, void *arg)
{
	size_t used = strlen(counts_seen);

	(void)arg;
	snprintf(counts_seen + used, sizeof(counts_seen) - used,
	    "%s/%s=%lld ", row->tenant, row->key != NULL ? row->key : "-",
	    (long long)row->value);
}

/* Reads tally kind into counts_seen; returns state_count_list's result. */
static int
read_counts(struct state *st, enum state_count_kind kind)
{
	counts_seen[0] = '\0';
	return state_count_list(st, kind, collect_count, NULL, err,
	    sizeof(err));
}

static void
test_metric_counts(void)
{
	struct state_cert cert = sample_cert("a");
	struct state_order order = { 0 };
	struct state *st;
	int64_t id, attempt;
	int count = 0;

	fresh_path();
	CHECK_INT(state_open(path, &st, err, sizeof(err)), 0);
	CHECK_INT(state_cert_add(st, &cert, 0, &id, err, sizeof(err)), 0);
	order.cert_id = id;
	order.generation = 1;
	snprintf(order.status, sizeof(order.status), ORDER_NEW);
	CHECK_INT(state_order_save(st, &order, err, sizeof(err)), 0);
	CHECK_INT(state_attempt_begin(st, id, 10, &attempt, err,
	    sizeof(err)), 0);
	CHECK_INT(state_attempt_end(st, attempt, 20, "failed", "timed out",
	    err, sizeof(err)), 0);
	CHECK_INT(state_attempt_begin(st, id, 30, &attempt, err,
	    sizeof(err)), 0);
	CHECK_INT(state_recover(st, 40, &count, err, sizeof(err)), 0);
	CHECK_INT(state_attempt_begin(st, id, 50, &attempt, err,
	    sizeof(err)), 0);
	CHECK_INT(state_attempt_end(st, attempt, 60, "succeeded", NULL, err,
	    sizeof(err)), 0);
	CHECK_INT(state_counter_add(st, "signer_operations", "lab", 5, err,
	    sizeof(err)), 0);
	CHECK_INT(state_counter_add(st, "signer_operations", "lab", 7, err,
	    sizeof(err)), 0);
	CHECK_INT(state_counter_add(st, "signer_operations", "", 1, err,
	    sizeof(err)), 0);

	CHECK_INT(read_counts(st, STATE_COUNT_ORDERS), 0);
	CHECK_STR(counts_seen, "lab/-=1 ");
	CHECK_INT(read_counts(st, STATE_COUNT_ATTEMPTS), 0);
	CHECK_STR(counts_seen, "lab/failed=1 lab/interrupted=1 "
	    "lab/succeeded=1 ");
	CHECK_INT(read_counts(st, STATE_COUNT_FAILURES), 0);
	CHECK_STR(counts_seen, "lab/timed out=1 ");
	/* The second follows a failure, the third an interruption. */
	CHECK_INT(read_counts(st, STATE_COUNT_RETRIES), 0);
	CHECK_STR(counts_seen, "lab/-=2 ");
	CHECK_INT(read_counts(st, STATE_COUNT_LAST_ATTEMPT), 0);
	CHECK_STR(counts_seen, "lab/1=50 ");
	CHECK_INT(read_counts(st, STATE_COUNT_SIGNER), 0);
	CHECK_STR(counts_seen, "/-=1 lab/-=12 ");
	CHECK_INT(read_counts(st, (enum state_count_kind)99), -1);
	CHECK_STR(err, "unknown tally 99");
	state_order_clear(&order);
	state_close(st);
}

static int version_count;
static char version_seen[256];

static void
collect_version(const struct state_version *v, void *arg)
{
	(void)arg;
	version_count++;
	strncat(version_seen, v->name, sizeof(version_seen) -
	    strlen(version_seen) - 2);
	strncat(version_seen, v->status[0] == 'c' ? "* " : " ",
	    sizeof(version_seen) - strlen(version_seen) - 1);
}

static void
test_versions_switch(void)
{
	struct state_cert cert = sample_cert("a"), got;
	struct state_order order = { .generation = 1, .status = ORDER_PENDING };
	struct state_version v1 = { .name = "v1", .serial = "01",
	    .not_before = 100, .not_after = 200, .created = 100 };
	struct state_version v2 = v1, current;
	struct state *st;
	int64_t id;

	fresh_path();
	CHECK_INT(state_open(path, &st, err, sizeof(err)), 0);
	CHECK_INT(state_cert_add(st, &cert, 0, &id, err, sizeof(err)), 0);
	order.cert_id = id;
	CHECK_INT(state_order_save(st, &order, err, sizeof(err)), 0);
	v1.cert_id = v2.cert_id = id;
	v1.order_id = order.id;
	v2.name = "v2";
	v2.serial = "02";
	CHECK_INT(state_version_activate(st, &v1, NULL, 150, err,
	    sizeof(err)), 0);
	CHECK_INT(state_version_activate(st, &v2, NULL, 160, err,
	    sizeof(err)), 0);
	/* The same version again (a restart after storing) stays single. */
	CHECK_INT(state_version_activate(st, &v2, NULL, 160, err,
	    sizeof(err)), 0);

	version_count = 0;
	version_seen[0] = '\0';
	CHECK_INT(state_version_list(st, id, collect_version, NULL, err,
	    sizeof(err)), 0);
	CHECK_INT(version_count, 2);
	CHECK_STR(version_seen, "v2* v1 ");
	CHECK_INT(state_cert_get(st, id, &got, err, sizeof(err)), 0);
	CHECK_INT(got.due, 160);
	state_cert_clear(&got);
	CHECK_INT(state_order_open(st, id, 1, &(struct state_order){ 0 },
	    err, sizeof(err)), STATE_NOT_FOUND);

	CHECK_INT(state_version_current(st, id, &current, err, sizeof(err)),
	    0);
	CHECK_STR(current.name, "v2");
	CHECK_INT(current.deploy_pending, DEPLOY_NEW);
	CHECK_INT(state_version_deployed(st, current.id, err, sizeof(err)),
	    0);
	state_version_clear(&current);
	CHECK_INT(state_version_current(st, id, &current, err, sizeof(err)),
	    0);
	CHECK_INT(current.deploy_pending, DEPLOY_NONE);
	CHECK_INT(state_version_mark(st, id, current.id, VERSION_FAILED, err,
	    sizeof(err)), 0);
	state_version_clear(&current);
	CHECK_INT(state_version_current(st, id, &current, err, sizeof(err)),
	    STATE_NOT_FOUND);
	state_close(st);
}

/*
 * Certificates 1 (idle, with a deployed version), 2 (deploy pending), 3
 * (attempt running), 4 (both) and 5 (attempt running, then removed):
 * only 2, 3 and 4 are unfinished, and 3 no longer after state_recover().
 */
static void
test_unfinished_certificates(void)
{
	struct state_version v = { .name = "v1", .serial = "01",
	    .not_before = 100, .not_after = 200, .created = 100 };
	struct state_cert cert;
	struct state *st;
	int64_t id[6], attempt, *ids;
	size_t count;
	int recovered, i;
	char label[8];

	fresh_path();
	CHECK_INT(state_open(path, &st, err, sizeof(err)), 0);
	for (i = 1; i <= 5; i++) {
		snprintf(label, sizeof(label), "c%d", i);
		cert = sample_cert(label);
		CHECK_INT(state_cert_add(st, &cert, 0, &id[i], err,
		    sizeof(err)), 0);
	}
	v.cert_id = id[1];
	CHECK_INT(state_version_activate(st, &v, NULL, 150, err,
	    sizeof(err)), 0);
	CHECK_INT(query_int("SELECT id FROM versions WHERE cert_id = 1"), 1);
	CHECK_INT(state_version_deployed(st, 1, err, sizeof(err)), 0);
	v.cert_id = id[2];
	CHECK_INT(state_version_activate(st, &v, NULL, 150, err,
	    sizeof(err)), 0);
	v.cert_id = id[4];
	CHECK_INT(state_version_activate(st, &v, NULL, 150, err,
	    sizeof(err)), 0);
	CHECK_INT(state_attempt_begin(st, id[3], 10, &attempt, err,
	    sizeof(err)), 0);
	CHECK_INT(state_attempt_begin(st, id[4], 10, &attempt, err,
	    sizeof(err)), 0);
	CHECK_INT(state_attempt_begin(st, id[5], 10, &attempt, err,
	    sizeof(err)), 0);
	CHECK_INT(state_cert_remove(st, id[5], err, sizeof(err)), 0);

	CHECK_INT(state_cert_unfinished(st, &ids, &count, err, sizeof(err)),
	    0);
	CHECK_INT(count, 3);
	CHECK_INT(count > 0 ? ids[0] : 0, id[2]);
	CHECK_INT(count > 1 ? ids[1] : 0, id[3]);
	CHECK_INT(count > 2 ? ids[2] : 0, id[4]);
	free(ids);

	CHECK_INT(state_recover(st, 20, &recovered, err, sizeof(err)), 0);
	CHECK_INT(recovered, 3);
	CHECK_INT(state_cert_unfinished(st, &ids, &count, err, sizeof(err)),
	    0);
	CHECK_INT(count, 2);
	CHECK_INT(count > 0 ? ids[0] : 0, id[2]);
	CHECK_INT(count > 1 ? ids[1] : 0, id[4]);
	free(ids);
	state_close(st);
}

/* The start query walks the partial indexes, not every certificate. */
static void
test_unfinished_query_plan(void)
{
	struct state *st;
	sqlite3 *db;
	sqlite3_stmt *stmt;
	char plan[1024] = "";
	size_t used = 0;

	fresh_path();
	CHECK_INT(state_open(path, &st, err, sizeof(err)), 0);
	state_close(st);
	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_INT(sqlite3_prepare_v2(db, "EXPLAIN QUERY PLAN SELECT id FROM"
	    " certificates WHERE removed = 0 AND id IN (SELECT cert_id FROM"
	    " versions WHERE deploy_pending != 0 UNION SELECT cert_id FROM"
	    " attempts WHERE result = 'running') ORDER BY id", -1, &stmt,
	    NULL), SQLITE_OK);
	while (sqlite3_step(stmt) == SQLITE_ROW && used < sizeof(plan))
		used += (size_t)snprintf(plan + used, sizeof(plan) - used,
		    "%s;", (const char *)sqlite3_column_text(stmt, 3));
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	CHECK(strstr(plan, "USING INDEX versions_deploy_pending") != NULL);
	CHECK(strstr(plan, "USING INDEX attempts_running") != NULL);
	CHECK(strstr(plan, "SCAN certificates") == NULL);
}

static void
test_version_restore(void)
{
	struct state_cert cert = sample_cert("a");
	struct state_order order = { .generation = 1, .status = ORDER_PENDING };
	struct state_version v1 = { .name = "v1", .serial = "01",
	    .not_before = 100, .not_after = 200, .created = 100 };
	struct state_version v2 = v1, current;
	struct state_renewal plan = { .generation = 1, .ari_id = "aa.Ag",
	    .fallback_at = 166, .renew_at = 166 }, r;
	struct state *st;
	int64_t id, v2_id;

	fresh_path();
	CHECK_INT(state_open(path, &st, err, sizeof(err)), 0);
	CHECK_INT(state_cert_add(st, &cert, 0, &id, err, sizeof(err)), 0);
	order.cert_id = id;
	CHECK_INT(state_order_save(st, &order, err, sizeof(err)), 0);
	v1.cert_id = v2.cert_id = id;
	v1.order_id = v2.order_id = order.id;
	v2.name = "v2";
	v2.serial = "02";
	CHECK_INT(state_version_activate(st, &v1, NULL, 150, err,
	    sizeof(err)), 0);
	CHECK_INT(state_version_current(st, id, &current, err, sizeof(err)),
	    0);
	v1.id = current.id;
	state_version_clear(&current);
	plan.cert_id = id;
	CHECK_INT(state_version_activate(st, &v2, &plan, 160, err,
	    sizeof(err)), 0);
	CHECK_INT(state_version_current(st, id, &current, err, sizeof(err)),
	    0);
	v2_id = current.id;
	state_version_clear(&current);

	CHECK_INT(state_version_restore(st, id, v1.id, v2_id, VERSION_FAILED,
	    err, sizeof(err)), 0);
	CHECK_INT(state_version_current(st, id, &current, err, sizeof(err)),
	    0);
	CHECK_STR(current.name, "v1");
	CHECK_INT(current.deploy_pending, DEPLOY_RESTORE);
	state_version_clear(&current);
	/* The schedule described v2, so the restore drops it. */
	CHECK_INT(state_renewal_get(st, id, &r, err, sizeof(err)),
	    STATE_NOT_FOUND);
	version_count = 0;
	version_seen[0] = '\0';
	CHECK_INT(state_version_list(st, id, collect_version, NULL, err,
	    sizeof(err)), 0);
	CHECK_STR(version_seen, "v2 v1* ");
	CHECK_INT(query_int("SELECT deploy_pending FROM versions WHERE"
	    " name = 'v2'"), DEPLOY_NONE);
	CHECK_INT(query_int("SELECT count(*) FROM versions WHERE"
	    " status = 'failed'"), 1);
	state_close(st);
}

/*
 * A reissue while a thread polls for renewal information: the poll's
 * schedule must not move the reissued task to the renewal time.
 */
static void
test_reissue_during_poll(void)
{
	struct state_cert cert = sample_cert("a"), got;
	struct state_order order = { .generation = 1, .status = ORDER_PENDING };
	struct state_version v1 = { .name = "v1", .serial = "01",
	    .not_before = 100, .not_after = 200, .created = 100 };
	struct state_renewal plan = { .generation = 1, .ari_id = "aa.AQ",
	    .fallback_at = 166, .renew_at = 166, .next_poll = 120 };
	struct state *st;
	int64_t id;

	fresh_path();
	CHECK_INT(state_open(path, &st, err, sizeof(err)), 0);
	CHECK_INT(state_cert_add(st, &cert, 0, &id, err, sizeof(err)), 0);
	order.cert_id = v1.cert_id = plan.cert_id = id;
	CHECK_INT(state_order_save(st, &order, err, sizeof(err)), 0);
	v1.order_id = order.id;
	CHECK_INT(state_version_activate(st, &v1, &plan, 120, err,
	    sizeof(err)), 0);
	CHECK_INT(state_cert_reissue(st, id, 130, err, sizeof(err)), 0);
	plan.renew_at = 155;
	CHECK_INT(state_renewal_set(st, &plan, 155, err, sizeof(err)), 0);
	CHECK_INT(state_cert_get(st, id, &got, err, sizeof(err)), 0);
	CHECK_INT(got.generation, 2);
	CHECK_INT(got.due, 130);
	state_cert_clear(&got);
	state_close(st);
}

static void
test_renewal_schedule(void)
{
	struct state_cert cert = sample_cert("a"), got;
	struct state_order order = { .generation = 1, .status = ORDER_PENDING };
	struct state_version v1 = { .name = "v1", .serial = "01",
	    .not_before = 100, .not_after = 200, .created = 100 };
	struct state_renewal plan = { .generation = 1, .ari_id = "aa.AQ",
	    .fallback_at = 166, .renew_at = 166, .next_poll = 120 }, r;
	struct state *st;
	int64_t id;

	fresh_path();
	CHECK_INT(state_open(path, &st, err, sizeof(err)), 0);
	CHECK_INT(state_cert_add(st, &cert, 0, &id, err, sizeof(err)), 0);
	CHECK_INT(state_renewal_get(st, id, &r, err, sizeof(err)),
	    STATE_NOT_FOUND);
	order.cert_id = v1.cert_id = plan.cert_id = id;
	CHECK_INT(state_order_save(st, &order, err, sizeof(err)), 0);
	v1.order_id = order.id;
	CHECK_INT(state_version_activate(st, &v1, &plan, 120, err,
	    sizeof(err)), 0);
	CHECK_INT(state_renewal_get(st, id, &r, err, sizeof(err)), 0);
	CHECK_STR(r.ari_id, "aa.AQ");
	CHECK_INT(r.renew_at, 166);
	CHECK_INT(r.next_poll, 120);
	CHECK_INT(r.fetched, 0);

	/* A poll chose a time in its window; the task follows it. */
	r.fetched = 121;
	r.window_start = 150;
	r.window_end = 160;
	r.renew_at = 155;
	r.next_poll = 3721;
	CHECK_INT(state_renewal_set(st, &r, 155, err, sizeof(err)), 0);
	state_renewal_clear(&r);
	state_close(st);

	/* A restart reads the same schedule back. */
	CHECK_INT(state_open(path, &st, err, sizeof(err)), 0);
	CHECK_INT(state_renewal_get(st, id, &r, err, sizeof(err)), 0);
	CHECK_INT(r.fetched, 121);
	CHECK_INT(r.window_start, 150);
	CHECK_INT(r.window_end, 160);
	CHECK_INT(r.renew_at, 155);
	CHECK_INT(r.next_poll, 3721);
	state_renewal_clear(&r);
	CHECK_INT(state_cert_get(st, id, &got, err, sizeof(err)), 0);
	CHECK_INT(got.due, 155);
	state_cert_clear(&got);

	/* Activating without a schedule drops the old one. */
	v1.name = "v2";
	CHECK_INT(state_version_activate(st, &v1, NULL, 180, err,
	    sizeof(err)), 0);
	CHECK_INT(state_renewal_get(st, id, &r, err, sizeof(err)),
	    STATE_NOT_FOUND);
	state_close(st);
}

static void
test_wrapped_keys(void)
{
	struct state_cert cert = sample_cert("a");
	struct state_order order = { .generation = 1, .status = ORDER_STORED,
	    .key_id = "00112233445566778899aabbccddeeff", .created = 10 };
	struct state_version v = { .name = "v1", .serial = "01",
	    .not_before = 100, .not_after = 200, .created = 100 }, cur;
	struct state_wrapped_key wk = { .node = "edge1",
	    .recipient = "sha256:aa", .oaep_hash = "sha1",
	    .key_type = "ec-p256", .data = "QUJD", .created = 150 }, got;
	struct state *st;
	char *key_id = NULL;
	int64_t id;

	fresh_path();
	CHECK_INT(state_open(path, &st, err, sizeof(err)), 0);
	CHECK_INT(state_cert_add(st, &cert, 0, &id, err, sizeof(err)), 0);
	order.cert_id = id;
	CHECK_INT(state_order_save(st, &order, err, sizeof(err)), 0);
	v.cert_id = id;
	v.order_id = order.id;
	CHECK_INT(state_version_activate(st, &v, NULL, 180, err,
	    sizeof(err)), 0);
	CHECK_INT(state_version_current(st, id, &cur, err, sizeof(err)), 0);
	CHECK_INT(state_version_key_id(st, cur.id, &key_id, err,
	    sizeof(err)), 0);
	CHECK_STR(key_id, "00112233445566778899aabbccddeeff");
	free(key_id);
	CHECK_INT(state_version_key_id(st, cur.id + 1, &key_id, err,
	    sizeof(err)), STATE_NOT_FOUND);
	CHECK(key_id == NULL);

	wk.version_id = cur.id;
	CHECK_INT(state_wrapped_get(st, cur.id, "edge1", "sha256:aa", &got,
	    err, sizeof(err)), STATE_NOT_FOUND);
	CHECK_STR(err, "version 1 has no wrapped key for node edge1");
	CHECK_INT(state_wrapped_put(st, &wk, err, sizeof(err)), 0);
	CHECK_INT(state_wrapped_get(st, cur.id, "edge1", "sha256:aa", &got,
	    err, sizeof(err)), 0);
	CHECK_STR(got.oaep_hash, "sha1");
	CHECK_STR(got.key_type, "ec-p256");
	CHECK_STR(got.data, "QUJD");
	CHECK_INT(got.created, 150);
	state_wrapped_clear(&got);
	/* Another recipient key of the same node is another row. */
	CHECK_INT(state_wrapped_get(st, cur.id, "edge1", "sha256:bb", &got,
	    err, sizeof(err)), STATE_NOT_FOUND);
	CHECK_INT(state_wrapped_get(st, cur.id, "edge2", "sha256:aa", &got,
	    err, sizeof(err)), STATE_NOT_FOUND);
	wk.data = "REVG";
	CHECK_INT(state_wrapped_put(st, &wk, err, sizeof(err)), 0);
	CHECK_INT(state_wrapped_get(st, cur.id, "edge1", "sha256:aa", &got,
	    err, sizeof(err)), 0);
	CHECK_STR(got.data, "REVG");
	state_wrapped_clear(&got);
	wk.version_id = cur.id + 10;
	CHECK_INT(state_wrapped_put(st, &wk, err, sizeof(err)), -1);
	state_version_clear(&cur);
	state_close(st);
	CHECK_INT(query_int("SELECT count(*) FROM wrapped_keys"), 1);
}

static void
test_wrapped_certificates_listed(void)
{
	struct state_cert hsm = sample_cert("a"), wrapped = sample_cert("b"),
	    removed = sample_cert("c"), broken = sample_cert("d");
	struct state *st;
	int64_t id, *ids = NULL;
	size_t count = 9;

	wrapped.settings = "{\"key_export\":\"wrapped\"}";
	removed.settings = "{\"key_export\":\"wrapped\"}";
	broken.settings = "{not json";
	fresh_path();
	CHECK_INT(state_open(path, &st, err, sizeof(err)), 0);
	CHECK_INT(state_cert_wrapped(st, &ids, &count, err, sizeof(err)), 0);
	CHECK_INT(count, 0);
	CHECK(ids == NULL);
	CHECK_INT(state_cert_add(st, &hsm, 0, &id, err, sizeof(err)), 0);
	CHECK_INT(state_cert_add(st, &wrapped, 0, &id, err, sizeof(err)), 0);
	CHECK_INT(state_cert_add(st, &removed, 0, &id, err, sizeof(err)), 0);
	CHECK_INT(state_cert_remove(st, id, err, sizeof(err)), 0);
	CHECK_INT(state_cert_add(st, &broken, 0, &id, err, sizeof(err)), 0);
	CHECK_INT(state_cert_wrapped(st, &ids, &count, err, sizeof(err)), 0);
	CHECK_INT(count, 1);
	CHECK_INT(count == 1 ? ids[0] : -1, 2);
	free(ids);
	state_close(st);
}

static void
test_migrate_from_version_eight(void)
{
	struct state *st;

	fresh_path();
	CHECK_INT(state_open_schema(path, 8, &st, err, sizeof(err)), 0);
	state_close(st);
	CHECK_INT(query_int("SELECT count(*) FROM sqlite_master WHERE"
	    " name = 'wrapped_keys'"), 0);
	CHECK_INT(state_open(path, &st, err, sizeof(err)), 0);
	CHECK_INT(state_schema_version(st), 9);
	state_close(st);
	CHECK_INT(query_int("SELECT count(*) FROM sqlite_master WHERE"
	    " name = 'wrapped_keys'"), 1);
}

static void
test_migrate_from_version_four(void)
{
	struct state_cert got;
	struct state_renewal r;
	struct state *st;
	int64_t id = 1;

	fresh_path();
	CHECK_INT(state_open_schema(path, 4, &st, err, sizeof(err)), 0);
	state_close(st);
	/* Rows written by a version 4 program. */
	query_int("INSERT INTO certificates (id, tenant, label, names,"
	    " key_type, issuer, created) VALUES (1, 'lab', 'a',"
	    " 'a.demo.test b.demo.test', 'ec-p256', 'pebble', 1000)");
	query_int("INSERT INTO tasks (cert_id, due) VALUES (1, 5000)");
	CHECK_INT(query_int("SELECT count(*) FROM sqlite_master WHERE"
	    " name = 'renewals'"), 0);

	CHECK_INT(state_open(path, &st, err, sizeof(err)), 0);
	CHECK_INT(state_schema_version(st), STATE_SCHEMA_VERSION);
	CHECK_INT(state_renewal_get(st, id, &r, err, sizeof(err)),
	    STATE_NOT_FOUND);
	CHECK_INT(state_cert_get(st, id, &got, err, sizeof(err)), 0);
	CHECK_INT(got.due, 5000);
	state_cert_clear(&got);
	state_close(st);
}

/*
 * Sixteen handles of a pool of one connection each make a call, one
 * after another from one thread. That only finishes when each handle
 * gives the connection back on return, and SQLite's memory grows by one
 * connection's pages, not sixteen connections'.
 */
static void
test_pool_handles_share_connections(void)
{
	struct state_pool *pool = NULL;
	struct state *handles[16] = { NULL };
	struct state_cert c = sample_cert("shared.demo.test"), got;
	sqlite3_int64 before;
	int64_t id = 0;

	fresh_path();
	CHECK_INT(state_pool_open(path, 1, &pool, err, sizeof(err)), 0);
	before = sqlite3_memory_used();
	for (int i = 0; i < 16; i++)
		CHECK_INT(state_open_pooled(pool, &handles[i], err,
		    sizeof(err)), 0);
	CHECK_INT(state_cert_add(handles[0], &c, 10, &id, err, sizeof(err)),
	    0);
	for (int i = 1; i < 16; i++) {
		memset(&got, 0, sizeof(got));
		CHECK_INT(state_cert_get(handles[i], id, &got, err,
		    sizeof(err)), 0);
		CHECK_STR(got.label, "shared.demo.test");
		state_cert_clear(&got);
	}
	printf("# %lld bytes for 16 pooled handles\n",
	    (long long)(sqlite3_memory_used() - before));
	CHECK(sqlite3_memory_used() - before < 64 * 1024);
	for (int i = 0; i < 16; i++)
		state_close(handles[i]);
	state_pool_close(pool);
}

struct nested {
	struct state *st;
	int64_t id;
	int found;
};

static void
get_listed(const struct state_cert *cert, void *arg)
{
	struct nested *n = arg;
	struct state_cert got = { 0 };

	if (state_cert_get(n->st, cert->id, &got, err, sizeof(err)) == 0 &&
	    got.id == n->id)
		n->found++;
	state_cert_clear(&got);
}

/*
 * A handle's callback may call the same handle again: the inner call
 * keeps the connection that the outer one borrowed, even in a pool of
 * one, where borrowing a second would wait for ever.
 */
static void
test_pool_nested_call_keeps_connection(void)
{
	struct state_pool *pool = NULL;
	struct state_cert c = sample_cert("nested.demo.test");
	struct nested n = { 0 };

	fresh_path();
	CHECK_INT(state_pool_open(path, 1, &pool, err, sizeof(err)), 0);
	CHECK_INT(state_open_pooled(pool, &n.st, err, sizeof(err)), 0);
	CHECK_INT(state_cert_add(n.st, &c, 10, &n.id, err, sizeof(err)), 0);
	CHECK_INT(state_cert_list(n.st, get_listed, &n, err, sizeof(err)),
	    0);
	CHECK_INT(n.found, 1);
	state_close(n.st);
	state_pool_close(pool);
}

#define POOL_THREADS 8
#define POOL_ADDS 20

struct adder {
	pthread_t thread;
	struct state *st;
	int index;
	int added;
	int read_back;
};

static void *
add_many(void *arg)
{
	struct adder *a = arg;
	char label[64], e[256];
	struct state_cert c, got;
	int64_t id;

	for (int i = 0; i < POOL_ADDS; i++) {
		snprintf(label, sizeof(label), "t%d-%d.demo.test", a->index,
		    i);
		c = sample_cert(label);
		if (state_cert_add(a->st, &c, 10 + i, &id, e, sizeof(e)) != 0)
			continue;
		a->added++;
		memset(&got, 0, sizeof(got));
		if (state_cert_get(a->st, id, &got, e, sizeof(e)) == 0 &&
		    got.label != NULL && strcmp(got.label, label) == 0)
			a->read_back++;
		state_cert_clear(&got);
	}
	return NULL;
}

/*
 * Eight threads with a handle each share two connections. Every write
 * lands and every thread reads back its own rows, so no call ran on a
 * connection that another thread held.
 */
static void
test_pool_threads_share_two_connections(void)
{
	struct state_pool *pool = NULL;
	struct adder adders[POOL_THREADS];
	int added = 0, read_back = 0;

	fresh_path();
	CHECK_INT(state_pool_open(path, 2, &pool, err, sizeof(err)), 0);
	memset(adders, 0, sizeof(adders));
	for (int i = 0; i < POOL_THREADS; i++) {
		adders[i].index = i;
		CHECK_INT(state_open_pooled(pool, &adders[i].st, err,
		    sizeof(err)), 0);
		CHECK_INT(pthread_create(&adders[i].thread, NULL, add_many,
		    &adders[i]), 0);
	}
	for (int i = 0; i < POOL_THREADS; i++) {
		pthread_join(adders[i].thread, NULL);
		added += adders[i].added;
		read_back += adders[i].read_back;
		state_close(adders[i].st);
	}
	CHECK_INT(added, POOL_THREADS * POOL_ADDS);
	CHECK_INT(read_back, POOL_THREADS * POOL_ADDS);
	CHECK_INT(query_int("SELECT count(*) FROM certificates"),
	    POOL_THREADS * POOL_ADDS);
	state_pool_close(pool);
}

/*
 * A call that fails inside its transaction gives back a connection with
 * no transaction open and the process's write lock free. So in a pool
 * of one, the next handle's write and a separate connection's write
 * both succeed.
 */
static void
test_pool_failed_call_leaves_connection_clean(void)
{
	struct state_pool *pool = NULL;
	struct state *first = NULL, *second = NULL, *own = NULL;
	struct state_cert c = sample_cert("clash.demo.test");
	struct state_cert other = sample_cert("other.demo.test");
	struct state_cert third = sample_cert("third.demo.test");
	int64_t id = 0;

	fresh_path();
	CHECK_INT(state_pool_open(path, 1, &pool, err, sizeof(err)), 0);
	CHECK_INT(state_open_pooled(pool, &first, err, sizeof(err)), 0);
	CHECK_INT(state_open_pooled(pool, &second, err, sizeof(err)), 0);
	CHECK_INT(state_open(path, &own, err, sizeof(err)), 0);
	CHECK_INT(state_cert_add(first, &c, 10, &id, err, sizeof(err)), 0);
	CHECK_INT(state_cert_add(first, &c, 10, &id, err, sizeof(err)), -1);
	CHECK(strstr(err, "already has a certificate stored as "
	    "clash.demo.test") != NULL);
	CHECK_INT(state_cert_add(second, &other, 10, &id, err, sizeof(err)),
	    0);
	CHECK_INT(state_cert_add(own, &third, 10, &id, err, sizeof(err)), 0);
	CHECK_INT(query_int("SELECT count(*) FROM certificates"), 3);
	state_close(own);
	state_close(second);
	state_close(first);
	state_pool_close(pool);
}

struct lock_holder {
	sqlite3 *db;
	int committed;
};

/* Ends the other connection's write transaction after 300 ms. */
static void *
commit_later(void *arg)
{
	struct lock_holder *holder = arg;

	usleep(300 * 1000);
	holder->committed = sqlite3_exec(holder->db, "COMMIT", NULL, NULL,
	    NULL) == SQLITE_OK;
	return NULL;
}

/*
 * While another process's connection holds the write lock, a pooled
 * write waits in SQLite's busy handler and lands once the lock is free,
 * and the connection then serves a read of another handle.
 */
static void
test_pool_waits_for_other_writer(void)
{
	struct state_pool *pool = NULL;
	struct state *writer = NULL, *reader = NULL;
	struct state_cert c = sample_cert("busy.demo.test"), got;
	struct lock_holder holder = { 0 };
	pthread_t thread;
	int64_t id = 0;

	fresh_path();
	CHECK_INT(state_pool_open(path, 1, &pool, err, sizeof(err)), 0);
	CHECK_INT(state_open_pooled(pool, &writer, err, sizeof(err)), 0);
	CHECK_INT(state_open_pooled(pool, &reader, err, sizeof(err)), 0);
	CHECK_INT(sqlite3_open(path, &holder.db), SQLITE_OK);
	CHECK_INT(sqlite3_exec(holder.db, "BEGIN IMMEDIATE", NULL, NULL,
	    NULL), SQLITE_OK);
	CHECK_INT(pthread_create(&thread, NULL, commit_later, &holder), 0);
	CHECK_INT(state_cert_add(writer, &c, 10, &id, err, sizeof(err)), 0);
	pthread_join(thread, NULL);
	CHECK_INT(holder.committed, 1);
	memset(&got, 0, sizeof(got));
	CHECK_INT(state_cert_get(reader, id, &got, err, sizeof(err)), 0);
	CHECK_STR(got.label, "busy.demo.test");
	state_cert_clear(&got);
	sqlite3_close(holder.db);
	state_close(reader);
	state_close(writer);
	state_pool_close(pool);
}

/* Returns the number of open file descriptors of this process. */
static int
count_open_fds(void)
{
	DIR *fds = opendir("/proc/self/fd");
	struct dirent *entry;
	int count = 0;

	if (fds == NULL)
		return -1;
	while ((entry = readdir(fds)) != NULL)
		if (entry->d_name[0] != '.')
			count++;
	closedir(fds);
	/* The directory stream's own descriptor was listed too. */
	return count - 1;
}

/*
 * With room for the first connection's files only, the pool fails at
 * its second connection. The open names the database, leaves *out NULL
 * and closes the first connection, so no descriptor stays open.
 */
static void
test_pool_open_fails_part_way(void)
{
	struct state_pool *pool = (struct state_pool *)&pool;
	struct state *st = NULL;
	struct rlimit saved, tight;
	int open_fds, rc;

	fresh_path();
	/* The database and its WAL and shared memory files exist. */
	CHECK_INT(state_open(path, &st, err, sizeof(err)), 0);
	state_close(st);
	open_fds = count_open_fds();
	CHECK(open_fds > 0);
	CHECK_INT(getrlimit(RLIMIT_NOFILE, &saved), 0);
	tight = saved;
	tight.rlim_cur = (rlim_t)open_fds + 3;
	CHECK_INT(setrlimit(RLIMIT_NOFILE, &tight), 0);
	rc = state_pool_open(path, 4, &pool, err, sizeof(err));
	CHECK_INT(setrlimit(RLIMIT_NOFILE, &saved), 0);
	CHECK_INT(rc, -1);
	CHECK(pool == NULL);
	CHECK(strstr(err, path) != NULL);
	CHECK_INT(count_open_fds(), open_fds);
}

static void
test_pool_size_checked(void)
{
	struct state_pool *pool = (struct state_pool *)&pool;

	fresh_path();
	CHECK_INT(state_pool_open(path, 0, &pool, err, sizeof(err)), -1);
	CHECK(pool == NULL);
	CHECK_STR(err, "a pool of 0 connections is below 1");
}

int
main(void)
{
	char cmd[160];
	int rc;

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_connection_memory_is_small);
	RUN(test_open_new_database);
	RUN(test_pool_handles_share_connections);
	RUN(test_pool_nested_call_keeps_connection);
	RUN(test_pool_threads_share_two_connections);
	RUN(test_pool_failed_call_leaves_connection_clean);
	RUN(test_pool_waits_for_other_writer);
	RUN(test_pool_open_fails_part_way);
	RUN(test_pool_size_checked);
	RUN(test_renewal_schedule);
	RUN(test_reissue_during_poll);
	RUN(test_migrate_from_version_four);
	RUN(test_migrate_from_version_eight);
	RUN(test_wrapped_keys);
	RUN(test_wrapped_certificates_listed);
	RUN(test_wal_mode);
	RUN(test_migrate_from_version_one);
	RUN(test_newer_schema_rejected);
	RUN(test_version_restore);
	RUN(test_foreign_keys_enforced);
	RUN(test_duplicate_label_rejected);
	RUN(test_task_order);
	RUN(test_task_failures_recorded);
	RUN(test_missing_cert);
	RUN(test_reissue_starts_new_request);
	RUN(test_reissue_during_request);
	RUN(test_reissue_after_failure);
	RUN(test_import_has_no_task);
	RUN(test_job_lifecycle);
	RUN(test_order_lifecycle);
	RUN(test_order_url_unique);
	RUN(test_attempt_recovery);
	RUN(test_unfinished_certificates);
	RUN(test_unfinished_query_plan);
	RUN(test_metric_counts);
	RUN(test_versions_switch);
	rc = check_done();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return rc;
}
