/*
 * "custos revoke": revokes a stored certificate (RFC 8555 section 7.6),
 * signed by the account key or by the certificate's own key in the
 * token, and records the revocation as a "revoked" file in the
 * certificate's version directory.
 */
#include "broker/revoke.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "broker/account_session.h"
#include "broker/account_signer.h"
#include "broker/audit.h"
#include "broker/issue.h"
#include "broker/names.h"
#include "broker/problem.h"
#include "encoding/base64url.h"
#include "logging/log.h"

static const char revoke_usage[] =
    "usage: custos revoke [--config FILE] [--tenant NAME] [--issuer NAME]\n"
    "                     [--account NAME] [--reason REASON]\n"
    "                     [--certificate-key] NAME | --path DIRECTORY\n"
    "\n"
    "Revokes the current certificate stored for NAME (its first name) in\n"
    "the tenant's store, or the version in DIRECTORY, and writes a\n"
    "\"revoked\" file with the reason and time into that version.\n"
    "\n"
    "options:\n"
    "  -c, --config FILE      configuration file (default "
    ISSUE_DEFAULT_CONFIG ")\n"
    "  -t, --tenant NAME      act for this tenant (default: the tenant\n"
    "                         that lists the caller)\n"
    "  -i, --issuer NAME      the issuer that issued the certificate\n"
    "                         (default: the tenant's first issuer)\n"
    "  -a, --account NAME     the account to sign with (default: the\n"
    "                         issuer's least recently used account)\n"
    "  -r, --reason REASON    RFC 5280 reason: 0 unspecified,\n"
    "                         1 keyCompromise, 3 affiliationChanged,\n"
    "                         4 superseded or 5 cessationOfOperation\n"
    "                         (default: none sent)\n"
    "  -k, --certificate-key  sign with the certificate's key in the token\n"
    "                         instead of the account key\n"
    "  -p, --path DIRECTORY   a version directory of the store\n"
    "  -h, --help             print this help\n";

static const struct {
	const char *name;
	int code;
} reasons[] = {
	{ "unspecified", 0 },
	{ "keyCompromise", 1 },
	{ "affiliationChanged", 3 },
	{ "superseded", 4 },
	{ "cessationOfOperation", 5 },
};

struct revoke_options {
	struct account_session_options session;
	const char *name;
	const char *path;
	int reason;		/* -1: none */
	int certificate_key;
};

static int
usage_error(const char *message, const char *arg)
{
	fprintf(stderr, "custos: error: %s%s%s%s\n\n%s", message,
	    arg != NULL ? " \"" : "", arg != NULL ? arg : "",
	    arg != NULL ? "\"" : "", revoke_usage);
	return 2;
}

int
revoke_reason_accepted(long code)
{
	return code == 0 || code == 1 || code == 3 || code == 4 || code == 5;
}

static int
parse_reason(const char *text, int *code)
{
	char *end;
	long n;

	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		if (strcasecmp(text, reasons[i].name) == 0) {
			*code = reasons[i].code;
			return 0;
		}
	}
	errno = 0;
	n = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' ||
	    !revoke_reason_accepted(n))
		return -1;
	*code = (int)n;
	return 0;
}

/* Returns 0, 1 after --help, or an exit status above 1. */
static int
parse_options(int argc, char **argv, struct revoke_options *opt)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "tenant", required_argument, NULL, 't' },
		{ "issuer", required_argument, NULL, 'i' },
		{ "account", required_argument, NULL, 'a' },
		{ "reason", required_argument, NULL, 'r' },
		{ "certificate-key", no_argument, NULL, 'k' },
		{ "path", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opt->session.config_path = ISSUE_DEFAULT_CONFIG;
	opt->reason = -1;
	while ((c = getopt_long(argc, argv, "+c:t:i:a:r:kp:h", options,
	    NULL)) != -1) {
		switch (c) {
		case 'c':
			opt->session.config_path = optarg;
			break;
		case 't':
			opt->session.tenant = optarg;
			break;
		case 'i':
			opt->session.issuer = optarg;
			break;
		case 'a':
			opt->session.account = optarg;
			break;
		case 'r':
			if (parse_reason(optarg, &opt->reason) != 0)
				return usage_error("invalid --reason (use 0 "
				    "unspecified, 1 keyCompromise, 3 "
				    "affiliationChanged, 4 superseded or 5 "
				    "cessationOfOperation, by number or name)",
				    optarg);
			break;
		case 'k':
			opt->certificate_key = 1;
			break;
		case 'p':
			opt->path = optarg;
			break;
		case 'h':
			fputs(revoke_usage, stdout);
			return 1;
		default:
			return usage_error("invalid option", NULL);
		}
	}
	if (optind < argc)
		opt->name = argv[optind++];
	if (optind != argc)
		return usage_error("unexpected argument", argv[optind]);
	if ((opt->name == NULL) == (opt->path == NULL))
		return usage_error("give either NAME or --path DIRECTORY",
		    NULL);
	return 0;
}

/* Sets rev->directory to the real path of the version to revoke. */
static int
find_version(const struct account_session *session,
    const struct revoke_options *opt, struct revocation *rev, char *err,
    size_t errlen)
{
	char *label, *current = NULL;

	if (opt->path != NULL) {
		rev->directory = realpath(opt->path, NULL);
	} else {
		label = names_store_label(opt->name);
		if (label != NULL && asprintf(&current, "%s/%s/%s/current",
		    session->config->store.directory, session->tenant->name,
		    label) < 0)
			current = NULL;
		free(label);
		rev->directory = current != NULL ? realpath(current, NULL) :
		    NULL;
		free(current);
	}
	if (rev->directory != NULL)
		return 0;
	snprintf(err, errlen, "no stored certificate %s for tenant %s: %s "
	    "(check NAME or --path)", opt->path != NULL ? opt->path :
	    opt->name, session->tenant->name, strerror(errno));
	return -1;
}

/* Writes the certificate's serial number as lowercase hex. */
static void
read_serial(const X509 *cert, char *out, size_t outlen)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
	size_t i;

	out[0] = '\0';
	for (i = 0; hex != NULL && hex[i] != '\0' && i + 1 < outlen; i++)
		out[i] = (char)tolower((unsigned char)hex[i]);
	if (hex != NULL && hex[i] == '\0')
		out[i] = '\0';
	else
		out[0] = '\0';
	OPENSSL_free(hex);
	BN_free(bn);
}

int
revoke_read_certificate(struct revocation *rev, char *err, size_t errlen)
{
	unsigned char *der = NULL;
	char *path = NULL;
	X509 *cert = NULL;
	FILE *file = NULL;
	int len = -1;

	if (asprintf(&path, "%s/cert.pem", rev->directory) >= 0)
		file = fopen(path, "re");
	if (file != NULL)
		cert = PEM_read_X509(file, NULL, NULL, NULL);
	if (cert != NULL) {
		read_serial(cert, rev->serial, sizeof(rev->serial));
		len = i2d_X509(cert, &der);
	}
	if (len > 0)
		rev->certificate = base64url_encode_alloc(der, (size_t)len);
	if (rev->certificate == NULL)
		snprintf(err, errlen, "cannot read a certificate from %s/"
		    "cert.pem", rev->directory);
	if (file != NULL)
		fclose(file);
	OPENSSL_free(der);
	X509_free(cert);
	free(path);
	return rev->certificate != NULL ? 0 : -1;
}

/* Reads the key id from the "id" attribute of DIRECTORY/key.uri. */
static int
read_key_id(struct revocation *rev, char *err, size_t errlen)
{
	char *path = NULL, uri[1024], *id;
	FILE *file = NULL;
	size_t n = 0;

	if (asprintf(&path, "%s/key.uri", rev->directory) >= 0)
		file = fopen(path, "re");
	if (file != NULL) {
		n = fread(uri, 1, sizeof(uri) - 1, file);
		fclose(file);
	}
	free(path);
	uri[n] = '\0';
	id = strstr(uri, ";id=");
	for (size_t i = 0; id != NULL && i < IPC_KEY_ID_LEN / 2; i++) {
		unsigned int byte;

		if (sscanf(id + 4 + 3 * i, "%%%2x", &byte) != 1) {
			id = NULL;
			break;
		}
		snprintf(rev->key_id + 2 * i, 3, "%02x", byte);
	}
	if (id != NULL)
		return 0;
	snprintf(err, errlen, "no key id in %s/key.uri", rev->directory);
	return -1;
}

/* POSTs a revokeCert JWS signed by the certificate key. */
static int
revoke_by_certificate_key(struct acme_client *acme, const char *url,
    const struct revocation *rev, int reason)
{
	struct http_response resp = { 0 };
	char *jws = NULL;
	int rc = -1;

	if (acme_nonce_fetch(acme) != 0 ||
	    signer_revoke_sign(acme->signer, rev->key_id, url, acme->nonce,
	    acme->issuer->name, rev->certificate, reason, &jws, acme->err,
	    sizeof(acme->err)) != 0 ||
	    http_post_jose(acme->http, url, jws, NULL, &resp, acme->err,
	    sizeof(acme->err)) != 0)
		goto out;
	if (resp.status == 200) {
		rc = 0;
		goto out;
	}
	problem_format_body(resp.body, resp.body_len, resp.status, acme->err,
	    sizeof(acme->err));
out:
	free(jws);
	http_response_clear(&resp);
	return rc;
}

int
revoke_by_account_key(struct acme_client *acme, const char *url,
    const struct revocation *rev, int reason)
{
	struct http_response resp = { 0 };
	json_t *payload;
	char *text = NULL;
	int rc = -1;

	if (acme_account_ensure(acme) != 0)
		return -1;
	payload = json_pack("{s:s}", "certificate", rev->certificate);
	if (payload != NULL && reason >= 0)
		json_object_set_new(payload, "reason", json_integer(reason));
	if (payload != NULL)
		text = json_dumps(payload, JSON_COMPACT);
	json_decref(payload);
	if (text == NULL)
		snprintf(acme->err, sizeof(acme->err), "out of memory");
	else if (acme_post(acme, url, text, 0, NULL, &resp) == 0)
		rc = 0;
	free(text);
	http_response_clear(&resp);
	return rc;
}

int
revoke_write_marker(const struct revocation *rev, const char *issuer,
    int certificate_key, int reason, char *err, size_t errlen)
{
	char *path = NULL, *tmp = NULL, when[32];
	time_t now = time(NULL);
	struct tm tm;
	FILE *file = NULL;
	int rc = -1;

	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ",
	    gmtime_r(&now, &tm));
	if (asprintf(&path, "%s/revoked", rev->directory) < 0 ||
	    asprintf(&tmp, "%s/.revoked.tmp", rev->directory) < 0)
		goto out;
	file = fopen(tmp, "we");
	if (file == NULL || fprintf(file, "revoked %s\nissuer %s\n"
	    "signed-by %s\nreason %d\n", when, issuer,
	    certificate_key ? "certificate-key" : "account-key",
	    reason < 0 ? 0 : reason) < 0 || fflush(file) != 0 ||
	    fsync(fileno(file)) != 0)
		goto out;
	rc = rename(tmp, path);
out:
	if (file != NULL)
		fclose(file);
	if (rc != 0) {
		snprintf(err, errlen, "the certificate is revoked, but writing "
		    "%s/revoked failed: %s", rev->directory, strerror(errno));
		if (tmp != NULL)
			unlink(tmp);
	}
	free(path);
	free(tmp);
	return rc;
}

static int
run_revoke(struct account_session *session, const struct revoke_options *opt,
    struct revocation *rev)
{
	struct acme_client *acme = &session->acme;
	const char *url;

	if (account_session_prepare(session, &opt->session) != 0 ||
	    find_version(session, opt, rev, acme->err,
	    sizeof(acme->err)) != 0 ||
	    revoke_read_certificate(rev, acme->err,
	    sizeof(acme->err)) != 0 ||
	    (opt->certificate_key &&
	    read_key_id(rev, acme->err, sizeof(acme->err)) != 0) ||
	    account_session_connect(session) != 0)
		return -1;
	url = json_string_value(json_object_get(acme->directory.doc,
	    "revokeCert"));
	if (url == NULL || !http_url_is_https(url)) {
		snprintf(acme->err, sizeof(acme->err), "the directory of "
		    "issuer %s has no https:// revokeCert URL",
		    acme->issuer->name);
		return -1;
	}
	if ((opt->certificate_key ? revoke_by_certificate_key(acme, url, rev,
	    opt->reason) : revoke_by_account_key(acme, url, rev,
	    opt->reason)) != 0)
		return -1;
	printf("revoked: %s (reason %d, signed by the %s)\n", rev->directory,
	    opt->reason < 0 ? 0 : opt->reason, opt->certificate_key ?
	    "certificate key" : "account key");
	return revoke_write_marker(rev, acme->issuer->name,
	    opt->certificate_key, opt->reason, acme->err, sizeof(acme->err));
}

/*
 * Records the revocation, once the certificate was read, and the command.
 * A revocation that the CA accepted but whose marker file failed is a
 * success in the record, with the marker's error as its reason. A
 * failed audit write fails the command in account_session_close().
 */
static void
record_revocation(const struct account_session *session,
    const struct revoke_options *opt, const struct revocation *rev, int rc)
{
	const struct acme_client *acme = &session->acme;
	static const char marker_failed[] = "the certificate is revoked, but";
	int revoked = rc == 0 || strncmp(acme->err, marker_failed,
	    sizeof(marker_failed) - 1) == 0;
	struct audit_revocation record = {
		.serial = rev->serial[0] != '\0' ? rev->serial : NULL,
		.issuer = acme->issuer != NULL ? acme->issuer->name : NULL,
		.account_url = opt->certificate_key ? NULL : acme->account_url,
		.signed_by = opt->certificate_key ? "certificate-key" :
		    "account-key",
		.key_id = opt->certificate_key ? rev->key_id :
		    acme->account_key_id,
		.stored = rev->directory,
		.reason_code = opt->reason,
	};

	if (record.key_id[0] == '\0')
		record.key_id = NULL;
	if (rev->certificate != NULL)
		audit_record_revocation(&record, revoked ? "success" :
		    "failure", rc == 0 ? NULL : acme->err);
	audit_record_command("revoke", json_pack("{s:s?, s:s?, s:s?}",
	    "name", opt->name, "path", opt->path, "serial", record.serial),
	    rc == 0 ? "success" : "failure", rc == 0 ? NULL : acme->err);
}

int
revoke_command(int argc, char **argv)
{
	struct revoke_options opt = { 0 };
	struct account_session session;
	struct revocation rev = { 0 };
	int rc;

	rc = parse_options(argc, argv, &opt);
	if (rc != 0)
		return rc == 1 ? 0 : rc;
	rc = run_revoke(&session, &opt, &rev);
	record_revocation(&session, &opt, &rev, rc);
	if (rc != 0)
		account_session_fail(&session);
	if (account_session_close(&session) != 0)
		rc = -1;
	free(rev.directory);
	free(rev.certificate);
	return rc == 0 ? 0 : 1;
}
