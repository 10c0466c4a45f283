/*
 * The policy file reader: checks the tree from config/conf_tree.h against
 * the policy language (docs/policy.md) and builds struct policy. Every
 * error points at the offending key or value as "FILE:LINE:COLUMN: ...".
 */
#include "policy/policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/conf_tree.h"

#define COUNT_MAX 1000000000L
#define TENANT_NAME_MAX 64
/* Buffer for getpwnam_r and getgrnam_r; large groups need more than 1K. */
#define NSS_BUFSIZE 65536

struct reader {
	struct policy *policy;
	policy_normalize_fn normalize;
	char *err;
	size_t errlen;
};

typedef int (*statement_fn)(struct reader *rd, struct policy_tenant *tenant,
    const struct conf_node *node);

struct statement {
	const char *key;
	statement_fn parse;
	int single;		/* 1 when a tenant may give the key once */
};

/* Formats an error at the value's position; returns -1. */
#define value_error(rd, value, ...)					\
	conf_error((rd)->err, (rd)->errlen, (rd)->policy->file,		\
	    (value)->line, (value)->column, __VA_ARGS__)
#define node_error(rd, node, ...)					\
	conf_error((rd)->err, (rd)->errlen, (rd)->policy->file,		\
	    (node)->line, (node)->column, __VA_ARGS__)

/* Makes room for one more element in an array of count elements. */
static int
grow(void **array, size_t count, size_t size)
{
	size_t capacity = 4;
	void *p;

	while (capacity < count)
		capacity *= 2;
	if (count != 0 && count != capacity)
		return 0;
	if (count == capacity)
		capacity *= 2;
	p = realloc(*array, capacity * size);
	if (p == NULL)
		return -1;
	*array = p;
	return 0;
}

static struct config_origin
origin_of(const struct reader *rd, const struct conf_value *value)
{
	struct config_origin origin = {
		rd->policy->file, value->line, value->column,
	};

	return origin;
}

/* Parses a decimal count from 1 to COUNT_MAX followed by suffix. */
static int
parse_count(const char *text, const char *suffix, long *out)
{
	long value = 0;
	const char *p;

	for (p = text; *p >= '0' && *p <= '9'; p++) {
		value = value * 10 + (*p - '0');
		if (value > COUNT_MAX)
			return -1;
	}
	if (p == text || strcmp(p, suffix) != 0 || value < 1)
		return -1;
	*out = value;
	return 0;
}

static int
add_word(struct reader *rd, struct policy_word **words, size_t *count,
    const struct conf_value *value)
{
	struct policy_word *w;

	if (grow((void **)words, *count, sizeof(**words)) < 0)
		return value_error(rd, value, "out of memory");
	w = &(*words)[*count];
	w->text = strdup(value->text);
	if (w->text == NULL)
		return value_error(rd, value, "out of memory");
	w->origin = origin_of(rd, value);
	(*count)++;
	return 0;
}

/* Returns the tenant that lists uid, or NULL. */
static const struct policy_tenant *
find_uid(const struct policy *policy, uid_t uid)
{
	size_t i, j;

	for (i = 0; i < policy->tenant_count; i++)
		for (j = 0; j < policy->tenants[i].uid_count; j++)
			if (policy->tenants[i].uids[j] == uid)
				return &policy->tenants[i];
	return NULL;
}

/* Returns the tenant that lists gid, or NULL. */
static const struct policy_tenant *
find_gid(const struct policy *policy, gid_t gid)
{
	size_t i, j;

	for (i = 0; i < policy->tenant_count; i++)
		for (j = 0; j < policy->tenants[i].gid_count; j++)
			if (policy->tenants[i].gids[j] == gid)
				return &policy->tenants[i];
	return NULL;
}

/*
 * Resolves a user or group name, or takes a decimal id as it is. Returns
 * 0, -1 when not found, or -2 when the lookup failed.
 */
static int
resolve_id(const char *name, int group, unsigned long *id)
{
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	char *buf;
	long value;
	int rc;

	if (parse_count(name, "", &value) == 0 || strcmp(name, "0") == 0) {
		*id = strcmp(name, "0") == 0 ? 0 : (unsigned long)value;
		return 0;
	}
	buf = malloc(NSS_BUFSIZE);
	if (buf == NULL)
		return -2;
	if (group) {
		rc = getgrnam_r(name, &gr, buf, NSS_BUFSIZE, &grp);
		if (grp != NULL)
			*id = grp->gr_gid;
	} else {
		rc = getpwnam_r(name, &pw, buf, NSS_BUFSIZE, &pwp);
		if (pwp != NULL)
			*id = pwp->pw_uid;
	}
	free(buf);
	if (rc != 0 && rc != ENOENT && rc != ESRCH)
		return -2;
	return (pwp != NULL || grp != NULL) ? 0 : -1;
}

static int
parse_users(struct reader *rd, struct policy_tenant *tenant,
    const struct conf_node *node)
{
	const struct conf_value *v;
	const struct policy_tenant *other;
	unsigned long id;
	size_t i;
	int rc;

	for (i = 0; i < node->value_count; i++) {
		v = &node->values[i];
		rc = resolve_id(v->text, 0, &id);
		if (rc == -1)
			return value_error(rd, v, "unknown user \"%s\"; create "
			    "the user or remove it from users", v->text);
		if (rc < 0)
			return value_error(rd, v, "looking up user \"%s\" "
			    "failed", v->text);
		other = find_uid(rd->policy, (uid_t)id);
		if (other != NULL)
			return value_error(rd, v, "user \"%s\" (uid %lu) is "
			    "already in tenant %s; a user belongs to one "
			    "tenant", v->text, id, other->name);
		if (grow((void **)&tenant->uids, tenant->uid_count,
		    sizeof(*tenant->uids)) < 0)
			return value_error(rd, v, "out of memory");
		tenant->uids[tenant->uid_count++] = (uid_t)id;
	}
	return 0;
}

static int
parse_groups(struct reader *rd, struct policy_tenant *tenant,
    const struct conf_node *node)
{
	const struct conf_value *v;
	const struct policy_tenant *other;
	unsigned long id;
	size_t i;
	int rc;

	for (i = 0; i < node->value_count; i++) {
		v = &node->values[i];
		rc = resolve_id(v->text, 1, &id);
		if (rc == -1)
			return value_error(rd, v, "unknown group \"%s\"; "
			    "create the group or remove it from groups",
			    v->text);
		if (rc < 0)
			return value_error(rd, v, "looking up group \"%s\" "
			    "failed", v->text);
		other = find_gid(rd->policy, (gid_t)id);
		if (other != NULL)
			return value_error(rd, v, "group \"%s\" (gid %lu) is "
			    "already in tenant %s; a group belongs to one "
			    "tenant", v->text, id, other->name);
		if (grow((void **)&tenant->gids, tenant->gid_count,
		    sizeof(*tenant->gids)) < 0)
			return value_error(rd, v, "out of memory");
		tenant->gids[tenant->gid_count++] = (gid_t)id;
	}
	return 0;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parses "sha256:" and 64 hex digits. */
static int
parse_token_hash(const char *text, unsigned char *hash)
{
	size_t i;
	int hi, lo;

	if (strncmp(text, "sha256:", 7) != 0 ||
	    strlen(text + 7) != 2 * POLICY_SHA256_LEN)
		return -1;
	for (i = 0; i < POLICY_SHA256_LEN; i++) {
		hi = hex_value(text[7 + 2 * i]);
		lo = hex_value(text[8 + 2 * i]);
		if (hi < 0 || lo < 0)
			return -1;
		hash[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static int
is_identifier(const char *text, size_t max)
{
	size_t i;

	for (i = 0; text[i] != '\0'; i++) {
		char c = text[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || ((c == '-' || c == '_') &&
		    i > 0)))
			return 0;
	}
	return i > 0 && i <= max;
}

/* Returns the token with that hash or id in any tenant, or NULL. */
static const struct policy_token *
find_token(const struct policy *policy, const struct policy_tenant *self,
    const struct policy_token *token, const struct policy_tenant **owner)
{
	const struct policy_tenant *t;
	size_t i, j;

	for (i = 0; i < policy->tenant_count; i++) {
		t = &policy->tenants[i];
		for (j = 0; j < t->token_count; j++) {
			if (memcmp(t->tokens[j].hash, token->hash,
			    POLICY_SHA256_LEN) == 0 || (t == self &&
			    strcmp(t->tokens[j].id, token->id) == 0)) {
				*owner = t;
				return &t->tokens[j];
			}
		}
	}
	return NULL;
}

/* Returns the node with that token hash in any tenant, or NULL. */
static const struct policy_node *
find_node_hash(const struct policy *policy, const unsigned char *hash,
    const struct policy_tenant **owner)
{
	const struct policy_tenant *t;
	size_t i, j;

	for (i = 0; i < policy->tenant_count; i++) {
		t = &policy->tenants[i];
		for (j = 0; j < t->node_count; j++) {
			if (memcmp(t->nodes[j].hash, hash,
			    POLICY_SHA256_LEN) == 0) {
				*owner = t;
				return &t->nodes[j];
			}
		}
	}
	return NULL;
}

static int
parse_token(struct reader *rd, struct policy_tenant *tenant,
    const struct conf_node *node)
{
	const struct policy_tenant *owner, *node_owner;
	const struct policy_token *other;
	struct policy_token token;

	memset(&token, 0, sizeof(token));
	if (node->value_count != 2)
		return node_error(rd, node, "token takes an id and a hash, as "
		    "in: token ci sha256:<64 hex digits>");
	if (!is_identifier(node->values[0].text, POLICY_TOKEN_ID_MAX))
		return value_error(rd, &node->values[0], "invalid token id "
		    "\"%s\"; use 1 to %d letters, digits, '-' and '_'",
		    node->values[0].text, POLICY_TOKEN_ID_MAX);
	/* The value is not quoted: it may be a token pasted by mistake. */
	if (parse_token_hash(node->values[1].text, token.hash) < 0)
		return value_error(rd, &node->values[1], "invalid token hash; "
		    "write sha256: and the 64 hex digits of the token's "
		    "SHA-256 (printf %%s TOKEN | sha256sum)");
	memcpy(token.id, node->values[0].text,
	    strlen(node->values[0].text) + 1);
	token.origin = origin_of(rd, &node->values[0]);

	if (find_node_hash(rd->policy, token.hash, &node_owner) != NULL)
		return value_error(rd, &node->values[1], "the same hash as a "
		    "node of tenant %s; give each token its own secret",
		    node_owner->name);
	other = find_token(rd->policy, tenant, &token, &owner);
	if (other != NULL && strcmp(other->id, token.id) == 0 &&
	    owner == tenant)
		return value_error(rd, &node->values[0], "duplicate token id "
		    "\"%s\"; the first is at line %d", token.id,
		    other->origin.line);
	if (other != NULL)
		return value_error(rd, &node->values[1], "the same hash as "
		    "token %s of tenant %s; give each token its own secret",
		    other->id, owner->name);
	if (grow((void **)&tenant->tokens, tenant->token_count,
	    sizeof(*tenant->tokens)) < 0)
		return node_error(rd, node, "out of memory");
	tenant->tokens[tenant->token_count++] = token;
	return 0;
}

/* Returns 1 for a certificate id (decimal) or a store label. */
static int
is_grant(const char *text)
{
	size_t i;

	for (i = 0; text[i] != '\0'; i++) {
		char c = text[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '-' || c == '_'))
			return 0;
	}
	return i > 0 && i <= POLICY_NAME_BUFSIZE && text[0] != '0';
}

/* Reads "certificates REF ..." of a node. */
static int
parse_node_grants(struct reader *rd, struct policy_node *pn,
    const struct conf_node *node)
{
	size_t i;

	if (node->value_count == 0)
		return node_error(rd, node, "certificates needs at least one "
		    "certificate id or label, as in: certificates 1 "
		    "www.example.com");
	for (i = 0; i < node->value_count; i++) {
		if (!is_grant(node->values[i].text))
			return value_error(rd, &node->values[i], "invalid "
			    "certificate \"%s\"; write a certificate id or "
			    "a store label in lower case (see custos cert "
			    "list)", node->values[i].text);
		if (add_word(rd, &pn->grants, &pn->grant_count,
		    &node->values[i]) < 0)
			return -1;
	}
	return 0;
}

/* Reads "token sha256:HEX" of a node; the hash is unique in the file. */
static int
parse_node_token(struct reader *rd, struct policy_node *pn,
    const struct conf_node *node)
{
	const struct policy_tenant *owner;
	const struct policy_token *other;
	struct policy_token probe;

	memset(&probe, 0, sizeof(probe));
	if (node->value_count != 1 ||
	    parse_token_hash(node->values[0].text, probe.hash) < 0)
		return node_error(rd, node, "invalid node token; write token "
		    "sha256: and the 64 hex digits of the token's SHA-256 "
		    "(printf %%s TOKEN | sha256sum)");
	other = find_token(rd->policy, NULL, &probe, &owner);
	if (other == NULL && find_node_hash(rd->policy, probe.hash,
	    &owner) == NULL) {
		memcpy(pn->hash, probe.hash, sizeof(pn->hash));
		return 0;
	}
	return value_error(rd, &node->values[0], "the same hash as a token "
	    "or node of tenant %s; give each node its own secret",
	    owner->name);
}

/* Reads "recipient PATH" of a node: the node's RSA public key. */
static int
parse_node_recipient(struct reader *rd, struct policy_node *pn,
    const struct conf_node *node)
{
	char message[CONFIG_ERR_MAX];

	if (pn->recipient_der != NULL)
		return node_error(rd, node, "duplicate recipient in node %s; "
		    "a node has one recipient key", pn->name);
	if (node->value_count != 1)
		return node_error(rd, node, "recipient takes one path, as in: "
		    "recipient \"/etc/custos/nodes/edge1.pub\"");
	if (policy_read_recipient(rd->policy->file, node->values[0].text, pn,
	    message, sizeof(message)) != 0)
		return value_error(rd, &node->values[0], "%s", message);
	pn->recipient_origin = origin_of(rd, &node->values[0]);
	return 0;
}

/* Reads the body of node NAME { token ...; certificates ...; }. */
static int
parse_node_body(struct reader *rd, struct policy_node *pn,
    const struct conf_node *block)
{
	const struct conf_node *node;
	int have_token = 0;
	size_t i;

	for (i = 0; i < block->child_count; i++) {
		node = &block->children[i];
		if (node->has_block)
			return node_error(rd, node, "%s takes no block; "
			    "remove the braces", node->key);
		if (strcmp(node->key, "token") == 0 && !have_token) {
			if (parse_node_token(rd, pn, node) < 0)
				return -1;
			have_token = 1;
		} else if (strcmp(node->key, "token") == 0) {
			return node_error(rd, node, "duplicate token in node "
			    "%s; a node has one token", pn->name);
		} else if (strcmp(node->key, "certificates") == 0) {
			if (parse_node_grants(rd, pn, node) < 0)
				return -1;
		} else if (strcmp(node->key, "recipient") == 0) {
			if (parse_node_recipient(rd, pn, node) < 0)
				return -1;
		} else {
			return node_error(rd, node, "unknown key \"%s\" in "
			    "node %s; use token, certificates or recipient",
			    node->key, pn->name);
		}
	}
	if (!have_token)
		return node_error(rd, block, "node %s has no token; add token "
		    "sha256:<64 hex digits>", pn->name);
	return 0;
}

/* Reads node NAME { ... } inside a tenant. */
static int
parse_node(struct reader *rd, struct policy_tenant *tenant,
    const struct conf_node *node)
{
	const struct conf_value *name;
	struct policy_node *pn;
	size_t i;

	/* values is NULL without values, so take the name after the check. */
	if (node->value_count != 1 || !node->has_block)
		return node_error(rd, node, "node takes a name and a block, as "
		    "in: node edge1 { token sha256:<hex>; certificates 1; }");
	name = &node->values[0];
	if (!is_identifier(name->text, POLICY_TOKEN_ID_MAX))
		return value_error(rd, name, "invalid node name \"%s\"; use 1 "
		    "to %d letters, digits, '-' and '_'", name->text,
		    POLICY_TOKEN_ID_MAX);
	for (i = 0; i < tenant->node_count; i++)
		if (strcmp(tenant->nodes[i].name, name->text) == 0)
			return value_error(rd, name, "duplicate node \"%s\"; "
			    "the first is at line %d", name->text,
			    tenant->nodes[i].origin.line);
	if (grow((void **)&tenant->nodes, tenant->node_count,
	    sizeof(*tenant->nodes)) < 0)
		return node_error(rd, node, "out of memory");
	pn = &tenant->nodes[tenant->node_count];
	memset(pn, 0, sizeof(*pn));
	memcpy(pn->name, name->text, strlen(name->text) + 1);
	pn->origin = origin_of(rd, name);
	/* Counted now, so that policy_free() frees a half-read node. */
	tenant->node_count++;
	return parse_node_body(rd, pn, node);
}

/* Parses "ADDRESS/PREFIX" or an address into rule. */
static int
parse_address(struct reader *rd, const struct conf_value *v,
    struct policy_rule *rule)
{
	char addr[POLICY_NAME_BUFSIZE], text[POLICY_NAME_BUFSIZE];
	char message[CONFIG_ERR_MAX];
	const char *slash = strchr(v->text, '/');
	unsigned int max;
	long prefix = -1;
	size_t len = slash ? (size_t)(slash - v->text) : strlen(v->text);

	if (len >= sizeof(addr))
		return value_error(rd, v, "invalid address \"%.32s...\"; it "
		    "is too long", v->text);
	memcpy(addr, v->text, len);
	addr[len] = '\0';
	if (policy_ip_parse(addr, &rule->ip, message, sizeof(message)) < 0)
		return value_error(rd, v, "%s", message);
	max = rule->ip.family == AF_INET ? 32 : 128;
	if (slash != NULL && strcmp(slash + 1, "0") == 0)
		prefix = 0;
	else if (slash != NULL && (parse_count(slash + 1, "", &prefix) < 0 ||
	    slash[1] == '0' || prefix > (long)max))
		return value_error(rd, v, "invalid prefix length \"%s\" in "
		    "\"%s\"; write a number from 0 to %u", slash + 1,
		    v->text, max);
	rule->kind = POLICY_PATTERN_ADDRESS;
	rule->prefix = slash ? (unsigned int)prefix : max;
	policy_ip_format(&rule->ip, text, sizeof(text));
	if (slash != NULL)
		snprintf(rule->text, sizeof(rule->text), "%s/%u", text,
		    rule->prefix);
	else
		snprintf(rule->text, sizeof(rule->text), "%s", text);
	return 0;
}

/* Checks that an address range has no host bits set. */
static int
check_host_bits(struct reader *rd, const struct conf_value *v,
    struct policy_rule *rule)
{
	struct policy_rule network = *rule;
	char text[POLICY_NAME_BUFSIZE];
	unsigned int i, bits;

	for (i = 0; i < sizeof(network.ip.addr); i++) {
		bits = rule->prefix > i * 8 ? rule->prefix - i * 8 : 0;
		if (bits < 8)
			network.ip.addr[i] &= (unsigned char)(0xff00 >> bits);
	}
	if (memcmp(network.ip.addr, rule->ip.addr, sizeof(rule->ip.addr)) == 0)
		return 0;
	policy_ip_format(&network.ip, text, sizeof(text));
	return value_error(rd, v, "\"%s\" has host bits set; write %s/%u",
	    v->text, text, rule->prefix);
}

/* Returns 1 for text that can only be an address or a range. */
static int
looks_like_address(const char *text)
{
	return strchr(text, ':') != NULL || strchr(text, '/') != NULL ||
	    (text[0] >= '0' && text[0] <= '9' &&
	    strspn(text, "0123456789.") == strlen(text));
}

/* Parses one allow or deny value into rule. */
static int
has_non_ascii(const char *text)
{
	for (; *text != '\0'; text++)
		if ((unsigned char)*text >= 0x80)
			return 1;
	return 0;
}

static int
parse_pattern(struct reader *rd, const struct conf_value *v,
    struct policy_rule *rule)
{
	char name[POLICY_NAME_BUFSIZE], message[CONFIG_ERR_MAX];
	const char *text = v->text;
	int subtree = text[0] == '.';

	if (looks_like_address(text))
		return parse_address(rd, v, rule) < 0 ||
		    check_host_bits(rd, v, rule) < 0 ? -1 : 0;
	if (subtree && (text[1] == '\0' || text[1] == '.'))
		return value_error(rd, v, "invalid subtree \"%s\"; write a "
		    "domain after the dot, as in .example.com", text);
	if (subtree && text[1] == '*')
		return value_error(rd, v, "invalid subtree \"%s\"; a subtree "
		    "already covers wildcard names, write .%s", text,
		    strncmp(text + 1, "*.", 2) == 0 ? text + 3 : "example.com");
	if (rd->normalize(text + subtree, name, sizeof(name), message,
	    sizeof(message)) < 0)
		return value_error(rd, v, "%s", message);
	/*
	 * The signer reads this file without IDNA, so a rule must already be
	 * in A-label form for both readers to agree on it.
	 */
	if (has_non_ascii(text))
		return value_error(rd, v, "non-ASCII name \"%s\"; write its "
		    "A-label %s%s, because the signer reads policy files "
		    "without IDNA", text, subtree ? "." : "", name);

	if (subtree)
		rule->kind = POLICY_PATTERN_SUBTREE;
	else if (name[0] == '*')
		rule->kind = POLICY_PATTERN_WILDCARD;
	else
		rule->kind = POLICY_PATTERN_NAME;
	snprintf(rule->text, sizeof(rule->text), "%s%s", subtree ? "." : "",
	    name);
	return 0;
}

static int
parse_rules(struct reader *rd, struct policy_tenant *tenant,
    const struct conf_node *node)
{
	struct policy_rule rule;
	size_t i;

	for (i = 0; i < node->value_count; i++) {
		memset(&rule, 0, sizeof(rule));
		rule.action = strcmp(node->key, "allow") == 0 ?
		    POLICY_ALLOW : POLICY_DENY;
		rule.origin = origin_of(rd, &node->values[i]);
		if (parse_pattern(rd, &node->values[i], &rule) < 0)
			return -1;
		if (grow((void **)&tenant->rules, tenant->rule_count,
		    sizeof(*tenant->rules)) < 0)
			return node_error(rd, node, "out of memory");
		tenant->rules[tenant->rule_count++] = rule;
	}
	return 0;
}

static int
parse_issuers(struct reader *rd, struct policy_tenant *tenant,
    const struct conf_node *node)
{
	size_t i;

	for (i = 0; i < node->value_count; i++)
		if (add_word(rd, &tenant->issuers, &tenant->issuer_count,
		    &node->values[i]) < 0)
			return -1;
	return 0;
}

static int
parse_accounts(struct reader *rd, struct policy_tenant *tenant,
    const struct conf_node *node)
{
	size_t i;

	for (i = 0; i < node->value_count; i++)
		if (add_word(rd, &tenant->accounts, &tenant->account_count,
		    &node->values[i]) < 0)
			return -1;
	return 0;
}

static int
parse_challenges(struct reader *rd, struct policy_tenant *tenant,
    const struct conf_node *node)
{
	const struct conf_value *v;
	size_t i;

	for (i = 0; i < node->value_count; i++) {
		v = &node->values[i];
		if (strcmp(v->text, "http-01") != 0 &&
		    strcmp(v->text, "dns-01") != 0 &&
		    strcmp(v->text, "tls-alpn-01") != 0)
			return value_error(rd, v, "unknown challenge type "
			    "\"%s\"; use http-01, dns-01 or tls-alpn-01",
			    v->text);
		if (add_word(rd, &tenant->challenges,
		    &tenant->challenge_count, v) < 0)
			return -1;
	}
	return 0;
}

static int
parse_key_types(struct reader *rd, struct policy_tenant *tenant,
    const struct conf_node *node)
{
	const struct conf_value *v;
	enum key_type type;
	size_t i;

	for (i = 0; i < node->value_count; i++) {
		v = &node->values[i];
		if (key_type_parse(v->text, &type) != 0)
			return value_error(rd, v, "unknown key type \"%s\"; "
			    "use ec-p256, ec-p384, rsa-2048, rsa-3072 or "
			    "rsa-4096", v->text);
		if (add_word(rd, &tenant->key_types,
		    &tenant->key_type_count, v) < 0)
			return -1;
	}
	return 0;
}

/* Reads "key-export hsm wrapped": the modes certificates may ask for. */
static int
parse_key_export(struct reader *rd, struct policy_tenant *tenant,
    const struct conf_node *node)
{
	const struct conf_value *v;
	enum policy_export mode;
	size_t i;

	for (i = 0; i < node->value_count; i++) {
		v = &node->values[i];
		if (policy_export_parse(v->text, &mode) != 0)
			return value_error(rd, v, "unknown key export mode "
			    "\"%s\"; use hsm or wrapped", v->text);
		if (tenant->key_exports & (1u << mode))
			return value_error(rd, v, "duplicate key export mode "
			    "\"%s\"", v->text);
		tenant->key_exports |= 1u << mode;
	}
	tenant->key_export_origin = origin_of(rd, &node->values[0]);
	return 0;
}

static int
set_limit(struct reader *rd, struct policy_limit *limit,
    const struct conf_value *v, long value)
{
	limit->set = 1;
	limit->value = value;
	limit->origin = origin_of(rd, v);
	return 0;
}

static int
parse_max_count(struct reader *rd, struct policy_tenant *tenant,
    const struct conf_node *node)
{
	const struct conf_value *v = &node->values[0];
	struct policy_limit *limit = &tenant->max_certificates;
	long value;

	if (strcmp(node->key, "max-names") == 0)
		limit = &tenant->max_names;
	if (parse_count(v->text, "", &value) < 0)
		return value_error(rd, v, "invalid %s \"%s\"; write a whole "
		    "number from 1 to %ld", node->key, v->text, COUNT_MAX);
	return set_limit(rd, limit, v, value);
}

static int
parse_max_lifetime(struct reader *rd, struct policy_tenant *tenant,
    const struct conf_node *node)
{
	static const struct { const char *suffix; long seconds; } units[] = {
		{ "s", 1 }, { "m", 60 }, { "h", 3600 }, { "d", 86400 },
	};
	const struct conf_value *v = &node->values[0];
	long value;
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (parse_count(v->text, units[i].suffix, &value) < 0)
			continue;
		if (value > COUNT_MAX / units[i].seconds)
			break;
		return set_limit(rd, &tenant->max_lifetime, v,
		    value * units[i].seconds);
	}
	return value_error(rd, v, "invalid max-lifetime \"%s\"; write a "
	    "whole number and a unit s, m, h or d, as in 90d, at most %ld "
	    "seconds", v->text, COUNT_MAX);
}

static int
parse_rate(struct reader *rd, struct policy_tenant *tenant,
    const struct conf_node *node)
{
	const struct conf_value *v;
	struct policy_limit *limit;
	long value;
	size_t i;

	for (i = 0; i < node->value_count; i++) {
		v = &node->values[i];
		if (parse_count(v->text, "/hour", &value) == 0)
			limit = &tenant->rate_per_hour;
		else if (parse_count(v->text, "/day", &value) == 0)
			limit = &tenant->rate_per_day;
		else
			return value_error(rd, v, "invalid rate \"%s\"; write "
			    "COUNT/hour or COUNT/day with COUNT from 1 to "
			    "%ld, as in 20/hour", v->text, COUNT_MAX);
		if (limit->set)
			return value_error(rd, v, "duplicate rate \"%s\"; give "
			    "one rate per hour and one per day", v->text);
		set_limit(rd, limit, v, value);
	}
	return 0;
}

static const struct statement statements[] = {
	{ "users", parse_users, 0 },
	{ "groups", parse_groups, 0 },
	{ "token", parse_token, 0 },
	{ "allow", parse_rules, 0 },
	{ "deny", parse_rules, 0 },
	{ "issuers", parse_issuers, 0 },
	{ "accounts", parse_accounts, 0 },
	{ "challenges", parse_challenges, 0 },
	{ "key-types", parse_key_types, 0 },
	{ "key-export", parse_key_export, 1 },
	{ "max-names", parse_max_count, 1 },
	{ "max-lifetime", parse_max_lifetime, 1 },
	{ "max-certificates", parse_max_count, 1 },
	{ "rate", parse_rate, 1 },
};

#define STATEMENT_COUNT (sizeof(statements) / sizeof(statements[0]))

/* Checks the shape of a statement and that a single key is not repeated. */
static int
check_statement(struct reader *rd, const struct conf_node *block,
    size_t index, const struct statement *st)
{
	const struct conf_node *node = &block->children[index];
	size_t i, max;

	if (node->has_block)
		return node_error(rd, node, "%s takes no block; remove the "
		    "braces", node->key);
	if (node->value_count == 0)
		return node_error(rd, node, "%s needs a value", node->key);
	if (!st->single)
		return 0;
	max = strcmp(st->key, "rate") == 0 ? 2 :
	    strcmp(st->key, "key-export") == 0 ? 2 : 1;
	if (node->value_count > max)
		return value_error(rd, &node->values[max], "too many values "
		    "for %s", node->key);
	for (i = 0; i < index; i++)
		if (strcmp(block->children[i].key, node->key) == 0)
			return node_error(rd, node, "duplicate %s; the first "
			    "is at line %d", node->key,
			    block->children[i].line);
	return 0;
}

static int
parse_tenant_body(struct reader *rd, struct policy_tenant *tenant,
    const struct conf_node *block)
{
	const struct conf_node *node;
	size_t i, j;

	for (i = 0; i < block->child_count; i++) {
		node = &block->children[i];
		if (strcmp(node->key, "node") == 0) {
			if (parse_node(rd, tenant, node) < 0)
				return -1;
			continue;
		}
		for (j = 0; j < STATEMENT_COUNT; j++)
			if (strcmp(node->key, statements[j].key) == 0)
				break;
		if (j == STATEMENT_COUNT)
			return node_error(rd, node, "unknown key \"%s\" in "
			    "tenant %s; use users, groups, token, node, allow, "
			    "deny, issuers, accounts, challenges, key-types, "
			    "key-export, max-names, max-lifetime, max-certificates or "
			    "rate", node->key, tenant->name);
		if (check_statement(rd, block, i, &statements[j]) < 0 ||
		    statements[j].parse(rd, tenant, node) < 0)
			return -1;
	}
	return 0;
}

static int
check_tenant_header(struct reader *rd, const struct conf_node *node)
{
	const struct policy_tenant *other;

	if (strcmp(node->key, "tenant") != 0)
		return node_error(rd, node, "unknown key \"%s\"; a policy file "
		    "contains only tenant NAME { ... } blocks", node->key);
	if (node->value_count != 1)
		return node_error(rd, node, "tenant takes one name, as in "
		    "tenant web { ... }");
	if (!node->has_block)
		return node_error(rd, node, "tenant %s needs a block: tenant "
		    "%s { ... }", node->values[0].text, node->values[0].text);
	if (!is_identifier(node->values[0].text, TENANT_NAME_MAX))
		return value_error(rd, &node->values[0], "invalid tenant name "
		    "\"%s\"; use 1 to %d letters, digits, '-' and '_', "
		    "starting with a letter or digit", node->values[0].text,
		    TENANT_NAME_MAX);
	other = policy_find_tenant(rd->policy, node->values[0].text);
	if (other != NULL)
		return value_error(rd, &node->values[0], "duplicate tenant "
		    "\"%s\"; the first is at line %d", other->name,
		    other->origin.line);
	return 0;
}

static int
parse_tenant(struct reader *rd, const struct conf_node *node)
{
	struct policy *policy = rd->policy;
	struct policy_tenant *tenant;

	if (check_tenant_header(rd, node) < 0)
		return -1;
	if (grow((void **)&policy->tenants, policy->tenant_count,
	    sizeof(*policy->tenants)) < 0)
		return node_error(rd, node, "out of memory");
	tenant = &policy->tenants[policy->tenant_count];
	memset(tenant, 0, sizeof(*tenant));
	tenant->name = strdup(node->values[0].text);
	if (tenant->name == NULL)
		return node_error(rd, node, "out of memory");
	tenant->origin = origin_of(rd, &node->values[0]);
	/* Counted now, so that policy_free() frees a half-read tenant. */
	policy->tenant_count++;
	return parse_tenant_body(rd, tenant, node);
}

static int
read_tree(struct reader *rd, const struct conf_tree *tree)
{
	size_t i;

	for (i = 0; i < tree->root.child_count; i++)
		if (parse_tenant(rd, &tree->root.children[i]) < 0)
			return -1;
	return 0;
}

static int
load_tree(struct conf_tree *tree, policy_normalize_fn normalize,
    struct policy **out, char *err, size_t errlen)
{
	struct reader rd = { NULL, normalize, err, errlen };
	int ret = -1;

	*out = NULL;
	rd.policy = calloc(1, sizeof(*rd.policy));
	if (rd.policy == NULL || (rd.policy->file = strdup(tree->file)) ==
	    NULL) {
		snprintf(err, errlen, "%s: out of memory", tree->file);
		goto out;
	}
	if (read_tree(&rd, tree) < 0 || policy_lint(rd.policy) < 0)
		goto out;
	*out = rd.policy;
	rd.policy = NULL;
	ret = 0;
out:
	policy_free(rd.policy);
	conf_tree_free(tree);
	return ret;
}

int
policy_load(const char *path, policy_normalize_fn normalize,
    struct policy **out, char *err, size_t errlen)
{
	struct conf_tree *tree;

	*out = NULL;
	if (conf_tree_parse_file(path, &tree, err, errlen) != 0)
		return -1;
	return load_tree(tree, normalize, out, err, errlen);
}

int
policy_load_string(const char *name, const char *text,
    policy_normalize_fn normalize, struct policy **out, char *err,
    size_t errlen)
{
	struct conf_tree *tree;

	*out = NULL;
	if (conf_tree_parse(name, text, strlen(text), &tree, err,
	    errlen) != 0)
		return -1;
	return load_tree(tree, normalize, out, err, errlen);
}
