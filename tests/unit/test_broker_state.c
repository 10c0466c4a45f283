/*
 * The SQLite state: migrations from an older schema, certificates, tasks,
 * orders, attempts and versions.
 */
#include <stdlib.h>
#include <unistd.h>

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
	CHECK_INT(query_int("PRAGMA user_version"), 5);
	CHECK_INT(query_int("SELECT count(*) FROM sqlite_master WHERE"
	    " type = 'index' AND name = 'tasks_due'"), 1);
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
	struct state_cert cert = sample_cert("a.demo.test"), got;
	struct state *st;
	int64_t id = 0;

	fresh_path();
	CHECK_INT(state_open_schema(path, 1, &st, err, sizeof(err)), 0);
	CHECK_INT(state_schema_version(st), 1);
	state_close(st);
	/* A row written by a version 1 program, without last_error. */
	CHECK_INT(query_int("SELECT count(*) FROM pragma_table_info('tasks')"
	    " WHERE name = 'last_error'"), 0);
	CHECK_INT(state_open_schema(path, 1, &st, err, sizeof(err)), 0);
	CHECK_INT(state_cert_add(st, &cert, 5000, &id, err, sizeof(err)), 0);
	state_close(st);

	CHECK_INT(state_open(path, &st, err, sizeof(err)), 0);
	CHECK_INT(state_schema_version(st), 5);
	CHECK_INT(state_cert_get(st, id, &got, err, sizeof(err)), 0);
	CHECK_STR(got.names, "a.demo.test b.demo.test");
	CHECK_INT(got.due, 5000);
	CHECK(got.last_error == NULL);
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
test_migrate_from_version_four(void)
{
	struct state_cert cert = sample_cert("a"), got;
	struct state_renewal r;
	struct state *st;
	int64_t id = 0;

	fresh_path();
	CHECK_INT(state_open_schema(path, 4, &st, err, sizeof(err)), 0);
	CHECK_INT(state_cert_add(st, &cert, 5000, &id, err, sizeof(err)), 0);
	state_close(st);
	CHECK_INT(query_int("SELECT count(*) FROM sqlite_master WHERE"
	    " name = 'renewals'"), 0);

	CHECK_INT(state_open(path, &st, err, sizeof(err)), 0);
	CHECK_INT(state_schema_version(st), 5);
	CHECK_INT(state_renewal_get(st, id, &r, err, sizeof(err)),
	    STATE_NOT_FOUND);
	CHECK_INT(state_cert_get(st, id, &got, err, sizeof(err)), 0);
	CHECK_INT(got.due, 5000);
	state_cert_clear(&got);
	state_close(st);
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
	RUN(test_open_new_database);
	RUN(test_renewal_schedule);
	RUN(test_migrate_from_version_four);
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
	RUN(test_order_lifecycle);
	RUN(test_order_url_unique);
	RUN(test_attempt_recovery);
	RUN(test_versions_switch);
	rc = check_done();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return rc;
}
