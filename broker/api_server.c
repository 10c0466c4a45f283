/*
 * The API process: the worker binds the socket, and the TCP listener when
 * one is configured, as root, drops privileges and forks this process,
 * which serves HTTP on the socket and HTTPS on the listener with
 * libmicrohttpd in one thread until SIGTERM. It is a process of its own
 * so that its requests never share memory, the audit log or the signer's
 * connection with the worker's tasks.
 */
#include "broker/api_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <microhttpd.h>

#include "broker/audit.h"
#include "broker/daemon.h"
#include "logging/log.h"

/* Connections served at once, and seconds before an idle one closes. */
#define API_CONNECTION_MAX CONFIG_API_CONNECTIONS_MAX
#define API_CONNECTION_TIMEOUT 30
/* Supplementary groups read from SO_PEERGROUPS. */
#define API_PEER_GROUPS_MAX 256

struct api_server {
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	/*
	 * The TCP listener, whose TLS key api_bind() reads as root. The
	 * worker wipes its copy after the fork, and the API process after
	 * its HTTPS server stops.
	 */
	struct api_tcp tcp;
	pid_t child;
	/* The worker writes a byte here once the database is migrated. */
	int ready_fd;
	/*
	 * The API process's audit log, opened before the privilege drop
	 * because the file may be writable only by root. Its descriptors are
	 * its own open file descriptions, so its flock(2) on the directory
	 * excludes the worker's appends; the worker closes its copy.
	 */
	struct audit_log *audit;
};

/* One listening server and the context its requests run in. */
struct api_listener {
	struct api_context *ctx;
	int tcp;		/* 1: TLS on TCP, callers known by token only */
};

/* A request while its body arrives. */
struct api_upload {
	char *body;
	size_t len;
	int too_large;
	int answered;		/* a response is queued already */
};

static volatile sig_atomic_t api_stop_requested;

static void
on_stop(int sig)
{
	(void)sig;
	api_stop_requested = 1;
}

/* Removes a stale socket; anything else at path is an error. */
static int
clear_path(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(path, &st) != 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket (remove "
		    "it or set api socket to another path)", path);
		return -1;
	}
	/* The daemon's run lock makes any socket left here stale. */
	if (unlink(path) != 0) {
		snprintf(err, errlen, "cannot remove the stale socket %s: %s",
		    path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Creates the socket's directory (0755, root) when it is missing. */
static int
make_parent(const char *path, char *err, size_t errlen)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) == 0 || errno == EEXIST)
		return 0;
	snprintf(err, errlen, "cannot create %s for the api socket: %s "
	    "(create it or set api socket)", dir, strerror(errno));
	return -1;
}

/* Sets mode 0666, or 0660 with the configured group. */
static int
set_access(const struct config_api *api, const char *path, char *err,
    size_t errlen)
{
	struct group *gr;

	if (api->group == NULL) {
		if (chmod(path, 0666) == 0)
			return 0;
	} else {
		gr = getgrnam(api->group);
		if (gr == NULL) {
			snprintf(err, errlen, "api group \"%s\" not found "
			    "(create it with groupadd or set api group)",
			    api->group);
			return -1;
		}
		if (chown(path, 0, gr->gr_gid) == 0 && chmod(path, 0660) == 0)
			return 0;
	}
	snprintf(err, errlen, "cannot set the mode of %s: %s", path,
	    strerror(errno));
	return -1;
}

static int
open_socket(struct api_server *api, const struct config_api *conf,
    char *err, size_t errlen)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", api->path);
	api->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (api->fd < 0 || bind(api->fd, (struct sockaddr *)&addr,
	    sizeof(addr)) != 0 || listen(api->fd, 64) != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s (check api "
		    "socket)", api->path, strerror(errno));
		return -1;
	}
	return set_access(conf, api->path, err, errlen);
}

int
api_bind(const struct custos_config *config, struct api_server **out,
    char *err, size_t errlen)
{
	struct api_server *api;

	*out = NULL;
	if (config->api.socket == NULL)
		return 0;
	api = calloc(1, sizeof(*api));
	if (api == NULL)
		return snprintf(err, errlen, "out of memory"), -1;
	api->fd = -1;
	api->tcp.fd = -1;
	api->child = -1;
	api->ready_fd = -1;
	if (strlen(config->api.socket) >= sizeof(api->path)) {
		snprintf(err, errlen, "api socket %s is longer than %zu bytes "
		    "(choose a shorter path)", config->api.socket,
		    sizeof(api->path) - 1);
		free(api);
		return -1;
	}
	snprintf(api->path, sizeof(api->path), "%s", config->api.socket);
	if (make_parent(api->path, err, errlen) != 0 ||
	    clear_path(api->path, err, errlen) != 0 ||
	    open_socket(api, &config->api, err, errlen) != 0 ||
	    api_tcp_bind(&config->api, &api->tcp, err, errlen) != 0 ||
	    audit_open(&config->audit, &api->audit, err, errlen) != 0) {
		if (api->fd >= 0)
			close(api->fd);
		if (api->tcp.fd >= 0)
			close(api->tcp.fd);
		api_tcp_wipe(&api->tcp);
		free(api);
		return -1;
	}
	*out = api;
	return 0;
}

/* Fills caller from the peer's credentials on the connection's socket. */
static int
identify_peer(struct MHD_Connection *connection, struct caller *caller,
    char *err, size_t errlen)
{
	const union MHD_ConnectionInfo *info;
	gid_t groups[API_PEER_GROUPS_MAX];
	socklen_t len = sizeof(struct ucred);
	struct passwd pw, *found = NULL;
	struct ucred cred;
	char buf[4096];
	int fd;

	memset(caller, 0, sizeof(*caller));
	info = MHD_get_connection_info(connection,
	    MHD_CONNECTION_INFO_CONNECTION_FD);
	fd = info != NULL ? info->connect_fd : -1;
	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred,
	    &len) != 0) {
		snprintf(err, errlen, "cannot read the peer's credentials: %s",
		    strerror(errno));
		return -1;
	}
	caller->uid = cred.uid;
	caller->gid = cred.gid;
	len = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) != 0) {
		snprintf(err, errlen, "cannot read the groups of uid %lu: %s",
		    (unsigned long)cred.uid, strerror(errno));
		return -1;
	}
	caller->group_count = len / sizeof(gid_t);
	caller->groups = calloc(caller->group_count + 1, sizeof(gid_t));
	if (caller->groups == NULL)
		return snprintf(err, errlen, "out of memory"), -1;
	memcpy(caller->groups, groups, caller->group_count * sizeof(gid_t));
	if (getpwuid_r(cred.uid, &pw, buf, sizeof(buf), &found) == 0 &&
	    found != NULL && strlen(pw.pw_name) < sizeof(caller->user))
		snprintf(caller->user, sizeof(caller->user), "%s", pw.pw_name);
	else
		snprintf(caller->user, sizeof(caller->user), "uid %lu",
		    (unsigned long)cred.uid);
	return 0;
}

/* Builds the response body: JSON, plain text, or none for a 304. */
static struct MHD_Response *
build_response(struct api_reply *reply)
{
	struct MHD_Response *response;
	char *text;

	if (reply->status == MHD_HTTP_NOT_MODIFIED)
		return MHD_create_response_from_buffer(0, NULL,
		    MHD_RESPMEM_PERSISTENT);
	if (reply->text != NULL) {
		text = reply->text;
		reply->text = NULL;
	} else {
		text = reply->body != NULL ? json_dumps(reply->body,
		    JSON_COMPACT) : NULL;
	}
	if (text == NULL) {
		reply->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		reply->problem = 1;
		text = strdup("{\"type\":\"" API_PROBLEM_PREFIX "internal\","
		    "\"status\":500,\"detail\":\"out of memory\"}");
		if (text == NULL)
			return NULL;
	}
	response = MHD_create_response_from_buffer(strlen(text), text,
	    MHD_RESPMEM_MUST_FREE);
	if (response == NULL)
		free(text);
	return response;
}

static enum MHD_Result
queue_reply(struct MHD_Connection *connection, struct api_reply *reply)
{
	struct MHD_Response *response;
	enum MHD_Result rc;
	int plain = reply->text != NULL;

	response = build_response(reply);
	if (response == NULL)
		return MHD_NO;
	if (reply->status != MHD_HTTP_NOT_MODIFIED)
		MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
		    reply->problem ? "application/problem+json" : plain ?
		    API_METRICS_TYPE : "application/json");
	if (reply->allow != NULL)
		MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW,
		    reply->allow);
	if (reply->location[0] != '\0')
		MHD_add_response_header(response, MHD_HTTP_HEADER_LOCATION,
		    reply->location);
	if (reply->etag[0] != '\0')
		MHD_add_response_header(response, MHD_HTTP_HEADER_ETAG,
		    reply->etag);
	if (reply->status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(response,
		    MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	rc = MHD_queue_response(connection, reply->status, response);
	MHD_destroy_response(response);
	return rc;
}

/* Returns 1 when a body was sent with a type other than JSON. */
static int
wrong_media_type(struct MHD_Connection *connection, size_t body_len)
{
	const char *type = MHD_lookup_connection_value(connection,
	    MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	size_t len = strlen("application/json");

	if (body_len == 0)
		return 0;
	return type == NULL || strncasecmp(type, "application/json", len) !=
	    0 || (type[len] != '\0' && type[len] != ';' && type[len] != ' ');
}

/*
 * Reads an "Authorization: Bearer TOKEN" header into caller: a tenant's
 * token sets token_tenant, an edge node's token sets node. Returns 0
 * when there is none or the token is one the policy lists, -1 otherwise.
 * Trailing spaces and tabs are not part of the token (RFC 9110 section
 * 5.5). The token is hashed by the policy library and never logged.
 * NOTE: libmicrohttpd 0.9.75 ends a header value at a NUL byte, so a
 * token followed by a NUL and anything else is accepted.
 */
static int
identify_token(const struct api_context *ctx,
    struct MHD_Connection *connection, struct caller *caller)
{
	const size_t prefix = strlen("Bearer ");
	const char *value;
	size_t size;
	char *token;
	int rc = -1;

	if (MHD_lookup_connection_value_n(connection, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION,
	    strlen(MHD_HTTP_HEADER_AUTHORIZATION), &value, &size) != MHD_YES)
		return 0;
	if (value == NULL)
		return -1;
	while (size > prefix && (value[size - 1] == ' ' ||
	    value[size - 1] == '\t'))
		size--;
	if (size <= prefix || strncasecmp(value, "Bearer ", prefix) != 0)
		return -1;
	token = strndup(value + prefix, size - prefix);
	if (token == NULL)
		return -1;
	if (policy_tenant_for_token(ctx->policy, token, &caller->token_tenant,
	    &caller->token_id) == 0) {
		rc = 0;
	} else if (policy_node_for_token(ctx->policy, token,
	    &caller->node_tenant, &caller->node) == 0) {
		caller->token_id = caller->node->name;
		rc = 0;
	}
	explicit_bzero(token, size - prefix);
	free(token);
	return rc;
}

/*
 * Records a request that may change something: admin.command with the
 * method, path and status, and the certificate's id, tenant and names
 * when the reply contains them. A failed append makes the reply a 500,
 * so no change is reported done without its record.
 */
static void
record_request(const struct api_context *ctx, const struct caller *caller,
    const char *method, const char *url, struct api_reply *reply)
{
	json_t *details, *body = reply->body;
	char err[AUDIT_ERR_MAX];

	audit_set_actor(ctx->audit, caller->token_tenant != NULL ?
	    caller->token_tenant->name : NULL, caller->user, caller->uid,
	    caller->token_id);
	details = json_pack("{s:s, s:s, s:s, s:i}", "interface", "api",
	    "method", method, "path", url, "status", (int)reply->status);
	if (details != NULL && !reply->problem && json_is_object(body)) {
		json_object_set(details, "certificate_id",
		    json_object_get(body, "id"));
		if (json_object_get(body, "tenant") != NULL)
			json_object_set(details, "tenant",
			    json_object_get(body, "tenant"));
		if (json_object_get(body, "names") != NULL)
			json_object_set(details, "names",
			    json_object_get(body, "names"));
	}
	if (audit_record_command("api request", details, reply->status < 400 ?
	    "success" : "failure", reply->problem ? json_string_value(
	    json_object_get(body, "detail")) : NULL) == 0)
		return;
	audit_status(err, sizeof(err));
	log_error("api: %s", err);
	json_decref(reply->body);
	memset(reply, 0, sizeof(*reply));
	api_problem(reply, API_ERR_INTERNAL, "writing the audit record "
	    "failed: %s", err);
}

/*
 * identify() results besides 0: a caller with no credentials or, on TCP,
 * no valid token, and a peer on the socket whose token is rejected.
 */
#define API_CALLER_UNKNOWN (-1)
#define API_CALLER_REJECTED (-2)

/*
 * Identifies the caller of a request: from the peer's credentials on the
 * socket, or as a remote caller on the TCP listener, and then from its
 * bearer token, which the TCP listener requires. Returns 0, or one of the
 * API_CALLER_* values with reply set to the problem.
 */
static int
identify(const struct api_listener *listener,
    struct MHD_Connection *connection, struct caller *caller,
    struct api_reply *reply)
{
	char err[256];

	if (listener->tcp) {
		api_tcp_identify(connection, caller);
	} else if (identify_peer(connection, caller, err, sizeof(err)) != 0) {
		log_error("api: %s", err);
		api_problem(reply, API_ERR_INTERNAL, "%s", err);
		return API_CALLER_UNKNOWN;
	}
	if (identify_token(listener->ctx, connection, caller) != 0) {
		api_problem(reply, API_ERR_UNAUTHORIZED, "the Authorization "
		    "header holds no API token that the policy lists (send "
		    "\"Authorization: Bearer TOKEN\" with a token of the "
		    "tenant%s)", listener->tcp ? " or of an edge node" :
		    ", or no Authorization header");
		return listener->tcp ? API_CALLER_UNKNOWN : API_CALLER_REJECTED;
	}
	if (listener->tcp && caller->token_tenant == NULL &&
	    caller->node == NULL) {
		api_problem(reply, API_ERR_UNAUTHORIZED, "the API on TCP knows "
		    "callers by their bearer token only (send \"Authorization: "
		    "Bearer TOKEN\" with a token of a tenant or of an edge "
		    "node)");
		return API_CALLER_UNKNOWN;
	}
	return 0;
}

/* Serves one complete request. */
static enum MHD_Result
serve(const struct api_listener *listener,
    struct MHD_Connection *connection, const char *url, const char *method,
    struct api_upload *upload)
{
	struct api_context *ctx = listener->ctx;
	struct api_reply reply = { 0 };
	struct caller caller;
	struct api_call call = { ctx, &caller, method, url, NULL,
	    upload->body, upload->len, NULL, 0 };
	enum MHD_Result rc;
	int identified;

	identified = identify(listener, connection, &caller, &reply);
	if (identified != 0) {
		/* identify() set reply to the problem. */
	} else if (upload->too_large) {
		api_problem(&reply, API_ERR_BODY_TOO_LARGE, "the body is "
		    "larger than %d bytes (send less)", API_BODY_MAX);
	} else if (wrong_media_type(connection, upload->len)) {
		api_problem(&reply, API_ERR_MEDIA_TYPE, "the body must be "
		    "sent with Content-Type application/json");
	} else {
		call.query_tenant = MHD_lookup_connection_value(connection,
		    MHD_GET_ARGUMENT_KIND, "tenant");
		call.if_none_match = MHD_lookup_connection_value(connection,
		    MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
		call.has_authorization = MHD_lookup_connection_value(
		    connection, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_AUTHORIZATION) != NULL;
		audit_set_actor(ctx->audit, caller.token_tenant != NULL ?
		    caller.token_tenant->name : NULL, caller.user, caller.uid,
		    caller.token_id);
		api_route(&call, &reply);
	}
	/*
	 * A caller that nothing identifies gets no audit record, so that
	 * whoever reaches the TCP port cannot grow the log; its log line
	 * below stays.
	 */
	if (identified != API_CALLER_UNKNOWN && strcmp(method, "GET") != 0 &&
	    strcmp(method, "HEAD") != 0)
		record_request(ctx, &caller, method, url, &reply);
	log_info("api: %s%s%s %s %s: %u", caller.user[0] != '\0' ?
	    caller.user : "unknown peer", caller.node != NULL ?
	    " with the token of node " : caller.token_id != NULL ?
	    " with token " : "", caller.token_id != NULL ? caller.token_id :
	    "", method, url, reply.status);
	rc = queue_reply(connection, &reply);
	json_decref(reply.body);
	free(reply.text);
	caller_clear(&caller);
	return rc;
}

/* Appends a piece of the body, or marks the request too large. */
static void
append_body(struct api_upload *upload, const char *data, size_t size)
{
	char *grown;

	if (upload->too_large || size > API_BODY_MAX - upload->len) {
		upload->too_large = 1;
		return;
	}
	grown = realloc(upload->body, upload->len + size + 1);
	if (grown == NULL) {
		upload->too_large = 1;
		return;
	}
	memcpy(grown + upload->len, data, size);
	upload->len += size;
	grown[upload->len] = '\0';
	upload->body = grown;
}

/* Returns 1 when Content-Length announces more than API_BODY_MAX. */
static int
announced_too_large(struct MHD_Connection *connection)
{
	const char *length = MHD_lookup_connection_value(connection,
	    MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

	return length != NULL && (strlen(length) > 9 ||
	    strtol(length, NULL, 10) > API_BODY_MAX);
}

static enum MHD_Result
handle(void *arg, struct MHD_Connection *connection, const char *url,
    const char *method, const char *version, const char *data,
    size_t *size, void **request_state)
{
	struct api_upload *upload = *request_state;
	const struct api_listener *listener = arg;

	(void)version;
	if (upload == NULL) {
		upload = calloc(1, sizeof(*upload));
		if (upload == NULL)
			return MHD_NO;
		*request_state = upload;
		/* Answer at once, before the body is read. */
		if (!announced_too_large(connection))
			return MHD_YES;
		upload->too_large = 1;
		upload->answered = 1;
		return serve(listener, connection, url, method, upload);
	}
	if (upload->answered) {
		*size = 0;
		return MHD_YES;
	}
	if (*size > 0) {
		append_body(upload, data, *size);
		*size = 0;
		return MHD_YES;
	}
	upload->answered = 1;
	return serve(listener, connection, url, method, upload);
}

static void
request_done(void *arg, struct MHD_Connection *connection,
    void **request_state, enum MHD_RequestTerminationCode code)
{
	struct api_upload *upload = *request_state;

	(void)arg;
	(void)connection;
	(void)code;
	if (upload != NULL) {
		free(upload->body);
		free(upload);
		*request_state = NULL;
	}
}

/*
 * Logs libmicrohttpd's messages, such as a failed TLS handshake, which a
 * client causes: at level info, like the line of each request.
 */
static void log_mhd(void *arg, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void
log_mhd(void *arg, const char *fmt, va_list ap)
{
	const struct api_listener *listener = arg;
	char line[512];
	size_t len;

	vsnprintf(line, sizeof(line), fmt, ap);
	len = strlen(line);
	while (len > 0 && line[len - 1] == '\n')
		line[--len] = '\0';
	log_info("api: %s: %s", listener->tcp ? "tcp" : "socket", line);
}

/*
 * Starts libmicrohttpd on the listener's socket, with TLS on TCP. The
 * server runs no thread of its own: serve_loop() waits on its epoll
 * descriptor.
 * NOTE: the connection timeout restarts at every byte received, and
 * libmicrohttpd 0.9.75 has no deadline for a whole request, so only the
 * per-address limit bounds a client that sends one byte at a time.
 */
static struct MHD_Daemon *
start_server(struct api_server *api, struct api_listener *listener)
{
	unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;

	if (!listener->tcp)
		return MHD_start_daemon(flags, 0, NULL, NULL, handle, listener,
		    MHD_OPTION_EXTERNAL_LOGGER, log_mhd, listener,
		    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)api->fd,
		    MHD_OPTION_CONNECTION_TIMEOUT,
		    (unsigned int)API_CONNECTION_TIMEOUT,
		    MHD_OPTION_CONNECTION_LIMIT,
		    (unsigned int)API_CONNECTION_MAX,
		    MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL,
		    MHD_OPTION_END);
	return MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL, handle,
	    listener,
	    MHD_OPTION_EXTERNAL_LOGGER, log_mhd, listener,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)api->tcp.fd,
	    MHD_OPTION_HTTPS_MEM_CERT, api->tcp.certificate,
	    MHD_OPTION_HTTPS_MEM_KEY, api->tcp.key,
	    MHD_OPTION_HTTPS_PRIORITIES, api_tcp_priorities(&api->tcp),
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)API_CONNECTION_TIMEOUT,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)API_CONNECTION_MAX,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned int)api->tcp.per_address,
	    MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL,
	    MHD_OPTION_END);
}

/* Runs the servers until SIGTERM, one request at a time. */
static void
run_servers(struct MHD_Daemon **servers, size_t count)
{
	const union MHD_DaemonInfo *info;
	MHD_UNSIGNED_LONG_LONG wait_ms;
	struct pollfd fds[2];
	int timeout;

	for (size_t i = 0; i < count; i++) {
		info = MHD_get_daemon_info(servers[i],
		    MHD_DAEMON_INFO_EPOLL_FD);
		fds[i].fd = info != NULL ? info->epoll_fd : -1;
		fds[i].events = POLLIN;
	}
	while (!api_stop_requested) {
		timeout = 500;
		for (size_t i = 0; i < count; i++)
			if (MHD_get_timeout(servers[i], &wait_ms) == MHD_YES &&
			    wait_ms < (MHD_UNSIGNED_LONG_LONG)timeout)
				timeout = (int)wait_ms;
		/* SIGTERM interrupts poll() with EINTR. */
		if (poll(fds, count, timeout) < 0 && errno != EINTR)
			break;
		for (size_t i = 0; i < count; i++)
			MHD_run(servers[i]);
	}
}

/* Serves until SIGTERM; returns the process's exit status. */
static int
serve_loop(struct api_server *api, struct api_context *ctx)
{
	struct api_listener listeners[2] = { { ctx, 0 }, { ctx, 1 } };
	struct MHD_Daemon *servers[2] = { NULL, NULL };
	size_t count = api->tcp.fd >= 0 ? 2 : 1;
	int rc = 0;

	for (size_t i = 0; i < count; i++) {
		servers[i] = start_server(api, &listeners[i]);
		if (servers[i] == NULL) {
			log_error("api: cannot start the HTTP%s server on %s "
			    "(libmicrohttpd failed to start)", i > 0 ? "S" :
			    "", i > 0 ? api->tcp.name : api->path);
			rc = 1;
			goto out;
		}
	}
	log_info("api: listening on %s", api->path);
	if (count > 1)
		log_info("api: listening on %s with TLS", api->tcp.name);
	run_servers(servers, count);
	log_info("api: stopped");
out:
	for (size_t i = 0; i < count; i++)
		if (servers[i] != NULL)
			MHD_stop_daemon(servers[i]);
	api_tcp_wipe(&api->tcp);
	return rc;
}

static int
compare_fds(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Closes every descriptor but stdio and the count in keep (sorted here). */
static void
close_inherited(int *keep, size_t count)
{
	unsigned int next = 3;

	qsort(keep, count, sizeof(keep[0]), compare_fds);
	for (size_t i = 0; i < count; i++) {
		if (keep[i] < (int)next)
			continue;
		if ((unsigned int)keep[i] > next)
			close_range(next, (unsigned int)keep[i] - 1, 0);
		next = (unsigned int)keep[i] + 1;
	}
	close_range(next, ~0U, 0);
}

/*
 * The API process: drops what it inherited from the worker (the signer's
 * connection, the audit channel, the challenge listeners), waits until
 * the worker has migrated the database, then serves.
 */
static int
run_child(struct api_server *api, const struct custos_config *config,
    const struct policy *policy, pid_t worker, int ready_fd)
{
	struct api_context ctx = { config, policy, NULL, worker, NULL };
	struct sigaction sa;
	char err[512], *path, byte;
	int keep[5], rc;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGUSR1, &sa, NULL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != worker)
		return 1;
	keep[0] = api->fd;
	keep[1] = ready_fd;
	audit_descriptors(api->audit, &keep[2], &keep[3]);
	keep[4] = api->tcp.fd;
	close_inherited(keep, 5);
	/* The worker's log is not this process's: its descriptors are closed. */
	ctx.audit = api->audit;
	audit_set_current(ctx.audit);
	while ((rc = (int)read(ready_fd, &byte, 1)) < 0 && errno == EINTR)
		;
	close(ready_fd);
	if (rc != 1)
		return 1;
	path = daemon_state_path(config);
	if (path == NULL)
		return 1;
	rc = state_open(path, &ctx.state, err, sizeof(err));
	free(path);
	if (rc != 0) {
		log_error("api: %s", err);
		return 1;
	}
	rc = serve_loop(api, &ctx);
	state_close(ctx.state);
	if (audit_status(err, sizeof(err)) != 0) {
		log_error("api: %s", err);
		rc = 1;
	}
	audit_close(ctx.audit);
	return rc;
}

int
api_start(struct api_server *api, const struct custos_config *config,
    const struct policy *policy, char *err, size_t errlen)
{
	pid_t worker = getpid();
	int pipe_fds[2];

	if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "cannot create a pipe for the API "
		    "process: %s", strerror(errno));
		return -1;
	}
	api->child = fork();
	if (api->child < 0) {
		snprintf(err, errlen, "fork for the API process failed: %s",
		    strerror(errno));
		close(pipe_fds[0]);
		close(pipe_fds[1]);
		return -1;
	}
	if (api->child == 0)
		_exit(run_child(api, config, policy, worker, pipe_fds[0]));
	audit_close(api->audit);
	api->audit = NULL;
	/* Only the API process serves TLS. */
	api_tcp_wipe(&api->tcp);
	close(pipe_fds[0]);
	api->ready_fd = pipe_fds[1];
	log_info("started the API process (pid %ld)", (long)api->child);
	return 0;
}

void
api_ready(struct api_server *api)
{
	if (api == NULL || api->ready_fd < 0)
		return;
	if (write(api->ready_fd, "1", 1) != 1)
		log_error("cannot signal the API process: %s",
		    strerror(errno));
	close(api->ready_fd);
	api->ready_fd = -1;
}

int
api_check(struct api_server *api)
{
	int status;

	if (api == NULL || api->child <= 0 ||
	    waitpid(api->child, &status, WNOHANG) != api->child)
		return 0;
	log_error("the API process (pid %ld) exited with status %d; exiting "
	    "so that the supervisor restarts it", (long)api->child,
	    WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	api->child = -1;
	return -1;
}

void
api_stop(struct api_server *api)
{
	if (api == NULL)
		return;
	if (api->child > 0) {
		kill(api->child, SIGTERM);
		while (waitpid(api->child, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (api->ready_fd >= 0)
		close(api->ready_fd);
	audit_close(api->audit);
	close(api->fd);
	if (api->tcp.fd >= 0)
		close(api->tcp.fd);
	api_tcp_wipe(&api->tcp);
	/* Fails when the directory is root's; the next start replaces it. */
	unlink(api->path);
	free(api);
}
