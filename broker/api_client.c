/*
 * custos cert through the daemon's API: one HTTP request over the UNIX
 * socket with libcurl, and the reply printed as the direct commands print
 * it. A problem document's detail becomes the error message.
 */
#include "broker/api_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "broker/api.h"
#include "logging/log.h"

#define CERTS_URL "http://localhost/v1/certificates"

int
api_client_probe(const struct custos_config *config, char *err,
    size_t errlen)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	const char *path = config->api.socket;
	int fd, rc;

	if (path == NULL || strlen(path) >= sizeof(addr.sun_path))
		return 0;
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return snprintf(err, errlen, "cannot create a socket: %s",
		    strerror(errno)), -1;
	rc = 1;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		rc = errno == ENOENT || errno == ECONNREFUSED ? 0 : -1;
		if (rc < 0)
			snprintf(err, errlen, "cannot connect to the daemon's "
			    "API at %s: %s (ask an administrator for access "
			    "to the socket%s%s)", path, strerror(errno),
			    config->api.group ? ", group " : "",
			    config->api.group ? config->api.group : "");
	}
	close(fd);
	return rc;
}

/* A response body, capped at API_RESPONSE_MAX. */
struct response {
	char *data;
	size_t len;
};

static size_t
collect(char *data, size_t size, size_t count, void *arg)
{
	struct response *r = arg;
	size_t n = size * count;
	char *grown;

	if (n > API_RESPONSE_MAX - r->len)
		return 0;
	grown = realloc(r->data, r->len + n + 1);
	if (grown == NULL)
		return 0;
	memcpy(grown + r->len, data, n);
	r->len += n;
	grown[r->len] = '\0';
	r->data = grown;
	return n;
}

/*
 * Sends method url with body (or none) and parses the JSON reply into
 * *doc. Returns the HTTP status, or -1 with a message in err.
 */
static long
send_request(const char *socket_path, const char *method, const char *url,
    const char *body, json_t **doc, char *err, size_t errlen)
{
	struct curl_slist *headers = NULL;
	struct response r = { NULL, 0 };
	json_error_t error;
	long status = -1;
	CURLcode rc;
	CURL *curl;

	*doc = NULL;
	curl = curl_easy_init();
	if (curl == NULL)
		return snprintf(err, errlen, "out of memory"), -1;
	headers = curl_slist_append(headers, "Content-Type: application/json");
	curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, socket_path);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r);
	if (body != NULL) {
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	}
	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK)
		snprintf(err, errlen, "request to the daemon's API at %s "
		    "failed: %s", socket_path, curl_easy_strerror(rc));
	else if ((*doc = json_loadb(r.data != NULL ? r.data : "", r.len, 0,
	    &error)) == NULL)
		snprintf(err, errlen, "the daemon's API sent invalid JSON: %s",
		    error.text);
	else
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	free(r.data);
	return status;
}

/* Returns member key of doc as a string, or fallback. */
static const char *
text(const json_t *doc, const char *key, const char *fallback)
{
	const char *value = json_string_value(json_object_get(doc, key));

	return value != NULL ? value : fallback;
}

static long long
number(const json_t *doc, const char *key)
{
	return (long long)json_integer_value(json_object_get(doc, key));
}

/* Prints the names array separated by spaces. */
static void
print_names(const json_t *doc)
{
	const json_t *name;
	size_t i;

	json_array_foreach(json_object_get(doc, "names"), i, name)
		printf("%s%s", i > 0 ? " " : "", json_string_value(name));
}

static void
print_list(const json_t *doc)
{
	const json_t *cert;
	size_t i;

	json_array_foreach(json_object_get(doc, "certificates"), i, cert) {
		printf("%lld\t%s\t%s\t%s\t", number(cert, "id"),
		    text(cert, "tenant", ""),
		    json_is_true(json_object_get(cert, "imported")) ?
		    "imported" : text(cert, "next_run", "-"),
		    text(cert, "not_after", "-"));
		print_names(cert);
		printf("\n");
	}
}

static void
print_show(const json_t *cert)
{
	const json_t *v;
	size_t i;

	printf("id: %lld\ntenant: %s\nnames: ", number(cert, "id"),
	    text(cert, "tenant", ""));
	print_names(cert);
	printf("\nkey-type: %s\nissuer: %s\nrequest: %lld\nremoved: %s\n"
	    "next-run: %s\nfailures: %lld\n", text(cert, "key_type", ""),
	    text(cert, "issuer", ""), number(cert, "request"),
	    json_is_true(json_object_get(cert, "removed")) ? "yes" : "no",
	    text(cert, "next_run", "-"), number(cert, "failures"));
	if (json_is_string(json_object_get(cert, "last_error")))
		printf("last-error: %s\n", text(cert, "last_error", ""));
	printf("imported: %s\nexpires: %s\nkey-export: %s\n",
	    json_is_true(json_object_get(cert, "imported")) ? "yes" : "no",
	    text(cert, "not_after", "-"), text(cert, "key_export", "hsm"));
	json_array_foreach(json_object_get(cert, "versions"), i, v)
		printf("version: %s %s serial %s not-after %s\n",
		    text(v, "name", ""), text(v, "status", ""),
		    text(v, "serial", ""), text(v, "not_after", "-"));
}

static void
print_result(const char *action, const json_t *doc)
{
	if (strcmp(action, "list") == 0) {
		print_list(doc);
	} else if (strcmp(action, "show") == 0) {
		print_show(doc);
	} else if (strcmp(action, "add") == 0) {
		printf("added certificate %lld for tenant %s: ",
		    number(doc, "id"), text(doc, "tenant", ""));
		print_names(doc);
		printf("\n");
	} else if (strcmp(action, "reissue") == 0) {
		printf("certificate %lld is due for a new request now\n",
		    number(doc, "id"));
	} else if (strcmp(action, "remove") == 0) {
		printf("removed certificate %lld\n", number(doc, "id"));
	} else if (strcmp(action, "rollback") == 0) {
		printf("certificate %lld: %s is current again (was %s)\n",
		    number(doc, "id"), text(doc, "current", ""),
		    text(doc, "replaced", ""));
	}
}

/* Logs the policy's denial lines and copies the detail into err. */
static void
report_problem(const json_t *doc, long status, char *err, size_t errlen)
{
	const json_t *line;
	size_t i;

	json_array_foreach(json_object_get(doc, "denials"), i, line)
		log_error("%s", json_string_value(line));
	snprintf(err, errlen, "%s (HTTP %ld from the daemon's API)",
	    text(doc, "detail", "no detail"), status);
}

/* Builds the body of POST /v1/certificates from the command line. */
static char *
add_body(const struct issue_options *options, int argc, char **argv)
{
	json_t *doc, *names = json_array();
	char *body;

	for (int i = 0; names != NULL && i < argc; i++)
		json_array_append_new(names, json_string(argv[i]));
	doc = json_pack("{s:o, s:s?, s:s?, s:s?, s:s?}", "names", names,
	    "issuer", options->issuer, "key_type", options->key_type,
	    "key_export", options->key_export, "tenant", options->tenant);
	body = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	return body;
}

/* Sets method, url and body for the action; returns -1 for bad usage. */
static int
build_request(const struct issue_options *options, const char *action,
    int argc, char **argv, const char **method, char *url, size_t urllen,
    char **body, char *err, size_t errlen)
{
	char *end;
	long long id;

	*method = "POST";
	*body = NULL;
	if (strcmp(action, "add") == 0) {
		if (argc < 1)
			return snprintf(err, errlen, "missing NAME to add a "
			    "certificate for"), -1;
		snprintf(url, urllen, "%s", CERTS_URL);
		*body = add_body(options, argc, argv);
		return *body != NULL ? 0 : (snprintf(err, errlen, "out of "
		    "memory"), -1);
	}
	if (strcmp(action, "list") == 0) {
		*method = "GET";
		snprintf(url, urllen, "%s", CERTS_URL);
		return 0;
	}
	if (argc != 1)
		return snprintf(err, errlen, "%s needs exactly one certificate "
		    "ID", action), -1;
	id = strtoll(argv[0], &end, 10);
	if (argv[0][0] == '\0' || *end != '\0' || id <= 0)
		return snprintf(err, errlen, "invalid certificate id \"%s\" "
		    "(use a number from custos cert list)", argv[0]), -1;
	if (strcmp(action, "show") == 0 || strcmp(action, "remove") == 0) {
		*method = action[0] == 's' ? "GET" : "DELETE";
		snprintf(url, urllen, "%s/%lld", CERTS_URL, id);
	} else {
		snprintf(url, urllen, "%s/%lld/%s", CERTS_URL, id, action);
	}
	return 0;
}

int
api_client_cert(const struct custos_config *config,
    const struct issue_options *options, const char *action, int argc,
    char **argv, char *err, size_t errlen)
{
	const char *method;
	char url[256], *body = NULL, *escaped;
	json_t *doc = NULL;
	long status;
	int rc = -1;

	if (build_request(options, action, argc, argv, &method, url,
	    sizeof(url), &body, err, errlen) != 0)
		return -1;
	if (strcmp(action, "list") == 0 && options->tenant != NULL) {
		escaped = curl_easy_escape(NULL, options->tenant, 0);
		if (escaped == NULL)
			return snprintf(err, errlen, "out of memory"), -1;
		snprintf(url, sizeof(url), "%s?tenant=%.64s", CERTS_URL,
		    escaped);
		curl_free(escaped);
	}
	status = send_request(config->api.socket, method, url, body, &doc,
	    err, errlen);
	if (status >= 200 && status < 300) {
		print_result(action, doc);
		rc = 0;
	} else if (status > 0) {
		report_problem(doc, status, err, errlen);
	}
	json_decref(doc);
	free(body);
	return rc;
}
