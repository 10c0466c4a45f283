#include "broker/versions.h"

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

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "logging/log.h"

#define VERSIONS_PATH_MAX 4096
/* Room for a file name after a directory of VERSIONS_PATH_MAX. */
#define VERSIONS_FILE_MAX (VERSIONS_PATH_MAX + 64)

/* Counts the DNS and IP entries of the leaf's subjectAltName. */
static int
count_sans(X509 *leaf)
{
	GENERAL_NAMES *sans;
	int i, count = 0;

	sans = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
	for (i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
		int type = sk_GENERAL_NAME_value(sans, i)->type;

		if (type == GEN_DNS || type == GEN_IPADD)
			count++;
	}
	GENERAL_NAMES_free(sans);
	return count;
}

static STACK_OF(X509) *
read_pem_stack(const char *pem)
{
	STACK_OF(X509) *certs = sk_X509_new_null();
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *cert;

	while (certs != NULL && bio != NULL &&
	    (cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_push(certs, cert) == 0) {
			X509_free(cert);
			break;
		}
	}
	ERR_clear_error();
	BIO_free(bio);
	return certs;
}

/*
 * Verifies the leaf up to the trust anchors, or with no anchors file up
 * to the chain's last certificate, which then only proves the chain is
 * consistent.
 */
static int
verify_chain(const struct cert_chain *chain, const char *trust_anchors,
    time_t now, char *err, size_t errlen)
{
	STACK_OF(X509) *issuers = read_pem_stack(chain->chain_pem);
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int n = issuers != NULL ? sk_X509_num(issuers) : 0, rc = -1;

	if (store == NULL || ctx == NULL || issuers == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (trust_anchors != NULL) {
		if (X509_STORE_load_file(store, trust_anchors) != 1) {
			snprintf(err, errlen, "cannot read trust-anchors %s "
			    "(check the daemon block)", trust_anchors);
			goto out;
		}
	} else if (n == 0 || X509_STORE_add_cert(store,
	    sk_X509_value(issuers, n - 1)) != 1) {
		snprintf(err, errlen, "the CA sent no issuer certificate, so "
		    "the chain cannot be checked");
		goto out;
	} else {
		X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
	}
	if (X509_STORE_CTX_init(ctx, store, chain->leaf, issuers) != 1)
		goto out;
	X509_STORE_CTX_set_time(ctx, 0, now);
	if (X509_verify_cert(ctx) != 1) {
		snprintf(err, errlen, "the certificate chain does not verify: "
		    "%s", X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(ctx)));
		goto out;
	}
	rc = 0;
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	sk_X509_pop_free(issuers, X509_free);
	return rc;
}

int
versions_check(const struct cert_chain *chain, const json_t *jwk,
    const struct acme_names *names, const char *trust_anchors, time_t now,
    char *err, size_t errlen)
{
	int sans;

	if (cert_check_key(chain, jwk, err, errlen) != 0 ||
	    cert_check_names(chain, names, err, errlen) != 0)
		return -1;
	sans = count_sans(chain->leaf);
	if ((size_t)sans != names->count) {
		snprintf(err, errlen, "the certificate names %d identifiers "
		    "for %zu requested", sans, names->count);
		return -1;
	}
	if (X509_cmp_time(X509_get0_notBefore(chain->leaf), &now) > 0 ||
	    X509_cmp_time(X509_get0_notAfter(chain->leaf), &now) < 0) {
		snprintf(err, errlen, "the certificate is not valid now "
		    "(check the system clock)");
		return -1;
	}
	return verify_chain(chain, trust_anchors, now, err, errlen);
}

static int
asn1_to_unix(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1)
		return -1;
	*out = (int64_t)timegm(&tm);
	return 0;
}

int
versions_validity(const struct cert_chain *chain, int64_t *not_before,
    int64_t *not_after, char *err, size_t errlen)
{
	if (asn1_to_unix(X509_get0_notBefore(chain->leaf), not_before) != 0 ||
	    asn1_to_unix(X509_get0_notAfter(chain->leaf), not_after) != 0) {
		snprintf(err, errlen, "invalid validity dates in the "
		    "certificate");
		return -1;
	}
	return 0;
}

int
versions_exists(const char *store_dir, const char *tenant,
    const char *label, const char *version)
{
	char path[VERSIONS_PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s/%s/%s/fullchain.pem", store_dir,
	    tenant, label, version);
	return stat(path, &st) == 0;
}

int
versions_is_current(const char *store_dir, const char *tenant,
    const char *label, const char *version)
{
	char path[VERSIONS_PATH_MAX], target[VERSIONS_PATH_MAX];
	ssize_t len;

	snprintf(path, sizeof(path), "%s/%s/%s/current", store_dir, tenant,
	    label);
	len = readlink(path, target, sizeof(target) - 1);
	if (len < 0)
		return 0;
	target[len] = '\0';
	return strcmp(target, version) == 0;
}

/* Removes dir and the files in it; store versions hold no subdirectory. */
static int
remove_dir(const char *dir)
{
	char path[VERSIONS_FILE_MAX];
	struct dirent *entry;
	DIR *d;

	d = opendir(dir);
	if (d == NULL)
		return -1;
	while ((entry = readdir(d)) != NULL) {
		if (strcmp(entry->d_name, ".") == 0 ||
		    strcmp(entry->d_name, "..") == 0)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir,
		    entry->d_name) < (int)sizeof(path))
			unlink(path);
	}
	closedir(d);
	return rmdir(dir);
}

static int
is_leftover(const char *name)
{
	return strncmp(name, ".tmp-", 5) == 0 ||
	    strncmp(name, ".current-", 9) == 0 ||
	    strncmp(name, ".switch-", 8) == 0;
}

int
versions_clean(const char *store_dir, const char *tenant, const char *label,
    int *removed, char *err, size_t errlen)
{
	char dir[VERSIONS_PATH_MAX], path[VERSIONS_FILE_MAX];
	struct dirent *entry;
	int rc, failed = 0;
	DIR *d;

	*removed = 0;
	snprintf(dir, sizeof(dir), "%s/%s/%s", store_dir, tenant, label);
	d = opendir(dir);
	if (d == NULL && errno == ENOENT)
		return 0;
	if (d == NULL) {
		snprintf(err, errlen, "cannot read %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	while ((entry = readdir(d)) != NULL) {
		if (!is_leftover(entry->d_name) || snprintf(path,
		    sizeof(path), "%s/%s", dir, entry->d_name) >=
		    (int)sizeof(path))
			continue;
		if (entry->d_type == DT_DIR)
			rc = remove_dir(path);
		else
			rc = unlink(path);
		if (rc != 0) {
			snprintf(err, errlen, "cannot remove %s: %s (remove "
			    "it by hand)", path, strerror(errno));
			failed = -1;
			continue;
		}
		(*removed)++;
	}
	closedir(d);
	return failed;
}

int
versions_switch(const char *store_dir, const char *tenant,
    const char *label, const char *version, char *err, size_t errlen)
{
	char dir[VERSIONS_PATH_MAX], tmp[VERSIONS_FILE_MAX];
	char current[VERSIONS_FILE_MAX];
	int fd;

	snprintf(dir, sizeof(dir), "%s/%s/%s", store_dir, tenant, label);
	snprintf(tmp, sizeof(tmp), "%s/.switch-%ld", dir, (long)getpid());
	snprintf(current, sizeof(current), "%s/current", dir);
	unlink(tmp);
	if (symlink(version, tmp) != 0 || rename(tmp, current) != 0) {
		snprintf(err, errlen, "cannot point %s at %s: %s", current,
		    version, strerror(errno));
		unlink(tmp);
		return -1;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	return 0;
}

/* The CUSTOS_* variables that exec_hook adds to the environment. */
#define HOOK_VARIABLES 10

static void
free_environment(char **env)
{
	if (env == NULL)
		return;
	for (size_t i = 0; env[i] != NULL; i++)
		free(env[i]);
	free(env);
}

/*
 * Builds the hook's environment before fork(), because the worker runs
 * several threads, and between fork() and exec() the child may call
 * only async-signal-safe functions, which setenv() is not. Inherited CUSTOS_*
 * variables are left out. Returns NULL when memory runs out.
 */
static char **
hook_environment(const struct deploy_info *info)
{
	char dir[VERSIONS_PATH_MAX];
	size_t count = 0, n = 0;
	char **env;
	int failed = 0;

	while (environ[count] != NULL)
		count++;
	env = calloc(count + HOOK_VARIABLES + 1, sizeof(*env));
	if (env == NULL)
		return NULL;
	for (size_t i = 0; i < count && !failed; i++) {
		if (strncmp(environ[i], "CUSTOS_", 7) == 0)
			continue;
		env[n] = strdup(environ[i]);
		failed = env[n++] == NULL;
	}
	snprintf(dir, sizeof(dir), "%s/%s/%s/%s", info->store_dir,
	    info->tenant, info->label, info->version);
	failed |= asprintf(&env[n++], "CUSTOS_CERT_ID=%lld",
	    (long long)info->cert_id) < 0;
	failed |= asprintf(&env[n++], "CUSTOS_TENANT=%s", info->tenant) < 0;
	failed |= asprintf(&env[n++], "CUSTOS_NAMES=%s", info->names) < 0;
	failed |= asprintf(&env[n++], "CUSTOS_VERSION=%s",
	    info->version) < 0;
	failed |= asprintf(&env[n++], "CUSTOS_VERSION_DIR=%s", dir) < 0;
	failed |= asprintf(&env[n++], "CUSTOS_ROLLBACK=%s",
	    info->rollback ? "1" : "0") < 0;
	failed |= asprintf(&env[n++], "CUSTOS_CERT=%s/cert.pem", dir) < 0;
	failed |= asprintf(&env[n++], "CUSTOS_CHAIN=%s/chain.pem", dir) < 0;
	failed |= asprintf(&env[n++], "CUSTOS_FULLCHAIN=%s/fullchain.pem",
	    dir) < 0;
	failed |= asprintf(&env[n++], "CUSTOS_KEY_URI_FILE=%s/key.uri",
	    dir) < 0;
	if (failed) {
		/* asprintf leaves its pointer undefined on failure. */
		for (size_t i = 0; i < n; i++)
			env[i] = NULL;
		free_environment(env);
		return NULL;
	}
	return env;
}

/* Runs in the child and never returns. failed is the message to print. */
static void
exec_hook(const char *hook, char **env, const char *failed)
{
	char *const argv[] = { (char *)hook, NULL };

	/*
	 * Other order threads hold sockets and pipes without close-on-exec,
	 * such as connections to the CA, so the hook gets only stdin, stdout
	 * and stderr. close_range is a system call, safe after fork().
	 */
	close_range(3, ~0U, 0);
	execve(hook, argv, env);
	(void)!write(STDERR_FILENO, failed, strlen(failed));
	_exit(127);
}

/* Waits for pid up to timeout seconds; kills it after that. */
static int
wait_hook(pid_t pid, int timeout, int *status)
{
	struct timespec pause = { 0, 50 * 1000 * 1000 };
	time_t deadline = time(NULL) + timeout;
	pid_t done;

	for (;;) {
		done = waitpid(pid, status, WNOHANG);
		if (done == pid)
			return 0;
		if (done < 0 && errno != EINTR)
			return -1;
		if (time(NULL) >= deadline) {
			kill(pid, SIGKILL);
			while (waitpid(pid, status, 0) < 0 && errno == EINTR)
				;
			return 1;
		}
		nanosleep(&pause, NULL);
	}
}

int
versions_deploy(const struct config_daemon *daemon,
    const struct deploy_info *info, char *err, size_t errlen)
{
	const char *hook = daemon->deploy_hook;
	int status = 0, rc;
	char **env, failed[VERSIONS_PATH_MAX + 128];
	pid_t pid;

	if (hook == NULL)
		return 0;
	/* Formatted here, because the child may not call snprintf. */
	snprintf(failed, sizeof(failed), "custos: error: cannot run "
	    "deploy-hook %s (check that it exists and is executable)\n",
	    hook);
	env = hook_environment(info);
	if (env == NULL) {
		snprintf(err, errlen, "out of memory building the environment "
		    "of deploy-hook %s", hook);
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork for deploy-hook failed: %s",
		    strerror(errno));
		free_environment(env);
		return -1;
	}
	if (pid == 0)
		exec_hook(hook, env, failed);
	free_environment(env);
	rc = wait_hook(pid, daemon->deploy_timeout, &status);
	if (rc == 1) {
		snprintf(err, errlen, "deploy-hook %s timed out after %d s "
		    "for %s (raise deploy-timeout or fix the hook)", hook,
		    daemon->deploy_timeout, info->version);
		return -1;
	}
	if (rc != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(err, errlen, "deploy-hook %s failed for %s with "
		    "status %d", hook, info->version,
		    WIFEXITED(status) ? WEXITSTATUS(status) : 128 +
		    WTERMSIG(status));
		return -1;
	}
	log_info("deploy-hook %s succeeded for %s/%s %s", hook, info->tenant,
	    info->label, info->version);
	return 0;
}
