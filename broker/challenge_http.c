#include "broker/challenge_http.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

/*
 * The webroot files published and not yet withdrawn, which a signal
 * handler removes with challenge_webroot_remove_all. A slot's path is
 * complete before its in_use flag is set, and a handler interrupting
 * publish or withdraw at worst unlinks a file that does not exist.
 */
static struct {
	volatile sig_atomic_t in_use;
	char path[4096 + 256];
} webroot_files[CHALLENGE_MAX_TOKENS];
/*
 * Serialises remember_webroot_file and forget_webroot_file, which the
 * daemon's order threads call at once. The signal handler reads the
 * table without it.
 */
static pthread_mutex_t webroot_files_lock = PTHREAD_MUTEX_INITIALIZER;

struct published_token {
	char *token;
	char *key_authorization;
};

struct challenge_http {
	int fd;
	struct MHD_Daemon *daemon;
	pthread_mutex_t lock;		/* guards tokens */
	struct published_token tokens[CHALLENGE_MAX_TOKENS];
};

static const char *
bind_hint(int error)
{
	switch (error) {
	case EADDRINUSE:
		return "choose another port in 'http-01 listen ADDRESS PORT' "
		    "of the challenge block, or stop the other program";
	case EACCES:
		return "start custos as root, or use a port above 1023 in "
		    "'http-01 listen ADDRESS PORT' of the challenge block";
	case EADDRNOTAVAIL:
		return "use an address of this host in 'http-01 listen "
		    "ADDRESS PORT' of the challenge block";
	default:
		return "check 'http-01 listen ADDRESS PORT' in the challenge "
		    "block";
	}
}

static int
open_listener(const struct addrinfo *ai, int *fd)
{
	int one = 1;

	*fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
	    ai->ai_protocol);
	if (*fd < 0)
		return -1;
	if (setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) != 0 ||
	    bind(*fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
	    listen(*fd, 64) != 0) {
		int saved = errno;

		close(*fd);
		*fd = -1;
		errno = saved;
		return -1;
	}
	return 0;
}

int
challenge_http_bind(const char *address, int port,
    struct challenge_http **out, char *err, size_t errlen)
{
	struct addrinfo hints, *ai = NULL;
	struct challenge_http *responder;
	const char *open = "", *close_ = "";
	char service[16];
	int rc, fd;

	*out = NULL;
	if (strchr(address, ':') != NULL) {
		open = "[";
		close_ = "]";
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	snprintf(service, sizeof(service), "%d", port);
	rc = getaddrinfo(address, service, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen, "invalid address \"%s\" in "
		    "'http-01 listen ADDRESS PORT': %s (give an IPv4 or IPv6 "
		    "address)", address, gai_strerror(rc));
		return -1;
	}
	rc = open_listener(ai, &fd);
	freeaddrinfo(ai);
	if (rc != 0) {
		snprintf(err, errlen, "cannot listen on %s%s%s:%d: %s (%s)",
		    open, address, close_, port, strerror(errno),
		    bind_hint(errno));
		return -1;
	}

	responder = calloc(1, sizeof(*responder));
	if (responder == NULL) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	responder->fd = fd;
	pthread_mutex_init(&responder->lock, NULL);
	*out = responder;
	return 0;
}

/* Returns a malloc'd copy of the key authorization for path, or NULL. */
static char *
lookup(struct challenge_http *responder, const char *path)
{
	size_t prefix = strlen(CHALLENGE_PATH_PREFIX);
	char *found = NULL;

	if (strncmp(path, CHALLENGE_PATH_PREFIX, prefix) != 0)
		return NULL;
	path += prefix;
	pthread_mutex_lock(&responder->lock);
	for (size_t i = 0; i < CHALLENGE_MAX_TOKENS; i++) {
		struct published_token *t = &responder->tokens[i];

		if (t->token != NULL && strcmp(t->token, path) == 0) {
			found = strdup(t->key_authorization);
			break;
		}
	}
	pthread_mutex_unlock(&responder->lock);
	return found;
}

static enum MHD_Result
queue_text(struct MHD_Connection *connection, unsigned int status,
    const char *text)
{
	struct MHD_Response *response;
	enum MHD_Result rc;

	response = MHD_create_response_from_buffer(strlen(text),
	    (void *)text, MHD_RESPMEM_MUST_COPY);
	if (response == NULL)
		return MHD_NO;
	MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "text/plain");
	rc = MHD_queue_response(connection, status, response);
	MHD_destroy_response(response);
	return rc;
}

static enum MHD_Result
handle_request(void *arg, struct MHD_Connection *connection, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **request_state)
{
	struct challenge_http *responder = arg;
	enum MHD_Result rc;
	char *key_authorization;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)request_state;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return queue_text(connection, MHD_HTTP_METHOD_NOT_ALLOWED,
		    "method not allowed\n");
	key_authorization = lookup(responder, url);
	if (key_authorization == NULL)
		return queue_text(connection, MHD_HTTP_NOT_FOUND,
		    "not found\n");
	rc = queue_text(connection, MHD_HTTP_OK, key_authorization);
	free(key_authorization);
	return rc;
}

int
challenge_http_start(struct challenge_http *responder, char *err,
    size_t errlen)
{
	responder->daemon = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL,
	    handle_request, responder,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)responder->fd,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64,
	    MHD_OPTION_END);
	if (responder->daemon == NULL) {
		snprintf(err, errlen, "cannot start the HTTP-01 responder "
		    "(libmicrohttpd failed to start)");
		return -1;
	}
	return 0;
}

int
challenge_http_publish(struct challenge_http *responder, const char *token,
    const char *key_authorization, char *err, size_t errlen)
{
	struct published_token *slot = NULL;
	int rc = -1;

	pthread_mutex_lock(&responder->lock);
	for (size_t i = 0; i < CHALLENGE_MAX_TOKENS && slot == NULL; i++)
		if (responder->tokens[i].token == NULL)
			slot = &responder->tokens[i];
	if (slot == NULL) {
		snprintf(err, errlen, "more than %d HTTP-01 tokens at once",
		    CHALLENGE_MAX_TOKENS);
	} else {
		slot->token = strdup(token);
		slot->key_authorization = strdup(key_authorization);
		if (slot->token != NULL && slot->key_authorization != NULL) {
			rc = 0;
		} else {
			free(slot->token);
			free(slot->key_authorization);
			slot->token = slot->key_authorization = NULL;
			snprintf(err, errlen, "out of memory");
		}
	}
	pthread_mutex_unlock(&responder->lock);
	return rc;
}

void
challenge_http_withdraw(struct challenge_http *responder, const char *token)
{
	pthread_mutex_lock(&responder->lock);
	for (size_t i = 0; i < CHALLENGE_MAX_TOKENS; i++) {
		struct published_token *t = &responder->tokens[i];

		if (t->token != NULL && strcmp(t->token, token) == 0) {
			free(t->token);
			free(t->key_authorization);
			t->token = t->key_authorization = NULL;
		}
	}
	pthread_mutex_unlock(&responder->lock);
}

void
challenge_http_free(struct challenge_http *responder)
{
	if (responder == NULL)
		return;
	if (responder->daemon != NULL)
		MHD_stop_daemon(responder->daemon);
	if (responder->fd >= 0)
		close(responder->fd);
	for (size_t i = 0; i < CHALLENGE_MAX_TOKENS; i++) {
		free(responder->tokens[i].token);
		free(responder->tokens[i].key_authorization);
	}
	pthread_mutex_destroy(&responder->lock);
	free(responder);
}

/* Records path for challenge_webroot_remove_all, or returns -1 if full. */
static int
remember_webroot_file(const char *path)
{
	int rc = -1;

	pthread_mutex_lock(&webroot_files_lock);
	for (size_t i = 0; i < CHALLENGE_MAX_TOKENS; i++) {
		if (webroot_files[i].in_use)
			continue;
		snprintf(webroot_files[i].path, sizeof(webroot_files[i].path),
		    "%s", path);
		webroot_files[i].in_use = 1;
		rc = 0;
		break;
	}
	pthread_mutex_unlock(&webroot_files_lock);
	return rc;
}

static void
forget_webroot_file(const char *path)
{
	pthread_mutex_lock(&webroot_files_lock);
	for (size_t i = 0; i < CHALLENGE_MAX_TOKENS; i++)
		if (webroot_files[i].in_use &&
		    strcmp(webroot_files[i].path, path) == 0)
			webroot_files[i].in_use = 0;
	pthread_mutex_unlock(&webroot_files_lock);
}

void
challenge_webroot_remove_all(void)
{
	for (size_t i = 0; i < CHALLENGE_MAX_TOKENS; i++)
		if (webroot_files[i].in_use)
			unlink(webroot_files[i].path);
}

static int
make_dir(const char *path, char *err, size_t errlen)
{
	if (mkdir(path, 0755) == 0 || errno == EEXIST)
		return 0;
	snprintf(err, errlen, "cannot create %s: %s (check challenge webroot "
	    "and its permissions)", path, strerror(errno));
	return -1;
}

int
challenge_webroot_publish(const char *webroot, const char *token,
    const char *key_authorization, char *err, size_t errlen)
{
	char dir[4096], path[4096 + 256];
	size_t len = strlen(key_authorization);
	struct stat st;
	int fd, saved, rc = 0;

	if (stat(webroot, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "challenge webroot %s is not a directory "
		    "(set challenge webroot to the web server's root)",
		    webroot);
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s/.well-known", webroot);
	if (make_dir(dir, err, errlen) != 0)
		return -1;
	snprintf(dir, sizeof(dir), "%s/.well-known/acme-challenge", webroot);
	if (make_dir(dir, err, errlen) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/%s", dir, token);
	if (remember_webroot_file(path) != 0) {
		snprintf(err, errlen, "more than %d HTTP-01 tokens at once",
		    CHALLENGE_MAX_TOKENS);
		return -1;
	}

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    0644);
	if (fd < 0)
		goto fail;
	if (write(fd, key_authorization, len) != (ssize_t)len)
		goto fail;
	rc = close(fd);
	fd = -1;
	if (rc != 0)
		goto fail;
	return 0;

fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	if (fd >= 0 || rc != 0)
		unlink(path);
	forget_webroot_file(path);
	snprintf(err, errlen, "cannot write %s: %s (check challenge webroot "
	    "and its permissions)", path, strerror(saved));
	return -1;
}

int
challenge_webroot_withdraw(const char *webroot, const char *token,
    char *err, size_t errlen)
{
	char path[4096 + 256];

	snprintf(path, sizeof(path), "%s%s%s", webroot, CHALLENGE_PATH_PREFIX,
	    token);
	if (unlink(path) == 0 || errno == ENOENT) {
		forget_webroot_file(path);
		return 0;
	}
	snprintf(err, errlen, "cannot remove %s: %s (remove it by hand)",
	    path, strerror(errno));
	return -1;
}
