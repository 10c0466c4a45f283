#include "broker/cert_import.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/x509v3.h>

#include "broker/store.h"
#include "broker/store_usage.h"
#include "broker/versions.h"
#include "logging/log.h"

#define IMPORT_PATH_MAX 4096

/* Counts the PEM certificate blocks, to cap the chain before parsing. */
static size_t
count_blocks(const char *pem, size_t len)
{
	static const char marker[] = "-----BEGIN CERTIFICATE-----";
	const char *p = pem, *end = pem + len;
	size_t count = 0;

	while (p < end && (p = memmem(p, (size_t)(end - p), marker,
	    sizeof(marker) - 1)) != NULL) {
		count++;
		p += sizeof(marker) - 1;
	}
	return count;
}

/*
 * Checks that pem holds nothing but PEM blocks and whitespace. Text
 * outside the blocks is rejected, because it could be anything, a
 * private key without its markers included, and must not be stored.
 * The message gives the offset only, never the text.
 */
static int
check_outside_blocks(const char *pem, size_t len, char *err, size_t errlen)
{
	static const char begin[] = "-----BEGIN ", end_marker[] = "-----END ";
	const char *p = pem, *stop = pem + len, *end;

	for (;;) {
		while (p < stop && isspace((unsigned char)*p))
			p++;
		if (p == stop)
			return 0;
		if ((size_t)(stop - p) < sizeof(begin) - 1 ||
		    memcmp(p, begin, sizeof(begin) - 1) != 0)
			break;
		end = memmem(p, (size_t)(stop - p), end_marker,
		    sizeof(end_marker) - 1);
		if (end == NULL) {
			snprintf(err, errlen, "the PEM block at byte %zu has "
			    "no END line; upload whole PEM blocks",
			    (size_t)(p - pem));
			return -1;
		}
		p = memchr(end, '\n', (size_t)(stop - end));
		if (p == NULL)
			p = stop;
	}
	snprintf(err, errlen, "the upload has text outside the PEM blocks at "
	    "byte %zu; upload only the PEM certificates, leaf first",
	    (size_t)(p - pem));
	return -1;
}

/* Copies a DNS or IP SAN into imp->written as text. */
static int
add_name(struct cert_import *imp, const GENERAL_NAME *gen)
{
	char text[INET6_ADDRSTRLEN];
	const unsigned char *data;
	int len;

	if (gen->type != GEN_DNS && gen->type != GEN_IPADD)
		return 0;
	if (imp->written_count == NAMES_MAX)
		return -1;
	data = ASN1_STRING_get0_data(gen->d.ia5);
	len = ASN1_STRING_length(gen->d.ia5);
	if (gen->type == GEN_IPADD) {
		if ((len != 4 && len != 16) || inet_ntop(len == 4 ? AF_INET :
		    AF_INET6, data, text, sizeof(text)) == NULL)
			return -1;
		imp->written[imp->written_count] = strdup(text);
	} else {
		if (len <= 0 || memchr(data, '\0', (size_t)len) != NULL)
			return -1;
		imp->written[imp->written_count] = strndup((const char *)data,
		    (size_t)len);
	}
	if (imp->written[imp->written_count] == NULL)
		return -1;
	imp->written_count++;
	return 0;
}

static int
read_names(struct cert_import *imp, char *err, size_t errlen)
{
	GENERAL_NAMES *sans;
	int i, rc = 0;

	sans = X509_get_ext_d2i(imp->chain.leaf, NID_subject_alt_name, NULL,
	    NULL);
	for (i = 0; sans != NULL && rc == 0 &&
	    i < sk_GENERAL_NAME_num(sans); i++)
		rc = add_name(imp, sk_GENERAL_NAME_value(sans, i));
	GENERAL_NAMES_free(sans);
	if (rc != 0) {
		snprintf(err, errlen, "the leaf certificate has an invalid "
		    "subjectAltName or more than %d names", NAMES_MAX);
		return -1;
	}
	if (imp->written_count == 0) {
		snprintf(err, errlen, "the leaf certificate has no DNS or IP "
		    "name in its subjectAltName, so no policy can allow it");
		return -1;
	}
	/*
	 * names_parse() drops a trailing dot, but versions_check() matches
	 * the leaf's names as written, so such a leaf would fail only in
	 * the worker, as not covering its own name.
	 */
	for (i = 0; i < (int)imp->written_count; i++) {
		if (imp->written[i][strlen(imp->written[i]) - 1] == '.') {
			snprintf(err, errlen, "the leaf certificate names "
			    "\"%.256s\" with a trailing dot, which a DNS name "
			    "in a certificate must not have; upload a "
			    "certificate issued for the name without it",
			    imp->written[i]);
			return -1;
		}
	}
	return names_parse(imp->written, imp->written_count, &imp->names,
	    err, errlen);
}

/*
 * Rejects a chain whose first certificate is a CA certificate (basic
 * constraints CA:TRUE), which is a chain in the wrong order: the leaf
 * must come first. The message names the first certificate's subject.
 */
static int
check_leaf_first(const struct cert_import *imp, char *err, size_t errlen)
{
	char subject[256] = "";
	BIO *bio;
	int len;

	if ((X509_get_extension_flags(imp->chain.leaf) & EXFLAG_CA) == 0)
		return 0;
	bio = BIO_new(BIO_s_mem());
	if (bio != NULL && X509_NAME_print_ex(bio, X509_get_subject_name(
	    imp->chain.leaf), 0, XN_FLAG_RFC2253) >= 0) {
		len = BIO_read(bio, subject, (int)sizeof(subject) - 1);
		subject[len > 0 ? len : 0] = '\0';
	}
	BIO_free(bio);
	snprintf(err, errlen, "the chain starts with the CA certificate "
	    "\"%s\", but the leaf certificate must come first; upload the "
	    "leaf, then its issuers in order", subject);
	return -1;
}

static int
check_validity(struct cert_import *imp, time_t now, char *err,
    size_t errlen)
{
	if (versions_validity(&imp->chain, &imp->not_before, &imp->not_after,
	    err, errlen) != 0)
		return -1;
	if (imp->not_after <= (int64_t)now) {
		snprintf(err, errlen, "the leaf certificate (serial %s) "
		    "expired; upload a certificate that is valid now",
		    imp->chain.serial_hex);
		return -1;
	}
	if (imp->not_before > (int64_t)now) {
		snprintf(err, errlen, "the leaf certificate (serial %s) is "
		    "not valid yet; upload it once its notBefore has passed",
		    imp->chain.serial_hex);
		return -1;
	}
	return 0;
}

int
cert_import_parse(const char *pem, size_t len, time_t now,
    struct cert_import *imp, char *err, size_t errlen)
{
	const char *detail;

	memset(imp, 0, sizeof(*imp));
	if (len > CERT_IMPORT_MAX_BYTES ||
	    count_blocks(pem, len) > CERT_IMPORT_MAX_CERTS) {
		snprintf(err, errlen, "the chain is larger than %d bytes or %d "
		    "certificates; upload the leaf and its issuers only",
		    CERT_IMPORT_MAX_BYTES, CERT_IMPORT_MAX_CERTS);
		return -1;
	}
	if (check_outside_blocks(pem, len, err, errlen) != 0)
		return -1;
	if (cert_chain_parse(pem, len, &imp->chain, err, errlen) != 0) {
		/* Its messages speak of the CA; keep only the reason. */
		detail = strstr(err, "from the CA: ");
		if (detail != NULL)
			memmove(err, detail + 13, strlen(detail + 13) + 1);
		return -1;
	}
	if (check_leaf_first(imp, err, errlen) != 0)
		return -1;
	if (imp->chain.chain_pem[0] == '\0') {
		snprintf(err, errlen, "the chain holds only the leaf "
		    "certificate; append the certificates of its issuers, "
		    "leaf first");
		return -1;
	}
	if (check_validity(imp, now, err, errlen) != 0)
		return -1;
	return read_names(imp, err, errlen);
}

static char *import_label(const struct cert_import *imp);

size_t
cert_import_check_policy(const struct policy_tenant *tenant,
    const char *store_dir, const struct cert_import *imp,
    const struct signer_key *key, gate_denial_fn denied, void *arg)
{
	struct gate_request request = { 0 };
	struct store_usage usage;
	char err[512], *label;
	int rc;

	request.written = imp->written;
	request.names = &imp->names;
	request.lifetime = (long)(imp->not_after - imp->not_before);
	if (key_type_parse(key->type, &request.key_type) != 0) {
		denied("the key has a type the policy does not know", arg);
		return 1;
	}
	if (tenant->max_certificates.set || tenant->rate_per_hour.set ||
	    tenant->rate_per_day.set) {
		label = import_label(imp);
		if (label == NULL)
			snprintf(err, sizeof(err), "out of memory");
		rc = label != NULL ? store_usage_count(store_dir,
		    tenant->name, label, time(NULL), &usage, err,
		    sizeof(err)) : -1;
		free(label);
		if (rc != 0) {
			denied(err, arg);
			return 1;
		}
		request.usage = &usage;
	}
	return gate_check_import(tenant, &request, denied, arg);
}

/* Makes LABEL: the store label of the first name, "@", the serial. */
static char *
import_label(const struct cert_import *imp)
{
	char *first, *label = NULL;

	first = names_store_label(imp->names.items[0].value);
	if (first != NULL && asprintf(&label, "%s@%s", first,
	    imp->chain.serial_hex) < 0)
		label = NULL;
	free(first);
	return label;
}

char *
cert_import_join_names(const struct acme_names *names)
{
	size_t len = 1, used = 0;
	char *text;

	for (size_t i = 0; i < names->count; i++)
		len += strlen(names->items[i].value) + 1;
	text = calloc(1, len);
	for (size_t i = 0; text != NULL && i < names->count; i++)
		used += (size_t)snprintf(text + used, len - used, "%s%s",
		    i > 0 ? " " : "", names->items[i].value);
	return text;
}

/* Removes a version stored by this import whose record failed. */
static void
unstore(const char *store_dir, const char *tenant, const char *label,
    const char *version)
{
	static const char *const files[] = { "cert.pem", "chain.pem",
	    "fullchain.pem", "key.uri" };
	char path[IMPORT_PATH_MAX];
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s/%s/%s/%s", store_dir,
		    tenant, label, version, files[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/%s/%s/%s", store_dir, tenant, label,
	    version);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/%s/%s/current", store_dir, tenant,
	    label);
	unlink(path);
	snprintf(path, sizeof(path), "%s/%s/%s", store_dir, tenant, label);
	rmdir(path);
}

/* Fails when STORE/TENANT/LABEL exists: the same upload came before. */
static int
check_new_label(const char *store_dir, const char *tenant,
    const char *label, char *err, size_t errlen)
{
	char path[IMPORT_PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s/%s", store_dir, tenant, label);
	if (lstat(path, &st) == 0) {
		snprintf(err, errlen, "%s already exists: this certificate was "
		    "imported before (see custos cert list)", path);
		return CERT_IMPORT_EXISTS;
	}
	if (store_check_writable(store_dir, tenant, label, err, errlen) != 0)
		return CERT_IMPORT_FAILED;
	return 0;
}

static int
record(struct state *st, const char *tenant, struct cert_import *imp,
    const struct signer_key *key, const char *label,
    struct state_version *v, int64_t *id, char *err, size_t errlen)
{
	struct state_cert cert = { 0 };
	int rc = -1;

	cert.tenant = (char *)tenant;
	cert.label = (char *)label;
	cert.names = cert_import_join_names(&imp->names);
	cert.key_type = (char *)key->type;
	cert.issuer = (char *)CERT_IMPORT_ISSUER;
	cert.settings = (char *)"{}";
	cert.created = v->created;
	if (cert.names == NULL)
		snprintf(err, errlen, "out of memory");
	else
		rc = state_cert_import(st, &cert, v, id, err, errlen);
	free(cert.names);
	return rc;
}

int
cert_import_store(const struct custos_config *config, struct state *st,
    const char *tenant, struct cert_import *imp, const struct signer_key *key,
    time_t now, int64_t *id, char *err, size_t errlen)
{
	const char *store_dir = config->store.directory;
	struct state_version v = { 0 };
	struct store_files files;
	char version[128], *label, *stored = NULL;
	int rc = CERT_IMPORT_FAILED;

	if (versions_check(&imp->chain, key->jwk, &imp->names, NULL, now, err,
	    errlen) != 0)
		return CERT_IMPORT_REJECTED;
	label = import_label(imp);
	if (label == NULL) {
		snprintf(err, errlen, "out of memory");
		return CERT_IMPORT_FAILED;
	}
	if (store_version_name((time_t)imp->not_before,
	    imp->chain.serial_hex, version, sizeof(version)) != 0) {
		snprintf(err, errlen, "cannot format the version name");
		goto out;
	}
	rc = check_new_label(store_dir, tenant, label, err, errlen);
	if (rc != 0)
		goto out;
	rc = CERT_IMPORT_FAILED;
	files.cert_pem = imp->chain.leaf_pem;
	files.chain_pem = imp->chain.chain_pem;
	files.fullchain_pem = imp->chain.fullchain_pem;
	files.key_uri = key->uri;
	if (store_certificate(store_dir, tenant, label, version, &files,
	    &stored, err, errlen) != 0)
		goto out;

	v.name = version;
	v.serial = imp->chain.serial_hex;
	v.not_before = imp->not_before;
	v.not_after = imp->not_after;
	v.created = (int64_t)now;
	if (record(st, tenant, imp, key, label, &v, id, err, errlen) == 0)
		rc = 0;
	else
		unstore(store_dir, tenant, label, version);
out:
	free(stored);
	free(label);
	return rc;
}

int
cert_import_deploy(const struct custos_config *config, struct state *st,
    int64_t id, char *err, size_t errlen)
{
	struct state_version v = { 0 };
	struct state_cert cert = { 0 };
	struct deploy_info info;
	char ignored[256];
	int rc = -1;

	if (state_cert_get(st, id, &cert, err, errlen) != 0 ||
	    state_version_current(st, id, &v, err, errlen) != 0)
		goto out;
	info = (struct deploy_info){ config->store.directory, cert.tenant,
	    cert.label, v.name, cert.names, cert.id, 0 };
	if (versions_deploy(&config->daemon, &info, err, errlen) == 0) {
		rc = state_version_deployed(st, v.id, err, errlen);
		goto out;
	}
	/* Recorded even so, or every restart would run the hook again. */
	if (state_version_deployed(st, v.id, ignored, sizeof(ignored)) != 0)
		log_error("certificate %lld: %s", (long long)id, ignored);
out:
	state_version_clear(&v);
	state_cert_clear(&cert);
	return rc;
}

void
cert_import_clear(struct cert_import *imp)
{
	size_t i;

	for (i = 0; i < imp->written_count; i++)
		free(imp->written[i]);
	names_clear(&imp->names);
	cert_chain_clear(&imp->chain);
	memset(imp, 0, sizeof(*imp));
}
