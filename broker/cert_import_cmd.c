/*
 * "custos cert import": the command-line side of broker/cert_import.h.
 * It runs as root, because it starts its own signer to read the key's
 * public half, and then writes the store and the database as the broker
 * user, as the daemon does.
 */
#include "broker/cert_import.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/audit_issue.h"
#include "broker/cert_cmd.h"
#include "broker/daemon.h"
#include "broker/privdrop.h"
#include "broker/tenant.h"
#include "logging/log.h"

/* The working set of one import, released by clear_job(). */
struct import_job {
	const struct custos_config *config;
	struct policy *policy;
	struct caller caller;
	const struct policy_tenant *tenant;
	struct signer_client signer;
	struct signer_key key;
	struct cert_import imp;
	struct state *state;
	char *pem;
	size_t pem_len;
};

/* Reads the chain file, one byte past the limit to detect a larger one. */
static int
read_chain(struct import_job *job, const char *path, char *err,
    size_t errlen)
{
	size_t cap = CERT_IMPORT_MAX_BYTES + 1;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open --chain '%s': %s", path,
		    strerror(errno));
		return -1;
	}
	job->pem = calloc(1, cap + 1);
	while (job->pem != NULL && job->pem_len < cap &&
	    (n = read(fd, job->pem + job->pem_len, cap - job->pem_len)) > 0)
		job->pem_len += (size_t)n;
	close(fd);
	if (job->pem == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static int
check_key_id(const char *key_id, char *err, size_t errlen)
{
	if (key_id == NULL || strlen(key_id) != IPC_KEY_ID_LEN ||
	    strspn(key_id, "0123456789abcdef") != IPC_KEY_ID_LEN) {
		snprintf(err, errlen, "invalid --key-id \"%s\" (use the 32 "
		    "lowercase hex digits that custos-signer --import-key "
		    "printed)", key_id != NULL ? key_id : "");
		return -1;
	}
	return 0;
}

/* Starts the signer as root, then drops to the broker user. */
static int
start_signer(struct import_job *job, char *err, size_t errlen)
{
	const struct custos_config *config = job->config;
	char *program = config->signer.program, *path;
	int rc;

	if (program == NULL)
		program = signer_default_program(err, errlen);
	if (program == NULL)
		return -1;
	rc = signer_spawn(program, config->path, &job->signer, err, errlen);
	if (program != config->signer.program)
		free(program);
	if (rc != 0)
		return -1;
	job->signer.tenant = job->tenant->name;
	if (privdrop_to_user(config->broker.user, config->path, err,
	    errlen) != 0)
		return -1;
	path = daemon_state_path(config);
	if (path == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rc = state_open(path, &job->state, err, errlen);
	free(path);
	return rc;
}

static void
print_denial(const char *line, void *arg)
{
	log_error("tenant %s: %s", (const char *)arg, line);
}

static int
run_import(struct import_job *job, const struct issue_options *opt,
    const char *chain_path, const char *key_id, int64_t *id, char *err,
    size_t errlen)
{
	if (check_key_id(key_id, err, errlen) != 0 ||
	    read_chain(job, chain_path, err, errlen) != 0 ||
	    cert_import_parse(job->pem, job->pem_len, time(NULL), &job->imp,
	    err, errlen) != 0 ||
	    policy_load(job->config->policy.file, policy_name_normalize,
	    &job->policy, err, errlen) != 0 ||
	    caller_identify(&job->caller, err, errlen) != 0 ||
	    tenant_select(job->policy, &job->caller, opt->tenant,
	    &job->tenant, err, errlen) != 0 ||
	    start_signer(job, err, errlen) != 0 ||
	    signer_key_public_of(&job->signer, key_id, job->tenant->name,
	    &job->key, err, errlen) != 0)
		return -1;
	if (cert_import_check_policy(job->tenant,
	    job->config->store.directory, &job->imp, &job->key,
	    print_denial, (void *)job->tenant->name) > 0) {
		snprintf(err, errlen, "the policy of tenant %s denies the "
		    "imported certificate", job->tenant->name);
		return -1;
	}
	return cert_import_store(job->config, job->state, job->tenant->name,
	    &job->imp, &job->key, time(NULL), id, err, errlen) == 0 ? 0 : -1;
}

static void
clear_job(struct import_job *job)
{
	char err[256];

	if (job->signer.pid > 0 &&
	    signer_finish(&job->signer, err, sizeof(err)) != 0)
		log_error("%s", err);
	signer_key_clear(&job->key);
	cert_import_clear(&job->imp);
	state_close(job->state);
	caller_clear(&job->caller);
	policy_free(job->policy);
	free(job->pem);
}

int
cert_import_command(const struct custos_config *config,
    const struct issue_options *opt, const char *chain_path,
    const char *key_id, char *err, size_t errlen)
{
	struct import_job job;
	char *names, deploy_err[512];
	int64_t id = 0;
	int rc;

	memset(&job, 0, sizeof(job));
	job.config = config;
	job.signer.fd = -1;
	job.signer.pid = -1;
	if (chain_path == NULL) {
		snprintf(err, errlen, "missing --chain FILE with the PEM "
		    "certificate chain to import");
		return -1;
	}
	rc = run_import(&job, opt, chain_path, key_id, &id, err, errlen);
	names = job.imp.names.count > 0 ?
	    cert_import_join_names(&job.imp.names) : NULL;
	if (rc == 0)
		printf("imported certificate %lld for tenant %s: serial %s, "
		    "key %s\n", (long long)id, job.tenant->name,
		    job.imp.chain.serial_hex, key_id);
	audit_cert_command("cert import", id, job.tenant != NULL ?
	    job.tenant->name : NULL, names, rc == 0 ? "success" :
	    "failure", rc == 0 ? NULL : err);
	/* The deploy hook runs for an import as for a new ACME version. */
	if (rc == 0 && cert_import_deploy(config, job.state, id, deploy_err,
	    sizeof(deploy_err)) != 0) {
		snprintf(err, errlen, "certificate %lld is imported and "
		    "current, but %s", (long long)id, deploy_err);
		rc = -1;
	}
	free(names);
	clear_job(&job);
	return rc;
}
