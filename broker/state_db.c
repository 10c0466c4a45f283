/*
 * The state of broker/state.h in SQLite 3.
 */
#include "broker/state.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

/* How long a writer waits for another process's lock, in milliseconds. */
#define STATE_BUSY_TIMEOUT 10000

/*
 * A handle from state_open_pooled() has no connection of its own. Each
 * public function that gets it borrows one of the pool's connections for
 * its whole run (STATE_USE), so a transaction never spans two.
 */
struct state {
	sqlite3 *db;		/* NULL while a pooled handle holds none */
	char *path;		/* a copy, because callers free theirs */
	int writing;		/* 1 while this connection holds write_lock */
	struct state_pool *pool;	/* NULL: db is the handle's own */
	int depth;		/* nested STATE_USE of a pooled handle */
};

struct state_pool {
	pthread_mutex_t lock;
	pthread_cond_t returned;
	struct state **conns;	/* every connection of the pool */
	sqlite3 **idle;		/* those not lent, the last returned on top */
	int size;
	int idle_count;
};

struct state_use {
	struct state *st;
};

static void rollback(struct state *st);

static sqlite3 *
pool_take(struct state_pool *pool)
{
	sqlite3 *db;

	pthread_mutex_lock(&pool->lock);
	while (pool->idle_count == 0)
		pthread_cond_wait(&pool->returned, &pool->lock);
	db = pool->idle[--pool->idle_count];
	pthread_mutex_unlock(&pool->lock);
	return db;
}

static void
pool_give(struct state_pool *pool, sqlite3 *db)
{
	pthread_mutex_lock(&pool->lock);
	pool->idle[pool->idle_count++] = db;
	pthread_cond_signal(&pool->returned);
	pthread_mutex_unlock(&pool->lock);
}

/* Lends st a connection of its pool, unless it has one already. */
static struct state_use
state_use(struct state *st)
{
	if (st->pool != NULL && st->depth++ == 0)
		st->db = pool_take(st->pool);
	return (struct state_use){ st };
}

/*
 * Gives the connection back when the outermost function returns. Every
 * function ends its transaction before it returns. One that did not is
 * rolled back here, so the next borrower starts clean.
 */
static void
state_unuse(struct state_use *use)
{
	struct state *st = use->st;

	if (st->pool == NULL || --st->depth > 0)
		return;
	if (!sqlite3_get_autocommit(st->db))
		rollback(st);
	pool_give(st->pool, st->db);
	st->db = NULL;
}

#define STATE_USE(st) \
	struct state_use use_ \
	    __attribute__((cleanup(state_unuse), unused)) = state_use(st)

/*
 * Serialises the writes of this process's connections, one per daemon
 * order thread. SQLite's busy handler polls with sleeps of up to 100 ms,
 * so connections that wait on each other's write lock lose far more
 * time than a mutex, which wakes the next writer at once. Other
 * processes still meet the busy timeout.
 */
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

static void
write_lock_take(struct state *st)
{
	pthread_mutex_lock(&write_lock);
	st->writing = 1;
}

static void
write_lock_release(struct state *st)
{
	if (!st->writing)
		return;
	st->writing = 0;
	pthread_mutex_unlock(&write_lock);
}

/*
 * Migration N brings the schema from version N to N + 1. Append new
 * migrations; never edit one that has shipped.
 */
static const char *const migrations[STATE_SCHEMA_VERSION] = {
	"CREATE TABLE certificates ("
	"  id INTEGER PRIMARY KEY,"
	"  tenant TEXT NOT NULL,"
	"  label TEXT NOT NULL,"
	"  names TEXT NOT NULL,"
	"  key_type TEXT NOT NULL,"
	"  issuer TEXT NOT NULL,"
	"  settings TEXT NOT NULL DEFAULT '{}',"
	"  created INTEGER NOT NULL,"
	"  generation INTEGER NOT NULL DEFAULT 1,"
	"  removed INTEGER NOT NULL DEFAULT 0);"
	"CREATE UNIQUE INDEX certificates_label"
	"  ON certificates(tenant, label) WHERE removed = 0;"
	"CREATE TABLE tasks ("
	"  cert_id INTEGER PRIMARY KEY"
	"    REFERENCES certificates(id) ON DELETE CASCADE,"
	"  due INTEGER NOT NULL,"
	"  failures INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE orders ("
	"  id INTEGER PRIMARY KEY,"
	"  cert_id INTEGER NOT NULL REFERENCES certificates(id),"
	"  generation INTEGER NOT NULL,"
	"  url TEXT,"
	"  key_id TEXT,"
	"  status TEXT NOT NULL,"
	"  created INTEGER NOT NULL);"
	"CREATE TABLE attempts ("
	"  id INTEGER PRIMARY KEY,"
	"  cert_id INTEGER NOT NULL REFERENCES certificates(id),"
	"  started INTEGER NOT NULL,"
	"  finished INTEGER,"
	"  result TEXT NOT NULL,"
	"  error TEXT);"
	"CREATE TABLE versions ("
	"  id INTEGER PRIMARY KEY,"
	"  cert_id INTEGER NOT NULL REFERENCES certificates(id),"
	"  order_id INTEGER REFERENCES orders(id),"
	"  name TEXT NOT NULL,"
	"  serial TEXT NOT NULL,"
	"  not_before INTEGER NOT NULL,"
	"  not_after INTEGER NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  status TEXT NOT NULL,"
	"  UNIQUE (cert_id, name));",

	/* Version 2: the last error of a task, and orders by URL. */
	"ALTER TABLE tasks ADD COLUMN last_error TEXT;"
	"CREATE UNIQUE INDEX orders_url ON orders(url) WHERE url IS NOT NULL;",

	/* Version 3: a deploy hook that has yet to run (DEPLOY_*). */
	"ALTER TABLE versions ADD COLUMN"
	"  deploy_pending INTEGER NOT NULL DEFAULT 0;",

	/* Version 4: the scheduler's next task without a sort of every row. */
	"CREATE INDEX tasks_due ON tasks(due, cert_id);",

	/*
	 * Version 5: certificates uploaded by hand, which are not renewed,
	 * and the jobs that the API process hands to the worker.
	 */
	"ALTER TABLE certificates ADD COLUMN"
	"  imported INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE jobs ("
	"  id INTEGER PRIMARY KEY,"
	"  kind TEXT NOT NULL,"
	"  tenant TEXT NOT NULL,"
	"  cert_id INTEGER,"
	"  request TEXT NOT NULL,"
	"  status TEXT NOT NULL,"
	"  http_status INTEGER,"
	"  response TEXT,"
	"  created INTEGER NOT NULL);"
	"CREATE INDEX jobs_status ON jobs(status, id);",

	/*
	 * Version 6: what a crash left unfinished, found at start without
	 * reading every certificate (state_cert_unfinished).
	 */
	"CREATE INDEX versions_deploy_pending ON versions(cert_id)"
	"  WHERE deploy_pending != 0;"
	"CREATE INDEX attempts_running ON attempts(cert_id)"
	"  WHERE result = 'running';",

	/* Version 7: counters for the metrics that no table records. */
	"CREATE TABLE counters ("
	"  name TEXT NOT NULL,"
	"  tenant TEXT NOT NULL,"
	"  value INTEGER NOT NULL,"
	"  PRIMARY KEY (name, tenant));",

	/* Version 8: the renewal schedule and renewalInfo (RFC 9773). */
	"CREATE TABLE renewals ("
	"  cert_id INTEGER PRIMARY KEY"
	"    REFERENCES certificates(id) ON DELETE CASCADE,"
	"  generation INTEGER NOT NULL,"
	"  ari_id TEXT,"
	"  fallback_at INTEGER NOT NULL,"
	"  renew_at INTEGER NOT NULL,"
	"  next_poll INTEGER NOT NULL DEFAULT 0,"
	"  fetched INTEGER NOT NULL DEFAULT 0,"
	"  window_start INTEGER NOT NULL DEFAULT 0,"
	"  window_end INTEGER NOT NULL DEFAULT 0);",

	/*
	 * Version 9: certificate keys wrapped for edge nodes, one per
	 * version, node and recipient key. A node whose recipient key
	 * changes gets a new row; the old one is never sent again.
	 */
	"CREATE TABLE wrapped_keys ("
	"  version_id INTEGER NOT NULL"
	"    REFERENCES versions(id) ON DELETE CASCADE,"
	"  node TEXT NOT NULL,"
	"  recipient TEXT NOT NULL,"
	"  oaep_hash TEXT NOT NULL,"
	"  key_type TEXT NOT NULL,"
	"  data TEXT NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  PRIMARY KEY (version_id, node, recipient));",
};

static int
db_error(struct state *st, char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s: %s failed: %s", st->path, what,
	    sqlite3_errmsg(st->db));
	return -1;
}

static int
exec_sql(struct state *st, const char *sql, const char *what, char *err,
    size_t errlen)
{
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_error(st, err, errlen, what);
	return 0;
}

static int
begin(struct state *st, char *err, size_t errlen)
{
	write_lock_take(st);
	/* IMMEDIATE takes the write lock now, so no upgrade can deadlock. */
	if (exec_sql(st, "BEGIN IMMEDIATE", "begin transaction", err,
	    errlen) != 0) {
		write_lock_release(st);
		return -1;
	}
	return 0;
}

static void
rollback(struct state *st)
{
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	write_lock_release(st);
}

/* Commits, or rolls back when the commit fails. */
static int
commit(struct state *st, char *err, size_t errlen)
{
	if (exec_sql(st, "COMMIT", "commit", err, errlen) != 0) {
		rollback(st);
		return -1;
	}
	write_lock_release(st);
	return 0;
}

/*
 * Prepares sql and binds the arguments described by types: 'i' an
 * int64_t, 's' a string (NULL binds NULL).
 */
static sqlite3_stmt *
prepare(struct state *st, char *err, size_t errlen, const char *sql,
    const char *types, ...)
{
	sqlite3_stmt *stmt;
	va_list ap;
	int i, rc = SQLITE_OK;

	if (sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
		db_error(st, err, errlen, "prepare statement");
		return NULL;
	}
	va_start(ap, types);
	for (i = 0; types[i] != '\0' && rc == SQLITE_OK; i++) {
		if (types[i] == 'i')
			rc = sqlite3_bind_int64(stmt, i + 1,
			    va_arg(ap, int64_t));
		else
			rc = sqlite3_bind_text(stmt, i + 1,
			    va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
	}
	va_end(ap);
	if (rc != SQLITE_OK) {
		db_error(st, err, errlen, "bind a value");
		sqlite3_finalize(stmt);
		return NULL;
	}
	return stmt;
}

/* Runs a statement that returns no rows and finalizes it. */
static int
run(struct state *st, sqlite3_stmt *stmt, const char *what, char *err,
    size_t errlen)
{
	int rc, locked;

	if (stmt == NULL)
		return -1;
	/* Inside a transaction, begin() took the lock already. */
	locked = !st->writing;
	if (locked)
		write_lock_take(st);
	rc = sqlite3_step(stmt);
	if (locked)
		write_lock_release(st);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return db_error(st, err, errlen, what);
	return 0;
}

static char *
column_text(sqlite3_stmt *stmt, int col)
{
	const unsigned char *text = sqlite3_column_text(stmt, col);

	return text != NULL ? strdup((const char *)text) : NULL;
}

static void
copy_status(char *out, size_t size, sqlite3_stmt *stmt, int col)
{
	const unsigned char *text = sqlite3_column_text(stmt, col);

	snprintf(out, size, "%s", text != NULL ? (const char *)text : "");
}

static int
read_user_version(struct state *st, int *version, char *err, size_t errlen)
{
	sqlite3_stmt *stmt;

	stmt = prepare(st, err, errlen, "PRAGMA user_version", "");
	if (stmt == NULL)
		return -1;
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		sqlite3_finalize(stmt);
		return db_error(st, err, errlen, "read schema version");
	}
	*version = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	return 0;
}

/* Applies migrations one transaction each, up to target. */
static int
migrate(struct state *st, int target, char *err, size_t errlen)
{
	char sql[64], what[64];
	int version;

	if (read_user_version(st, &version, err, errlen) != 0)
		return -1;
	if (version > STATE_SCHEMA_VERSION) {
		snprintf(err, errlen, "%s: schema version %d is newer than "
		    "this custos supports (%d); upgrade custos", st->path,
		    version, STATE_SCHEMA_VERSION);
		return -1;
	}
	for (; version < target; version++) {
		snprintf(what, sizeof(what), "migration to schema version %d",
		    version + 1);
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
		    version + 1);
		if (begin(st, err, errlen) != 0)
			return -1;
		if (exec_sql(st, migrations[version], what, err, errlen) != 0 ||
		    exec_sql(st, sql, what, err, errlen) != 0 ||
		    commit(st, err, errlen) != 0) {
			rollback(st);
			return -1;
		}
	}
	return 0;
}

void
state_library_init(void)
{
	/*
	 * By default each connection allocates room for 20 pages at its
	 * first read, about 75 KiB of its 110. The daemon's order threads
	 * each hold a connection and read a few pages, so the pages are
	 * allocated one by one as they are needed instead.
	 */
	sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0);
}

int
state_open_schema(const char *path, int target, struct state **out,
    char *err, size_t errlen)
{
	struct state *st;

	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	st->path = strdup(path);
	if (st->path == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open state database %s: %s "
		    "(check broker state-dir and its owner)", path,
		    st->db != NULL ? sqlite3_errmsg(st->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(st->db, STATE_BUSY_TIMEOUT);
	if (exec_sql(st, "PRAGMA journal_mode = WAL", "set WAL mode", err,
	    errlen) != 0 ||
	    exec_sql(st, "PRAGMA synchronous = FULL", "set synchronous", err,
	    errlen) != 0 ||
	    exec_sql(st, "PRAGMA foreign_keys = ON", "enable foreign keys",
	    err, errlen) != 0 ||
	    migrate(st, target, err, errlen) != 0)
		goto fail;
	*out = st;
	return 0;

fail:
	state_close(st);
	return -1;
}

int
state_open(const char *path, struct state **out, char *err, size_t errlen)
{
	return state_open_schema(path, STATE_SCHEMA_VERSION, out, err,
	    errlen);
}

int
state_schema_version(struct state *st)
{
	STATE_USE(st);
	char err[256];
	int version;

	return read_user_version(st, &version, err, sizeof(err)) == 0 ?
	    version : -1;
}

int
state_pool_open(const char *path, int size, struct state_pool **out,
    char *err, size_t errlen)
{
	struct state_pool *pool;

	*out = NULL;
	if (size < 1) {
		snprintf(err, errlen, "a pool of %d connections is below 1",
		    size);
		return -1;
	}
	pool = calloc(1, sizeof(*pool));
	if (pool == NULL ||
	    (pool->conns = calloc((size_t)size, sizeof(*pool->conns))) ==
	    NULL ||
	    (pool->idle = calloc((size_t)size, sizeof(*pool->idle))) ==
	    NULL) {
		state_pool_close(pool);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->returned, NULL);
	for (; pool->size < size; pool->size++) {
		if (state_open(path, &pool->conns[pool->size], err,
		    errlen) != 0) {
			state_pool_close(pool);
			return -1;
		}
		pool->idle[pool->idle_count++] = pool->conns[pool->size]->db;
	}
	*out = pool;
	return 0;
}

int
state_open_pooled(struct state_pool *pool, struct state **out, char *err,
    size_t errlen)
{
	struct state *st;

	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (st == NULL || (st->path = strdup(pool->conns[0]->path)) ==
	    NULL) {
		free(st);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	st->pool = pool;
	*out = st;
	return 0;
}

void
state_pool_close(struct state_pool *pool)
{
	if (pool == NULL)
		return;
	if (pool->conns != NULL && pool->idle != NULL) {
		for (int i = 0; i < pool->size; i++)
			state_close(pool->conns[i]);
		pthread_cond_destroy(&pool->returned);
		pthread_mutex_destroy(&pool->lock);
	}
	free(pool->conns);
	free(pool->idle);
	free(pool);
}

void
state_close(struct state *st)
{
	if (st == NULL)
		return;
	if (st->pool != NULL) {
		free(st->path);
		free(st);
		return;
	}
	sqlite3_close(st->db);
	free(st->path);
	free(st);
}

static const char cert_columns[] =
	"SELECT c.id, c.tenant, c.label, c.names, c.key_type, c.issuer,"
	" c.settings, c.created, c.generation, c.removed,"
	" coalesce(t.due, 0), coalesce(t.failures, 0), t.last_error,"
	" c.imported, coalesce((SELECT v.not_after FROM versions v"
	"  WHERE v.cert_id = c.id AND v.status = '" VERSION_CURRENT "'), 0)"
	" FROM certificates c LEFT JOIN tasks t ON t.cert_id = c.id";

static int
read_cert(sqlite3_stmt *stmt, struct state_cert *cert)
{
	memset(cert, 0, sizeof(*cert));
	cert->id = sqlite3_column_int64(stmt, 0);
	cert->tenant = column_text(stmt, 1);
	cert->label = column_text(stmt, 2);
	cert->names = column_text(stmt, 3);
	cert->key_type = column_text(stmt, 4);
	cert->issuer = column_text(stmt, 5);
	cert->settings = column_text(stmt, 6);
	cert->created = sqlite3_column_int64(stmt, 7);
	cert->generation = sqlite3_column_int64(stmt, 8);
	cert->removed = sqlite3_column_int(stmt, 9);
	cert->due = sqlite3_column_int64(stmt, 10);
	cert->failures = sqlite3_column_int(stmt, 11);
	cert->last_error = column_text(stmt, 12);
	cert->imported = sqlite3_column_int(stmt, 13);
	cert->not_after = sqlite3_column_int64(stmt, 14);
	if (cert->tenant == NULL || cert->label == NULL ||
	    cert->names == NULL || cert->key_type == NULL ||
	    cert->issuer == NULL || cert->settings == NULL) {
		state_cert_clear(cert);
		return -1;
	}
	return 0;
}

void
state_cert_clear(struct state_cert *cert)
{
	free(cert->tenant);
	free(cert->label);
	free(cert->names);
	free(cert->key_type);
	free(cert->issuer);
	free(cert->settings);
	free(cert->last_error);
	memset(cert, 0, sizeof(*cert));
}

/* Inserts the certificate row; a clash of its label gets a clear error. */
static int
insert_cert(struct state *st, const struct state_cert *cert, int imported,
    int64_t *id, char *err, size_t errlen)
{
	sqlite3_stmt *stmt;
	int rc;

	stmt = prepare(st, err, errlen, "INSERT INTO certificates (tenant,"
	    " label, names, key_type, issuer, settings, created, imported)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", "ssssssii", cert->tenant,
	    cert->label, cert->names, cert->key_type, cert->issuer,
	    cert->settings != NULL ? cert->settings : "{}", cert->created,
	    (int64_t)imported);
	if (stmt == NULL)
		return -1;
	rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc == SQLITE_CONSTRAINT) {
		snprintf(err, errlen, "tenant %s already has a certificate "
		    "stored as %s (remove it first, or put another name "
		    "first)", cert->tenant, cert->label);
		return -1;
	}
	if (rc != SQLITE_DONE)
		return db_error(st, err, errlen, "add a certificate");
	*id = sqlite3_last_insert_rowid(st->db);
	return 0;
}

int
state_cert_import(struct state *st, const struct state_cert *cert,
    struct state_version *v, int64_t *id, char *err, size_t errlen)
{
	STATE_USE(st);
	if (begin(st, err, errlen) != 0)
		return -1;
	if (insert_cert(st, cert, 1, id, err, errlen) != 0)
		goto fail;
	v->cert_id = *id;
	if (run(st, prepare(st, err, errlen, "INSERT INTO versions (cert_id,"
	    " name, serial, not_before, not_after, created, status,"
	    " deploy_pending) VALUES (?, ?, ?, ?, ?, ?, '" VERSION_CURRENT
	    "', ?)", "issiiii", v->cert_id, v->name, v->serial, v->not_before,
	    v->not_after, v->created, (int64_t)DEPLOY_NEW), "add a version",
	    err, errlen) != 0 || commit(st, err, errlen) != 0)
		goto fail;
	return 0;

fail:
	rollback(st);
	return -1;
}

int
state_cert_add(struct state *st, const struct state_cert *cert,
    int64_t due, int64_t *id, char *err, size_t errlen)
{
	STATE_USE(st);
	if (begin(st, err, errlen) != 0)
		return -1;
	if (insert_cert(st, cert, 0, id, err, errlen) != 0)
		goto fail;
	if (run(st, prepare(st, err, errlen, "INSERT INTO tasks (cert_id,"
	    " due) VALUES (?, ?)", "ii", *id, due), "add a task", err,
	    errlen) != 0 || commit(st, err, errlen) != 0)
		goto fail;
	return 0;

fail:
	rollback(st);
	return -1;
}

int
state_cert_get(struct state *st, int64_t id, struct state_cert *cert,
    char *err, size_t errlen)
{
	STATE_USE(st);
	char sql[1024];
	sqlite3_stmt *stmt;
	int rc;

	snprintf(sql, sizeof(sql), "%s WHERE c.id = ?", cert_columns);
	stmt = prepare(st, err, errlen, sql, "i", id);
	if (stmt == NULL)
		return -1;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		rc = read_cert(stmt, cert) == 0 ? 0 : -1;
	else if (rc == SQLITE_DONE)
		rc = STATE_NOT_FOUND;
	else
		rc = db_error(st, err, errlen, "read a certificate");
	sqlite3_finalize(stmt);
	if (rc == STATE_NOT_FOUND)
		snprintf(err, errlen, "no certificate with id %lld (see custos "
		    "cert list)", (long long)id);
	else if (rc != 0 && err[0] == '\0')
		snprintf(err, errlen, "out of memory");
	return rc;
}

int
state_cert_list(struct state *st,
    void (*fn)(const struct state_cert *cert, void *arg), void *arg,
    char *err, size_t errlen)
{
	STATE_USE(st);
	struct state_cert cert;
	char sql[1024];
	sqlite3_stmt *stmt;
	int rc;

	snprintf(sql, sizeof(sql), "%s WHERE c.removed = 0 ORDER BY c.id",
	    cert_columns);
	stmt = prepare(st, err, errlen, sql, "");
	if (stmt == NULL)
		return -1;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (read_cert(stmt, &cert) != 0) {
			sqlite3_finalize(stmt);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		fn(&cert, arg);
		state_cert_clear(&cert);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return db_error(st, err, errlen, "list certificates");
	return 0;
}

/* Appends id to the array *ids of *count entries. */
static int
append_id(int64_t **ids, size_t *count, int64_t id)
{
	int64_t *grown;

	grown = realloc(*ids, (*count + 1) * sizeof(*grown));
	if (grown == NULL)
		return -1;
	grown[(*count)++] = id;
	*ids = grown;
	return 0;
}

/*
 * Runs stmt, whose rows are certificate ids, and sets *ids to a malloc'd
 * array of *count ids (NULL when none). what names the query in errors.
 */
static int
collect_ids(struct state *st, sqlite3_stmt *stmt, int64_t **ids,
    size_t *count, const char *what, char *err, size_t errlen)
{
	int rc;

	*ids = NULL;
	*count = 0;
	if (stmt == NULL)
		return -1;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (append_id(ids, count, sqlite3_column_int64(stmt, 0)) != 0)
			break;
	}
	sqlite3_finalize(stmt);
	if (rc == SQLITE_DONE)
		return 0;
	free(*ids);
	*ids = NULL;
	*count = 0;
	if (rc == SQLITE_ROW) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return db_error(st, err, errlen, what);
}

int
state_cert_unfinished(struct state *st, int64_t **ids, size_t *count,
    char *err, size_t errlen)
{
	STATE_USE(st);
	/* Both subqueries walk the partial indexes of schema version 6. */
	return collect_ids(st, prepare(st, err, errlen, "SELECT id FROM"
	    " certificates WHERE removed = 0 AND id IN"
	    " (SELECT cert_id FROM versions WHERE deploy_pending != 0"
	    " UNION SELECT cert_id FROM attempts WHERE result = 'running')"
	    " ORDER BY id", ""), ids, count, "list unfinished certificates",
	    err, errlen);
}

int
state_cert_wrapped(struct state *st, int64_t **ids, size_t *count,
    char *err, size_t errlen)
{
	STATE_USE(st);
	/* CASE keeps json_extract() away from settings that are not JSON. */
	return collect_ids(st, prepare(st, err, errlen, "SELECT id FROM"
	    " certificates WHERE removed = 0 AND CASE WHEN"
	    " json_valid(settings) THEN json_extract(settings,"
	    " '$.key_export') END = 'wrapped' ORDER BY id", ""), ids, count,
	    "list wrapped certificates", err, errlen);
}

/* Runs one statement about certificate id and expects it to match. */
static int
change_cert(struct state *st, sqlite3_stmt *stmt, int64_t id,
    const char *what, char *err, size_t errlen)
{
	if (run(st, stmt, what, err, errlen) != 0)
		return -1;
	if (sqlite3_changes(st->db) == 0) {
		snprintf(err, errlen, "no certificate with id %lld (see custos "
		    "cert list)", (long long)id);
		return STATE_NOT_FOUND;
	}
	return 0;
}

int
state_cert_remove(struct state *st, int64_t id, char *err, size_t errlen)
{
	STATE_USE(st);
	int rc;

	if (begin(st, err, errlen) != 0)
		return -1;
	rc = change_cert(st, prepare(st, err, errlen, "UPDATE certificates"
	    " SET removed = 1 WHERE id = ? AND removed = 0", "i", id), id,
	    "remove a certificate", err, errlen);
	if (rc == 0)
		rc = run(st, prepare(st, err, errlen, "DELETE FROM tasks"
		    " WHERE cert_id = ?", "i", id), "remove a task", err,
		    errlen);
	if (rc == 0)
		rc = commit(st, err, errlen);
	if (rc != 0)
		rollback(st);
	return rc;
}

int
state_cert_reissue(struct state *st, int64_t id, int64_t now, char *err,
    size_t errlen)
{
	STATE_USE(st);
	int rc;

	if (begin(st, err, errlen) != 0)
		return -1;
	rc = change_cert(st, prepare(st, err, errlen, "UPDATE certificates"
	    " SET generation = generation + 1 WHERE id = ? AND removed = 0"
	    " AND imported = 0", "i", id), id, "reissue a certificate", err,
	    errlen);
	if (rc == 0)
		rc = run(st, prepare(st, err, errlen, "INSERT OR REPLACE INTO"
		    " tasks (cert_id, due, failures) VALUES (?, ?, 0)", "ii",
		    id, now), "schedule a task", err, errlen);
	if (rc == 0)
		rc = commit(st, err, errlen);
	if (rc != 0)
		rollback(st);
	return rc;
}

int
state_task_next(struct state *st, int64_t *cert_id, int64_t *due,
    char *err, size_t errlen)
{
	STATE_USE(st);
	return state_task_next_skip(st, NULL, 0, cert_id, due, err, errlen);
}

/* Returns 1 when id is one of the count ids in list. */
static int
listed(const int64_t *list, size_t count, int64_t id)
{
	for (size_t i = 0; i < count; i++)
		if (list[i] == id)
			return 1;
	return 0;
}

int
state_task_next_skip(struct state *st, const int64_t *skip,
    size_t skip_count, int64_t *cert_id, int64_t *due, char *err,
    size_t errlen)
{
	STATE_USE(st);
	sqlite3_stmt *stmt;
	int rc;

	/*
	 * CROSS JOIN keeps tasks as the outer loop, so SQLite walks tasks_due
	 * in order and stops at the first live certificate. Left to itself,
	 * the planner scanned certificates and sorted every task: 30 ms of
	 * CPU at 100,000 certificates (bench/run.sh scale), not 0.1 ms. At
	 * most skip_count rows can be skipped, so one more row is enough.
	 */
	stmt = prepare(st, err, errlen, "SELECT t.cert_id, t.due FROM tasks t"
	    " CROSS JOIN certificates c ON c.id = t.cert_id"
	    " WHERE c.removed = 0 ORDER BY t.due, t.cert_id LIMIT ?", "i",
	    (int64_t)skip_count + 1);
	if (stmt == NULL)
		return -1;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		*cert_id = sqlite3_column_int64(stmt, 0);
		*due = sqlite3_column_int64(stmt, 1);
		if (!listed(skip, skip_count, *cert_id))
			break;
	}
	if (rc == SQLITE_ROW)
		rc = 1;
	else if (rc == SQLITE_DONE)
		rc = 0;
	else
		rc = db_error(st, err, errlen, "find the next task");
	sqlite3_finalize(stmt);
	return rc;
}

int
state_task_set(struct state *st, int64_t cert_id, int64_t due,
    int failures, const char *error, char *err, size_t errlen)
{
	STATE_USE(st);
	return run(st, prepare(st, err, errlen, "INSERT OR REPLACE INTO tasks"
	    " (cert_id, due, failures, last_error) VALUES (?, ?, ?, ?)",
	    "iiis", cert_id, due, (int64_t)(error != NULL ? failures : 0),
	    error), "schedule a task", err, errlen);
}

int
state_task_retry(struct state *st, int64_t cert_id, int64_t generation,
    int64_t due, int failures, const char *error, char *err, size_t errlen)
{
	STATE_USE(st);
	return run(st, prepare(st, err, errlen, "INSERT OR REPLACE INTO tasks"
	    " (cert_id, due, failures, last_error) SELECT ?, ?, ?, ? WHERE"
	    " (SELECT generation FROM certificates WHERE id = ?) = ?",
	    "iiisii", cert_id, due, (int64_t)failures, error, cert_id,
	    generation), "schedule a retry", err, errlen);
}

static int
read_order(sqlite3_stmt *stmt, struct state_order *order)
{
	memset(order, 0, sizeof(*order));
	order->id = sqlite3_column_int64(stmt, 0);
	order->cert_id = sqlite3_column_int64(stmt, 1);
	order->generation = sqlite3_column_int64(stmt, 2);
	order->url = column_text(stmt, 3);
	order->key_id = column_text(stmt, 4);
	copy_status(order->status, sizeof(order->status), stmt, 5);
	order->created = sqlite3_column_int64(stmt, 6);
	return 0;
}

int
state_order_open(struct state *st, int64_t cert_id, int64_t generation,
    struct state_order *order, char *err, size_t errlen)
{
	STATE_USE(st);
	sqlite3_stmt *stmt;
	int rc;

	stmt = prepare(st, err, errlen, "SELECT id, cert_id, generation, url,"
	    " key_id, status, created FROM orders WHERE cert_id = ? AND"
	    " generation = ? AND status NOT IN ('" ORDER_STORED "', '"
	    ORDER_ABANDONED "') ORDER BY id DESC LIMIT 1", "ii", cert_id,
	    generation);
	if (stmt == NULL)
		return -1;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		rc = read_order(stmt, order);
	else if (rc == SQLITE_DONE)
		rc = STATE_NOT_FOUND;
	else
		rc = db_error(st, err, errlen, "read an order");
	sqlite3_finalize(stmt);
	if (rc == STATE_NOT_FOUND)
		snprintf(err, errlen, "no open order for certificate %lld",
		    (long long)cert_id);
	return rc;
}

int
state_order_save(struct state *st, struct state_order *order, char *err,
    size_t errlen)
{
	STATE_USE(st);
	if (order->id != 0)
		return run(st, prepare(st, err, errlen, "UPDATE orders SET"
		    " url = ?, key_id = ?, status = ? WHERE id = ?", "sssi",
		    order->url, order->key_id, order->status, order->id),
		    "update an order", err, errlen);
	if (run(st, prepare(st, err, errlen, "INSERT INTO orders (cert_id,"
	    " generation, url, key_id, status, created) VALUES"
	    " (?, ?, ?, ?, ?, ?)", "iisssi", order->cert_id,
	    order->generation, order->url, order->key_id, order->status,
	    order->created), "add an order", err, errlen) != 0)
		return -1;
	order->id = sqlite3_last_insert_rowid(st->db);
	return 0;
}

void
state_order_clear(struct state_order *order)
{
	free(order->url);
	free(order->key_id);
	memset(order, 0, sizeof(*order));
}

int
state_attempt_begin(struct state *st, int64_t cert_id, int64_t now,
    int64_t *attempt_id, char *err, size_t errlen)
{
	STATE_USE(st);
	if (run(st, prepare(st, err, errlen, "INSERT INTO attempts (cert_id,"
	    " started, result) VALUES (?, ?, 'running')", "ii", cert_id, now),
	    "record an attempt", err, errlen) != 0)
		return -1;
	*attempt_id = sqlite3_last_insert_rowid(st->db);
	return 0;
}

int
state_attempt_end(struct state *st, int64_t attempt_id, int64_t now,
    const char *result, const char *error, char *err, size_t errlen)
{
	STATE_USE(st);
	return run(st, prepare(st, err, errlen, "UPDATE attempts SET"
	    " finished = ?, result = ?, error = ? WHERE id = ?", "issi", now,
	    result, error, attempt_id), "finish an attempt", err, errlen);
}

int
state_recover(struct state *st, int64_t now, int *count, char *err,
    size_t errlen)
{
	STATE_USE(st);
	if (run(st, prepare(st, err, errlen, "UPDATE attempts SET"
	    " finished = ?, result = 'interrupted' WHERE result = 'running'",
	    "i", now), "recover attempts", err, errlen) != 0)
		return -1;
	*count = sqlite3_changes(st->db);
	/* A job cut off by a crash ends with 500 for the API to return. */
	return run(st, prepare(st, err, errlen, "UPDATE jobs SET status ="
	    " '" JOB_DONE "', http_status = 500, response = ? WHERE status ="
	    " '" JOB_RUNNING "'", "s", "{\"type\": \"urn:custos:error:"
	    "internal\", \"status\": 500, \"detail\": \"the worker stopped "
	    "while it ran this job\"}"), "recover jobs", err, errlen);
}

static int
demote_current(struct state *st, int64_t cert_id, char *err, size_t errlen)
{
	return run(st, prepare(st, err, errlen, "UPDATE versions SET"
	    " status = '" VERSION_PREVIOUS "' WHERE cert_id = ? AND"
	    " status = '" VERSION_CURRENT "'", "i", cert_id),
	    "demote the current version", err, errlen);
}

static int
save_renewal(struct state *st, const struct state_renewal *r, char *err,
    size_t errlen)
{
	return run(st, prepare(st, err, errlen, "INSERT OR REPLACE INTO"
	    " renewals (cert_id, generation, ari_id, fallback_at, renew_at,"
	    " next_poll, fetched, window_start, window_end) VALUES"
	    " (?, ?, ?, ?, ?, ?, ?, ?, ?)", "iisiiiiii", r->cert_id,
	    r->generation, r->ari_id, r->fallback_at, r->renew_at,
	    r->next_poll, r->fetched, r->window_start, r->window_end),
	    "record a renewal schedule", err, errlen);
}

/* Replaces the renewal schedule of the certificate by r, or drops it. */
static int
replace_renewal(struct state *st, int64_t cert_id,
    const struct state_renewal *r, char *err, size_t errlen)
{
	if (r != NULL)
		return save_renewal(st, r, err, errlen);
	return run(st, prepare(st, err, errlen, "DELETE FROM renewals WHERE"
	    " cert_id = ?", "i", cert_id), "drop a renewal schedule", err,
	    errlen);
}

/*
 * Makes the task due at v's creation when a reissue raised the generation
 * while v's request ran, so that v's renewal time does not postpone it.
 */
static int
keep_reissue_due(struct state *st, const struct state_version *v,
    char *err, size_t errlen)
{
	return run(st, prepare(st, err, errlen, "UPDATE tasks SET due = ?"
	    " WHERE cert_id = ? AND (SELECT generation FROM certificates"
	    " WHERE id = ?) > (SELECT generation FROM orders WHERE id = ?)",
	    "iiii", v->created, v->cert_id, v->cert_id, v->order_id),
	    "keep a reissue due", err, errlen);
}

int
state_version_activate(struct state *st, const struct state_version *v,
    const struct state_renewal *renewal, int64_t renew_due, char *err,
    size_t errlen)
{
	STATE_USE(st);
	if (begin(st, err, errlen) != 0)
		return -1;
	if (demote_current(st, v->cert_id, err, errlen) != 0 ||
	    replace_renewal(st, v->cert_id, renewal, err, errlen) != 0 ||
	    run(st, prepare(st, err, errlen, "INSERT INTO versions (cert_id,"
	    " order_id, name, serial, not_before, not_after, created, status,"
	    " deploy_pending) VALUES (?, nullif(?, 0), ?, ?, ?, ?, ?,"
	    " '" VERSION_CURRENT "', ?) ON CONFLICT (cert_id, name) DO UPDATE"
	    " SET status = '" VERSION_CURRENT "', deploy_pending ="
	    " excluded.deploy_pending", "iissiiii", v->cert_id, v->order_id,
	    v->name, v->serial, v->not_before, v->not_after, v->created,
	    (int64_t)DEPLOY_NEW),
	    "add a version", err, errlen) != 0 ||
	    run(st, prepare(st, err, errlen, "UPDATE orders SET status ="
	    " '" ORDER_STORED "' WHERE id = ?", "i", v->order_id),
	    "close the order", err, errlen) != 0 ||
	    state_task_set(st, v->cert_id, renew_due, 0, NULL, err,
	    errlen) != 0 ||
	    keep_reissue_due(st, v, err, errlen) != 0 ||
	    commit(st, err, errlen) != 0) {
		rollback(st);
		return -1;
	}
	return 0;
}

int
state_version_mark(struct state *st, int64_t cert_id, int64_t id,
    const char *status, char *err, size_t errlen)
{
	STATE_USE(st);
	if (begin(st, err, errlen) != 0)
		return -1;
	if ((strcmp(status, VERSION_CURRENT) == 0 &&
	    demote_current(st, cert_id, err, errlen) != 0) ||
	    run(st, prepare(st, err, errlen, "UPDATE versions SET status = ?"
	    " WHERE id = ? AND cert_id = ?", "sii", status, id, cert_id),
	    "mark a version", err, errlen) != 0 ||
	    commit(st, err, errlen) != 0) {
		rollback(st);
		return -1;
	}
	return 0;
}

int
state_version_restore(struct state *st, int64_t cert_id, int64_t restore_id,
    int64_t replaced_id, const char *status, char *err, size_t errlen)
{
	STATE_USE(st);
	if (begin(st, err, errlen) != 0)
		return -1;
	if (demote_current(st, cert_id, err, errlen) != 0 ||
	    run(st, prepare(st, err, errlen, "UPDATE versions SET status ="
	    " ?, deploy_pending = ? WHERE id = ? AND cert_id = ?", "siii",
	    status, (int64_t)DEPLOY_NONE, replaced_id, cert_id),
	    "mark the replaced version", err, errlen) != 0 ||
	    run(st, prepare(st, err, errlen, "UPDATE versions SET status ="
	    " '" VERSION_CURRENT "', deploy_pending = ? WHERE id = ? AND"
	    " cert_id = ?", "iii", (int64_t)DEPLOY_RESTORE, restore_id,
	    cert_id), "restore a version", err, errlen) != 0 ||
	    replace_renewal(st, cert_id, NULL, err, errlen) != 0 ||
	    commit(st, err, errlen) != 0) {
		rollback(st);
		return -1;
	}
	return 0;
}

int
state_version_deployed(struct state *st, int64_t id, char *err,
    size_t errlen)
{
	STATE_USE(st);
	return run(st, prepare(st, err, errlen, "UPDATE versions SET"
	    " deploy_pending = ? WHERE id = ?", "ii", (int64_t)DEPLOY_NONE,
	    id), "record a deploy", err, errlen);
}

static const char version_columns[] =
	"SELECT id, cert_id, coalesce(order_id, 0), name, serial,"
	" not_before, not_after, created, status, deploy_pending"
	" FROM versions";

static int
read_version(sqlite3_stmt *stmt, struct state_version *v)
{
	memset(v, 0, sizeof(*v));
	v->id = sqlite3_column_int64(stmt, 0);
	v->cert_id = sqlite3_column_int64(stmt, 1);
	v->order_id = sqlite3_column_int64(stmt, 2);
	v->name = column_text(stmt, 3);
	v->serial = column_text(stmt, 4);
	v->not_before = sqlite3_column_int64(stmt, 5);
	v->not_after = sqlite3_column_int64(stmt, 6);
	v->created = sqlite3_column_int64(stmt, 7);
	copy_status(v->status, sizeof(v->status), stmt, 8);
	v->deploy_pending = sqlite3_column_int(stmt, 9);
	if (v->name == NULL || v->serial == NULL) {
		state_version_clear(v);
		return -1;
	}
	return 0;
}

void
state_version_clear(struct state_version *v)
{
	free(v->name);
	free(v->serial);
	memset(v, 0, sizeof(*v));
}

int
state_version_list(struct state *st, int64_t cert_id,
    void (*fn)(const struct state_version *v, void *arg), void *arg,
    char *err, size_t errlen)
{
	STATE_USE(st);
	struct state_version v;
	char sql[512];
	sqlite3_stmt *stmt;
	int rc;

	snprintf(sql, sizeof(sql), "%s WHERE cert_id = ? ORDER BY id DESC",
	    version_columns);
	stmt = prepare(st, err, errlen, sql, "i", cert_id);
	if (stmt == NULL)
		return -1;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (read_version(stmt, &v) != 0) {
			sqlite3_finalize(stmt);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		fn(&v, arg);
		state_version_clear(&v);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return db_error(st, err, errlen, "list versions");
	return 0;
}

int
state_version_current(struct state *st, int64_t cert_id,
    struct state_version *v, char *err, size_t errlen)
{
	STATE_USE(st);
	char sql[512];
	sqlite3_stmt *stmt;
	int rc;

	snprintf(sql, sizeof(sql), "%s WHERE cert_id = ? AND status = '"
	    VERSION_CURRENT "'", version_columns);
	stmt = prepare(st, err, errlen, sql, "i", cert_id);
	if (stmt == NULL)
		return -1;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		rc = read_version(stmt, v);
	else if (rc == SQLITE_DONE)
		rc = STATE_NOT_FOUND;
	else
		rc = db_error(st, err, errlen, "read the current version");
	sqlite3_finalize(stmt);
	if (rc == STATE_NOT_FOUND)
		snprintf(err, errlen, "certificate %lld has no current "
		    "version", (long long)cert_id);
	return rc;
}

int
state_job_add(struct state *st, const char *kind, const char *tenant,
    int64_t cert_id, const char *request, int64_t now, int64_t *id,
    char *err, size_t errlen)
{
	STATE_USE(st);
	/* Finished jobs are kept for a day, for anyone who debugs one. */
	if (run(st, prepare(st, err, errlen, "DELETE FROM jobs WHERE status"
	    " IN ('" JOB_DONE "', '" JOB_CANCELLED "') AND created < ?", "i",
	    now - 86400), "remove old jobs", err, errlen) != 0)
		return -1;
	if (run(st, prepare(st, err, errlen, "INSERT INTO jobs (kind, tenant,"
	    " cert_id, request, status, created) VALUES (?, ?, nullif(?, 0),"
	    " ?, '" JOB_PENDING "', ?)", "ssisi", kind, tenant, cert_id,
	    request, now), "add a job", err, errlen) != 0)
		return -1;
	*id = sqlite3_last_insert_rowid(st->db);
	return 0;
}

static const char job_columns[] =
	"SELECT id, kind, tenant, coalesce(cert_id, 0), request, status,"
	" coalesce(http_status, 0), response FROM jobs";

static int
read_job(sqlite3_stmt *stmt, struct state_job *job)
{
	memset(job, 0, sizeof(*job));
	job->id = sqlite3_column_int64(stmt, 0);
	copy_status(job->kind, sizeof(job->kind), stmt, 1);
	job->tenant = column_text(stmt, 2);
	job->cert_id = sqlite3_column_int64(stmt, 3);
	job->request = column_text(stmt, 4);
	copy_status(job->status, sizeof(job->status), stmt, 5);
	job->http_status = sqlite3_column_int(stmt, 6);
	job->response = column_text(stmt, 7);
	if (job->tenant == NULL || job->request == NULL) {
		state_job_clear(job);
		return -1;
	}
	return 0;
}

/* Reads the first job that where selects; STATE_NOT_FOUND when none. */
static int
select_job(struct state *st, const char *where, int64_t id,
    struct state_job *job, char *err, size_t errlen)
{
	char sql[512];
	sqlite3_stmt *stmt;
	int rc;

	snprintf(sql, sizeof(sql), "%s %s", job_columns, where);
	stmt = prepare(st, err, errlen, sql, id != 0 ? "i" : "", id);
	if (stmt == NULL)
		return -1;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		rc = read_job(stmt, job) == 0 ? 0 : -1;
	else if (rc == SQLITE_DONE)
		rc = STATE_NOT_FOUND;
	else
		rc = db_error(st, err, errlen, "read a job");
	sqlite3_finalize(stmt);
	if (rc == -1 && err[0] == '\0')
		snprintf(err, errlen, "out of memory");
	return rc;
}

int
state_job_next(struct state *st, struct state_job *job, char *err,
    size_t errlen)
{
	STATE_USE(st);
	int rc;

	err[0] = '\0';
	if (begin(st, err, errlen) != 0)
		return -1;
	rc = select_job(st, "WHERE status = '" JOB_PENDING "' ORDER BY id"
	    " LIMIT 1", 0, job, err, errlen);
	if (rc == 0 && run(st, prepare(st, err, errlen, "UPDATE jobs SET"
	    " status = '" JOB_RUNNING "' WHERE id = ?", "i", job->id),
	    "start a job", err, errlen) != 0) {
		state_job_clear(job);
		rc = -1;
	}
	if (rc == STATE_NOT_FOUND) {
		rollback(st);
		return 0;
	}
	if (rc != 0 || commit(st, err, errlen) != 0) {
		rollback(st);
		return -1;
	}
	snprintf(job->status, sizeof(job->status), JOB_RUNNING);
	return 1;
}

int
state_job_finish(struct state *st, int64_t id, int http_status,
    const char *response, char *err, size_t errlen)
{
	STATE_USE(st);
	return run(st, prepare(st, err, errlen, "UPDATE jobs SET status ="
	    " '" JOB_DONE "', http_status = ?, response = ? WHERE id = ?",
	    "isi", (int64_t)http_status, response, id), "finish a job", err,
	    errlen);
}

int
state_job_get(struct state *st, int64_t id, struct state_job *job,
    char *err, size_t errlen)
{
	STATE_USE(st);
	int rc;

	err[0] = '\0';
	rc = select_job(st, "WHERE id = ?", id, job, err, errlen);
	if (rc == STATE_NOT_FOUND)
		snprintf(err, errlen, "no job with id %lld", (long long)id);
	return rc;
}

int
state_job_cancel(struct state *st, int64_t id, char *err, size_t errlen)
{
	STATE_USE(st);
	if (run(st, prepare(st, err, errlen, "UPDATE jobs SET status ="
	    " '" JOB_CANCELLED "' WHERE id = ? AND status = '" JOB_PENDING
	    "'", "i", id), "cancel a job", err, errlen) != 0)
		return -1;
	return sqlite3_changes(st->db) > 0;
}

void
state_job_clear(struct state_job *job)
{
	free(job->tenant);
	free(job->request);
	free(job->response);
	memset(job, 0, sizeof(*job));
}

/* One query per enum state_count_kind: tenant, key, value. */
static const char *const count_queries[] = {
	[STATE_COUNT_ORDERS] = "SELECT c.tenant, NULL, count(*) FROM orders o"
	    " JOIN certificates c ON c.id = o.cert_id GROUP BY c.tenant"
	    " ORDER BY c.tenant",
	[STATE_COUNT_ATTEMPTS] = "SELECT c.tenant, a.result, count(*)"
	    " FROM attempts a JOIN certificates c ON c.id = a.cert_id"
	    " GROUP BY c.tenant, a.result ORDER BY c.tenant, a.result",
	[STATE_COUNT_FAILURES] = "SELECT c.tenant, a.error, 1"
	    " FROM attempts a JOIN certificates c ON c.id = a.cert_id"
	    " WHERE a.result = 'failed' ORDER BY a.id",
	[STATE_COUNT_RETRIES] = "SELECT c.tenant, NULL, count(*)"
	    " FROM attempts a JOIN certificates c ON c.id = a.cert_id"
	    " WHERE (SELECT b.result FROM attempts b WHERE"
	    " b.cert_id = a.cert_id AND b.id < a.id ORDER BY b.id DESC"
	    " LIMIT 1) IN ('failed', 'interrupted')"
	    " GROUP BY c.tenant ORDER BY c.tenant",
	[STATE_COUNT_SIGNER] = ("SELECT tenant, NULL, value FROM counters"
	    " WHERE name = 'signer_operations' ORDER BY tenant"),
	[STATE_COUNT_ACME_REQUESTS] = ("SELECT tenant, NULL, value FROM"
	    " counters WHERE name = 'acme_requests' ORDER BY tenant"),
	[STATE_COUNT_ACME_CONNECTIONS] = ("SELECT tenant, NULL, value FROM"
	    " counters WHERE name = 'acme_connections' ORDER BY tenant"),
	[STATE_COUNT_LAST_ATTEMPT] = "SELECT c.tenant, CAST(c.id AS TEXT),"
	    " max(a.started) FROM attempts a JOIN certificates c"
	    " ON c.id = a.cert_id GROUP BY c.id ORDER BY c.id",
};

int
state_count_list(struct state *st, enum state_count_kind kind,
    void (*fn)(const struct state_count *row, void *arg), void *arg,
    char *err, size_t errlen)
{
	STATE_USE(st);
	struct state_count row;
	sqlite3_stmt *stmt;
	int rc;

	if ((size_t)kind >= sizeof(count_queries) / sizeof(count_queries[0]))
		return snprintf(err, errlen, "unknown tally %d", (int)kind), -1;
	stmt = prepare(st, err, errlen, count_queries[kind], "");
	if (stmt == NULL)
		return -1;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		row.tenant = (const char *)sqlite3_column_text(stmt, 0);
		row.key = (const char *)sqlite3_column_text(stmt, 1);
		row.value = sqlite3_column_int64(stmt, 2);
		if (row.tenant != NULL)
			fn(&row, arg);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return db_error(st, err, errlen, "count for the metrics");
	return 0;
}

int
state_counter_add(struct state *st, const char *name, const char *tenant,
    int64_t delta, char *err, size_t errlen)
{
	STATE_USE(st);
	return run(st, prepare(st, err, errlen, "INSERT INTO counters"
	    " (name, tenant, value) VALUES (?, ?, ?) ON CONFLICT (name, tenant)"
	    " DO UPDATE SET value = value + excluded.value", "ssi", name,
	    tenant, delta), "add to a counter", err, errlen);
}

int
state_renewal_get(struct state *st, int64_t cert_id,
    struct state_renewal *r, char *err, size_t errlen)
{
	STATE_USE(st);
	sqlite3_stmt *stmt;
	int rc;

	memset(r, 0, sizeof(*r));
	stmt = prepare(st, err, errlen, "SELECT generation, ari_id,"
	    " fallback_at, renew_at, next_poll, fetched, window_start,"
	    " window_end FROM renewals WHERE cert_id = ?", "i", cert_id);
	if (stmt == NULL)
		return -1;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		r->cert_id = cert_id;
		r->generation = sqlite3_column_int64(stmt, 0);
		r->ari_id = column_text(stmt, 1);
		r->fallback_at = sqlite3_column_int64(stmt, 2);
		r->renew_at = sqlite3_column_int64(stmt, 3);
		r->next_poll = sqlite3_column_int64(stmt, 4);
		r->fetched = sqlite3_column_int64(stmt, 5);
		r->window_start = sqlite3_column_int64(stmt, 6);
		r->window_end = sqlite3_column_int64(stmt, 7);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = STATE_NOT_FOUND;
		snprintf(err, errlen, "certificate %lld has no renewal "
		    "schedule", (long long)cert_id);
	} else {
		rc = db_error(st, err, errlen, "read a renewal schedule");
	}
	sqlite3_finalize(stmt);
	return rc;
}

int
state_renewal_set(struct state *st, const struct state_renewal *r,
    int64_t due, char *err, size_t errlen)
{
	STATE_USE(st);
	if (begin(st, err, errlen) != 0)
		return -1;
	/*
	 * A reissue that came after r was read raised the generation and
	 * made the task due, so the task keeps that due time.
	 */
	if (save_renewal(st, r, err, errlen) != 0 ||
	    run(st, prepare(st, err, errlen, "UPDATE tasks SET due = ? WHERE"
	    " cert_id = ? AND (SELECT generation FROM certificates WHERE"
	    " id = ?) = ?", "iiii", due, r->cert_id, r->cert_id,
	    r->generation), "schedule a task", err, errlen) != 0 ||
	    commit(st, err, errlen) != 0) {
		rollback(st);
		return -1;
	}
	return 0;
}

void
state_renewal_clear(struct state_renewal *r)
{
	free(r->ari_id);
	memset(r, 0, sizeof(*r));
}

int
state_wrapped_put(struct state *st, const struct state_wrapped_key *wk,
    char *err, size_t errlen)
{
	STATE_USE(st);
	return run(st, prepare(st, err, errlen, "INSERT OR REPLACE INTO"
	    " wrapped_keys (version_id, node, recipient, oaep_hash, key_type,"
	    " data, created) VALUES (?, ?, ?, ?, ?, ?, ?)", "isssssi",
	    wk->version_id, wk->node, wk->recipient, wk->oaep_hash,
	    wk->key_type, wk->data, wk->created), "store a wrapped key", err,
	    errlen);
}

int
state_wrapped_get(struct state *st, int64_t version_id, const char *node,
    const char *recipient, struct state_wrapped_key *wk, char *err,
    size_t errlen)
{
	STATE_USE(st);
	sqlite3_stmt *stmt;
	int rc;

	memset(wk, 0, sizeof(*wk));
	stmt = prepare(st, err, errlen, "SELECT oaep_hash, key_type, data,"
	    " created FROM wrapped_keys WHERE version_id = ? AND node = ?"
	    " AND recipient = ?", "iss", version_id, node, recipient);
	if (stmt == NULL)
		return -1;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		wk->version_id = version_id;
		wk->node = strdup(node);
		wk->recipient = strdup(recipient);
		wk->oaep_hash = column_text(stmt, 0);
		wk->key_type = column_text(stmt, 1);
		wk->data = column_text(stmt, 2);
		wk->created = sqlite3_column_int64(stmt, 3);
		rc = 0;
		if (wk->node == NULL || wk->recipient == NULL ||
		    wk->oaep_hash == NULL || wk->key_type == NULL ||
		    wk->data == NULL) {
			state_wrapped_clear(wk);
			snprintf(err, errlen, "out of memory");
			rc = -1;
		}
	} else if (rc == SQLITE_DONE) {
		rc = STATE_NOT_FOUND;
		snprintf(err, errlen, "version %lld has no wrapped key for "
		    "node %s", (long long)version_id, node);
	} else {
		rc = db_error(st, err, errlen, "read a wrapped key");
	}
	sqlite3_finalize(stmt);
	return rc;
}

void
state_wrapped_clear(struct state_wrapped_key *wk)
{
	free(wk->node);
	free(wk->recipient);
	free(wk->oaep_hash);
	free(wk->key_type);
	free(wk->data);
	memset(wk, 0, sizeof(*wk));
}

int
state_version_key_id(struct state *st, int64_t version_id, char **key_id,
    char *err, size_t errlen)
{
	STATE_USE(st);
	sqlite3_stmt *stmt;
	int rc;

	*key_id = NULL;
	stmt = prepare(st, err, errlen, "SELECT o.key_id FROM versions v"
	    " JOIN orders o ON o.id = v.order_id WHERE v.id = ?"
	    " AND o.key_id IS NOT NULL", "i", version_id);
	if (stmt == NULL)
		return -1;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*key_id = column_text(stmt, 0);
		rc = 0;
		if (*key_id == NULL) {
			snprintf(err, errlen, "out of memory");
			rc = -1;
		}
	} else if (rc == SQLITE_DONE) {
		rc = STATE_NOT_FOUND;
		snprintf(err, errlen, "version %lld has no key of an order",
		    (long long)version_id);
	} else {
		rc = db_error(st, err, errlen, "read the key of a version");
	}
	sqlite3_finalize(stmt);
	return rc;
}
