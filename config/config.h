/*
 * The Custos configuration file, read by the broker, the signer and the
 * command line. Each program uses the sections it needs; the signer reads
 * the hsm and signer sections and ignores the rest after validation.
 *
 * Syntax (documented for users in docs/configuration.md):
 *
 *	# a comment runs to the end of the line
 *	key value ...            one statement per line
 *	block [label] {          a block holds statements
 *	    key value
 *	}
 *
 * A value is a bare word (letters, digits and - _ . / : @ * + , = ~ %) or a
 * double-quoted string with \" \\ \n \t escapes. Errors read
 * "FILE:LINE:COLUMN: what is wrong", with the line and column of the
 * offending token, both counted from 1.
 */
#ifndef CUSTOS_CONFIG_H
#define CUSTOS_CONFIG_H

#include <stddef.h>

#define CONFIG_ERR_MAX 512

enum key_type {
	KEY_TYPE_EC_P256 = 0,
	KEY_TYPE_EC_P384,
	KEY_TYPE_RSA_2048,
	KEY_TYPE_RSA_3072,
	KEY_TYPE_RSA_4096,
	KEY_TYPE_COUNT,
};

/* Returns "ec-p256", "ec-p384", "rsa-2048", ... */
const char *key_type_name(enum key_type type);
/* Returns 0 and sets *type for a known name, -1 otherwise. */
int key_type_parse(const char *name, enum key_type *type);

/* Where a setting came from, for messages that point at it. */
struct config_origin {
	const char *file;
	int line;
	int column;
};

/* The MAC algorithm of an External Account Binding. */
enum eab_algorithm {
	EAB_HS256 = 0,
	EAB_HS384,
	EAB_HS512,
};

/* Returns "HS256", "HS384" or "HS512". */
const char *eab_algorithm_name(enum eab_algorithm algorithm);

struct config_issuer {
	char *name;		/* the block label: issuer NAME { ... } */
	char *directory;	/* ACME directory URL, https:// required */
	char *trust_bundle;	/* PEM file; NULL: the system trust store */
	char **contacts;	/* "mailto:..." URLs */
	size_t contact_count;
	int agree_tos;		/* 1 when terms-of-service are agreed */
	/*
	 * The name of the ACME account this installation holds at the
	 * issuer; tenant policies grant accounts by this name. Default: the
	 * issuer's name. It is accounts[0] when several are listed.
	 */
	char *account;
	char **accounts;	/* every account name, in file order */
	size_t account_count;
	/* External Account Binding (RFC 8555 section 7.3.4); NULL: none. */
	char *eab_key_id;	/* the CA's key identifier */
	char *eab_key_file;	/* read only by "custos account import-eab" */
	enum eab_algorithm eab_algorithm;
	/* The CN of the top chain certificate's issuer; NULL: default. */
	char *preferred_chain;
	char *profile;		/* ACME profile for newOrder; NULL: none */
	struct config_origin origin;
};

/* Returns 1 when issuer lists an account of that name. */
int config_issuer_has_account(const struct config_issuer *issuer,
    const char *account);

struct config_hsm {
	char *module;		/* PKCS#11 module path */
	char *token_label;	/* exactly one of label and serial is set */
	char *token_serial;
	char *pin_file;		/* mode must deny group and others */
};

struct config_signer {
	char *user;		/* user to run as when started as root */
	char *program;		/* path of custos-signer; NULL: default */
};

enum http01_mode {
	HTTP01_LISTEN = 0,	/* built-in responder */
	HTTP01_WEBROOT,		/* write files under a web server's root */
};

enum challenge_type {
	CHALLENGE_HTTP01 = 0,
	CHALLENGE_DNS01,
	CHALLENGE_TLSALPN01,
	CHALLENGE_TYPE_COUNT,
};

/* Returns "http-01", "dns-01" or "tls-alpn-01". */
const char *challenge_type_name(enum challenge_type type);

/* A DNS server by address (IPv4 or IPv6 text) and UDP/TCP port. */
struct config_dns_server {
	char *address;
	int port;
};

struct config_challenge {
	enum http01_mode http01_mode;
	char *http01_address;	/* listen address, default 0.0.0.0 */
	int http01_port;	/* listen port, default 80 */
	char *webroot;		/* for HTTP01_WEBROOT */
	/* Types Custos may answer, most preferred first; default http-01. */
	enum challenge_type types[CHALLENGE_TYPE_COUNT];
	size_t type_count;
	char *tlsalpn01_address;	/* listen address, default 0.0.0.0 */
	int tlsalpn01_port;		/* listen port, default 443 */
	/* Recursive resolvers for zone lookups; none: /etc/resolv.conf. */
	struct config_dns_server *dns_resolvers;
	size_t dns_resolver_count;
};

enum dns_propagation_mode {
	DNS_PROPAGATION_REQUIRED = 0,	/* a lagging server fails the order */
	DNS_PROPAGATION_ADVISORY,	/* a lagging server is only logged */
};

/*
 * A DNS zone in which Custos publishes dns-01 TXT records, either by RFC
 * 2136 updates signed with TSIG (server is set) or through a hook program
 * (hook is set); exactly one of the two is set.
 */
struct config_dns_zone {
	char *name;		/* lower case, A-labels, no trailing dot */
	struct config_dns_server server;	/* primary for updates */
	char *tsig_name;	/* key name as the server knows it */
	char *tsig_algorithm;	/* "hmac-sha256" or "hmac-sha512" */
	char *tsig_secret_file;	/* base64 secret or a BIND key file */
	char *hook;		/* program path for zones without RFC 2136 */
	int hook_timeout;	/* seconds */
	int ttl;		/* seconds, of the TXT records added */
	/* Servers checked for propagation; none: the zone's NS records. */
	struct config_dns_server *nameservers;
	size_t nameserver_count;
	int propagation_timeout;	/* seconds */
	int propagation_interval;	/* seconds between rounds */
	enum dns_propagation_mode propagation;
	struct config_origin origin;
};

struct config_broker {
	char *user;		/* user to run as when started as root */
	char *state_dir;	/* account records; default /var/lib/custos */
};

struct config_store {
	char *directory;	/* issued certificates */
};

struct config_policy {
	char *file;		/* the tenants' policy file (docs/policy.md) */
};

/* The tamper-evident audit log (docs/audit.md). */
struct config_audit {
	char *file;		/* default /var/log/custos/audit.log */
	int checkpoint_interval;	/* seconds between signed checkpoints */
	long long rotate_size;	/* bytes; 0: rotate only on command */
};

struct config_acme {
	int poll_interval;	/* seconds between polls without Retry-After */
	int poll_first_ms;	/* the first of those waits, in milliseconds */
	int poll_timeout;	/* seconds before an order is given up */
	int http_timeout;	/* seconds for one HTTP request */
	int bad_nonce_retries;	/* retries of one request after badNonce */
	enum key_type account_key_type;
	enum key_type certificate_key_type;
};

/*
 * The daemon's schedule (docs/operations.md). Durations are in seconds;
 * renew_fraction is in thousandths of a certificate's lifetime.
 */
struct config_daemon {
	int renew_fraction;	/* per mille of lifetime before renewal */
	int renew_before;	/* seconds before expiry; 0: use the fraction */
	int renew_jitter;	/* max seconds of random advance */
	int retry_base;		/* first retry delay */
	int retry_max;		/* cap of the retry delay */
	int order_deadline;	/* an order older than this starts again */
	int poll_interval;	/* max sleep between database checks */
	int restart_max;	/* cap of the signer restart delay */
	int concurrency;	/* max orders the worker runs at once */
	int connections;	/* max connections the worker keeps open */
	char *deploy_hook;	/* program run after activation, or NULL */
	int deploy_timeout;
	char *trust_anchors;	/* PEM roots for chain checks, or NULL */
};

/*
 * Connections the API serves at once on each listener, and the default of
 * connections-per-address, the share of them that one TCP client address
 * may hold.
 */
#define CONFIG_API_CONNECTIONS_MAX 32
#define CONFIG_API_PER_ADDRESS_DEFAULT 8

/*
 * The daemon's HTTP API (docs/api.md) on a UNIX socket, and optionally on
 * TCP with TLS; socket is NULL when the configuration has no api block,
 * and the API is then off. listen_address is NULL without a TCP listener.
 */
struct config_api {
	char *socket;		/* absolute path of the socket */
	char *group;		/* NULL: mode 0666; else 0660 and this group */
	char *listen_address;	/* IPv4 or IPv6 address, or NULL */
	int listen_port;
	int allow_remote;	/* 1: listen_address may be non-loopback */
	char *tls_certificate;	/* PEM: server certificate, then issuers */
	char *tls_key;		/* PEM: the listener's own private key */
	int tls_min_version;	/* 12 for TLS 1.2 (default), 13 for 1.3 */
	int connections_per_address;	/* TCP connections from one address */
};

struct custos_config {
	char *path;
	struct config_hsm hsm;
	struct config_signer signer;
	struct config_broker broker;
	struct config_challenge challenge;
	struct config_store store;
	struct config_acme acme;
	struct config_policy policy;
	struct config_audit audit;
	struct config_daemon daemon;
	struct config_api api;
	struct config_issuer *issuers;
	size_t issuer_count;
	struct config_dns_zone *dns_zones;
	size_t dns_zone_count;
};

/*
 * Reads and validates a configuration file. Returns 0 and a new
 * configuration in *out, or -1 with "FILE:LINE:COLUMN: message" in err.
 * Unknown keys, missing required keys, values of the wrong form and
 * duplicate keys are errors.
 */
int config_load(const char *path, struct custos_config **out, char *err,
    size_t errlen);

/* Parses configuration text; name is used in messages in place of a path. */
int config_load_string(const char *name, const char *text,
    struct custos_config **out, char *err, size_t errlen);

void config_free(struct custos_config *config);

/* Returns the issuer with that name, or the only one when name is NULL. */
const struct config_issuer *config_find_issuer(
    const struct custos_config *config, const char *name);

/* Returns the dns-zone block with that name (canonical), or NULL. */
const struct config_dns_zone *config_find_dns_zone(
    const struct custos_config *config, const char *name);

/* Returns 1 when challenge types lists type. */
int config_challenge_enabled(const struct custos_config *config,
    enum challenge_type type);

#endif
