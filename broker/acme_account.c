/*
 * The ACME account of an issuer (RFC 8555 section 7.3). Its key id and URL
 * are kept in STATE-DIR/accounts/ISSUER/ACCOUNT.json, ACCOUNT being the
 * issuer's account name, so later runs reuse both:
 *
 *	{"key_id": "<32 hex digits>", "url": "https://..."}
 *
 * The key id is saved as soon as the key exists, so a failed registration
 * is retried with the same key on the next run. Every tenant allowed the
 * issuer and account shares the record.
 */
#include "broker/acme.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/signer_client.h"
#include "logging/log.h"

static const char *const record_members[] = { "key_id", "url", NULL };

/* Returns 1 when name can be one component of a path. */
static int
is_file_name(const char *name)
{
	return name[0] != '\0' && name[0] != '.' && strchr(name, '/') == NULL;
}

/*
 * Sets *dir to the malloc'd STATE-DIR/accounts/ISSUER and *path to the
 * account record in it.
 */
static int
record_path(struct acme_client *client, char **dir, char **path)
{
	const char *name = client->issuer->name;
	const char *account = client->issuer->account;

	*dir = *path = NULL;
	if (!is_file_name(name)) {
		snprintf(client->err, sizeof(client->err), "issuer name \"%s\" "
		    "cannot be a file name (rename the issuer block)", name);
		return -1;
	}
	if (!is_file_name(account)) {
		snprintf(client->err, sizeof(client->err), "account name "
		    "\"%s\" of issuer %s cannot be a file name (set account "
		    "in issuer %s to a plain name)", account, name, name);
		return -1;
	}
	if (asprintf(dir, "%s/accounts/%s",
	    client->config->broker.state_dir, name) < 0 ||
	    asprintf(path, "%s/%s.json", *dir, account) < 0) {
		snprintf(client->err, sizeof(client->err), "out of memory");
		return -1;
	}
	return 0;
}

static int
check_record(const json_t *doc, const char **key_id, const char **url,
    char *reason, size_t reasonlen)
{
	*url = NULL;
	if (ipc_check_members(doc, record_members, reason, reasonlen) != 0 ||
	    ipc_get_key_id(doc, "key_id", key_id, reason, reasonlen) != 0 ||
	    ipc_get_string(doc, "url", 2048, 1, url, reason, reasonlen) != 0)
		return -1;
	if (*url != NULL && !http_url_is_https(*url)) {
		snprintf(reason, reasonlen, "member \"url\" is not https://");
		return -1;
	}
	return 0;
}

/* Loads the record; a missing file leaves the key id empty. */
static int
load_record(struct acme_client *client, const char *path)
{
	const char *key_id, *url;
	json_error_t error;
	char reason[160];
	json_t *doc;
	int rc = -1;

	doc = json_load_file(path, JSON_REJECT_DUPLICATES, &error);
	if (doc == NULL && access(path, F_OK) != 0 && errno == ENOENT)
		return 0;
	if (doc == NULL || !json_is_object(doc))
		snprintf(reason, sizeof(reason), "%s",
		    doc == NULL ? error.text : "not a JSON object");
	else if (check_record(doc, &key_id, &url, reason, sizeof(reason)) == 0)
		rc = 0;
	if (rc != 0) {
		snprintf(client->err, sizeof(client->err), "invalid account "
		    "record %s: %s (remove it to register a new account)",
		    path, reason);
		goto out;
	}
	memcpy(client->account_key_id, key_id, IPC_KEY_ID_LEN + 1);
	if (url != NULL && (client->account_url = strdup(url)) == NULL) {
		snprintf(client->err, sizeof(client->err), "out of memory");
		rc = -1;
	}
out:
	json_decref(doc);
	return rc;
}

static int
write_text(int fd, const char *text)
{
	size_t len = strlen(text);

	return write(fd, text, len) == (ssize_t)len ? 0 : -1;
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

/* Replaces the record through a temporary file renamed over it. */
static int
save_record(struct acme_client *client, const char *dir, const char *path)
{
	char *tmp = NULL;
	json_t *doc;
	char *text = NULL;
	int fd = -1, dfd, rc = -1;

	doc = json_pack("{s:s}", "key_id", client->account_key_id);
	if (doc != NULL && client->account_url != NULL)
		json_object_set_new(doc, "url",
		    json_string(client->account_url));
	if (doc != NULL)
		text = json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS);
	if (text == NULL || asprintf(&tmp, "%s.tmp", path) < 0) {
		tmp = NULL;
		goto out;
	}
	if (make_record_dir(dir) != 0)
		goto out;
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write_text(fd, text) != 0 || write_text(fd, "\n") != 0 ||
	    fsync(fd) != 0 || rename(tmp, path) != 0)
		goto out;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	rc = 0;
out:
	if (rc != 0) {
		snprintf(client->err, sizeof(client->err), "cannot write "
		    "account record %s: %s (check broker state-dir and its "
		    "permissions)", path, strerror(errno));
		if (tmp != NULL)
			unlink(tmp);
	}
	if (fd >= 0)
		close(fd);
	free(tmp);
	free(text);
	json_decref(doc);
	return rc;
}

static json_t *
new_account_payload(const struct config_issuer *issuer)
{
	json_t *payload, *contacts;

	contacts = json_array();
	for (size_t i = 0; contacts != NULL && i < issuer->contact_count; i++)
		json_array_append_new(contacts,
		    json_string(issuer->contacts[i]));
	payload = json_pack("{s:b, s:o}", "termsOfServiceAgreed",
	    issuer->agree_tos != 0, "contact", contacts);
	return payload;
}

static int
check_terms(struct acme_client *client)
{
	const struct acme_directory *dir = &client->directory;

	if (dir->external_account_required) {
		snprintf(client->err, sizeof(client->err), "issuer %s requires "
		    "external account binding, which custos does not support "
		    "yet (use another issuer)", client->issuer->name);
		return -1;
	}
	if (dir->terms_of_service != NULL && !client->issuer->agree_tos) {
		snprintf(client->err, sizeof(client->err), "issuer %s requires "
		    "agreement to its terms of service at %s (read them, then "
		    "set agree-tos yes in issuer %s in %s)",
		    client->issuer->name, dir->terms_of_service,
		    client->issuer->name, client->config->path);
		return -1;
	}
	return 0;
}

/* newAccount, signed with the JWK; the kid is the Location. */
static int
register_account(struct acme_client *client)
{
	struct http_response resp = { 0 };
	json_t *payload, *doc = NULL;
	const char *location;
	char *text = NULL;
	int rc = -1;

	if (check_terms(client) != 0)
		return -1;
	payload = new_account_payload(client->issuer);
	if (payload != NULL)
		text = json_dumps(payload, JSON_COMPACT);
	json_decref(payload);
	if (text == NULL) {
		snprintf(client->err, sizeof(client->err), "out of memory");
		return -1;
	}
	if (acme_post(client, client->directory.new_account, text, 1,
	    "application/json", &resp) != 0)
		goto out;
	location = http_response_header(&resp, "Location", 0);
	if (location == NULL || !http_url_is_https(location)) {
		snprintf(client->err, sizeof(client->err), "invalid account "
		    "from the CA: Location is missing or not an https:// URL");
		goto out;
	}
	if (acme_body_object(&resp, "account", &doc, client->err,
	    sizeof(client->err)) != 0 ||
	    acme_account_check(doc, client->err, sizeof(client->err)) != 0)
		goto out;
	client->account_url = strdup(location);
	rc = client->account_url != NULL ? 0 : -1;
	printf("account: %s %s\n", resp.status == 201 ? "registered" :
	    "found existing", location);
out:
	json_decref(doc);
	free(text);
	http_response_clear(&resp);
	return rc;
}

static int
load_thumbprint(struct acme_client *client)
{
	struct signer_key key;

	if (signer_key_public(client->signer, client->account_key_id, &key,
	    client->err, sizeof(client->err)) != 0)
		return -1;
	client->account_thumbprint = key.thumbprint;
	key.thumbprint = NULL;
	signer_key_clear(&key);
	return 0;
}

int
acme_account_ensure(struct acme_client *client)
{
	const char *key_type;
	char *dir = NULL, *path = NULL;
	int rc = -1;

	if (record_path(client, &dir, &path) != 0 ||
	    load_record(client, path) != 0)
		goto out;

	if (client->account_key_id[0] == '\0') {
		key_type = key_type_name(client->config->acme.account_key_type);
		printf("account: generating a %s key for %s/%s\n", key_type,
		    client->issuer->name, client->issuer->account);
		if (signer_key_generate(client->signer, client->issuer->name,
		    key_type, client->account_key_id, client->err,
		    sizeof(client->err)) != 0 ||
		    save_record(client, dir, path) != 0)
			goto out;
	}
	if (load_thumbprint(client) != 0)
		goto out;

	if (client->account_url != NULL) {
		printf("account: using %s\n", client->account_url);
		rc = 0;
		goto out;
	}
	if (register_account(client) != 0 ||
	    save_record(client, dir, path) != 0)
		goto out;
	rc = 0;
out:
	free(dir);
	free(path);
	return rc;
}
