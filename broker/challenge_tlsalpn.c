#include "broker/challenge_tlsalpn.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "logging/log.h"

#define ACME_IDENTIFIER_OID "1.3.6.1.5.5.7.1.31"

struct validation_cert {
	char *name;
	X509 *cert;
};

struct challenge_tlsalpn {
	int fd;
	int stop[2];		/* a byte on stop[1] ends the thread */
	pthread_t thread;
	int running;
	EVP_PKEY *key;
	SSL_CTX *ctx;
	pthread_mutex_t lock;	/* guards certs */
	struct validation_cert certs[TLSALPN_MAX_NAMES];
};

int
challenge_tlsalpn_bind(const char *address, int port,
    struct challenge_tlsalpn **out, char *err, size_t errlen)
{
	struct addrinfo hints = { 0 }, *ai = NULL;
	struct challenge_tlsalpn *r;
	char service[16];
	int one = 1, fd, rc;

	*out = NULL;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	snprintf(service, sizeof(service), "%d", port);
	rc = getaddrinfo(address, service, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen, "invalid challenge tls-alpn-01 address "
		    "\"%s\": %s", address, gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
	    ai->ai_protocol);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) != 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
	    listen(fd, 64) != 0) {
		snprintf(err, errlen, "cannot listen for tls-alpn-01 on %s "
		    "port %d: %s (check challenge tls-alpn-01 listen, or stop "
		    "the program that uses the port)", address, port,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	r->fd = fd;
	r->stop[0] = r->stop[1] = -1;
	pthread_mutex_init(&r->lock, NULL);
	*out = r;
	return 0;
}

/* Reads the host name of a server_name extension (RFC 6066). */
static int
client_hello_sni(SSL *ssl, char *out, size_t size)
{
	const unsigned char *p;
	size_t len, name_len;

	if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p,
	    &len) || len < 5 || p[2] != TLSEXT_NAMETYPE_host_name)
		return -1;
	name_len = ((size_t)p[3] << 8) | p[4];
	if (name_len == 0 || name_len + 5 > len || name_len >= size)
		return -1;
	memcpy(out, p + 5, name_len);
	out[name_len] = '\0';
	for (size_t i = 0; i < name_len; i++)
		if (out[i] >= 'A' && out[i] <= 'Z')
			out[i] = (char)(out[i] - 'A' + 'a');
	return 0;
}

/* Returns 1 when the ALPN extension offers acme-tls/1. */
static int
client_hello_offers_acme(SSL *ssl)
{
	const size_t want = strlen(TLSALPN_PROTOCOL);
	const unsigned char *p;
	size_t len, i;

	if (!SSL_client_hello_get0_ext(ssl,
	    TLSEXT_TYPE_application_layer_protocol_negotiation, &p, &len) ||
	    len < 2)
		return 0;
	for (i = 2; i < len; i += 1 + (size_t)p[i])
		if (p[i] == want && i + 1 + want <= len &&
		    memcmp(p + i + 1, TLSALPN_PROTOCOL, want) == 0)
			return 1;
	return 0;
}

static int
on_client_hello(SSL *ssl, int *alert, void *arg)
{
	struct challenge_tlsalpn *r = arg;
	char name[256];
	int rc = SSL_CLIENT_HELLO_ERROR;

	*alert = SSL_AD_UNRECOGNIZED_NAME;
	if (!client_hello_offers_acme(ssl)) {
		*alert = SSL_AD_NO_APPLICATION_PROTOCOL;
		return SSL_CLIENT_HELLO_ERROR;
	}
	if (client_hello_sni(ssl, name, sizeof(name)) != 0)
		return SSL_CLIENT_HELLO_ERROR;
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < TLSALPN_MAX_NAMES; i++) {
		if (r->certs[i].name == NULL ||
		    strcmp(r->certs[i].name, name) != 0)
			continue;
		if (SSL_use_certificate(ssl, r->certs[i].cert) == 1 &&
		    SSL_use_PrivateKey(ssl, r->key) == 1)
			rc = SSL_CLIENT_HELLO_SUCCESS;
		break;
	}
	pthread_mutex_unlock(&r->lock);
	if (rc != SSL_CLIENT_HELLO_SUCCESS)
		log_info("tls-alpn-01: no validation certificate for %s",
		    name);
	return rc;
}

static int
on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char protocol[] = TLSALPN_PROTOCOL;

	(void)ssl;
	(void)arg;
	for (unsigned int i = 0; i < inlen; i += 1u + in[i]) {
		if (in[i] == sizeof(protocol) - 1 &&
		    i + 1u + in[i] <= inlen &&
		    memcmp(in + i + 1, protocol, in[i]) == 0) {
			*out = in + i + 1;
			*outlen = in[i];
			return SSL_TLSEXT_ERR_OK;
		}
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static void
serve_connection(struct challenge_tlsalpn *r, int fd)
{
	struct timeval timeout = { .tv_sec = TLSALPN_IO_TIMEOUT };
	SSL *ssl;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
	ssl = SSL_new(r->ctx);
	if (ssl == NULL)
		return;
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) == 1)
		SSL_shutdown(ssl);
	SSL_free(ssl);
	ERR_clear_error();
}

static void *
serve(void *arg)
{
	struct challenge_tlsalpn *r = arg;
	struct pollfd pfd[2] = {
		{ .fd = r->fd, .events = POLLIN },
		{ .fd = r->stop[0], .events = POLLIN },
	};
	int fd;

	for (;;) {
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents != 0)
			break;
		if ((pfd[0].revents & POLLIN) == 0)
			continue;
		fd = accept4(r->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		serve_connection(r, fd);
		close(fd);
	}
	return NULL;
}

static int
make_context(struct challenge_tlsalpn *r)
{
	r->key = EVP_EC_gen("P-256");
	r->ctx = SSL_CTX_new(TLS_server_method());
	if (r->key == NULL || r->ctx == NULL ||
	    SSL_CTX_set_min_proto_version(r->ctx, TLS1_2_VERSION) != 1)
		return -1;
	SSL_CTX_set_client_hello_cb(r->ctx, on_client_hello, r);
	SSL_CTX_set_alpn_select_cb(r->ctx, on_alpn, r);
	return 0;
}

int
challenge_tlsalpn_start(struct challenge_tlsalpn *r, char *err,
    size_t errlen)
{
	if (make_context(r) != 0) {
		snprintf(err, errlen, "cannot set up the tls-alpn-01 "
		    "responder: %s", ERR_reason_error_string(ERR_get_error()));
		return -1;
	}
	if (pipe2(r->stop, O_CLOEXEC) != 0 ||
	    pthread_create(&r->thread, NULL, serve, r) != 0) {
		snprintf(err, errlen, "cannot start the tls-alpn-01 "
		    "responder: %s", strerror(errno));
		return -1;
	}
	r->running = 1;
	return 0;
}

/* Adds the critical acmeIdentifier extension: OCTET STRING(digest). */
static int
add_acme_identifier(X509 *cert, const char *key_authorization)
{
	unsigned char der[2 + SHA256_DIGEST_LENGTH];
	ASN1_OBJECT *oid = OBJ_txt2obj(ACME_IDENTIFIER_OID, 1);
	ASN1_OCTET_STRING *value = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext = NULL;
	int rc = -1;

	der[0] = V_ASN1_OCTET_STRING;
	der[1] = SHA256_DIGEST_LENGTH;
	SHA256((const unsigned char *)key_authorization,
	    strlen(key_authorization), der + 2);
	if (oid != NULL && value != NULL &&
	    ASN1_OCTET_STRING_set(value, der, sizeof(der)) == 1)
		ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 1, value);
	if (ext != NULL && X509_add_ext(cert, ext, -1) == 1)
		rc = 0;
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(value);
	ASN1_OBJECT_free(oid);
	return rc;
}

static int
add_san(X509 *cert, const char *name)
{
	X509_EXTENSION *ext;
	X509V3_CTX ctx;
	char value[300];
	int rc;

	snprintf(value, sizeof(value), "DNS:%s", name);
	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, value);
	if (ext == NULL)
		return -1;
	rc = X509_add_ext(cert, ext, -1) == 1 ? 0 : -1;
	X509_EXTENSION_free(ext);
	return rc;
}

static X509 *
make_certificate(EVP_PKEY *key, const char *name,
    const char *key_authorization)
{
	X509 *cert = X509_new();
	X509_NAME *subject;

	if (cert == NULL || X509_set_version(cert, X509_VERSION_3) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(cert),
	    (long)(time(NULL) & 0x7fffffff)) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(cert), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(cert), 7 * 86400) == NULL ||
	    X509_set_pubkey(cert, key) != 1)
		goto fail;
	subject = X509_get_subject_name(cert);
	if (X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
	    (const unsigned char *)name, -1, -1, 0) != 1 ||
	    X509_set_issuer_name(cert, subject) != 1 ||
	    add_san(cert, name) != 0 ||
	    add_acme_identifier(cert, key_authorization) != 0 ||
	    X509_sign(cert, key, EVP_sha256()) == 0)
		goto fail;
	return cert;
fail:
	X509_free(cert);
	return NULL;
}

int
challenge_tlsalpn_publish(struct challenge_tlsalpn *r, const char *name,
    const char *key_authorization, char *err, size_t errlen)
{
	struct validation_cert *slot = NULL;
	X509 *cert;
	char *copy;

	cert = make_certificate(r->key, name, key_authorization);
	copy = strdup(name);
	if (cert == NULL || copy == NULL) {
		X509_free(cert);
		free(copy);
		snprintf(err, errlen, "cannot make the tls-alpn-01 "
		    "certificate for %s", name);
		return -1;
	}
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < TLSALPN_MAX_NAMES && slot == NULL; i++)
		if (r->certs[i].name == NULL)
			slot = &r->certs[i];
	if (slot != NULL) {
		slot->name = copy;
		slot->cert = cert;
	}
	pthread_mutex_unlock(&r->lock);
	if (slot == NULL) {
		X509_free(cert);
		free(copy);
		snprintf(err, errlen, "more than %d tls-alpn-01 names at once",
		    TLSALPN_MAX_NAMES);
		return -1;
	}
	return 0;
}

void
challenge_tlsalpn_withdraw(struct challenge_tlsalpn *r, const char *name)
{
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < TLSALPN_MAX_NAMES; i++) {
		if (r->certs[i].name == NULL ||
		    strcmp(r->certs[i].name, name) != 0)
			continue;
		free(r->certs[i].name);
		X509_free(r->certs[i].cert);
		r->certs[i].name = NULL;
		r->certs[i].cert = NULL;
	}
	pthread_mutex_unlock(&r->lock);
}

void
challenge_tlsalpn_free(struct challenge_tlsalpn *r)
{
	if (r == NULL)
		return;
	if (r->running) {
		if (write(r->stop[1], "x", 1) == 1)
			pthread_join(r->thread, NULL);
	}
	for (int i = 0; i < 2; i++)
		if (r->stop[i] >= 0)
			close(r->stop[i]);
	close(r->fd);
	for (size_t i = 0; i < TLSALPN_MAX_NAMES; i++) {
		free(r->certs[i].name);
		X509_free(r->certs[i].cert);
	}
	SSL_CTX_free(r->ctx);
	EVP_PKEY_free(r->key);
	pthread_mutex_destroy(&r->lock);
	free(r);
}
