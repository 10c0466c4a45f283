/* One poll of one certificate; see agent/poll.h. */
#include "agent/poll.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "agent/dist.h"
#include "agent/fetch.h"
#include "agent/install.h"
#include "logging/log.h"

#define ERR_MAX 1024
#define DETAIL_SHOWN_MAX 200

/* Logs a non-200 response with the problem document's detail, if any. */
static void
log_http_error(const struct agent_cert *cert, const struct fetch_result *r)
{
	char detail[DETAIL_SHOWN_MAX + 1] = "";
	json_t *doc = NULL, *value;
	const char *text;
	size_t i;

	if (r->body != NULL)
		doc = json_loadb(r->body, r->body_len, 0, NULL);
	value = json_object_get(doc, "detail");
	if (json_is_string(value)) {
		text = json_string_value(value);
		for (i = 0; i < DETAIL_SHOWN_MAX && text[i] != '\0'; i++)
			detail[i] = text[i] >= 0x20 && text[i] < 0x7f ?
			    text[i] : '?';
		detail[i] = '\0';
	}
	json_decref(doc);
	log_error("%s: the API returned HTTP %ld%s%s%s", cert->ref, r->status,
	    detail[0] != '\0' ? " (" : "", detail,
	    detail[0] != '\0' ? ")" : "");
	if (r->status == 401)
		log_error("%s: check that token-file holds the token of a node "
		    "in the policy", cert->ref);
}

/* Unwraps doc's key and checks it against the certificate. */
static char *
unwrap_checked(const struct agent_state *state,
    const struct agent_cert *cert, const struct dist_doc *doc, size_t *len)
{
	char err[ERR_MAX], *pem = NULL;
	EVP_PKEY *key = NULL;
	X509 *x509 = NULL;
	BIO *bio;

	if (state->recipient == NULL) {
		log_error("%s: version %s has a wrapped key, but the "
		    "configuration has no recipient-key; add the path of the "
		    "node's RSA private key", cert->ref, doc->version);
		return NULL;
	}
	if (strcmp(doc->recipient, state->fingerprint) != 0) {
		log_error("%s: version %s is wrapped to recipient %s, not to "
		    "this node's key %s; register this node's public key as "
		    "the node's recipient in the policy", cert->ref,
		    doc->version, doc->recipient, state->fingerprint);
		return NULL;
	}
	key = unwrap_key(state->recipient, doc->oaep_hash, doc->key_type,
	    doc->blob, doc->blob_len, err, sizeof(err));
	if (key == NULL) {
		log_error("%s: cannot unwrap the key of version %s: %s",
		    cert->ref, doc->version, err);
		return NULL;
	}
	if ((bio = BIO_new_mem_buf(doc->certificate, -1)) != NULL)
		x509 = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (x509 == NULL || !unwrap_key_matches(key, x509))
		log_error("%s: the unwrapped key of version %s does not match "
		    "its certificate; nothing was written", cert->ref,
		    doc->version);
	else if ((pem = unwrap_pem(key, len)) == NULL)
		log_error("%s: cannot encode the key as PEM", cert->ref);
	X509_free(x509);
	EVP_PKEY_free(key);
	return pem;
}

/* Runs the reload command; on failure restores old and reloads it. */
static int
reload_or_roll_back(const struct agent_state *state,
    const struct agent_cert *cert, const char *version, const char *old,
    const char *old_previous)
{
	int timeout = state->config->reload_timeout;
	char err[ERR_MAX];

	if (install_reload(cert, version, 0, timeout, err, sizeof(err)) == 0)
		return 0;
	log_error("%s: version %s: %s; rolling back to %s", cert->ref,
	    version, err, old[0] != '\0' ? old : "no version");
	if (install_rollback(cert, version, old, old_previous, err,
	    sizeof(err)) != 0) {
		log_error("%s: rollback failed: %s", cert->ref, err);
		return -1;
	}
	if (old[0] == '\0')
		return -1;
	if (install_reload(cert, old, 1, timeout, err, sizeof(err)) != 0)
		log_error("%s: reload after the rollback to %s failed: %s",
		    cert->ref, old, err);
	else
		log_info("%s: rolled back to version %s", cert->ref, old);
	return -1;
}

/* Writes doc as the new current version and reloads. */
static int
apply(const struct agent_state *state, const struct agent_cert *cert,
    const struct dist_doc *doc)
{
	char old[INSTALL_NAME_MAX], old_previous[INSTALL_NAME_MAX];
	char err[ERR_MAX], uri[DIST_URI_MAX + 2], *key_pem = NULL;
	struct install_file files[4] = {
		{ "cert.pem", doc->certificate, strlen(doc->certificate), 0 },
		{ "chain.pem", doc->chain, strlen(doc->chain), 0 },
		{ "fullchain.pem", doc->fullchain, strlen(doc->fullchain), 0 },
		{ NULL, NULL, 0, 0 },
	};
	size_t key_len = 0;
	int rc;

	if (doc->export == DIST_EXPORT_WRAPPED) {
		key_pem = unwrap_checked(state, cert, doc, &key_len);
		if (key_pem == NULL)
			return -1;
		files[3] = (struct install_file){ "privkey.pem", key_pem,
		    key_len, 1 };
	} else {
		snprintf(uri, sizeof(uri), "%s\n", doc->uri);
		files[3] = (struct install_file){ "key.uri", uri,
		    strlen(uri), 0 };
	}
	rc = install_version(cert, doc->version, files, 4, old, old_previous,
	    err, sizeof(err));
	if (key_pem != NULL)
		OPENSSL_clear_free(key_pem, key_len);
	if (rc != 0) {
		log_error("%s: cannot write version %s: %s", cert->ref,
		    doc->version, err);
		return -1;
	}
	log_info("%s: version %s -> %s (%s key) in %s", cert->ref,
	    old[0] != '\0' ? old : "(none)", doc->version,
	    doc->export == DIST_EXPORT_WRAPPED ? "unwrapped" : "hsm",
	    cert->directory);
	if (reload_or_roll_back(state, cert, doc->version, old,
	    old_previous) != 0)
		return -1;
	install_prune(cert);
	return 0;
}

int
poll_cert(const struct agent_state *state, const struct agent_cert *cert)
{
	char current[INSTALL_NAME_MAX], etag[INSTALL_NAME_MAX + 2];
	char expected[INSTALL_NAME_MAX + 2], err[ERR_MAX];
	const struct fetch_target target = {
		state->config->endpoint, state->config->trust_bundle,
		state->token, state->config->http_timeout,
	};
	struct fetch_result result;
	struct dist_doc doc;
	int have, rc = -1;

	have = install_current(cert->directory, current, sizeof(current), err,
	    sizeof(err));
	if (have < 0) {
		log_error("%s: %s", cert->ref, err);
		return -1;
	}
	snprintf(etag, sizeof(etag), "\"%s\"", current);
	if (fetch_dist(&target, cert->ref, have ? etag : NULL, &result, err,
	    sizeof(err)) != 0) {
		log_error("%s: %s", cert->ref, err);
		return -1;
	}
	if (result.status == 304 && !have) {
		log_error("%s: the API returned 304 to a request without "
		    "If-None-Match", cert->ref);
		goto out;
	}
	if (result.status == 304) {
		log_debug("%s: version %s is current", cert->ref, current);
		rc = 0;
		goto out;
	}
	if (result.status != 200) {
		log_http_error(cert, &result);
		goto out;
	}
	if (dist_parse(result.body, result.body_len, &doc, err,
	    sizeof(err)) != 0) {
		log_error("%s: invalid response from the API: %s", cert->ref,
		    err);
		goto out;
	}
	snprintf(expected, sizeof(expected), "\"%s\"", doc.version);
	if (strcmp(result.etag, expected) != 0)
		log_error("%s: the ETag does not name version %s; nothing was "
		    "written", cert->ref, doc.version);
	else if (have && strcmp(doc.version, current) == 0) {
		log_warn("%s: the API sent version %s again although it is "
		    "current", cert->ref, current);
		rc = 0;
	} else
		rc = apply(state, cert, &doc);
	dist_clear(&doc);
out:
	fetch_result_clear(&result);
	return rc;
}
