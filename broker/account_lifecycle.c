/*
 * Changes to a registered account: key rollover (RFC 8555 section
 * 7.3.5), contact update (7.3.2) and deactivation (7.3.6). Each works on
 * a client whose account acme_account_ensure() has loaded, and updates
 * the account's record when the CA has accepted the change.
 */
#include "broker/account_lifecycle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/account.h"
#include "broker/account_signer.h"
#include "broker/audit.h"
#include "broker/signer_client.h"
#include "logging/log.h"

static const char *
account_name(const struct acme_client *client)
{
	return client->account_name != NULL ? client->account_name :
	    client->issuer->account;
}

/* Loads the account's record for an update of some of its members. */
static int
open_record(struct acme_client *client, struct account_record *record,
    char **dir, char **path)
{
	if (account_record_path(client->config->broker.state_dir,
	    client->issuer->name, account_name(client), dir, path,
	    client->err, sizeof(client->err)) != 0)
		return -1;
	return account_record_load(*path, record, client->err,
	    sizeof(client->err));
}

/* Returns a URL of the directory, or NULL with client->err set. */
static const char *
directory_url(struct acme_client *client, const char *name)
{
	const char *url;

	url = json_string_value(json_object_get(client->directory.doc, name));
	if (url == NULL || !http_url_is_https(url)) {
		snprintf(client->err, sizeof(client->err), "the directory of "
		    "issuer %s has no https:// \"%s\" URL", client->issuer->name,
		    name);
		return NULL;
	}
	return url;
}

/*
 * POSTs payload to the account URL and checks the account it returns:
 * valid, or with deactivating set, deactivated.
 */
static int
post_account(struct acme_client *client, const char *payload,
    int deactivating)
{
	struct http_response resp = { 0 };
	const char *status;
	json_t *doc = NULL;
	int rc = -1;

	if (acme_post(client, client->account_url, payload, 0,
	    "application/json", &resp) != 0)
		return -1;
	if (acme_body_object(&resp, "account", &doc, client->err,
	    sizeof(client->err)) != 0)
		goto out;
	status = json_string_value(json_object_get(doc, "status"));
	if (!deactivating)
		rc = acme_account_check(doc, client->err, sizeof(client->err));
	else if (status != NULL && strcmp(status, "deactivated") == 0)
		rc = 0;
	else
		snprintf(client->err, sizeof(client->err), "the CA answered "
		    "the deactivation with account status \"%.32s\", "
		    "expected \"deactivated\"", status != NULL ? status : "");
out:
	json_decref(doc);
	http_response_clear(&resp);
	return rc;
}

/* Sends the key change signed by the old key with the signer's inner JWS. */
static int
send_key_change(struct acme_client *client, const char *url,
    const char *new_key_id)
{
	struct http_response resp = { 0 };
	json_t *inner = NULL;
	char *text = NULL;
	int rc = -1;

	if (signer_key_change(client->signer, client->account_key_id,
	    new_key_id, url, client->account_url, &inner, client->err,
	    sizeof(client->err)) != 0)
		return -1;
	text = json_dumps(inner, JSON_COMPACT);
	json_decref(inner);
	if (text == NULL) {
		snprintf(client->err, sizeof(client->err), "out of memory");
		return -1;
	}
	if (acme_post(client, url, text, 0, "application/json", &resp) == 0)
		rc = 0;
	free(text);
	http_response_clear(&resp);
	return rc;
}

int
acme_account_rollover(struct acme_client *client)
{
	struct account_record record = { 0 };
	char old_key[IPC_KEY_ID_LEN + 1] = "", new_key[IPC_KEY_ID_LEN + 1] = "";
	char *dir = NULL, *path = NULL;
	const char *url, *type;
	int rc = -1;

	url = directory_url(client, "keyChange");
	if (url == NULL || open_record(client, &record, &dir, &path) != 0)
		goto out;
	type = key_type_name(client->config->acme.account_key_type);
	memcpy(old_key, client->account_key_id, sizeof(old_key));
	if (signer_account_key_generate(client->signer, client->issuer->name,
	    account_name(client), type, new_key, client->err,
	    sizeof(client->err)) != 0)
		goto out;
	printf("rollover: new %s key %s for %s/%s\n", type, new_key,
	    client->issuer->name, account_name(client));
	if (send_key_change(client, url, new_key) != 0) {
		/* NOTE: the new key stays in the token, unused. */
		log_warn("the CA did not accept the key change; the new key %s "
		    "stays in the token unused", new_key);
		goto out;
	}
	/* The CA now accepts only the new key: save it before anything. */
	memcpy(record.key_id, new_key, sizeof(record.key_id));
	memcpy(client->account_key_id, new_key, sizeof(new_key));
	if (account_record_save(dir, path, &record, client->err,
	    sizeof(client->err)) != 0)
		goto out;
	printf("rollover: the CA accepted key %s\n", new_key);
	if (signer_key_destroy(client->signer, old_key, client->err,
	    sizeof(client->err)) != 0)
		goto out;
	printf("rollover: destroyed the old key %s\n", old_key);
	rc = 0;
out:
	/* new_key is set once the signer has generated it. */
	if (audit_record_rollover(client->account_url, client->issuer->name,
	    old_key[0] != '\0' ? old_key : NULL,
	    new_key[0] != '\0' ? new_key : NULL, rc == 0 ? "success" :
	    "failure", rc == 0 ? NULL : client->err) != 0)
		rc = audit_status(client->err, sizeof(client->err));
	account_record_clear(&record);
	free(dir);
	free(path);
	return rc;
}

int
acme_account_update_contacts(struct acme_client *client,
    char *const *contacts, size_t count)
{
	json_t *payload, *list = json_array();
	char *text = NULL;
	int rc;

	for (size_t i = 0; list != NULL && i < count; i++)
		if (json_array_append_new(list, json_string(contacts[i])) != 0) {
			json_decref(list);
			list = NULL;
		}
	payload = list != NULL ? json_pack("{s:o}", "contact", list) : NULL;
	if (payload != NULL)
		text = json_dumps(payload, JSON_COMPACT);
	json_decref(payload);
	if (text == NULL) {
		snprintf(client->err, sizeof(client->err), "out of memory");
		return -1;
	}
	rc = post_account(client, text, 0);
	free(text);
	if (rc == 0)
		printf("update: account %s/%s has %zu contact%s\n",
		    client->issuer->name, account_name(client), count,
		    count == 1 ? "" : "s");
	if (audit_record_account("account.update", client->account_url,
	    client->issuer->name, client->account_key_id, rc == 0 ?
	    "success" : "failure", rc == 0 ? NULL : client->err) != 0)
		rc = audit_status(client->err, sizeof(client->err));
	return rc;
}

int
acme_account_deactivate(struct acme_client *client)
{
	struct account_record record = { 0 };
	char *dir = NULL, *path = NULL;
	int rc = -1;

	if (open_record(client, &record, &dir, &path) != 0 ||
	    post_account(client, "{\"status\":\"deactivated\"}", 1) != 0)
		goto out;
	snprintf(record.status, sizeof(record.status), "deactivated");
	if (account_record_save(dir, path, &record, client->err,
	    sizeof(client->err)) != 0)
		goto out;
	printf("deactivate: account %s/%s (%s) is deactivated\n",
	    client->issuer->name, account_name(client), client->account_url);
	rc = 0;
out:
	if (audit_record_account("account.deactivate", client->account_url,
	    client->issuer->name, client->account_key_id, rc == 0 ?
	    "success" : "failure", rc == 0 ? NULL : client->err) != 0)
		rc = audit_status(client->err, sizeof(client->err));
	account_record_clear(&record);
	free(dir);
	free(path);
	return rc;
}
