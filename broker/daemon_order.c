/*
 * One issuance in the daemon. The order URL and the certificate key are
 * recorded before each step that the CA cannot undo, so a worker killed
 * at any point resumes the same order: an order is finalized at most
 * once, and a request therefore yields at most one certificate.
 */
#include "broker/daemon.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "broker/audit.h"
#include "broker/certificate.h"
#include "broker/challenge_http.h"
#include "broker/http.h"
#include "broker/issue_limits.h"
#include "broker/key_export.h"
#include "broker/names.h"
#include "broker/policy_gate.h"
#include "broker/renewal_info.h"
#include "broker/scheduler.h"
#include "broker/store.h"
#include "broker/store_usage.h"
#include "broker/versions.h"
#include "logging/log.h"

/* One run's working set, released by run_clear. */
struct run {
	struct daemon_worker *w;
	const struct state_cert *cert;
	const struct policy_tenant *tenant;
	char *names_text;		/* cert->names split in place */
	char *written[64];
	size_t written_count;
	struct acme_names names;
	struct acme_client acme;
	struct state_order order;
	struct acme_order ca;
	struct signer_key key;
	struct cert_chain chain;
	char version[128];
	int reserved;			/* in shared->reservations */
	char replaces[ARI_ID_MAX + 1];	/* renewalInfo identifier */
	char ari_id[ARI_ID_MAX + 1];	/* of the new version */
};

static int
fail(struct run *r, const char *what)
{
	if (what != NULL)
		snprintf(r->acme.err, sizeof(r->acme.err), "%s", what);
	return -1;
}

static int
split_names(struct run *r)
{
	char *save = NULL, *name;

	r->names_text = strdup(r->cert->names);
	if (r->names_text == NULL)
		return fail(r, "out of memory");
	for (name = strtok_r(r->names_text, " ", &save); name != NULL;
	    name = strtok_r(NULL, " ", &save)) {
		if (r->written_count == sizeof(r->written) /
		    sizeof(r->written[0]))
			return fail(r, "too many names in the certificate");
		r->written[r->written_count++] = name;
	}
	return names_parse(r->written, r->written_count, &r->names,
	    r->acme.err, sizeof(r->acme.err));
}

static void
log_denial(const char *line, void *arg)
{
	const struct run *r = arg;

	log_error("certificate %lld: tenant %s: %s", (long long)r->cert->id,
	    r->cert->tenant, line);
}

/*
 * Adds the reservations of the tenant's other orders to usage, as if
 * they were stored. The caller holds usage_lock.
 */
static void
add_reserved(struct run *r, struct store_usage *usage)
{
	const struct daemon_shared *shared = r->w->shared;
	const struct daemon_reservation *res;

	for (size_t i = 0; i < shared->reservation_count; i++) {
		res = &shared->reservations[i];
		if (res->cert_id == r->cert->id ||
		    strcmp(res->tenant, r->cert->tenant) != 0)
			continue;
		usage->held += res->adds_held;
		usage->last_hour++;
		usage->last_day++;
	}
}

/*
 * Records the run as a reservation of its tenant. The caller holds
 * usage_lock. Returns -1 when memory runs out.
 */
static int
reserve(struct run *r, time_t now)
{
	struct daemon_shared *shared = r->w->shared;
	struct daemon_reservation *list, *res;

	list = reallocarray(shared->reservations,
	    shared->reservation_count + 1, sizeof(*list));
	if (list == NULL)
		return fail(r, "out of memory");
	shared->reservations = list;
	res = &list[shared->reservation_count];
	res->cert_id = r->cert->id;
	res->tenant = strdup(r->cert->tenant);
	if (res->tenant == NULL)
		return fail(r, "out of memory");
	res->adds_held = !store_usage_held(r->w->config->store.directory,
	    r->cert->tenant, r->cert->label, now);
	shared->reservation_count++;
	r->reserved = 1;
	return 0;
}

/* Drops the run's reservation. The caller holds usage_lock. */
static void
unreserve(struct run *r)
{
	struct daemon_shared *shared = r->w->shared;

	if (!r->reserved)
		return;
	for (size_t i = 0; i < shared->reservation_count; i++) {
		if (shared->reservations[i].cert_id != r->cert->id)
			continue;
		free(shared->reservations[i].tenant);
		shared->reservations[i] =
		    shared->reservations[--shared->reservation_count];
		break;
	}
	r->reserved = 0;
}

/*
 * Checks the limits of the request against the store and the orders of
 * the tenant in flight, and reserves a place for it when they allow it.
 */
static int
check_limits(struct run *r, struct gate_request *request)
{
	struct daemon_shared *shared = r->w->shared;
	pthread_mutex_t *lock = &shared->usage_lock;
	struct store_usage usage;
	time_t now = time(NULL);
	int denied;

	pthread_mutex_lock(lock);
	/* Without memory for the cache, the count reads the whole store. */
	if (shared->usage_cache == NULL)
		shared->usage_cache = store_usage_cache_new();
	if (store_usage_count_cached(shared->usage_cache,
	    r->w->config->store.directory, r->cert->tenant, r->cert->label,
	    now, &usage, r->acme.err, sizeof(r->acme.err)) != 0) {
		pthread_mutex_unlock(lock);
		return -1;
	}
	add_reserved(r, &usage);
	request->usage = &usage;
	denied = gate_check_request(r->tenant, request, log_denial, r) > 0;
	request->usage = NULL;
	if (!denied && reserve(r, now) != 0) {
		pthread_mutex_unlock(lock);
		return -1;
	}
	pthread_mutex_unlock(lock);
	if (denied)
		return fail(r, "the tenant's policy denies the request");
	return 0;
}

/*
 * Checks the request against the tenant's policy as it is now, with
 * max-certificates and rate counted in the store and among the orders in
 * flight, where the certificate being renewed does not count as one more
 * held.
 */
static int
check_policy_now(struct run *r)
{
	struct gate_request request = { 0 };
	enum key_type type;

	r->tenant = policy_find_tenant(r->w->policy, r->cert->tenant);
	if (r->tenant == NULL)
		return fail(r, "the tenant is no longer in the policy file");
	if (key_type_parse(r->cert->key_type, &type) != 0)
		return fail(r, "unknown key type in the state database");
	request.written = r->written;
	request.names = &r->names;
	request.issuer = r->acme.issuer->name;
	request.account = r->acme.issuer->account;
	request.key_type = type;
	request.key_export = cert_key_export(r->cert);
	request.challenge = challenge_gate_type(r->w->config, r->tenant);
	if (r->tenant->max_certificates.set || r->tenant->rate_per_hour.set ||
	    r->tenant->rate_per_day.set)
		return check_limits(r, &request);
	if (gate_check_request(r->tenant, &request, log_denial, r) > 0)
		return fail(r, "the tenant's policy denies the request");
	return 0;
}

/*
 * Runs check_policy_now() with its decisions appended to the audit log
 * together, before anything is sent to the CA. A failed append is kept
 * for audit_status(), as for a single decision.
 */
static int
check_policy(struct run *r)
{
	int rc;

	audit_hold_decisions();
	rc = check_policy_now(r);
	audit_release_decisions();
	return rc;
}

/* Returns 1 when the file at path contains exactly expected. */
static int
file_equals(const char *path, const char *expected)
{
	char buf[512];
	size_t len = strlen(expected);
	ssize_t got;
	int fd;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	got = read(fd, buf, sizeof(buf));
	close(fd);
	return got >= 0 && (size_t)got == len && memcmp(buf, expected,
	    len) == 0;
}

/*
 * Returns 1 when the webroot files of this run's account were cleaned
 * already in this worker, and records them as cleaned otherwise. The
 * caller holds webroot_lock.
 */
static int
webroot_cleaned(struct run *r)
{
	struct daemon_shared *shared = r->w->shared;
	const char *thumbprint = r->acme.account_thumbprint;
	char **list, *copy;

	for (size_t i = 0; i < shared->webroot_cleaned_count; i++)
		if (strcmp(shared->webroot_cleaned[i], thumbprint) == 0)
			return 1;
	copy = strdup(thumbprint);
	list = reallocarray(shared->webroot_cleaned,
	    shared->webroot_cleaned_count + 1, sizeof(*list));
	if (copy == NULL || list == NULL) {
		free(copy);
		return 0;
	}
	list[shared->webroot_cleaned_count++] = copy;
	shared->webroot_cleaned = list;
	return 0;
}

/*
 * Removes the http-01 files that a killed run left in the webroot: files
 * whose content is the key authorization of their name for this account,
 * so files of other ACME clients stay. No custos issue of this account is
 * publishing meanwhile, because the supervisor holds the state-dir lock
 * that custos issue takes. Only the first run of each account in a
 * worker cleans, under webroot_lock, so that no file that another order
 * thread has published since is removed.
 */
static void
clean_webroot(struct run *r)
{
	const struct custos_config *config = r->w->config;
	char dir[4096], path[4096 + 256], expected[512];
	struct dirent *entry;
	DIR *d;

	if (config->challenge.http01_mode != HTTP01_WEBROOT ||
	    r->acme.account_thumbprint == NULL)
		return;
	pthread_mutex_lock(&r->w->shared->webroot_lock);
	if (webroot_cleaned(r)) {
		pthread_mutex_unlock(&r->w->shared->webroot_lock);
		return;
	}
	snprintf(dir, sizeof(dir), "%s%s", config->challenge.webroot,
	    CHALLENGE_PATH_PREFIX);
	d = opendir(dir);
	if (d == NULL) {
		pthread_mutex_unlock(&r->w->shared->webroot_lock);
		return;
	}
	while ((entry = readdir(d)) != NULL) {
		if (entry->d_name[0] == '.' || snprintf(expected,
		    sizeof(expected), "%s.%s", entry->d_name,
		    r->acme.account_thumbprint) >= (int)sizeof(expected) ||
		    snprintf(path, sizeof(path), "%s%s", dir,
		    entry->d_name) >= (int)sizeof(path))
			continue;
		if (file_equals(path, expected) && unlink(path) == 0)
			log_warn("certificate %lld: removed %s, left by an "
			    "interrupted run", (long long)r->cert->id, path);
	}
	closedir(d);
	pthread_mutex_unlock(&r->w->shared->webroot_lock);
}

void
daemon_account_clear(struct daemon_account *account)
{
	free(account->issuer);
	free(account->url);
	free(account->thumbprint);
	memset(account, 0, sizeof(*account));
}

/* Returns the kept account of the run's issuer, or NULL. */
static struct daemon_account *
find_account(struct run *r)
{
	struct daemon_shared *shared = r->w->shared;

	for (size_t i = 0; i < shared->account_count; i++)
		if (strcmp(shared->accounts[i].issuer,
		    r->acme.issuer->name) == 0)
			return &shared->accounts[i];
	return NULL;
}

/* Keeps the account that the run loaded; a failure only costs speed. */
static void
keep_account(struct run *r)
{
	struct daemon_shared *shared = r->w->shared;
	struct daemon_account account = { 0 }, *list;

	account.issuer = strdup(r->acme.issuer->name);
	account.url = strdup(r->acme.account_url);
	account.thumbprint = strdup(r->acme.account_thumbprint);
	memcpy(account.key_id, r->acme.account_key_id, sizeof(account.key_id));
	list = reallocarray(shared->accounts, shared->account_count + 1,
	    sizeof(*list));
	if (account.issuer == NULL || account.url == NULL ||
	    account.thumbprint == NULL || list == NULL) {
		daemon_account_clear(&account);
		return;
	}
	shared->accounts = list;
	list[shared->account_count++] = account;
}

/*
 * Drops the kept account of the run's issuer, after a failed run, so
 * that the next run loads the record again: the account may have been
 * deactivated or its key changed.
 */
static void
forget_account(struct run *r)
{
	struct daemon_shared *shared = r->w->shared;
	struct daemon_account *account;

	if (r->acme.issuer == NULL)
		return;
	pthread_mutex_lock(&shared->account_lock);
	account = find_account(r);
	if (account != NULL) {
		daemon_account_clear(account);
		*account = shared->accounts[--shared->account_count];
	}
	pthread_mutex_unlock(&shared->account_lock);
}

/*
 * Sets the run's account from the kept one, or loads it (registering it
 * when needed) and keeps it. Two threads never register or save one
 * account at once.
 */
static int
ensure_account(struct run *r)
{
	struct daemon_shared *shared = r->w->shared;
	struct acme_client *acme = &r->acme;
	struct daemon_account *account;
	int rc = 0;

	pthread_mutex_lock(&shared->account_lock);
	account = find_account(r);
	if (account != NULL) {
		acme->account_url = strdup(account->url);
		acme->account_thumbprint = strdup(account->thumbprint);
		memcpy(acme->account_key_id, account->key_id,
		    sizeof(acme->account_key_id));
		if (acme->account_url == NULL ||
		    acme->account_thumbprint == NULL)
			rc = fail(r, "out of memory");
	} else {
		rc = acme_account_ensure(acme);
		if (rc == 0)
			keep_account(r);
	}
	pthread_mutex_unlock(&shared->account_lock);
	return rc;
}

static int
prepare_client(struct run *r)
{
	struct daemon_worker *w = r->w;
	struct acme_client *acme = &r->acme;

	acme->config = w->config;
	acme->issuer = config_find_issuer(w->config, r->cert->issuer);
	if (acme->issuer == NULL)
		return fail(r, "the certificate's issuer is no longer in the "
		    "configuration");
	if (split_names(r) != 0 || check_policy(r) != 0)
		return -1;
	w->signer.tenant = r->cert->tenant;
	w->challenges.tenant = r->tenant;
	acme->signer = &w->signer;
	acme->responder = w->responder;
	acme->challenges = &w->challenges;
	if (http_client_new(acme->issuer->trust_bundle,
	    w->config->acme.http_timeout, &acme->http, acme->err,
	    sizeof(acme->err)) != 0)
		return -1;
	if (acme_directory_fetch(acme) != 0)
		return -1;
	if (ensure_account(r) != 0)
		return -1;
	clean_webroot(r);
	return 0;
}

static int
save_order(struct run *r)
{
	return state_order_save(r->w->state, &r->order, r->acme.err,
	    sizeof(r->acme.err));
}

static int
abandon_order(struct run *r, const char *why)
{
	log_warn("certificate %lld: abandoning order %s: %s",
	    (long long)r->cert->id, r->order.url != NULL ? r->order.url :
	    "(never answered)", why);
	snprintf(r->order.status, sizeof(r->order.status), ORDER_ABANDONED);
	if (save_order(r) != 0)
		return -1;
	state_order_clear(&r->order);
	return 0;
}

/*
 * Fetches the open order from the CA. The CA may no longer serve it to
 * this account (404 or 403, as after a CA lost its state). Such an order
 * is abandoned and *rc set to 0, so that open_order creates another,
 * because a certificate issued for it could not be downloaded anyway.
 */
static int
refresh_order(struct run *r, int *rc)
{
	if (acme_order_refresh(&r->acme, r->order.url, &r->ca) == 0)
		return 0;
	*rc = -1;
	if (r->acme.fail_status == 404 || r->acme.fail_status == 403)
		*rc = abandon_order(r, r->acme.err);
	return -1;
}

/*
 * Sends newOrder, with "replaces" naming the current version when the
 * issuer has renewalInfo. When the CA returns alreadyReplaced (another
 * order already replaces that version), sends the order once more
 * without it.
 */
static int
new_order(struct run *r)
{
	struct acme_client *acme = &r->acme;

	acme->replaces = NULL;
	if (acme->directory.renewal_info != NULL &&
	    daemon_renewal_replaces(r->w, r->cert, r->replaces) == 0)
		acme->replaces = r->replaces;
	acme_failure_clear(acme);
	if (acme_order_new(acme, &r->names, &r->ca, &r->order.url) == 0)
		return 0;
	if (acme->replaces == NULL ||
	    strcmp(acme->fail_type, "alreadyReplaced") != 0)
		return -1;
	log_warn("certificate %lld: issuer %s returned alreadyReplaced for an "
	    "order replacing %s; sending the order again without replaces",
	    (long long)r->cert->id, acme->issuer->name, r->replaces);
	acme->replaces = NULL;
	return acme_order_new(acme, &r->names, &r->ca, &r->order.url);
}

/*
 * Loads the open order of this request, abandoning one that is past the
 * deadline or whose newOrder never got an answer (the CA may hold that
 * order, but nothing finalizes it), then creates one when none is left.
 */
static int
open_order(struct run *r)
{
	struct daemon_worker *w = r->w;
	int rc;

	rc = state_order_open(w->state, r->cert->id, r->cert->generation,
	    &r->order, r->acme.err, sizeof(r->acme.err));
	if (rc == 0 && r->order.url == NULL)
		rc = abandon_order(r, "newOrder was interrupted");
	else if (rc == 0 && sched_order_expired(&w->config->daemon,
	    r->order.created, time(NULL)))
		rc = abandon_order(r, "past order-deadline");
	else if (rc == 0 && refresh_order(r, &rc) == 0)
		return 0;
	if (rc != 0 && rc != STATE_NOT_FOUND)
		return -1;

	r->order.cert_id = r->cert->id;
	r->order.generation = r->cert->generation;
	r->order.created = time(NULL);
	snprintf(r->order.status, sizeof(r->order.status), ORDER_NEW);
	r->acme.not_after = issue_limits_not_after(r->tenant,
	    (time_t)r->order.created);
	if (save_order(r) != 0 || new_order(r) != 0)
		return -1;
	snprintf(r->order.status, sizeof(r->order.status), ORDER_PENDING);
	log_info("certificate %lld: order %s", (long long)r->cert->id,
	    r->order.url);
	return save_order(r);
}

static int
authorize(struct run *r)
{
	struct acme_client *acme = &r->acme;

	if (acme_authorize_all(acme, &r->ca) != 0 ||
	    acme_order_refresh(acme, r->order.url, &r->ca) != 0 ||
	    acme_order_wait(acme, r->order.url, "pending", &r->ca) != 0)
		return -1;
	return 0;
}

/* Generates the key once per order and records it before any CSR. */
static int
ensure_key(struct run *r)
{
	struct acme_client *acme = &r->acme;
	char key_id[IPC_KEY_ID_LEN + 1];

	if (r->order.key_id == NULL) {
		if (signer_certificate_key_generate(acme->signer,
		    r->cert->key_type, cert_key_export(r->cert) ==
		    POLICY_EXPORT_WRAPPED ? "wrapped" : "hsm", key_id,
		    acme->err, sizeof(acme->err)) != 0)
			return -1;
		r->order.key_id = strdup(key_id);
		if (r->order.key_id == NULL)
			return fail(r, "out of memory");
		if (save_order(r) != 0)
			return -1;
	}
	return signer_key_public(acme->signer, r->order.key_id, &r->key,
	    acme->err, sizeof(acme->err));
}

static int
finalize(struct run *r)
{
	struct acme_client *acme = &r->acme;
	const char *values[64];
	char *csr = NULL;
	int rc;

	for (size_t i = 0; i < r->names.count && i < 64; i++)
		values[i] = r->names.items[i].value;
	if (signer_csr_build(acme->signer, r->order.key_id, values,
	    r->names.count, &csr, acme->err, sizeof(acme->err)) != 0)
		return -1;
	snprintf(r->order.status, sizeof(r->order.status), ORDER_FINALIZING);
	rc = save_order(r);
	if (rc == 0)
		rc = acme_order_finalize(acme, r->order.url, &r->ca, csr);
	free(csr);
	return rc;
}

/* Downloads, checks and stores the certificate, without activating. */
static int
download(struct run *r)
{
	struct daemon_worker *w = r->w;
	struct acme_client *acme = &r->acme;
	struct store_files files;
	int64_t not_before, not_after;
	char *pem = NULL, *stored = NULL;
	size_t len = 0;
	int rc;

	rc = acme_certificate_download(acme, &r->ca, &pem, &len);
	if (rc == 0)
		rc = cert_chain_parse(pem, len, &r->chain, acme->err,
		    sizeof(acme->err));
	free(pem);
	if (rc != 0)
		return -1;
	if (versions_check(&r->chain, r->key.jwk, &r->names,
	    w->config->daemon.trust_anchors, time(NULL), acme->err,
	    sizeof(acme->err)) != 0 ||
	    versions_validity(&r->chain, &not_before, &not_after, acme->err,
	    sizeof(acme->err)) != 0)
		return -1;
	/* The order asked for created + max-lifetime, even when resumed. */
	if (issue_limits_check_lifetime(r->tenant, &r->chain,
	    issue_limits_not_after(r->tenant, (time_t)r->order.created),
	    acme->err, sizeof(acme->err)) != 0)
		return -1;

	/* Named by notBefore, so a resumed download finds its version. */
	if (store_version_name((time_t)not_before, r->chain.serial_hex,
	    r->version, sizeof(r->version)) != 0)
		return fail(r, "cannot format the version name");
	if (versions_exists(w->config->store.directory, r->cert->tenant,
	    r->cert->label, r->version))
		return 0;
	files.cert_pem = r->chain.leaf_pem;
	files.chain_pem = r->chain.chain_pem;
	files.fullchain_pem = r->chain.fullchain_pem;
	files.key_uri = r->key.uri;
	/* The stored version replaces the reservation in one step. */
	pthread_mutex_lock(&w->shared->usage_lock);
	rc = store_certificate(w->config->store.directory, r->cert->tenant,
	    r->cert->label, r->version, &files, &stored, acme->err,
	    sizeof(acme->err));
	if (rc == 0)
		unreserve(r);
	pthread_mutex_unlock(&w->shared->usage_lock);
	free(stored);
	return rc;
}

/*
 * Records the stored version as current, with its deploy pending, and
 * runs the deploy (broker/daemon_deploy.c).
 */
static int
activate(struct run *r)
{
	struct daemon_worker *w = r->w;
	struct state_renewal renewal;
	struct state_version v = { 0 };
	int64_t due;

	v.cert_id = r->cert->id;
	v.order_id = r->order.id;
	v.name = r->version;
	v.serial = r->chain.serial_hex;
	if (versions_validity(&r->chain, &v.not_before, &v.not_after,
	    r->acme.err, sizeof(r->acme.err)) != 0)
		return -1;
	v.created = time(NULL);
	due = daemon_renewal_plan(w, r->cert, &r->chain, v.not_before,
	    v.not_after, r->acme.directory.renewal_info != NULL, &renewal,
	    r->ari_id);
	if (state_version_activate(w->state, &v, &renewal, due, r->acme.err,
	    sizeof(r->acme.err)) != 0)
		return -1;
	/* A failed wrap is logged; the next start of the worker retries. */
	key_export_wrap_current(w, r->cert);
	return daemon_deploy(w, r->cert, 0, r->acme.err,
	    sizeof(r->acme.err));
}

#define CHECK_STOP(r) do {						\
	if (daemon_stop)						\
		return DAEMON_PARKED;					\
} while (0)

static enum daemon_result
run_steps(struct run *r)
{
	char status[16];

	if (prepare_client(r) != 0 || open_order(r) != 0)
		return DAEMON_FAILED;
	for (;;) {
		/* A copy: each refresh frees the document status points in. */
		snprintf(status, sizeof(status), "%s", r->ca.status);
		/*
		 * Once finalize was sent the CA issues anyway, so the order
		 * runs to its end rather than leaving a certificate that
		 * only the next start would download.
		 */
		if (strcmp(status, "pending") == 0 ||
		    strcmp(status, "ready") == 0)
			CHECK_STOP(r);
		if (strcmp(status, "invalid") == 0) {
			abandon_order(r, "the CA marked it invalid");
			return fail(r, "the CA marked the order invalid");
		}
		if (strcmp(status, "pending") == 0) {
			if (authorize(r) != 0)
				return DAEMON_FAILED;
			continue;
		}
		if (ensure_key(r) != 0)
			return DAEMON_FAILED;
		if (strcmp(status, "ready") == 0 && finalize(r) != 0)
			return DAEMON_FAILED;
		if (strcmp(status, "processing") == 0 &&
		    acme_order_wait(&r->acme, r->order.url, "processing",
		    &r->ca) != 0)
			return DAEMON_FAILED;
		if (strcmp(r->ca.status, "valid") == 0)
			break;
		if (strcmp(r->ca.status, status) == 0)
			return fail(r, "the order did not progress");
	}
	if (download(r) != 0 || activate(r) != 0)
		return DAEMON_FAILED;
	log_info("certificate %lld: version %s is current (serial %s)",
	    (long long)r->cert->id, r->version, r->chain.serial_hex);
	return DAEMON_DONE;
}

/*
 * Adds the run's requests to the CA and the connections they opened to
 * the tenant's counters, for the metrics.
 */
static void
count_requests(struct run *r)
{
	uint64_t requests, connects;
	char err[512];

	http_client_counts(r->acme.http, &requests, &connects);
	if (requests == 0 && connects == 0)
		return;
	if (state_counter_add(r->w->state, "acme_requests", r->cert->tenant,
	    (int64_t)requests, err, sizeof(err)) != 0 ||
	    state_counter_add(r->w->state, "acme_connections",
	    r->cert->tenant, (int64_t)connects, err, sizeof(err)) != 0)
		log_error("certificate %lld: %s", (long long)r->cert->id, err);
}

static void
run_clear(struct run *r)
{
	http_client_free(r->acme.http);
	acme_directory_clear(&r->acme.directory);
	free(r->acme.nonce);
	free(r->acme.account_url);
	free(r->acme.account_thumbprint);
	acme_order_clear(&r->ca);
	state_order_clear(&r->order);
	signer_key_clear(&r->key);
	cert_chain_clear(&r->chain);
	names_clear(&r->names);
	free(r->names_text);
}

enum daemon_result
daemon_issue(struct daemon_worker *w, const struct state_cert *cert,
    int64_t *retry_after, char *err, size_t errlen)
{
	struct run r;
	enum daemon_result result;

	memset(&r, 0, sizeof(r));
	r.w = w;
	r.cert = cert;
	r.acme.fail_retry_after = -1;
	result = run_steps(&r);
	*retry_after = r.acme.fail_retry_after;
	if (result == DAEMON_FAILED) {
		snprintf(err, errlen, "%s", r.acme.err);
		forget_account(&r);
	}
	count_requests(&r);
	pthread_mutex_lock(&w->shared->usage_lock);
	unreserve(&r);
	pthread_mutex_unlock(&w->shared->usage_lock);
	run_clear(&r);
	return result;
}
