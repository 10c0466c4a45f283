/*
 * The ACME (RFC 8555) client. Each step of an issuance is one function in
 * the file named for its protocol role: acme_directory.c, acme_nonce.c
 * (signed requests), acme_account.c, acme_order.c, acme_authz.c and
 * acme_cert.c. acme_json.c checks the server's JSON documents.
 *
 * Functions return 0, or -1 with a one-line message in client->err.
 */
#ifndef CUSTOS_BROKER_ACME_H
#define CUSTOS_BROKER_ACME_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "broker/http.h"
#include "config/config.h"
#include "ipc/ipc.h"

#define ACME_ERR_MAX 1024

/* Pointers into doc, valid while doc is referenced. */
struct acme_directory {
	json_t *doc;
	const char *new_nonce;
	const char *new_account;
	const char *new_order;
	const char *terms_of_service;	/* NULL when absent */
	const char *renewal_info;	/* RFC 9773; NULL when absent */
	int external_account_required;
};

struct acme_order {
	json_t *doc;
	const char *status;
	const char *finalize;
	const char *certificate;	/* NULL unless status is valid */
	size_t authorization_count;
	const json_t *error;		/* problem document or NULL */
};

struct acme_challenge {
	const char *type;
	const char *url;
	const char *status;
	const char *token;		/* NULL when absent */
	const json_t *error;		/* problem document or NULL */
};

struct acme_authz {
	json_t *doc;
	const char *status;
	const char *identifier_type;
	const char *identifier_value;
	int wildcard;
	size_t challenge_count;
};

struct signer_client;
struct challenge_http;
struct challenge_set;

struct acme_client {
	const struct custos_config *config;
	const struct config_issuer *issuer;
	struct http_client *http;
	struct signer_client *signer;
	struct challenge_http *responder;	/* NULL in webroot mode */
	struct challenge_set *challenges;	/* the other challenge types */
	struct acme_directory directory;
	char *nonce;			/* next Replay-Nonce to use, or NULL */
	char *account_url;		/* the kid of signed requests */
	char account_key_id[IPC_KEY_ID_LEN + 1];
	char *account_thumbprint;
	/* The issuer's account to use; NULL: the issuer's first account. */
	const char *account_name;
	/* The notAfter that newOrder requests, or 0 to let the CA choose. */
	time_t not_after;
	/*
	 * The renewalInfo identifier (RFC 9773) of the certificate that
	 * newOrder replaces, sent as "replaces", or NULL.
	 */
	const char *replaces;
	/*
	 * The last error response of acme_post, for the choice of another
	 * account or issuer: its HTTP status (0: no response), its ACME
	 * error type without the prefix ("" when none) and its Retry-After
	 * in seconds (-1 when none).
	 */
	long fail_status;
	char fail_type[64];
	long fail_retry_after;
	char err[ACME_ERR_MAX];
};

/* acme_json.c: checks of server documents; messages name the member. */
int acme_directory_parse(json_t *doc, struct acme_directory *dir,
    char *err, size_t errlen);
int acme_order_parse(json_t *doc, struct acme_order *order, char *err,
    size_t errlen);
/* Returns the index-th authorization URL of a parsed order. */
const char *acme_order_authorization(const struct acme_order *order,
    size_t index);
int acme_authz_parse(json_t *doc, struct acme_authz *authz, char *err,
    size_t errlen);
int acme_challenge_parse(const json_t *obj, struct acme_challenge *chall,
    char *err, size_t errlen);
/* Gets the index-th challenge of a parsed authorization. */
int acme_authz_challenge(const struct acme_authz *authz, size_t index,
    struct acme_challenge *chall, char *err, size_t errlen);
int acme_account_check(const json_t *doc, char *err, size_t errlen);
void acme_directory_clear(struct acme_directory *dir);
void acme_order_clear(struct acme_order *order);
void acme_authz_clear(struct acme_authz *authz);

/* Parses a response body as one JSON object; kind names it in messages. */
int acme_body_object(const struct http_response *resp, const char *kind,
    json_t **out, char *err, size_t errlen);

/* acme_directory.c */
int acme_directory_fetch(struct acme_client *client);

/* acme_nonce.c: signed requests with nonce handling. */
int acme_nonce_fetch(struct acme_client *client);
/*
 * POSTs a JWS over payload ("" for POST-as-GET) to url, signed with the
 * account key; use_jwk embeds the public key in place of the kid. Retries
 * after badNonce. Returns 0 with a 2xx response in resp, or -1 with the
 * problem document in client->err.
 */
int acme_post(struct acme_client *client, const char *url,
    const char *payload, int use_jwk, const char *accept,
    struct http_response *resp);
/*
 * POST-as-GET of a JSON resource; kind names it in messages. Sets
 * *retry_after (when not NULL) to the Retry-After delay in seconds, or -1
 * when the response has none.
 */
int acme_fetch_object(struct acme_client *client, const char *url,
    const char *kind, json_t **out, long *retry_after);

/*
 * acme_account.c: loads, finds (onlyReturnExisting) or registers the
 * account client->account_name of the issuer, with an External Account
 * Binding when the directory requires one, and records its last use.
 */
int acme_account_ensure(struct acme_client *client);
/* Forgets the facts of the last error response. */
void acme_failure_clear(struct acme_client *client);
/* Records the status, ACME error type and Retry-After of resp. */
void acme_failure_note(struct acme_client *client,
    const struct http_response *resp);
/* Returns 1 when the last error was a rate limit (rateLimited or 429). */
int acme_failure_rate_limited(const struct acme_client *client);
/*
 * Adds the issuer's profile to a newOrder payload when the issuer block
 * sets one; the directory must list it in meta.profiles. Returns 0, or
 * -1 with client->err set.
 */
int acme_order_profile(struct acme_client *client, json_t *payload);

/* acme_order.c */
struct acme_names;
int acme_order_new(struct acme_client *client, const struct acme_names *names,
    struct acme_order *order, char **order_url);
int acme_order_refresh(struct acme_client *client, const char *url,
    struct acme_order *order);
/* Polls until the order leaves wait_status or the deadline passes. */
int acme_order_wait(struct acme_client *client, const char *url,
    const char *wait_status, struct acme_order *order);
int acme_order_finalize(struct acme_client *client, const char *order_url,
    struct acme_order *order, const char *csr);

/*
 * acme_authz.c: completes every authorization of the order through the
 * challenge types that client->challenges chooses (broker/challenge.h).
 */
int acme_authorize_all(struct acme_client *client,
    const struct acme_order *order);

/* acme_cert.c: downloads the PEM chain of a valid order. */
int acme_certificate_download(struct acme_client *client,
    const struct acme_order *order, char **pem, size_t *pem_len);

/*
 * Sleeps before the next poll: retry_after seconds when positive, or
 * else *step_ms, which starts at 0 for each resource and goes from
 * acme.poll-first milliseconds, doubling at each call, up to
 * acme.poll-interval, so that a CA that responds fast is not waited for
 * a whole interval. The wait never goes past the deadline. Returns -1
 * with a timeout message naming resource (for example "the order") when
 * the deadline has passed.
 */
int acme_poll_sleep(struct acme_client *client, long retry_after,
    long *step_ms, time_t deadline, const char *resource);

#endif
