/*
 * ACME accounts (RFC 8555 section 7.3). An account's key id and URL are
 * kept in its record (broker/account.h), so later runs reuse both. The
 * key id is saved as soon as the key exists, so a failed registration is
 * retried with the same key on the next run. Before registering, the
 * broker asks the CA for an account of that key (onlyReturnExisting), so
 * a lost URL never makes a second account. Every tenant allowed the
 * issuer and account shares the record.
 */
#include "broker/acme.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/account.h"
#include "broker/account_signer.h"
#include "broker/headers.h"
#include "broker/problem.h"
#include "broker/signer_client.h"
#include "logging/log.h"

/* The longest Retry-After kept as a cooldown, in seconds. */
#define RETRY_AFTER_MAX ACCOUNT_COOLDOWN_MAX

void
acme_failure_clear(struct acme_client *client)
{
	client->fail_status = 0;
	client->fail_type[0] = '\0';
	client->fail_retry_after = -1;
}

void
acme_failure_note(struct acme_client *client,
    const struct http_response *resp)
{
	const char *retry = http_response_header(resp, "Retry-After", 0);
	const char *type;
	json_t *doc;

	acme_failure_clear(client);
	client->fail_status = resp->status;
	if (retry != NULL && header_retry_after(retry, time(NULL),
	    RETRY_AFTER_MAX, &client->fail_retry_after) != 0)
		client->fail_retry_after = -1;
	doc = json_loadb(resp->body != NULL ? resp->body : "", resp->body_len,
	    0, NULL);
	type = json_string_value(json_object_get(doc, "type"));
	if (type != NULL && strncmp(type, PROBLEM_ACME_PREFIX,
	    strlen(PROBLEM_ACME_PREFIX)) == 0)
		snprintf(client->fail_type, sizeof(client->fail_type), "%s",
		    type + strlen(PROBLEM_ACME_PREFIX));
	json_decref(doc);
}

int
acme_failure_rate_limited(const struct acme_client *client)
{
	return client->fail_status == 429 ||
	    strcmp(client->fail_type, "rateLimited") == 0;
}

int
acme_order_profile(struct acme_client *client, json_t *payload)
{
	const char *profile = client->issuer->profile;
	const json_t *profiles;

	if (profile == NULL)
		return 0;
	profiles = json_object_get(json_object_get(client->directory.doc,
	    "meta"), "profiles");
	if (json_object_get(profiles, profile) == NULL) {
		snprintf(client->err, sizeof(client->err), "issuer %s does not "
		    "advertise profile \"%s\" in its directory's "
		    "meta.profiles (%s; change or remove profile in issuer %s)",
		    client->issuer->name, profile, json_is_object(profiles) ?
		    "it lists others" : "it lists none",
		    client->issuer->name);
		return -1;
	}
	if (json_object_set_new(payload, "profile",
	    json_string(profile)) != 0) {
		snprintf(client->err, sizeof(client->err), "out of memory");
		return -1;
	}
	return 0;
}

static const char *
account_name(const struct acme_client *client)
{
	return client->account_name != NULL ? client->account_name :
	    client->issuer->account;
}

/* Builds the newAccount payload; only_existing asks for a lookup only. */
static json_t *
new_account_payload(const struct config_issuer *issuer, int only_existing)
{
	json_t *contacts;

	if (only_existing)
		return json_pack("{s:b}", "onlyReturnExisting", 1);
	contacts = json_array();
	for (size_t i = 0; contacts != NULL && i < issuer->contact_count; i++)
		json_array_append_new(contacts,
		    json_string(issuer->contacts[i]));
	return json_pack("{s:b, s:o}", "termsOfServiceAgreed",
	    issuer->agree_tos != 0, "contact", contacts);
}

static int
check_terms(struct acme_client *client)
{
	const struct acme_directory *dir = &client->directory;

	if (dir->external_account_required &&
	    client->issuer->eab_key_id == NULL) {
		snprintf(client->err, sizeof(client->err), "issuer %s requires "
		    "External Account Binding (set eab-key-id in issuer %s in "
		    "%s, then run custos account import-eab)",
		    client->issuer->name, client->issuer->name,
		    client->config->path);
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

/*
 * Adds the External Account Binding when the directory requires one;
 * RFC 8555 section 7.3.4 lets a client send it only then, on creation.
 */
static int
add_binding(struct acme_client *client, json_t *payload)
{
	json_t *jws = NULL;

	if (!client->directory.external_account_required)
		return 0;
	if (signer_eab_sign(client->signer, client->account_key_id,
	    client->directory.new_account, &jws, client->err,
	    sizeof(client->err)) != 0)
		return -1;
	if (json_object_set_new(payload, "externalAccountBinding", jws) != 0) {
		snprintf(client->err, sizeof(client->err), "out of memory");
		return -1;
	}
	log_info("account: binding the key to external account %s",
	    client->issuer->eab_key_id);
	return 0;
}

/*
 * POSTs newAccount, signed with the JWK. With only_existing, sets *found
 * to 0 when the CA has no account for the key. The kid is the Location.
 */
static int
post_new_account(struct acme_client *client, int only_existing, int *found)
{
	struct http_response resp = { 0 };
	json_t *payload, *doc = NULL;
	const char *location;
	char *text = NULL;
	int rc = -1;

	*found = 0;
	payload = new_account_payload(client->issuer, only_existing);
	if (payload != NULL && (only_existing ||
	    add_binding(client, payload) == 0))
		text = json_dumps(payload, JSON_COMPACT);
	json_decref(payload);
	if (text == NULL) {
		if (payload == NULL)
			snprintf(client->err, sizeof(client->err),
			    "out of memory");
		return -1;
	}
	if (acme_post(client, client->directory.new_account, text, 1,
	    "application/json", &resp) != 0) {
		if (only_existing &&
		    strcmp(client->fail_type, "accountDoesNotExist") == 0)
			rc = 0;
		goto out;
	}
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
	*found = 1;
	printf("account: %s %s\n", resp.status == 201 ? "registered" :
	    "found existing", location);
out:
	json_decref(doc);
	free(text);
	http_response_clear(&resp);
	return rc;
}

/* Finds the key's account at the CA, or registers a new one. */
static int
find_or_register(struct acme_client *client)
{
	int found;

	if (post_new_account(client, 1, &found) != 0)
		return -1;
	if (found)
		return 0;
	if (check_terms(client) != 0)
		return -1;
	return post_new_account(client, 0, &found);
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

/* Generates the account's key and saves its id at once. */
static int
generate_key(struct acme_client *client, struct account_record *record,
    const char *dir, const char *path)
{
	const char *type = key_type_name(client->config->acme.account_key_type);

	printf("account: generating a %s key for %s/%s\n", type,
	    client->issuer->name, account_name(client));
	if (signer_account_key_generate(client->signer, client->issuer->name,
	    account_name(client), type, record->key_id, client->err,
	    sizeof(client->err)) != 0)
		return -1;
	return account_record_save(dir, path, record, client->err,
	    sizeof(client->err));
}

int
acme_account_ensure(struct acme_client *client)
{
	struct account_record record = { 0 };
	char *dir = NULL, *path = NULL;
	int rc = -1;

	if (account_record_path(client->config->broker.state_dir,
	    client->issuer->name, account_name(client), &dir, &path,
	    client->err, sizeof(client->err)) != 0 ||
	    account_record_load(path, &record, client->err,
	    sizeof(client->err)) != 0)
		goto out;
	if (strcmp(record.status, "deactivated") == 0) {
		snprintf(client->err, sizeof(client->err), "account %s/%s is "
		    "deactivated (remove it from issuer %s, or remove %s to "
		    "register a new one)", client->issuer->name,
		    account_name(client), client->issuer->name, path);
		goto out;
	}
	if (record.key_id[0] == '\0' &&
	    generate_key(client, &record, dir, path) != 0)
		goto out;
	memcpy(client->account_key_id, record.key_id, IPC_KEY_ID_LEN + 1);
	if (load_thumbprint(client) != 0)
		goto out;

	if (record.url != NULL) {
		client->account_url = record.url;
		record.url = NULL;
		printf("account: using %s/%s %s\n", client->issuer->name,
		    account_name(client), client->account_url);
	} else if (find_or_register(client) != 0) {
		goto out;
	}
	free(record.url);
	record.url = strdup(client->account_url);
	if (record.created == 0)
		record.created = (long long)time(NULL);
	record.last_used = (long long)time(NULL);
	snprintf(record.status, sizeof(record.status), "valid");
	rc = record.url != NULL ? account_record_save(dir, path, &record,
	    client->err, sizeof(client->err)) : -1;
out:
	account_record_clear(&record);
	free(dir);
	free(path);
	return rc;
}
