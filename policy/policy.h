/*
 * Per-tenant issuance policy, deny by default. A policy file lists
 * tenants, and docs/policy.md gives its syntax and matching rules. Each
 * tenant names the UNIX users, groups and API tokens that act for it, the
 * names it may request, and its issuers, accounts, challenge types, key
 * types and limits. Every list is an allow list, so what it does not name
 * is denied.
 *
 * The broker and the signer both use this library. The signer passes
 * policy_name_normalize_ascii as the normaliser and only checks names the
 * broker already normalised; the broker passes policy_name_normalize.
 *
 * Every check fills a struct policy_decision and passes it to
 * policy_record_decision(), which logs it unless a hook takes it over.
 */
#ifndef CUSTOS_POLICY_H
#define CUSTOS_POLICY_H

#include <stddef.h>
#include <sys/types.h>

#include "config/config.h"
#include "policy/name.h"

#define POLICY_REASON_MAX 512
#define POLICY_TOKEN_ID_MAX 64
#define POLICY_SHA256_LEN 32

enum policy_action {
	POLICY_ALLOW = 0,
	POLICY_DENY,
};

enum policy_pattern_kind {
	POLICY_PATTERN_NAME = 0,	/* www.example.com: that name only */
	POLICY_PATTERN_WILDCARD,	/* *.example.com: that name only */
	POLICY_PATTERN_SUBTREE,		/* .example.com: names below */
	POLICY_PATTERN_ADDRESS,		/* 192.0.2.0/24, 2001:db8::1 */
};

enum policy_identifier_type {
	POLICY_ID_DNS = 0,
	POLICY_ID_IP,
};

/* An ACME identifier (RFC 8555 section 9.7.7, RFC 8738). */
struct policy_identifier {
	enum policy_identifier_type type;
	const char *value;		/* canonical, see policy/name.h */
};

struct policy_rule {
	enum policy_action action;
	enum policy_pattern_kind kind;
	/* Canonical text: "www.example.com", ".example.com", "10.0.0.0/8". */
	char text[POLICY_NAME_BUFSIZE + 8];
	struct policy_ip ip;		/* for POLICY_PATTERN_ADDRESS */
	unsigned int prefix;		/* 32 or 128 for a single address */
	struct config_origin origin;
};

/* A list entry (issuer, account, challenge or key type) and its origin. */
struct policy_word {
	char *text;
	struct config_origin origin;
};

/* A numeric limit; set is 0 when the policy does not give one. */
struct policy_limit {
	int set;
	long value;
	struct config_origin origin;
};

struct policy_token {
	char id[POLICY_TOKEN_ID_MAX + 1];
	unsigned char hash[POLICY_SHA256_LEN];	/* SHA-256 of the token */
	struct config_origin origin;
};

/* "sha256:" and 64 lowercase hex digits, with the NUL. */
#define POLICY_FINGERPRINT_BUFSIZE (7 + 2 * POLICY_SHA256_LEN + 1)
#define POLICY_RECIPIENT_BITS_MIN 2048
#define POLICY_RECIPIENT_BITS_MAX 4096
/*
 * Maximum bits of a recipient's public exponent: OpenSSL 3.0, which
 * SoftHSM2 uses, rejects larger ones for moduli above 3072 bits
 * (OPENSSL_RSA_MAX_PUBEXP_BITS).
 */
#define POLICY_RECIPIENT_EXPONENT_BITS_MAX 64

/*
 * An edge node that fetches certificates from the distribution endpoint
 * with its own bearer token. grants lists certificate ids (decimal) and
 * store labels of the tenant; the node may fetch only those. A node with
 * a recipient key receives the keys of wrapped certificates encrypted to
 * it; recipient_der is NULL for a node without one.
 */
struct policy_node {
	char name[POLICY_TOKEN_ID_MAX + 1];
	unsigned char hash[POLICY_SHA256_LEN];	/* SHA-256 of the token */
	struct policy_word *grants;
	size_t grant_count;
	struct config_origin origin;
	/* DER SubjectPublicKeyInfo of an RSA key, 2048 to 4096 bits. */
	unsigned char *recipient_der;
	size_t recipient_der_len;
	/* "sha256:HEX", the SHA-256 of recipient_der. */
	char recipient_fingerprint[POLICY_FINGERPRINT_BUFSIZE];
	struct config_origin recipient_origin;
};

/* Key export modes that a tenant's key-export statement lists. */
enum policy_export {
	POLICY_EXPORT_HSM = 0,		/* the key never leaves the HSM */
	POLICY_EXPORT_WRAPPED,		/* encrypted to a node's recipient */
};

struct policy_tenant {
	char *name;
	struct config_origin origin;
	uid_t *uids;
	size_t uid_count;
	gid_t *gids;
	size_t gid_count;
	struct policy_token *tokens;
	size_t token_count;
	struct policy_node *nodes;
	size_t node_count;
	struct policy_rule *rules;	/* allow and deny, in file order */
	size_t rule_count;
	struct policy_word *issuers;
	size_t issuer_count;
	struct policy_word *accounts;
	size_t account_count;
	struct policy_word *challenges;
	size_t challenge_count;
	struct policy_word *key_types;
	size_t key_type_count;
	/*
	 * Bits 1 << enum policy_export of the allowed modes; without a
	 * key-export statement only POLICY_EXPORT_HSM is allowed.
	 */
	unsigned int key_exports;
	struct config_origin key_export_origin;	/* line 0: no statement */
	struct policy_limit max_names;
	struct policy_limit max_lifetime;	/* seconds */
	struct policy_limit max_certificates;
	struct policy_limit rate_per_hour;
	struct policy_limit rate_per_day;
};

struct policy {
	char *file;
	struct policy_tenant *tenants;
	size_t tenant_count;
	/* "FILE:LINE:COLUMN: warning: ..." lines from the reader. */
	char **warnings;
	size_t warning_count;
};

struct policy_decision {
	int allowed;			/* 1 allowed, 0 denied */
	/* The deciding name rule, or NULL for other checks and defaults. */
	const struct policy_rule *rule;
	/* The deciding statement; line 0 when no statement decided. */
	struct config_origin origin;
	char reason[POLICY_REASON_MAX];
};

/* policy_file.c */

/*
 * Reads a policy file. normalize converts the names in rules (see above).
 * Returns 0 and a new policy in *out, warnings included, or -1 with
 * "FILE:LINE:COLUMN: message" in err for the first error.
 */
int policy_load(const char *path, policy_normalize_fn normalize,
    struct policy **out, char *err, size_t errlen);

/* Reads policy text; name stands for the path in messages. */
int policy_load_string(const char *name, const char *text,
    policy_normalize_fn normalize, struct policy **out, char *err,
    size_t errlen);

void policy_free(struct policy *policy);

/*
 * Adds a warning to policy->warnings for each rule that can never match or
 * that another rule makes redundant, and for each recipient key that
 * nodes of two tenants share (lint.c). Returns 0, or -1 when out of
 * memory.
 */
int policy_lint(struct policy *policy);

/* policy.c: tenants */

const struct policy_tenant *policy_find_tenant(const struct policy *policy,
    const char *name);

/*
 * Finds the tenant of a peer: the one whose users list uid, else the one
 * whose groups contain gid or one of groups. Returns 0 and sets *tenant,
 * or -1 with a message when no tenant or more than one matches by group.
 */
int policy_tenant_for_peer(const struct policy *policy, uid_t uid,
    gid_t gid, const gid_t *groups, size_t group_count,
    const struct policy_tenant **tenant, char *err, size_t errlen);

/*
 * Finds the tenant of an API token by its SHA-256 hash, comparing every
 * stored hash in constant time. The token itself is neither stored nor
 * logged. Returns 0 and sets *tenant and *token_id (which points into the
 * policy), or -1 when no token matches.
 */
int policy_tenant_for_token(const struct policy *policy, const char *token,
    const struct policy_tenant **tenant, const char **token_id);

/*
 * Finds the edge node of a bearer token by its SHA-256 hash, comparing
 * every node's hash in constant time. Returns 0 and sets *tenant and
 * *node, or -1 when no node has that token.
 */
int policy_node_for_token(const struct policy *policy, const char *token,
    const struct policy_tenant **tenant, const struct policy_node **node);

/*
 * Returns 1 when the node's grants list the certificate by its id or
 * by its store label, 0 otherwise.
 */
int policy_node_grants(const struct policy_node *node, long long cert_id,
    const char *label);

/* Returns the node of tenant named name, or NULL. */
const struct policy_node *policy_find_node(const struct policy_tenant *tenant,
    const char *name);

/*
 * recipient.c: reads the PEM public key at path (relative paths start at
 * the folder of policy_file) into node's recipient members. Returns 0,
 * or -1 with a message naming the file in err.
 */
int policy_read_recipient(const char *policy_file, const char *path,
    struct policy_node *node, char *err, size_t errlen);

/* Parses "hsm" or "wrapped". Returns 0, or -1 for any other text. */
int policy_export_parse(const char *text, enum policy_export *mode);
const char *policy_export_name(enum policy_export mode);

/* match.c: names */

/*
 * Decides one identifier without recording the decision. A value that is
 * not canonical is denied with the reason.
 */
void policy_evaluate_identifier(const struct policy_tenant *tenant,
    const struct policy_identifier *id, struct policy_decision *decision);

/*
 * Decides every identifier of an order or CSR and records each decision.
 * decisions, when not NULL, receives one decision per identifier. The
 * result is allowed only when every identifier is; its reason and rule
 * are those of the first denied identifier. A tenant that is NULL, or an
 * empty list, is denied. Returns 1 when allowed and 0 when denied.
 */
int policy_check_identifiers(const struct policy_tenant *tenant,
    const struct policy_identifier *ids, size_t count,
    struct policy_decision *decisions, struct policy_decision *result);

/* policy.c: other checks; each records its decision and returns allowed */

int policy_check_issuer(const struct policy_tenant *tenant,
    const char *issuer, struct policy_decision *decision);
int policy_check_account(const struct policy_tenant *tenant,
    const char *account, struct policy_decision *decision);
/* challenge: "http-01", "dns-01" or "tls-alpn-01". */
int policy_check_challenge(const struct policy_tenant *tenant,
    const char *challenge, struct policy_decision *decision);
int policy_check_key_type(const struct policy_tenant *tenant,
    enum key_type type, struct policy_decision *decision);
int policy_check_key_export(const struct policy_tenant *tenant,
    enum policy_export mode, struct policy_decision *decision);
int policy_check_name_count(const struct policy_tenant *tenant,
    size_t count, struct policy_decision *decision);
int policy_check_lifetime(const struct policy_tenant *tenant,
    long seconds, struct policy_decision *decision);
/* held: the number of certificates the tenant has now, without this one. */
int policy_check_certificates_held(const struct policy_tenant *tenant,
    long held, struct policy_decision *decision);
/* Counts of certificates issued to the tenant in the last hour and day. */
int policy_check_rate(const struct policy_tenant *tenant,
    long issued_last_hour, long issued_last_day,
    struct policy_decision *decision);

/* policy.c: the decision hook */

/* Receives every decision; subject is the name or value checked. */
typedef void (*policy_decision_hook)(const struct policy_tenant *tenant,
    const char *subject, const struct policy_decision *decision,
    void *arg);

/* Sends decisions to hook instead of the log; NULL restores logging. */
void policy_set_decision_hook(policy_decision_hook hook, void *arg);

/* Passes one decision to the hook, or logs it at info level. */
void policy_record_decision(const struct policy_tenant *tenant,
    const char *subject, const struct policy_decision *decision);

/* match.c: helpers the reader also uses for its warnings */

/* Returns 1 when the name lies strictly below domain. */
int policy_name_is_below(const char *name, const char *domain);
/* Returns 1 when rule, an allow rule, allows the canonical value. */
int policy_rule_allows(const struct policy_rule *rule,
    enum policy_identifier_type type, const char *value,
    const struct policy_ip *ip);
/* Returns 1 when rule, a deny rule, denies the canonical value. */
int policy_rule_denies(const struct policy_rule *rule,
    enum policy_identifier_type type, const char *value,
    const struct policy_ip *ip);
/* Returns 1 when ip lies in the rule's address range. */
int policy_rule_contains_ip(const struct policy_rule *rule,
    const struct policy_ip *ip);

#endif
