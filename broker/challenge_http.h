/*
 * HTTP-01 challenge responses (RFC 8555 section 8.3): either a built-in
 * responder (libmicrohttpd) that serves /.well-known/acme-challenge/TOKEN
 * for published tokens only, or files written under a web server's root.
 *
 * Functions return 0, or -1 with a one-line message in err.
 */
#ifndef CUSTOS_BROKER_CHALLENGE_HTTP_H
#define CUSTOS_BROKER_CHALLENGE_HTTP_H

#include <stddef.h>

#define CHALLENGE_PATH_PREFIX "/.well-known/acme-challenge/"
#define CHALLENGE_MAX_TOKENS 128

struct challenge_http;

/*
 * Binds and listens on address and port, which may need root; serving
 * starts with challenge_http_start.
 */
int challenge_http_bind(const char *address, int port,
    struct challenge_http **out, char *err, size_t errlen);
/* Starts serving requests on a libmicrohttpd thread. */
int challenge_http_start(struct challenge_http *responder, char *err,
    size_t errlen);
/* Serves key_authorization for token until it is withdrawn. */
int challenge_http_publish(struct challenge_http *responder,
    const char *token, const char *key_authorization, char *err,
    size_t errlen);
void challenge_http_withdraw(struct challenge_http *responder,
    const char *token);
/* Stops serving and closes the listener. */
void challenge_http_free(struct challenge_http *responder);

/*
 * Writes WEBROOT/.well-known/acme-challenge/TOKEN, creating the two
 * directories when missing. token must already be checked as base64url.
 */
int challenge_webroot_publish(const char *webroot, const char *token,
    const char *key_authorization, char *err, size_t errlen);
/* Removes the token file; a missing file is not an error. */
int challenge_webroot_withdraw(const char *webroot, const char *token,
    char *err, size_t errlen);
/*
 * Unlinks every webroot file published and not withdrawn. Only calls
 * unlink(2), so a signal handler may call it.
 */
void challenge_webroot_remove_all(void);

#endif
