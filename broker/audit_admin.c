/*
 * custos audit rotate and custos audit export-key. Both start the signer:
 * rotate to sign a checkpoint on each side of the rotation, export-key to
 * read the audit key (generated on first use) from the token. Each action
 * is itself recorded in the log.
 */
#include "broker/audit_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/audit.h"
#include "broker/audit_signer.h"
#include "broker/tenant.h"
#include "logging/log.h"

#define ADMIN_ERR_MAX 1024

/* Everything one administrative command holds. */
struct admin {
	struct custos_config *config;
	struct audit_log *log;
	struct caller caller;
	struct signer_client signer;
	char err[ADMIN_ERR_MAX];
};

/* Loads the configuration, opens the log and starts the signer. */
static int
admin_start(struct admin *ad, const char *config_path)
{
	char *program;
	int rc;

	if (config_load(config_path, &ad->config, ad->err,
	    sizeof(ad->err)) != 0 ||
	    audit_open(&ad->config->audit, &ad->log, ad->err,
	    sizeof(ad->err)) != 0 ||
	    caller_identify(&ad->caller, ad->err, sizeof(ad->err)) != 0)
		return -1;
	audit_set_current(ad->log);
	audit_set_actor(ad->log, NULL, ad->caller.user, ad->caller.uid, NULL);

	program = ad->config->signer.program;
	if (program == NULL)
		program = signer_default_program(ad->err, sizeof(ad->err));
	if (program == NULL)
		return -1;
	rc = signer_spawn(program, ad->config->path, &ad->signer, ad->err,
	    sizeof(ad->err));
	if (program != ad->config->signer.program)
		free(program);
	return rc;
}

/* Writes the PEM text to path (mode 0644) or to stdout. */
static int
write_key(const char *path, const char *pem, char *err, size_t errlen)
{
	size_t len = strlen(pem);
	int fd;

	if (path == NULL)
		return fwrite(pem, 1, len, stdout) == len ? 0 : -1;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0644);
	if (fd < 0 || write(fd, pem, len) != (ssize_t)len || fsync(fd) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", path,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int
export_key(struct admin *ad, const struct audit_options *opt)
{
	char key_id[IPC_KEY_ID_LEN + 1], *pem = NULL;
	json_t *object;
	int rc = -1;

	if (audit_signer_key_public(&ad->signer, key_id, &pem, ad->err,
	    sizeof(ad->err)) != 0)
		return -1;
	object = json_pack("{s:s, s:s}", "key_id", key_id, "output",
	    opt->output != NULL ? opt->output : "-");
	if (audit_record_event("audit.export-key", object, "success",
	    NULL) != 0 ||
	    write_key(opt->output, pem, ad->err, sizeof(ad->err)) != 0)
		goto out;
	if (opt->output != NULL)
		printf("audit key %s written to %s\n", key_id, opt->output);
	rc = 0;
out:
	free(pem);
	return rc;
}

static int
rotate(struct admin *ad)
{
	char rotated[4200];

	if (audit_checkpoint(ad->log, audit_signer_sign, &ad->signer, ad->err,
	    sizeof(ad->err)) != 0 ||
	    audit_rotate(ad->log, rotated, sizeof(rotated), ad->err,
	    sizeof(ad->err)) != 0)
		return -1;
	printf("rotated: %s\n", rotated);
	return 0;
}

int
audit_admin(const struct audit_options *opt, int export)
{
	struct admin ad;
	char err[ADMIN_ERR_MAX];
	int rc;

	memset(&ad, 0, sizeof(ad));
	ad.signer.fd = -1;
	ad.signer.pid = -1;
	rc = admin_start(&ad, opt->config_path);
	if (rc == 0)
		rc = export ? export_key(&ad, opt) : rotate(&ad);
	/* The new file starts with a checkpoint over the rotation. */
	if (rc == 0)
		rc = audit_checkpoint(ad.log, audit_signer_sign, &ad.signer,
		    ad.err, sizeof(ad.err));
	if (audit_status(err, sizeof(err)) != 0) {
		snprintf(ad.err, sizeof(ad.err), "%s", err);
		rc = -1;
	}
	if (rc != 0)
		log_error("%s", ad.err);
	if (ad.signer.pid > 0 && signer_finish(&ad.signer, err,
	    sizeof(err)) != 0) {
		log_error("%s", err);
		rc = -1;
	}
	caller_clear(&ad.caller);
	audit_close(ad.log);
	config_free(ad.config);
	return rc == 0 ? 0 : 1;
}
