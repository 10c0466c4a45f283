/*
 * The API's TCP listener: its TLS files, read as root before the worker
 * drops privileges, its socket, and the identity of its callers, who
 * have no peer credentials and act only through their bearer tokens.
 * broker/api_server.c serves it with libmicrohttpd's TLS (GnuTLS).
 */
#include "broker/api_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* Largest TLS certificate chain or key file read. */
#define API_TLS_FILE_MAX (256 * 1024)
/* GnuTLS priority strings for tls-min-version 1.2 and 1.3. */
#define API_TLS_PRIORITIES_12 "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define API_TLS_PRIORITIES_13 "NORMAL:-VERS-ALL:+VERS-TLS1.3"

/*
 * Checks that the open TLS key file is owned by root or by the effective
 * user, and that it grants nothing to group or others.
 */
static int
check_key_file(int fd, const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "cannot stat api tls-key %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(err, errlen, "api tls-key %s is owned by uid %u, not "
		    "by root (run chown root %s)", path, (unsigned)st.st_uid,
		    path);
		return -1;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, errlen, "api tls-key %s has mode %04o, so group "
		    "or others can read or change the API's private key (run "
		    "chmod 600 %s)", path, (unsigned)(st.st_mode & 07777),
		    path);
		return -1;
	}
	return 0;
}

/*
 * Reads a PEM file of the api block into *out (NUL-terminated); key
 * selects the checks of the private key file. Returns 0, or -1 with err
 * set.
 */
static int
read_tls_file(const char *path, const char *key_name, int key, char **out,
    size_t *outlen, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd;

	*out = NULL;
	/* O_NONBLOCK: opening a FIFO must not wait for a writer. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
	    O_NOCTTY);
	if (fd < 0 && errno == ELOOP) {
		snprintf(err, errlen, "api %s %s is a symbolic link, which is "
		    "not followed (set %s to the file that the link points "
		    "to)", key_name, path, key_name);
		return -1;
	}
	if (fd < 0) {
		snprintf(err, errlen, "cannot open api %s %s: %s (check %s)",
		    key_name, path, strerror(errno), key_name);
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size <= 0 || st.st_size > API_TLS_FILE_MAX) {
		snprintf(err, errlen, "api %s %s is not a regular file of 1 "
		    "to %d bytes (set %s to a PEM file)", key_name, path,
		    API_TLS_FILE_MAX, key_name);
		goto fail;
	}
	if (key && check_key_file(fd, path, err, errlen) != 0)
		goto fail;
	buf = calloc(1, (size_t)st.st_size + 1);
	if (buf == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	while (len < (size_t)st.st_size && ((n = read(fd, buf + len,
	    (size_t)st.st_size - len)) > 0 || (n < 0 && errno == EINTR)))
		len += n > 0 ? (size_t)n : 0;
	if (len != (size_t)st.st_size) {
		snprintf(err, errlen, "cannot read api %s %s: %s", key_name,
		    path, len < (size_t)st.st_size ? "short read" :
		    strerror(errno));
		goto fail;
	}
	close(fd);
	*out = buf;
	*outlen = len;
	return 0;
fail:
	if (buf != NULL)
		explicit_bzero(buf, (size_t)st.st_size + 1);
	free(buf);
	close(fd);
	return -1;
}

void
api_tcp_wipe(struct api_tcp *tcp)
{
	if (tcp->key != NULL)
		explicit_bzero(tcp->key, tcp->key_len);
	free(tcp->key);
	free(tcp->certificate);
	tcp->key = NULL;
	tcp->certificate = NULL;
}

/* Binds and listens on the api block's TCP address and port. */
static int
open_tcp(struct api_tcp *tcp, const struct config_api *conf, char *err,
    size_t errlen)
{
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in in4 = { .sin_family = AF_INET };
	struct sockaddr *addr = (struct sockaddr *)&in4;
	socklen_t addrlen = sizeof(in4);
	int one = 1;

	snprintf(tcp->name, sizeof(tcp->name), "%s port %d",
	    conf->listen_address, conf->listen_port);
	in4.sin_port = htons((uint16_t)conf->listen_port);
	in6.sin6_port = in4.sin_port;
	if (inet_pton(AF_INET, conf->listen_address, &in4.sin_addr) != 1) {
		/* The configuration accepted it as IPv4 or IPv6. */
		inet_pton(AF_INET6, conf->listen_address, &in6.sin6_addr);
		addr = (struct sockaddr *)&in6;
		addrlen = sizeof(in6);
	}
	tcp->fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (tcp->fd < 0 || setsockopt(tcp->fd, SOL_SOCKET,
	    SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    (addr->sa_family == AF_INET6 && setsockopt(tcp->fd,
	    IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
	    bind(tcp->fd, addr, addrlen) != 0 ||
	    listen(tcp->fd, 64) != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s (%s)",
		    tcp->name, strerror(errno), errno == EADDRINUSE ?
		    "stop the program that listens there, or set api listen "
		    "to a free port" : "check api listen");
		return -1;
	}
	return 0;
}

/* Fails a PEM read of an encrypted key instead of asking for a password. */
static int
no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return -1;
}

/*
 * Checks that the private key belongs to the chain's first certificate,
 * the one TLS clients see. libmicrohttpd finds a mismatch only when the
 * API process starts, too late for a reload to keep the old listener.
 */
static int
check_key_pair(const struct api_tcp *tcp, const struct config_api *conf,
    char *err, size_t errlen)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	BIO *bio;
	int rc = -1;

	bio = BIO_new_mem_buf(tcp->certificate, -1);
	if (bio != NULL)
		cert = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	bio = BIO_new_mem_buf(tcp->key, (int)tcp->key_len);
	if (bio != NULL)
		key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (cert == NULL)
		snprintf(err, errlen, "api tls-certificate %s: the first "
		    "certificate is not a valid PEM certificate (write the "
		    "server certificate, then its issuers, in PEM)",
		    conf->tls_certificate);
	else if (key == NULL)
		snprintf(err, errlen, "api tls-key %s contains no private key "
		    "that can be read (write the key in PEM, unencrypted)",
		    conf->tls_key);
	else if (X509_check_private_key(cert, key) != 1)
		snprintf(err, errlen, "api tls-key %s is not the key of the "
		    "first certificate in tls-certificate %s (use the key of "
		    "that certificate, or put the key's certificate first)",
		    conf->tls_key, conf->tls_certificate);
	else
		rc = 0;
	ERR_clear_error();
	EVP_PKEY_free(key);
	X509_free(cert);
	return rc;
}

/* Reads and checks the TLS files of conf into tcp. */
static int
load_tls_files(const struct config_api *conf, struct api_tcp *tcp,
    char *err, size_t errlen)
{
	size_t len;

	if (read_tls_file(conf->tls_certificate, "tls-certificate", 0,
	    &tcp->certificate, &len, err, errlen) != 0 ||
	    read_tls_file(conf->tls_key, "tls-key", 1, &tcp->key,
	    &tcp->key_len, err, errlen) != 0)
		return -1;
	if (strstr(tcp->certificate, "-----BEGIN CERTIFICATE-----") ==
	    NULL) {
		snprintf(err, errlen, "api tls-certificate %s holds no PEM "
		    "certificate (write the server certificate, then its "
		    "issuers, in PEM)", conf->tls_certificate);
		return -1;
	}
	if (strstr(tcp->key, "PRIVATE KEY-----") == NULL) {
		snprintf(err, errlen, "api tls-key %s holds no PEM private key "
		    "(write the key in PEM, unencrypted)", conf->tls_key);
		return -1;
	}
	return check_key_pair(tcp, conf, err, errlen);
}

int
api_tcp_bind(const struct config_api *conf, struct api_tcp *tcp, char *err,
    size_t errlen)
{
	memset(tcp, 0, sizeof(*tcp));
	tcp->fd = -1;
	if (conf->listen_address == NULL)
		return 0;
	tcp->min_version = conf->tls_min_version;
	tcp->per_address = conf->connections_per_address;
	if (load_tls_files(conf, tcp, err, errlen) != 0)
		return -1;
	return open_tcp(tcp, conf, err, errlen);
}

int
api_tls_check(const struct config_api *conf, char *err, size_t errlen)
{
	struct api_tcp tcp = { .fd = -1 };
	int rc;

	if (conf->listen_address == NULL)
		return 0;
	rc = load_tls_files(conf, &tcp, err, errlen);
	api_tcp_wipe(&tcp);
	return rc;
}

int
api_listen_check(const struct config_api *running,
    const struct config_api *fresh, char *err, size_t errlen)
{
	struct api_tcp tcp = { .fd = -1 };
	int rc;

	if (fresh->listen_address == NULL)
		return 0;
	/* The running worker is bound there, so a bind here would fail. */
	if (running->listen_address != NULL &&
	    strcmp(running->listen_address, fresh->listen_address) == 0 &&
	    running->listen_port == fresh->listen_port)
		return 0;
	rc = open_tcp(&tcp, fresh, err, errlen);
	if (tcp.fd >= 0)
		close(tcp.fd);
	return rc;
}

void
api_tcp_identify(struct MHD_Connection *connection, struct caller *caller)
{
	const union MHD_ConnectionInfo *info;
	char address[INET6_ADDRSTRLEN] = "unknown";
	const struct sockaddr *sa;

	memset(caller, 0, sizeof(*caller));
	caller->uid = (uid_t)-1;
	caller->gid = (gid_t)-1;
	info = MHD_get_connection_info(connection,
	    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	sa = info != NULL ? info->client_addr : NULL;
	if (sa != NULL && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr, address, sizeof(address));
	else if (sa != NULL && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
		    (const void *)sa)->sin6_addr, address, sizeof(address));
	snprintf(caller->user, sizeof(caller->user), "tcp %s", address);
}


const char *
api_tcp_priorities(const struct api_tcp *tcp)
{
	return tcp->min_version == 13 ? API_TLS_PRIORITIES_13 :
	    API_TLS_PRIORITIES_12;
}
