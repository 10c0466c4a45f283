/*
 * custos cert through the daemon's API: one HTTP request over the UNIX
 * socket, or one HTTPS request to the TCP listener with a bearer token,
 * with libcurl, and the reply printed as the direct commands print it. A
 * problem document's detail becomes the error message.
 */
#include "broker/api_client.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "broker/api.h"
#include "logging/log.h"

#define SOCKET_BASE_URL "http://localhost"
#define CERTS_PATH "/v1/certificates"
/* Longest bearer token read from a token file. */
#define TOKEN_MAX 512

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

int
api_client_check_url(const char *url, char *err, size_t errlen)
{
	const char *host = url + strlen("https://");
	const unsigned char *p;

	if (strncmp(url, "https://", strlen("https://")) != 0 ||
	    *host == '\0' || *host == '/' || *host == ':') {
		snprintf(err, errlen, "invalid --api-url \"%.128s\" (use the "
		    "daemon's TCP listener as https://HOST:PORT)", url);
		return -1;
	}
	for (p = (const unsigned char *)host; *p != '\0'; p++) {
		if (*p <= 0x20 || *p >= 0x7f || *p == '@' || *p == '?' ||
		    *p == '#' || (*p == '/' && p[1] != '\0')) {
			snprintf(err, errlen, "invalid --api-url \"%.128s\" "
			    "(use https://HOST:PORT, with no path, user or "
			    "query)", url);
			return -1;
		}
	}
	return 0;
}

/* Checks that the open token file is regular and only its owner's. */
static int
check_token_file(int fd, const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "token file %s is not a regular file "
		    "(set --token-file to the file that holds the token)",
		    path);
		return -1;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, errlen, "token file %s has mode %04o, so group "
		    "or others can read the token (run chmod 600 %s)", path,
		    (unsigned)(st.st_mode & 07777), path);
		return -1;
	}
	return 0;
}

int
api_client_read_token(struct api_endpoint *endpoint, const char *path,
    char *err, size_t errlen)
{
	char buf[TOKEN_MAX + 2];
	ssize_t n;
	size_t len = 0;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
	    O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open token file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (check_token_file(fd, path, err, errlen) != 0)
		goto out;
	while (len < sizeof(buf) - 1 && ((n = read(fd, buf + len,
	    sizeof(buf) - 1 - len)) > 0 || (n < 0 && errno == EINTR)))
		len += n > 0 ? (size_t)n : 0;
	buf[len] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	len = strlen(buf);
	if (len == 0 || len > TOKEN_MAX ||
	    strspn(buf, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-._~+/=") != len) {
		snprintf(err, errlen, "token file %s does not start with a "
		    "token of 1 to %d letters, digits or -._~+/= (write the "
		    "token on the first line)", path, TOKEN_MAX);
		goto out;
	}
	endpoint->token = strdup(buf);
	rc = endpoint->token != NULL ? 0 : (snprintf(err, errlen, "out of "
	    "memory"), -1);
out:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return rc;
}

void
api_client_endpoint_clear(struct api_endpoint *endpoint)
{
	if (endpoint->token != NULL) {
		explicit_bzero(endpoint->token, strlen(endpoint->token));
		free(endpoint->token);
	}
	endpoint->token = NULL;
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
 * Sets the connection options of the endpoint and adds the headers of
 * the request to *headers: the bearer token, and the type of a body.
 */
static void
set_endpoint(CURL *curl, const struct api_endpoint *endpoint,
    const char *body, struct curl_slist **headers)
{
	char line[TOKEN_MAX + 32];

	if (endpoint->socket != NULL) {
		curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH,
		    endpoint->socket);
		curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http");
	} else {
		curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
		if (endpoint->ca_file != NULL) {
			/* Without CAPATH NULL the system's CAs stay trusted. */
			curl_easy_setopt(curl, CURLOPT_CAINFO,
			    endpoint->ca_file);
			curl_easy_setopt(curl, CURLOPT_CAPATH, NULL);
		}
	}
	if (endpoint->token != NULL) {
		snprintf(line, sizeof(line), "Authorization: Bearer %s",
		    endpoint->token);
		*headers = curl_slist_append(*headers, line);
		explicit_bzero(line, sizeof(line));
	}
	if (body != NULL)
		*headers = curl_slist_append(*headers,
		    "Content-Type: application/json");
}

/* Names the endpoint in messages. */
static const char *
endpoint_name(const struct api_endpoint *endpoint)
{
	return endpoint->socket != NULL ? endpoint->socket : endpoint->url;
}

/*
 * Sends method url with body (or none) and parses the JSON reply into
 * *doc. Returns the HTTP status, or -1 with a message in err.
 */
static long
send_request(const struct api_endpoint *endpoint, const char *method,
    const char *url, const char *body, json_t **doc, char *err,
    size_t errlen)
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
	set_endpoint(curl, endpoint, body, &headers);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	if (body != NULL)
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK)
		snprintf(err, errlen, "request to the daemon's API at %s "
		    "failed: %s", endpoint_name(endpoint),
		    curl_easy_strerror(rc));
	else if ((*doc = json_loadb(r.data != NULL ? r.data : "", r.len, 0,
	    &error)) == NULL)
		snprintf(err, errlen, "the daemon's API sent invalid JSON: %s",
		    error.text);
	else
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	/* NOTE: libcurl's copy of the Authorization header is not wiped. */
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
	printf("imported: %s\nexpires: %s\n",
	    json_is_true(json_object_get(cert, "imported")) ? "yes" : "no",
	    text(cert, "not_after", "-"));
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
	doc = json_pack("{s:o, s:s?, s:s?, s:s?}", "names", names, "issuer",
	    options->issuer, "key_type", options->key_type, "tenant",
	    options->tenant);
	body = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	return body;
}

/*
 * Sets method, url and body for the action; base is the URL of the
 * API's root, without the trailing slash. Returns -1 for bad usage.
 */
static int
build_request(const struct issue_options *options, const char *base,
    const char *action, int argc, char **argv, const char **method,
    char *url, size_t urllen, char **body, char *err, size_t errlen)
{
	char *end;
	long long id;

	*method = "POST";
	*body = NULL;
	if (strcmp(action, "add") == 0) {
		if (argc < 1)
			return snprintf(err, errlen, "missing NAME to add a "
			    "certificate for"), -1;
		snprintf(url, urllen, "%s" CERTS_PATH, base);
		*body = add_body(options, argc, argv);
		return *body != NULL ? 0 : (snprintf(err, errlen, "out of "
		    "memory"), -1);
	}
	if (strcmp(action, "list") == 0) {
		*method = "GET";
		snprintf(url, urllen, "%s" CERTS_PATH, base);
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
		snprintf(url, urllen, "%s" CERTS_PATH "/%lld", base, id);
	} else {
		snprintf(url, urllen, "%s" CERTS_PATH "/%lld/%s", base, id,
		    action);
	}
	return 0;
}

int
api_client_cert(const struct api_endpoint *endpoint,
    const struct issue_options *options, const char *action, int argc,
    char **argv, char *err, size_t errlen)
{
	const char *method;
	char base[256], url[512], *body = NULL, *escaped;
	json_t *doc = NULL;
	size_t len;
	long status;
	int rc = -1;

	snprintf(base, sizeof(base), "%s", endpoint->socket != NULL ?
	    SOCKET_BASE_URL : endpoint->url);
	len = strlen(base);
	if (len > 0 && base[len - 1] == '/')
		base[len - 1] = '\0';
	if (build_request(options, base, action, argc, argv, &method, url,
	    sizeof(url), &body, err, errlen) != 0)
		return -1;
	if (strcmp(action, "list") == 0 && options->tenant != NULL) {
		escaped = curl_easy_escape(NULL, options->tenant, 0);
		if (escaped == NULL)
			return snprintf(err, errlen, "out of memory"), -1;
		snprintf(url, sizeof(url), "%s" CERTS_PATH "?tenant=%.64s",
		    base, escaped);
		curl_free(escaped);
	}
	status = send_request(endpoint, method, url, body, &doc, err,
	    errlen);
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
