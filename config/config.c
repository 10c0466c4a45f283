/*
 * Checks a conf_tree against the Custos configuration schema and fills a
 * struct custos_config. Each block has a table of keys, and each key's
 * handler checks the form of its values and stores them. Defaults are set
 * before the file is read, so a key in the file replaces its default.
 */
#include "config.h"
#include "conf_tree.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define VALUE_SHOWN_MAX 96	/* bytes of a value quoted in a message */
#define PATH_MAX_LEN 4095
#define ISSUER_NAME_MAX 64
#define TOKEN_LABEL_MAX 32	/* CK_TOKEN_INFO.label is 32 bytes */
#define TOKEN_SERIAL_MAX 16	/* CK_TOKEN_INFO.serialNumber is 16 bytes */
#define USER_NAME_MAX 32

struct loader {
	const char *file;
	struct custos_config *config;
	const char *block_name;	/* "hsm", "issuer pebble", ... */
	char *err;
	size_t errlen;
};

struct key_rule;

typedef int (*value_handler)(struct loader *ld, const struct conf_node *node,
    const struct key_rule *rule, void *section);

struct key_rule {
	const char *key;
	int values;		/* value count, or -1: the handler checks */
	const char *form;	/* what the value looks like, for messages */
	value_handler apply;
	size_t offset;		/* field in the section's structure */
	int min;		/* range of numbers and durations */
	int max;
	int required;
	int repeatable;
};

static const char *const key_type_names[KEY_TYPE_COUNT] = {
	[KEY_TYPE_EC_P256] = "ec-p256",
	[KEY_TYPE_EC_P384] = "ec-p384",
	[KEY_TYPE_RSA_2048] = "rsa-2048",
	[KEY_TYPE_RSA_3072] = "rsa-3072",
	[KEY_TYPE_RSA_4096] = "rsa-4096",
};

const char *
key_type_name(enum key_type type)
{
	if ((unsigned)type >= KEY_TYPE_COUNT)
		return NULL;
	return key_type_names[type];
}

int
key_type_parse(const char *name, enum key_type *type)
{
	int i;

	for (i = 0; i < KEY_TYPE_COUNT; i++) {
		if (strcmp(name, key_type_names[i]) == 0) {
			*type = (enum key_type)i;
			return 0;
		}
	}
	return -1;
}

static const char *const challenge_type_names[CHALLENGE_TYPE_COUNT] = {
	[CHALLENGE_HTTP01] = "http-01",
	[CHALLENGE_DNS01] = "dns-01",
	[CHALLENGE_TLSALPN01] = "tls-alpn-01",
};

const char *
challenge_type_name(enum challenge_type type)
{
	if ((unsigned)type >= CHALLENGE_TYPE_COUNT)
		return NULL;
	return challenge_type_names[type];
}

static const char *
shown(char *buf, const char *text)
{
	return conf_format_value(buf, VALUE_SHOWN_MAX, text);
}

static char **
string_field(void *section, const struct key_rule *rule)
{
	return (char **)((char *)section + rule->offset);
}

static int *
int_field(void *section, const struct key_rule *rule)
{
	return (int *)((char *)section + rule->offset);
}

static int
replace_string(struct loader *ld, char **field, const char *text,
    const struct conf_value *value)
{
	char *copy = strdup(text);

	if (copy == NULL)
		return conf_error(ld->err, ld->errlen, ld->file, value->line,
		    value->column, "out of memory");
	free(*field);
	*field = copy;
	return 0;
}

static int
value_error(struct loader *ld, const struct conf_value *value,
    const struct key_rule *rule, const char *problem)
{
	char buf[VALUE_SHOWN_MAX];

	return conf_error(ld->err, ld->errlen, ld->file, value->line,
	    value->column, "%s '%s' for %s; use %s", problem,
	    shown(buf, value->text), rule->key, rule->form);
}

static int
check_absolute_path(struct loader *ld, const struct conf_value *value,
    const struct key_rule *rule)
{
	if (value->text[0] != '/')
		return value_error(ld, value, rule, "relative path");
	if (strlen(value->text) > PATH_MAX_LEN)
		return conf_error(ld->err, ld->errlen, ld->file, value->line,
		    value->column, "path for %s is longer than %d bytes; "
		    "use a shorter path", rule->key, PATH_MAX_LEN);
	return 0;
}

static int
set_path(struct loader *ld, const struct conf_node *node,
    const struct key_rule *rule, void *section)
{
	if (check_absolute_path(ld, &node->values[0], rule) != 0)
		return -1;
	return replace_string(ld, string_field(section, rule),
	    node->values[0].text, &node->values[0]);
}

/* Accepts 1 to rule->max bytes of printable text. */
static int
set_text(struct loader *ld, const struct conf_node *node,
    const struct key_rule *rule, void *section)
{
	const struct conf_value *value = &node->values[0];
	const unsigned char *p;
	size_t len = strlen(value->text);

	if (len == 0 || len > (size_t)rule->max)
		return value_error(ld, value, rule, "invalid value");
	for (p = (const unsigned char *)value->text; *p != '\0'; p++)
		if (*p < 0x20)
			return value_error(ld, value, rule, "invalid value");
	return replace_string(ld, string_field(section, rule), value->text,
	    value);
}

static int
set_user(struct loader *ld, const struct conf_node *node,
    const struct key_rule *rule, void *section)
{
	const struct conf_value *value = &node->values[0];
	size_t len = strlen(value->text);

	if (len == 0 || len > USER_NAME_MAX || value->text[0] == '-' ||
	    strspn(value->text, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != len)
		return value_error(ld, value, rule,
		    strcmp(rule->key, "group") == 0 ? "invalid group name" :
		    "invalid user name");
	return replace_string(ld, string_field(section, rule), value->text,
	    value);
}

/* Parses 1 to 9 decimal digits. Returns -1 for anything else. */
static long
parse_digits(const char *text, const char **end)
{
	long n = 0;
	int digits = 0;

	while (*text >= '0' && *text <= '9' && digits < 10) {
		n = n * 10 + (*text++ - '0');
		digits++;
	}
	*end = text;
	if (digits == 0 || digits > 9)
		return -1;
	return n;
}

/* Writes seconds in the largest unit that divides them: "90s", "5m". */
static const char *
format_duration(char *buf, size_t size, int seconds)
{
	if (seconds % 3600 == 0)
		snprintf(buf, size, "%dh", seconds / 3600);
	else if (seconds % 60 == 0)
		snprintf(buf, size, "%dm", seconds / 60);
	else
		snprintf(buf, size, "%ds", seconds);
	return buf;
}

/* A duration is a number of seconds, or a number with a unit s, m or h. */
static int
set_duration(struct loader *ld, const struct conf_node *node,
    const struct key_rule *rule, void *section)
{
	const struct conf_value *value = &node->values[0];
	char low[16], high[16], buf[VALUE_SHOWN_MAX];
	const char *end;
	long n, unit = 1;

	n = parse_digits(value->text, &end);
	if (*end == 'm')
		unit = 60;
	else if (*end == 'h')
		unit = 3600;
	else if (*end != 's' && *end != '\0')
		n = -1;
	if (*end != '\0' && end[1] != '\0')
		n = -1;
	if (n < 0)
		return value_error(ld, value, rule, "invalid duration");

	/* Compared before multiplying, so that "999999999h" cannot overflow. */
	if (n < rule->min || n > rule->max / unit || n * unit < rule->min)
		return conf_error(ld->err, ld->errlen, ld->file, value->line,
		    value->column, "%s '%s' is out of range; use a duration "
		    "from %s to %s", rule->key, shown(buf, value->text),
		    format_duration(low, sizeof(low), rule->min),
		    format_duration(high, sizeof(high), rule->max));
	*int_field(section, rule) = (int)(n * unit);
	return 0;
}

static int
set_count(struct loader *ld, const struct conf_node *node,
    const struct key_rule *rule, void *section)
{
	const struct conf_value *value = &node->values[0];
	char buf[VALUE_SHOWN_MAX];
	const char *end;
	long n;

	n = parse_digits(value->text, &end);
	if (n < 0 || *end != '\0')
		return value_error(ld, value, rule, "invalid number");
	if (n < rule->min || n > rule->max)
		return conf_error(ld->err, ld->errlen, ld->file, value->line,
		    value->column, "%s '%s' is out of range; use a number "
		    "from %d to %d", rule->key, shown(buf, value->text),
		    rule->min, rule->max);
	*int_field(section, rule) = (int)n;
	return 0;
}

static int
set_key_type(struct loader *ld, const struct conf_node *node,
    const struct key_rule *rule, void *section)
{
	const struct conf_value *value = &node->values[0];
	enum key_type type;

	if (key_type_parse(value->text, &type) != 0)
		return value_error(ld, value, rule, "unknown key type");
	*(enum key_type *)((char *)section + rule->offset) = type;
	return 0;
}

static int
set_yes_no(struct loader *ld, const struct conf_node *node,
    const struct key_rule *rule, void *section)
{
	const struct conf_value *value = &node->values[0];

	if (strcmp(value->text, "yes") == 0)
		*int_field(section, rule) = 1;
	else if (strcmp(value->text, "no") == 0)
		*int_field(section, rule) = 0;
	else
		return value_error(ld, value, rule, "invalid value");
	return 0;
}

/*
 * Accepts https://HOST[...] with no blank or control character and no
 * user information, which the signer's origin check rejects.
 */
static int
set_https_url(struct loader *ld, const struct conf_node *node,
    const struct key_rule *rule, void *section)
{
	const struct conf_value *value = &node->values[0];
	const unsigned char *p;
	const char *host = value->text + strlen("https://");

	if (strncasecmp(value->text, "https://", strlen("https://")) != 0 ||
	    *host == '\0' || *host == '/' || *host == '?' || *host == '#')
		return value_error(ld, value, rule, "non-https URL");
	/* Not shown, because user information may hold a password. */
	if (memchr(host, '@', strcspn(host, "/?#")) != NULL)
		return conf_error(ld->err, ld->errlen, ld->file, value->line,
		    value->column, "URL for %s contains user information "
		    "(\"user@\"); remove it, because an ACME directory "
		    "URL carries no credentials", rule->key);
	for (p = (const unsigned char *)value->text; *p != '\0'; p++)
		if (*p <= 0x20)
			return value_error(ld, value, rule, "invalid URL");
	return replace_string(ld, string_field(section, rule), value->text,
	    value);
}

/* Accepts mailto:LOCAL@DOMAIN, one address without header fields. */
static int
check_contact(struct loader *ld, const struct conf_value *value,
    const struct key_rule *rule)
{
	const char *address, *at;
	const unsigned char *p;

	/* First, because a value shorter than the prefix has no address. */
	if (strncasecmp(value->text, "mailto:", strlen("mailto:")) != 0)
		return value_error(ld, value, rule, "non-mailto URL");
	address = value->text + strlen("mailto:");
	at = strchr(address, '@');
	if (at == NULL || at == address || at[1] == '\0' ||
	    strchr(at + 1, '@') != NULL || strpbrk(address, ",?") != NULL)
		return value_error(ld, value, rule, "invalid e-mail address");
	for (p = (const unsigned char *)address; *p != '\0'; p++)
		if (*p <= 0x20)
			return value_error(ld, value, rule,
			    "invalid e-mail address");
	return 0;
}

static int
add_contact(struct loader *ld, const struct conf_node *node,
    const struct key_rule *rule, void *section)
{
	struct config_issuer *issuer = section;
	const struct conf_value *value = &node->values[0];
	char **contacts;

	if (check_contact(ld, value, rule) != 0)
		return -1;
	contacts = realloc(issuer->contacts,
	    (issuer->contact_count + 1) * sizeof(*contacts));
	if (contacts == NULL)
		return conf_error(ld->err, ld->errlen, ld->file, value->line,
		    value->column, "out of memory");
	issuer->contacts = contacts;
	contacts[issuer->contact_count] = NULL;
	if (replace_string(ld, &contacts[issuer->contact_count], value->text,
	    value) != 0)
		return -1;
	issuer->contact_count++;
	return 0;
}

static int
set_listen(struct loader *ld, const struct conf_node *node,
    const struct key_rule *rule, struct config_challenge *challenge)
{
	const struct conf_value *address = &node->values[1];
	const struct conf_value *port = &node->values[2];
	unsigned char addr[16];
	char buf[VALUE_SHOWN_MAX];
	const char *end;
	long n;

	if (inet_pton(AF_INET, address->text, addr) != 1 &&
	    inet_pton(AF_INET6, address->text, addr) != 1)
		return conf_error(ld->err, ld->errlen, ld->file,
		    address->line, address->column, "invalid listen address "
		    "'%s' for %s; use an IPv4 or IPv6 address such as "
		    "0.0.0.0 or ::", shown(buf, address->text), rule->key);
	n = parse_digits(port->text, &end);
	if (n < 1 || n > 65535 || *end != '\0')
		return conf_error(ld->err, ld->errlen, ld->file, port->line,
		    port->column, "invalid port '%s' for %s; use a number "
		    "from 1 to 65535", shown(buf, port->text), rule->key);
	challenge->http01_mode = HTTP01_LISTEN;
	challenge->http01_port = (int)n;
	return replace_string(ld, &challenge->http01_address, address->text,
	    address);
}

/* http-01 listen ADDRESS PORT | http-01 webroot DIR */
static int
set_http01(struct loader *ld, const struct conf_node *node,
    const struct key_rule *rule, void *section)
{
	struct config_challenge *challenge = section;
	const struct conf_value *mode;
	char buf[VALUE_SHOWN_MAX];
	size_t expected = 0;

	if (node->value_count == 0)
		return conf_error(ld->err, ld->errlen, ld->file, node->line,
		    node->column, "key '%s' has no value; use %s", rule->key,
		    rule->form);
	mode = &node->values[0];
	if (strcmp(mode->text, "listen") == 0)
		expected = 3;
	else if (strcmp(mode->text, "webroot") == 0)
		expected = 2;
	else
		return value_error(ld, mode, rule, "unknown mode");
	if (node->value_count != expected)
		return conf_error(ld->err, ld->errlen, ld->file, node->line,
		    node->column, "%s %s takes %zu value%s, got %zu; use %s",
		    rule->key, shown(buf, mode->text), expected - 1,
		    expected == 2 ? "" : "s", node->value_count - 1,
		    rule->form);
	if (expected == 3)
		return set_listen(ld, node, rule, challenge);
	if (check_absolute_path(ld, &node->values[1], rule) != 0)
		return -1;
	challenge->http01_mode = HTTP01_WEBROOT;
	return replace_string(ld, &challenge->webroot, node->values[1].text,
	    &node->values[1]);
}

/*
 * Returns 1 for an account name: it becomes part of key labels and file
 * names, so it has the same form as an issuer name.
 */
static int
is_plain_name(const char *text)
{
	size_t len = strlen(text);

	return len > 0 && len <= ISSUER_NAME_MAX &&
	    strchr("._-", text[0]) == NULL &&
	    strspn(text, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == len;
}

/* account NAME ...: one or more names, and the key may be repeated. */
static int
add_accounts(struct loader *ld, const struct conf_node *node,
    const struct key_rule *rule, void *section)
{
	struct config_issuer *issuer = section;
	const struct conf_value *value;
	char **grown;

	if (node->value_count == 0)
		return conf_error(ld->err, ld->errlen, ld->file, node->line,
		    node->column, "key '%s' has no value; use %s", rule->key,
		    rule->form);
	for (size_t i = 0; i < node->value_count; i++) {
		value = &node->values[i];
		if (!is_plain_name(value->text))
			return value_error(ld, value, rule, "invalid name");
		if (config_issuer_has_account(issuer, value->text))
			return value_error(ld, value, rule,
			    "repeated account");
		grown = realloc(issuer->accounts,
		    (issuer->account_count + 1) * sizeof(*grown));
		if (grown == NULL)
			return conf_error(ld->err, ld->errlen, ld->file,
			    value->line, value->column, "out of memory");
		issuer->accounts = grown;
		grown[issuer->account_count] = NULL;
		if (replace_string(ld, &grown[issuer->account_count],
		    value->text, value) != 0)
			return -1;
		issuer->account_count++;
	}
	return 0;
}

/*
 * eab-key-id KID: the key becomes part of a CKA_LABEL, so it is limited to
 * the base64url alphabet and '.', which covers the identifiers CAs issue.
 */
static int
set_eab_key_id(struct loader *ld, const struct conf_node *node,
    const struct key_rule *rule, void *section)
{
	const struct conf_value *value = &node->values[0];
	size_t len = strlen(value->text);

	if (len == 0 || len > (size_t)rule->max ||
	    strspn(value->text, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != len)
		return value_error(ld, value, rule, "invalid key id");
	return replace_string(ld, string_field(section, rule), value->text,
	    value);
}

static const char *const eab_algorithm_names[] = {
	[EAB_HS256] = "HS256",
	[EAB_HS384] = "HS384",
	[EAB_HS512] = "HS512",
};

const char *
eab_algorithm_name(enum eab_algorithm algorithm)
{
	if ((unsigned)algorithm > EAB_HS512)
		return NULL;
	return eab_algorithm_names[algorithm];
}

static int
set_eab_algorithm(struct loader *ld, const struct conf_node *node,
    const struct key_rule *rule, void *section)
{
	struct config_issuer *issuer = section;
	const struct conf_value *value = &node->values[0];

	for (int i = EAB_HS256; i <= EAB_HS512; i++) {
		if (strcmp(value->text, eab_algorithm_names[i]) == 0) {
			issuer->eab_algorithm = (enum eab_algorithm)i;
			return 0;
		}
	}
	return value_error(ld, value, rule, "unknown MAC algorithm");
}

/*
 * dns-01 and tls-alpn-01 settings: the challenge types, the tls-alpn-01
 * listener, DNS servers and the dns-zone blocks.
 */

#define DNS_NAME_MAX 253
#define DNS_LABEL_MAX 63

/* Checks ADDRESS and PORT values and stores them in *address and *port. */
static int
parse_server(struct loader *ld, const struct conf_value *address,
    const struct conf_value *port, const struct key_rule *rule,
    char **address_field, int *port_field)
{
	unsigned char addr[16];
	char buf[VALUE_SHOWN_MAX];
	const char *end;
	long n;

	if (inet_pton(AF_INET, address->text, addr) != 1 &&
	    inet_pton(AF_INET6, address->text, addr) != 1)
		return conf_error(ld->err, ld->errlen, ld->file,
		    address->line, address->column, "invalid address '%s' "
		    "for %s; use an IPv4 or IPv6 address such as 127.0.0.1 "
		    "or ::1", shown(buf, address->text), rule->key);
	n = parse_digits(port->text, &end);
	if (n < 1 || n > 65535 || *end != '\0')
		return conf_error(ld->err, ld->errlen, ld->file, port->line,
		    port->column, "invalid port '%s' for %s; use a number "
		    "from 1 to 65535", shown(buf, port->text), rule->key);
	*port_field = (int)n;
	return replace_string(ld, address_field, address->text, address);
}

/* Appends ADDRESS PORT to a list of servers. */
static int
add_server(struct loader *ld, const struct conf_node *node,
    const struct key_rule *rule, struct config_dns_server **list,
    size_t *count)
{
	struct config_dns_server *grown;

	grown = realloc(*list, (*count + 1) * sizeof(*grown));
	if (grown == NULL)
		return conf_error(ld->err, ld->errlen, ld->file, node->line,
		    node->column, "out of memory");
	*list = grown;
	memset(&grown[*count], 0, sizeof(grown[*count]));
	(*count)++;
	return parse_server(ld, &node->values[0], &node->values[1], rule,
	    &grown[*count - 1].address, &grown[*count - 1].port);
}

/* types TYPE ...: each of http-01, dns-01, tls-alpn-01 at most once. */
static int
set_challenge_types(struct loader *ld, const struct conf_node *node,
    const struct key_rule *rule, void *section)
{
	struct config_challenge *challenge = section;
	const struct conf_value *value;
	int type;

	if (node->value_count == 0)
		return conf_error(ld->err, ld->errlen, ld->file, node->line,
		    node->column, "key '%s' has no value; use %s", rule->key,
		    rule->form);
	challenge->type_count = 0;
	for (size_t i = 0; i < node->value_count; i++) {
		value = &node->values[i];
		for (type = 0; type < CHALLENGE_TYPE_COUNT; type++)
			if (strcmp(value->text,
			    challenge_type_names[type]) == 0)
				break;
		if (type == CHALLENGE_TYPE_COUNT)
			return value_error(ld, value, rule,
			    "unknown challenge type");
		for (size_t j = 0; j < challenge->type_count; j++)
			if (challenge->types[j] == (enum challenge_type)type)
				return value_error(ld, value, rule,
				    "repeated challenge type");
		challenge->types[challenge->type_count++] =
		    (enum challenge_type)type;
	}
	return 0;
}

/* tls-alpn-01 listen ADDRESS PORT */
static int
set_tlsalpn01(struct loader *ld, const struct conf_node *node,
    const struct key_rule *rule, void *section)
{
	struct config_challenge *challenge = section;

	if (strcmp(node->values[0].text, "listen") != 0)
		return value_error(ld, &node->values[0], rule,
		    "unknown mode");
	return parse_server(ld, &node->values[1], &node->values[2], rule,
	    &challenge->tlsalpn01_address, &challenge->tlsalpn01_port);
}

static int
add_dns_resolver(struct loader *ld, const struct conf_node *node,
    const struct key_rule *rule, void *section)
{
	struct config_challenge *challenge = section;

	return add_server(ld, node, rule, &challenge->dns_resolvers,
	    &challenge->dns_resolver_count);
}

static int
set_update_server(struct loader *ld, const struct conf_node *node,
    const struct key_rule *rule, void *section)
{
	struct config_dns_zone *zone = section;

	return parse_server(ld, &node->values[0], &node->values[1], rule,
	    &zone->server.address, &zone->server.port);
}

static int
add_nameserver(struct loader *ld, const struct conf_node *node,
    const struct key_rule *rule, void *section)
{
	struct config_dns_zone *zone = section;

	return add_server(ld, node, rule, &zone->nameservers,
	    &zone->nameserver_count);
}

/*
 * Writes the canonical form of a DNS name (lower case, no trailing dot)
 * into out, of size DNS_NAME_MAX + 1. Returns -1 for an empty name, a
 * label that is empty, longer than 63 bytes or has characters other than
 * letters, digits, '-' and '_', or a name longer than 253 bytes.
 */
static int
canonical_dns_name(const char *text, char *out)
{
	size_t len = strlen(text), label = 0;

	if (len > 0 && text[len - 1] == '.')
		len--;
	if (len == 0 || len > DNS_NAME_MAX)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (c == '.') {
			if (label == 0)
				return -1;
			label = 0;
		} else if (strchr("abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", c) != NULL &&
		    c != '\0') {
			if (++label > DNS_LABEL_MAX)
				return -1;
		} else {
			return -1;
		}
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	out[len] = '\0';
	return label == 0 ? -1 : 0;
}

/* tsig-key NAME ALGORITHM FILE */
static int
set_tsig_key(struct loader *ld, const struct conf_node *node,
    const struct key_rule *rule, void *section)
{
	struct config_dns_zone *zone = section;
	const struct conf_value *name = &node->values[0];
	const struct conf_value *algorithm = &node->values[1];
	char canonical[DNS_NAME_MAX + 1], buf[VALUE_SHOWN_MAX];

	if (canonical_dns_name(name->text, canonical) != 0)
		return conf_error(ld->err, ld->errlen, ld->file, name->line,
		    name->column, "invalid TSIG key name '%s'; use the key's "
		    "DNS name as in the server's 'key' statement",
		    shown(buf, name->text));
	if (strcmp(algorithm->text, "hmac-sha384") == 0)
		return conf_error(ld->err, ld->errlen, ld->file,
		    algorithm->line, algorithm->column, "TSIG algorithm "
		    "hmac-sha384 does not work with ldns 1.8.3, which "
		    "misspells its name; use hmac-sha256 or hmac-sha512");
	if (strcmp(algorithm->text, "hmac-sha256") != 0 &&
	    strcmp(algorithm->text, "hmac-sha512") != 0)
		return conf_error(ld->err, ld->errlen, ld->file,
		    algorithm->line, algorithm->column, "unsupported TSIG "
		    "algorithm '%s'; use hmac-sha256 or hmac-sha512",
		    shown(buf, algorithm->text));
	if (check_absolute_path(ld, &node->values[2], rule) != 0)
		return -1;
	if (replace_string(ld, &zone->tsig_name, canonical, name) != 0 ||
	    replace_string(ld, &zone->tsig_algorithm, algorithm->text,
	    algorithm) != 0)
		return -1;
	return replace_string(ld, &zone->tsig_secret_file,
	    node->values[2].text, &node->values[2]);
}

static int
set_propagation(struct loader *ld, const struct conf_node *node,
    const struct key_rule *rule, void *section)
{
	struct config_dns_zone *zone = section;
	const struct conf_value *value = &node->values[0];

	if (strcmp(value->text, "required") == 0)
		zone->propagation = DNS_PROPAGATION_REQUIRED;
	else if (strcmp(value->text, "advisory") == 0)
		zone->propagation = DNS_PROPAGATION_ADVISORY;
	else
		return value_error(ld, value, rule, "invalid value");
	return 0;
}

#define PATH_FORM "an absolute path such as /usr/lib/softhsm/libsofthsm2.so"
#define DIR_FORM "an absolute path such as /var/lib/custos"
#define USER_FORM "a user name of letters, digits, '_', '-' and '.'"
#define KEY_TYPE_FORM "one of ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096"
#define ACCOUNT_FORM "1 to 64 letters, digits, '.', '_' or '-', starting " \
	"with a letter or digit"

static const struct key_rule hsm_keys[] = {
	{ "module", 1, PATH_FORM, set_path,
	    offsetof(struct config_hsm, module), 0, 0, 1, 0 },
	{ "token-label", 1, "1 to 32 bytes of text", set_text,
	    offsetof(struct config_hsm, token_label), 0, TOKEN_LABEL_MAX, 0,
	    0 },
	{ "token-serial", 1, "1 to 16 bytes of text", set_text,
	    offsetof(struct config_hsm, token_serial), 0, TOKEN_SERIAL_MAX, 0,
	    0 },
	{ "pin-file", 1, "an absolute path such as /etc/custos/pin",
	    set_path, offsetof(struct config_hsm, pin_file), 0, 0, 1, 0 },
};

static const struct key_rule signer_keys[] = {
	{ "user", 1, USER_FORM, set_user,
	    offsetof(struct config_signer, user), 0, 0, 0, 0 },
	{ "program", 1, "an absolute path such as /usr/libexec/custos-signer",
	    set_path, offsetof(struct config_signer, program), 0, 0, 0, 0 },
};

static const struct key_rule broker_keys[] = {
	{ "user", 1, USER_FORM, set_user,
	    offsetof(struct config_broker, user), 0, 0, 0, 0 },
	{ "state-dir", 1, DIR_FORM, set_path,
	    offsetof(struct config_broker, state_dir), 0, 0, 0, 0 },
};

#define SERVER_FORM "ADDRESS PORT, such as 127.0.0.1 53"

static const struct key_rule challenge_keys[] = {
	{ "http-01", -1, "'listen ADDRESS PORT' or 'webroot DIRECTORY'",
	    set_http01, 0, 0, 0, 0, 0 },
	{ "types", -1, "one or more of http-01, dns-01, tls-alpn-01",
	    set_challenge_types, 0, 0, 0, 0, 0 },
	{ "tls-alpn-01", 3, "'listen ADDRESS PORT'", set_tlsalpn01, 0, 0, 0,
	    0, 0 },
	{ "dns-resolver", 2, SERVER_FORM, add_dns_resolver, 0, 0, 0, 0, 1 },
};

static const struct key_rule dns_zone_keys[] = {
	{ "server", 2, SERVER_FORM, set_update_server, 0, 0, 0, 0, 0 },
	{ "tsig-key", 3, "NAME ALGORITHM FILE, such as custos hmac-sha256 "
	    "/etc/custos/tsig.key", set_tsig_key, 0, 0, 0, 0, 0 },
	{ "ttl", 1, "a number of seconds from 1 to 86400", set_count,
	    offsetof(struct config_dns_zone, ttl), 1, 86400, 0, 0 },
	{ "nameserver", 2, SERVER_FORM, add_nameserver, 0, 0, 0, 0, 1 },
	{ "propagation", 1, "required or advisory", set_propagation, 0, 0, 0,
	    0, 0 },
	{ "propagation-timeout", 1, "a duration such as 120s or 5m",
	    set_duration, offsetof(struct config_dns_zone,
	    propagation_timeout), 1, 3600, 0, 0 },
	{ "propagation-interval", 1, "a duration such as 2s",
	    set_duration, offsetof(struct config_dns_zone,
	    propagation_interval), 1, 600, 0, 0 },
	{ "hook", 1, "an absolute path such as /usr/local/bin/dns-hook",
	    set_path, offsetof(struct config_dns_zone, hook), 0, 0, 0, 0 },
	{ "hook-timeout", 1, "a duration such as 30s or 2m", set_duration,
	    offsetof(struct config_dns_zone, hook_timeout), 1, 600, 0, 0 },
};

static const struct key_rule store_keys[] = {
	{ "directory", 1, "an absolute path such as /var/lib/custos/store",
	    set_path, offsetof(struct config_store, directory), 0, 0, 0, 0 },
};

static const struct key_rule acme_keys[] = {
	{ "poll-interval", 1, "seconds, or a number with s, m or h: 2s, 1m",
	    set_duration, offsetof(struct config_acme, poll_interval), 1,
	    3600, 0, 0 },
	{ "poll-first", 1, "a number of milliseconds from 1 to 60000",
	    set_count, offsetof(struct config_acme, poll_first_ms), 1, 60000,
	    0, 0 },
	{ "poll-timeout", 1, "seconds, or a number with s, m or h: 300s, 5m",
	    set_duration, offsetof(struct config_acme, poll_timeout), 1,
	    86400, 0, 0 },
	{ "http-timeout", 1, "seconds, or a number with s, m or h: 30s, 1m",
	    set_duration, offsetof(struct config_acme, http_timeout), 1, 600,
	    0, 0 },
	{ "bad-nonce-retries", 1, "a number from 0 to 20", set_count,
	    offsetof(struct config_acme, bad_nonce_retries), 0, 20, 0, 0 },
	{ "account-key-type", 1, KEY_TYPE_FORM, set_key_type,
	    offsetof(struct config_acme, account_key_type), 0, 0, 0, 0 },
	{ "certificate-key-type", 1, KEY_TYPE_FORM, set_key_type,
	    offsetof(struct config_acme, certificate_key_type), 0, 0, 0, 0 },
};

/*
 * A fraction is "N/M" or a decimal "0.DDD", stored in thousandths: "2/3"
 * is 666 and "0.5" is 500.
 */
static int
set_fraction(struct loader *ld, const struct conf_node *node,
    const struct key_rule *rule, void *section)
{
	const struct conf_value *value = &node->values[0];
	const char *text = value->text, *end;
	long n = -1, d, scale = 1000;

	if (strncmp(text, "0.", 2) == 0 && text[2] != '\0') {
		n = 0;
		for (end = text + 2; *end >= '0' && *end <= '9'; end++) {
			if (scale > 1) {
				scale /= 10;
				n += (*end - '0') * scale;
			}
		}
		if (*end != '\0')
			n = -1;
	} else if ((n = parse_digits(text, &end)) >= 0 && *end == '/' &&
	    (d = parse_digits(end + 1, &end)) > 0 && *end == '\0' &&
	    n < d) {
		n = n * 1000 / d;
	} else {
		n = -1;
	}
	if (n < rule->min || n > rule->max)
		return value_error(ld, value, rule, "invalid fraction");
	*int_field(section, rule) = (int)n;
	return 0;
}

#define DURATION_FORM "seconds, or a number with s, m or h: 90s, 5m, 2h"

static const struct key_rule daemon_keys[] = {
	{ "renew-fraction", 1, "a fraction of the lifetime from 0.001 to "
	    "0.999, such as 2/3 or 0.5", set_fraction,
	    offsetof(struct config_daemon, renew_fraction), 1, 999, 0, 0 },
	{ "renew-before", 1, DURATION_FORM, set_duration,
	    offsetof(struct config_daemon, renew_before), 1, 3650 * 86400,
	    0, 0 },
	{ "renew-jitter", 1, DURATION_FORM, set_duration,
	    offsetof(struct config_daemon, renew_jitter), 0, 7 * 86400, 0,
	    0 },
	{ "retry-base", 1, DURATION_FORM, set_duration,
	    offsetof(struct config_daemon, retry_base), 1, 86400, 0, 0 },
	{ "retry-max", 1, DURATION_FORM, set_duration,
	    offsetof(struct config_daemon, retry_max), 1, 7 * 86400, 0, 0 },
	{ "order-deadline", 1, DURATION_FORM, set_duration,
	    offsetof(struct config_daemon, order_deadline), 10, 7 * 86400,
	    0, 0 },
	{ "poll-interval", 1, DURATION_FORM, set_duration,
	    offsetof(struct config_daemon, poll_interval), 1, 3600, 0, 0 },
	{ "restart-max", 1, DURATION_FORM, set_duration,
	    offsetof(struct config_daemon, restart_max), 1, 3600, 0, 0 },
	{ "concurrency", 1, "a number of orders from 1 to 256", set_count,
	    offsetof(struct config_daemon, concurrency), 1, 256, 0, 0 },
	{ "connections", 1, "a number of connections from 1 to 256",
	    set_count, offsetof(struct config_daemon, connections), 1, 256,
	    0, 0 },
	{ "deploy-hook", 1, "an absolute path such as /etc/custos/deploy",
	    set_path, offsetof(struct config_daemon, deploy_hook), 0, 0, 0,
	    0 },
	{ "deploy-timeout", 1, DURATION_FORM, set_duration,
	    offsetof(struct config_daemon, deploy_timeout), 1, 3600, 0, 0 },
	{ "trust-anchors", 1, "an absolute path such as "
	    "/etc/custos/ca-roots.pem", set_path,
	    offsetof(struct config_daemon, trust_anchors), 0, 0, 0, 0 },
};

static const struct key_rule issuer_keys[] = {
	{ "directory", 1, "the https:// URL of the ACME directory",
	    set_https_url, offsetof(struct config_issuer, directory), 0, 0, 1,
	    0 },
	{ "trust-bundle", 1, "an absolute path such as /etc/custos/ca.pem",
	    set_path, offsetof(struct config_issuer, trust_bundle), 0, 0, 0,
	    0 },
	{ "contact", 1, "a mailto: URL such as mailto:admin@example.org",
	    add_contact, 0, 0, 0, 0, 1 },
	{ "agree-tos", 1, "yes or no", set_yes_no,
	    offsetof(struct config_issuer, agree_tos), 0, 0, 0, 0 },
	{ "account", -1, ACCOUNT_FORM, add_accounts, 0, 0, 0, 0, 1 },
	{ "eab-key-id", 1, "the key identifier the CA gave, of letters, "
	    "digits, '.', '_' and '-'", set_eab_key_id,
	    offsetof(struct config_issuer, eab_key_id), 0, 128, 0, 0 },
	{ "eab-key-file", 1, "an absolute path such as /etc/custos/eab.key",
	    set_path, offsetof(struct config_issuer, eab_key_file), 0, 0, 0,
	    0 },
	{ "eab-algorithm", 1, "HS256, HS384 or HS512", set_eab_algorithm, 0,
	    0, 0, 0, 0 },
	{ "preferred-chain", 1, "the common name of a root, such as "
	    "\"ISRG Root X1\"", set_text,
	    offsetof(struct config_issuer, preferred_chain), 0, 256, 0, 0 },
	{ "profile", 1, "a profile name that the CA's directory lists",
	    set_text, offsetof(struct config_issuer, profile), 0, 64, 0, 0 },
};

static const struct key_rule policy_keys[] = {
	{ "file", 1, "an absolute path such as /etc/custos/policy.conf",
	    set_path, offsetof(struct config_policy, file), 0, 0, 1, 0 },
};

#define AUDIT_ROTATE_MIN 4096LL
#define AUDIT_ROTATE_MAX (1LL << 40)
#define SIZE_FORM "bytes, or a number with K, M or G (powers of 1024) " \
	"such as 64M; 0 rotates only on 'custos audit rotate'"

/* A size is 0, or bytes with an optional K, M or G, in a range. */
static int
set_rotate_size(struct loader *ld, const struct conf_node *node,
    const struct key_rule *rule, void *section)
{
	const struct conf_value *value = &node->values[0];
	struct config_audit *audit = section;
	char buf[VALUE_SHOWN_MAX];
	const char *end;
	long long n, unit = 1;

	n = parse_digits(value->text, &end);
	if (*end == 'K')
		unit = 1024;
	else if (*end == 'M')
		unit = 1024 * 1024;
	else if (*end == 'G')
		unit = 1024 * 1024 * 1024;
	else if (*end != '\0')
		n = -1;
	if (*end != '\0' && end[1] != '\0')
		n = -1;
	if (n < 0)
		return value_error(ld, value, rule, "invalid size");
	n *= unit;
	if (n != 0 && (n < AUDIT_ROTATE_MIN || n > AUDIT_ROTATE_MAX))
		return conf_error(ld->err, ld->errlen, ld->file, value->line,
		    value->column, "%s '%s' is out of range; use 0 or a size "
		    "from 4K to 1024G", rule->key, shown(buf, value->text));
	audit->rotate_size = n;
	return 0;
}

static const struct key_rule audit_keys[] = {
	{ "file", 1, "an absolute path such as /var/log/custos/audit.log",
	    set_path, offsetof(struct config_audit, file), 0, 0, 0, 0 },
	{ "checkpoint-interval", 1, "a duration from 1s to 24h, such as 1h",
	    set_duration, offsetof(struct config_audit, checkpoint_interval),
	    1, 86400, 0, 0 },
	{ "rotate-size", 1, SIZE_FORM, set_rotate_size, 0, 0, 0, 0, 0 },
};

/* listen ADDRESS PORT: the API's TCP listener. */
static int
set_api_listen(struct loader *ld, const struct conf_node *node,
    const struct key_rule *rule, void *section)
{
	struct config_api *api = section;

	return parse_server(ld, &node->values[0], &node->values[1], rule,
	    &api->listen_address, &api->listen_port);
}

/* tls-min-version 1.2 | 1.3 */
static int
set_tls_version(struct loader *ld, const struct conf_node *node,
    const struct key_rule *rule, void *section)
{
	const struct conf_value *value = &node->values[0];

	if (strcmp(value->text, "1.2") == 0)
		*int_field(section, rule) = 12;
	else if (strcmp(value->text, "1.3") == 0)
		*int_field(section, rule) = 13;
	else
		return value_error(ld, value, rule, "unsupported TLS version");
	return 0;
}

static const struct key_rule api_keys[] = {
	{ "socket", 1, "an absolute path such as /run/custos/api.sock",
	    set_path, offsetof(struct config_api, socket), 0, 0, 1, 0 },
	{ "group", 1, "a group name such as custos-api", set_user,
	    offsetof(struct config_api, group), 0, 0, 0, 0 },
	{ "listen", 2, "'ADDRESS PORT' such as '127.0.0.1 8443'",
	    set_api_listen, 0, 0, 0, 0, 0 },
	{ "allow-remote", 1, "yes or no", set_yes_no,
	    offsetof(struct config_api, allow_remote), 0, 0, 0, 0 },
	{ "tls-certificate", 1, "an absolute path such as "
	    "/etc/custos/api-cert.pem", set_path,
	    offsetof(struct config_api, tls_certificate), 0, 0, 0, 0 },
	{ "tls-key", 1, "an absolute path such as /etc/custos/api-key.pem",
	    set_path, offsetof(struct config_api, tls_key), 0, 0, 0, 0 },
	{ "tls-min-version", 1, "1.2 or 1.3", set_tls_version,
	    offsetof(struct config_api, tls_min_version), 0, 0, 0, 0 },
	{ "connections-per-address", 1, "a number from 1 to 32",
	    set_count,
	    offsetof(struct config_api, connections_per_address), 1,
	    CONFIG_API_CONNECTIONS_MAX, 0, 0 },
};

static void
list_keys(char *buf, size_t size, const struct key_rule *keys, size_t count)
{
	size_t i, used = 0;
	int n;

	buf[0] = '\0';
	for (i = 0; i < count && used < size; i++) {
		n = snprintf(buf + used, size - used, "%s%s",
		    i == 0 ? "" : ", ", keys[i].key);
		if (n < 0)
			return;
		used += (size_t)n;
	}
}

static const struct key_rule *
find_rule(const struct key_rule *keys, size_t count, const char *key)
{
	size_t i;

	for (i = 0; i < count; i++)
		if (strcmp(keys[i].key, key) == 0)
			return &keys[i];
	return NULL;
}

/* Returns the first earlier sibling of children[index] with the same key. */
static const struct conf_node *
find_earlier(const struct conf_node *block, size_t index)
{
	size_t i;

	for (i = 0; i < index; i++)
		if (strcmp(block->children[i].key,
		    block->children[index].key) == 0)
			return &block->children[i];
	return NULL;
}

static int
check_value_count(struct loader *ld, const struct conf_node *node,
    const struct key_rule *rule)
{
	const struct conf_value *extra;

	if (rule->values < 0 || node->value_count == (size_t)rule->values)
		return 0;
	if (node->value_count == 0)
		return conf_error(ld->err, ld->errlen, ld->file, node->line,
		    node->column, "key '%s' has no value; use %s", rule->key,
		    rule->form);
	extra = &node->values[rule->values];
	return conf_error(ld->err, ld->errlen, ld->file, extra->line,
	    extra->column, "key '%s' takes %d value, got %zu; use %s, in "
	    "double quotes if it contains spaces", rule->key, rule->values,
	    node->value_count, rule->form);
}

static int
apply_statement(struct loader *ld, const struct conf_node *block,
    size_t index, const struct key_rule *keys, size_t count, void *section)
{
	const struct conf_node *node = &block->children[index];
	const struct conf_node *earlier;
	const struct key_rule *rule;
	char names[256];

	rule = find_rule(keys, count, node->key);
	if (rule == NULL) {
		list_keys(names, sizeof(names), keys, count);
		return conf_error(ld->err, ld->errlen, ld->file, node->line,
		    node->column, "unknown key '%s' in block '%s' (expected "
		    "one of: %s)", node->key, ld->block_name, names);
	}
	earlier = find_earlier(block, index);
	if (earlier != NULL && !rule->repeatable)
		return conf_error(ld->err, ld->errlen, ld->file, node->line,
		    node->column, "duplicate key '%s' in block '%s'; the "
		    "first is at line %d, remove one", node->key,
		    ld->block_name, earlier->line);
	if (node->has_block)
		return conf_error(ld->err, ld->errlen, ld->file, node->line,
		    node->column, "key '%s' takes no block; write '%s' "
		    "and its value on one line", node->key, node->key);
	if (check_value_count(ld, node, rule) != 0)
		return -1;
	return rule->apply(ld, node, rule, section);
}

/* Applies every statement of block to section, then checks required keys. */
static int
apply_block(struct loader *ld, const struct conf_node *block,
    const struct key_rule *keys, size_t count, void *section)
{
	size_t i, j;

	for (i = 0; i < block->child_count; i++)
		if (apply_statement(ld, block, i, keys, count, section) != 0)
			return -1;

	for (i = 0; i < count; i++) {
		if (!keys[i].required)
			continue;
		for (j = 0; j < block->child_count; j++)
			if (strcmp(block->children[j].key, keys[i].key) == 0)
				break;
		if (j == block->child_count)
			return conf_error(ld->err, ld->errlen, ld->file,
			    block->line, block->column, "block '%s' is "
			    "missing required key '%s'; add '%s' with %s",
			    ld->block_name, keys[i].key, keys[i].key,
			    keys[i].form);
	}
	return 0;
}

static int
check_unlabeled(struct loader *ld, const struct conf_node *block)
{
	if (block->value_count == 0)
		return 0;
	return conf_error(ld->err, ld->errlen, ld->file,
	    block->values[0].line, block->values[0].column, "block '%s' "
	    "takes no name; write '%s {'", block->key, block->key);
}

#define APPLY_KEYS(ld, block, keys, section) \
	apply_block(ld, block, keys, sizeof(keys) / sizeof(keys[0]), section)

static int
load_hsm(struct loader *ld, const struct conf_node *block)
{
	struct config_hsm *hsm = &ld->config->hsm;
	const struct conf_node *serial = NULL;
	size_t i;

	if (APPLY_KEYS(ld, block, hsm_keys, hsm) != 0)
		return -1;
	for (i = 0; i < block->child_count; i++)
		if (strcmp(block->children[i].key, "token-serial") == 0)
			serial = &block->children[i];
	if (hsm->token_label != NULL && serial != NULL)
		return conf_error(ld->err, ld->errlen, ld->file, serial->line,
		    serial->column, "block 'hsm' sets both token-label and "
		    "token-serial; keep one of them");
	if (hsm->token_label == NULL && serial == NULL)
		return conf_error(ld->err, ld->errlen, ld->file, block->line,
		    block->column, "block 'hsm' is missing required key "
		    "'token-label' or 'token-serial'; add one of them");
	return 0;
}

static int
load_signer(struct loader *ld, const struct conf_node *block)
{
	return APPLY_KEYS(ld, block, signer_keys, &ld->config->signer);
}

static int
load_broker(struct loader *ld, const struct conf_node *block)
{
	return APPLY_KEYS(ld, block, broker_keys, &ld->config->broker);
}

static int
load_challenge(struct loader *ld, const struct conf_node *block)
{
	return APPLY_KEYS(ld, block, challenge_keys, &ld->config->challenge);
}

static int
load_store(struct loader *ld, const struct conf_node *block)
{
	return APPLY_KEYS(ld, block, store_keys, &ld->config->store);
}

static int
load_policy(struct loader *ld, const struct conf_node *block)
{
	return APPLY_KEYS(ld, block, policy_keys, &ld->config->policy);
}

static int
load_audit(struct loader *ld, const struct conf_node *block)
{
	return APPLY_KEYS(ld, block, audit_keys, &ld->config->audit);
}

/* Returns 1 for an address in 127.0.0.0/8 or ::1. */
static int
is_loopback(const char *address)
{
	unsigned char addr[16];
	static const unsigned char ipv6_loopback[16] = { [15] = 1 };

	if (inet_pton(AF_INET, address, addr) == 1)
		return addr[0] == 127;
	return inet_pton(AF_INET6, address, addr) == 1 &&
	    memcmp(addr, ipv6_loopback, sizeof(addr)) == 0;
}

/* Checks what the TCP keys of the api block mean together. */
static int
check_api_tcp(struct loader *ld, const struct conf_node *block,
    const struct config_api *api)
{
	const char *problem = NULL;

	if (api->listen_address == NULL) {
		if (api->tls_certificate != NULL || api->tls_key != NULL)
			problem = "sets a TLS key or certificate without "
			    "'listen'; add 'listen ADDRESS PORT' or remove "
			    "them";
		else if (api->allow_remote)
			problem = "sets 'allow-remote' without 'listen'; add "
			    "'listen ADDRESS PORT' or remove it";
	} else if (api->tls_certificate == NULL || api->tls_key == NULL) {
		problem = "sets 'listen' without both 'tls-certificate' and "
		    "'tls-key'; the TCP listener serves TLS only, so add "
		    "both";
	}
	if (problem != NULL)
		return conf_error(ld->err, ld->errlen, ld->file, block->line,
		    block->column, "block 'api' %s", problem);
	if (api->listen_address != NULL && !api->allow_remote &&
	    !is_loopback(api->listen_address))
		return conf_error(ld->err, ld->errlen, ld->file, block->line,
		    block->column, "api listen address %s is not a loopback "
		    "address, so other hosts could reach the API; use "
		    "127.0.0.1 or ::1, or add 'allow-remote yes' to accept "
		    "connections from the network", api->listen_address);
	return 0;
}

static int
load_api(struct loader *ld, const struct conf_node *block)
{
	struct config_api *api = &ld->config->api;

	api->tls_min_version = 12;
	api->connections_per_address = CONFIG_API_PER_ADDRESS_DEFAULT;
	if (APPLY_KEYS(ld, block, api_keys, api) != 0)
		return -1;
	return check_api_tcp(ld, block, api);
}

static int
load_acme(struct loader *ld, const struct conf_node *block)
{
	struct config_acme *acme = &ld->config->acme;

	if (APPLY_KEYS(ld, block, acme_keys, acme) != 0)
		return -1;
	if (acme->poll_interval > acme->poll_timeout)
		return conf_error(ld->err, ld->errlen, ld->file, block->line,
		    block->column, "poll-interval (%ds) is longer than "
		    "poll-timeout (%ds); lower poll-interval or raise "
		    "poll-timeout", acme->poll_interval, acme->poll_timeout);
	return 0;
}

static int
load_daemon(struct loader *ld, const struct conf_node *block)
{
	struct config_daemon *daemon = &ld->config->daemon;

	if (APPLY_KEYS(ld, block, daemon_keys, daemon) != 0)
		return -1;
	if (daemon->retry_base > daemon->retry_max)
		return conf_error(ld->err, ld->errlen, ld->file, block->line,
		    block->column, "retry-base (%ds) is longer than "
		    "retry-max (%ds); lower retry-base or raise retry-max",
		    daemon->retry_base, daemon->retry_max);
	return 0;
}

/*
 * An issuer name may become part of file names, so it is limited to
 * letters, digits, '.', '_' and '-', and cannot start with '.' or '-'.
 */
static int
check_issuer_name(struct loader *ld, const struct conf_node *block)
{
	const struct conf_value *name;
	char buf[VALUE_SHOWN_MAX];
	size_t len;

	if (block->value_count != 1)
		return conf_error(ld->err, ld->errlen, ld->file, block->line,
		    block->column, "block 'issuer' takes one name, got %zu; "
		    "write 'issuer NAME {'", block->value_count);
	name = &block->values[0];
	len = strlen(name->text);
	if (len == 0 || len > ISSUER_NAME_MAX ||
	    strchr("._-", name->text[0]) != NULL ||
	    strspn(name->text, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != len)
		return conf_error(ld->err, ld->errlen, ld->file, name->line,
		    name->column, "invalid issuer name '%s'; use 1 to %d "
		    "letters, digits, '.', '_' or '-', starting with a letter "
		    "or digit", shown(buf, name->text), ISSUER_NAME_MAX);
	return 0;
}

/* Makes the issuer's name its only account when no account is listed. */
static int
set_default_account(struct loader *ld, const struct conf_node *block,
    struct config_issuer *issuer)
{
	if (issuer->account_count == 0) {
		issuer->accounts = calloc(1, sizeof(*issuer->accounts));
		if (issuer->accounts == NULL ||
		    (issuer->accounts[0] = strdup(issuer->name)) == NULL)
			return conf_error(ld->err, ld->errlen, ld->file,
			    block->line, block->column, "out of memory");
		issuer->account_count = 1;
	}
	issuer->account = strdup(issuer->accounts[0]);
	if (issuer->account == NULL)
		return conf_error(ld->err, ld->errlen, ld->file, block->line,
		    block->column, "out of memory");
	return 0;
}

static int
load_issuer(struct loader *ld, const struct conf_node *block)
{
	struct custos_config *config = ld->config;
	struct config_issuer *issuer;
	char label[ISSUER_NAME_MAX + 16];
	size_t i;

	if (check_issuer_name(ld, block) != 0)
		return -1;
	for (i = 0; i < config->issuer_count; i++)
		if (strcmp(config->issuers[i].name,
		    block->values[0].text) == 0)
			return conf_error(ld->err, ld->errlen, ld->file,
			    block->values[0].line, block->values[0].column,
			    "duplicate issuer '%s'; the first is at line %d, "
			    "rename or remove one", config->issuers[i].name,
			    config->issuers[i].origin.line);

	/* The caller sized config->issuers for every issuer block. */
	issuer = &config->issuers[config->issuer_count++];
	issuer->origin.file = config->path;
	issuer->origin.line = block->line;
	issuer->origin.column = block->column;
	issuer->name = strdup(block->values[0].text);
	if (issuer->name == NULL)
		return conf_error(ld->err, ld->errlen, ld->file, block->line,
		    block->column, "out of memory");
	snprintf(label, sizeof(label), "issuer %s", issuer->name);
	ld->block_name = label;
	if (APPLY_KEYS(ld, block, issuer_keys, issuer) != 0)
		return -1;
	if (issuer->eab_key_file != NULL && issuer->eab_key_id == NULL)
		return conf_error(ld->err, ld->errlen, ld->file, block->line,
		    block->column, "block '%s' sets eab-key-file without "
		    "eab-key-id; add 'eab-key-id KID' as the CA gave it",
		    ld->block_name);
	return set_default_account(ld, block, issuer);
}

/* Checks what the keys of one dns-zone block mean together. */
static int
check_dns_zone(struct loader *ld, const struct conf_node *block,
    const struct config_dns_zone *zone)
{
	const char *problem = NULL;

	if (zone->server.address == NULL && zone->hook == NULL)
		problem = "sets neither 'server' nor 'hook'; add 'server "
		    "ADDRESS PORT' with 'tsig-key', or 'hook PROGRAM'";
	else if (zone->server.address != NULL && zone->hook != NULL)
		problem = "sets both 'server' and 'hook'; keep one of them";
	else if (zone->server.address != NULL && zone->tsig_name == NULL)
		problem = "is missing required key 'tsig-key'; add 'tsig-key "
		    "NAME ALGORITHM FILE' (updates must be signed)";
	else if (zone->hook != NULL && zone->tsig_name != NULL)
		problem = "sets 'tsig-key' with 'hook'; remove 'tsig-key' or "
		    "use 'server'";
	else if (zone->propagation_interval > zone->propagation_timeout)
		problem = "has propagation-interval longer than "
		    "propagation-timeout; lower the interval";
	if (problem == NULL)
		return 0;
	return conf_error(ld->err, ld->errlen, ld->file, block->line,
	    block->column, "block '%s' %s", ld->block_name, problem);
}

static int
load_dns_zone(struct loader *ld, const struct conf_node *block)
{
	struct custos_config *config = ld->config;
	struct config_dns_zone *zone;
	char name[DNS_NAME_MAX + 1], label[DNS_NAME_MAX + 16];
	char buf[VALUE_SHOWN_MAX];
	const struct conf_value *value;

	if (block->value_count != 1)
		return conf_error(ld->err, ld->errlen, ld->file, block->line,
		    block->column, "block 'dns-zone' takes one name, got %zu; "
		    "write 'dns-zone ZONE {'", block->value_count);
	value = &block->values[0];
	if (canonical_dns_name(value->text, name) != 0)
		return conf_error(ld->err, ld->errlen, ld->file, value->line,
		    value->column, "invalid zone name '%s'; use a DNS name "
		    "such as example.org, with A-labels (xn--...) for "
		    "international names", shown(buf, value->text));
	for (size_t i = 0; i < config->dns_zone_count; i++)
		if (strcmp(config->dns_zones[i].name, name) == 0)
			return conf_error(ld->err, ld->errlen, ld->file,
			    value->line, value->column, "duplicate dns-zone "
			    "'%s'; the first is at line %d, merge the two",
			    name, config->dns_zones[i].origin.line);

	/* The caller sized config->dns_zones for every dns-zone block. */
	zone = &config->dns_zones[config->dns_zone_count++];
	zone->origin.file = config->path;
	zone->origin.line = block->line;
	zone->origin.column = block->column;
	zone->ttl = 60;
	zone->hook_timeout = 60;
	zone->propagation_timeout = 120;
	zone->propagation_interval = 2;
	zone->propagation = DNS_PROPAGATION_REQUIRED;
	zone->name = strdup(name);
	if (zone->name == NULL)
		return conf_error(ld->err, ld->errlen, ld->file, block->line,
		    block->column, "out of memory");
	snprintf(label, sizeof(label), "dns-zone %s", name);
	ld->block_name = label;
	if (APPLY_KEYS(ld, block, dns_zone_keys, zone) != 0)
		return -1;
	return check_dns_zone(ld, block, zone);
}

/* dns-01 needs at least one zone to publish its records in. */
static int
check_challenge_types(struct loader *ld)
{
	const struct custos_config *config = ld->config;

	if (config_challenge_enabled(config, CHALLENGE_DNS01) &&
	    config->dns_zone_count == 0) {
		snprintf(ld->err, ld->errlen, "%s: challenge types list "
		    "dns-01 but no 'dns-zone' block exists; add 'dns-zone "
		    "ZONE {' (see docs/configuration.md)", ld->file);
		return -1;
	}
	return 0;
}

static const struct {
	const char *name;
	int (*load)(struct loader *ld, const struct conf_node *block);
	int labeled;
	int required;
} blocks[] = {
	{ "hsm", load_hsm, 0, 1 },
	{ "signer", load_signer, 0, 0 },
	{ "broker", load_broker, 0, 0 },
	{ "challenge", load_challenge, 0, 0 },
	{ "store", load_store, 0, 0 },
	{ "acme", load_acme, 0, 0 },
	{ "issuer", load_issuer, 1, 1 },
	{ "policy", load_policy, 0, 1 },
	{ "dns-zone", load_dns_zone, 1, 0 },
	{ "daemon", load_daemon, 0, 0 },
	{ "audit", load_audit, 0, 0 },
	{ "api", load_api, 0, 0 },
};

#define BLOCK_COUNT (sizeof(blocks) / sizeof(blocks[0]))
#define BLOCK_NAMES "hsm, signer, broker, challenge, store, acme, issuer, " \
	"policy, dns-zone, daemon, audit, api"

static int
load_top_statement(struct loader *ld, const struct conf_node *root,
    size_t index)
{
	const struct conf_node *node = &root->children[index];
	const struct conf_node *earlier;
	size_t i;

	for (i = 0; i < BLOCK_COUNT; i++)
		if (strcmp(blocks[i].name, node->key) == 0)
			break;
	if (i == BLOCK_COUNT)
		return conf_error(ld->err, ld->errlen, ld->file, node->line,
		    node->column, "unknown key '%s' at top level (expected "
		    "one of: " BLOCK_NAMES ")", node->key);
	if (!node->has_block)
		return conf_error(ld->err, ld->errlen, ld->file, node->line,
		    node->column, "'%s' must be a block; write '%s%s {' "
		    "and its keys on the lines below", node->key, node->key,
		    blocks[i].labeled ? " NAME" : "");
	earlier = find_earlier(root, index);
	if (!blocks[i].labeled && earlier != NULL)
		return conf_error(ld->err, ld->errlen, ld->file, node->line,
		    node->column, "duplicate block '%s'; the first is at "
		    "line %d, merge the two", node->key, earlier->line);
	if (!blocks[i].labeled && check_unlabeled(ld, node) != 0)
		return -1;
	ld->block_name = node->key;
	return blocks[i].load(ld, node);
}

static int
check_required_blocks(struct loader *ld, const struct conf_node *root)
{
	size_t i, j;

	for (i = 0; i < BLOCK_COUNT; i++) {
		if (!blocks[i].required)
			continue;
		for (j = 0; j < root->child_count; j++)
			if (strcmp(root->children[j].key, blocks[i].name) == 0)
				break;
		if (j < root->child_count)
			continue;
		snprintf(ld->err, ld->errlen, "%s: missing block '%s'; add "
		    "'%s%s {' with its keys (see docs/configuration.md)",
		    ld->file, blocks[i].name, blocks[i].name,
		    blocks[i].labeled ? " NAME" : "");
		return -1;
	}
	return 0;
}

static int
set_defaults(struct custos_config *config)
{
	config->signer.user = strdup("custos-signer");
	config->broker.user = strdup("custos");
	config->broker.state_dir = strdup("/var/lib/custos");
	config->store.directory = strdup("/var/lib/custos/store");
	config->challenge.http01_mode = HTTP01_LISTEN;
	config->challenge.http01_address = strdup("0.0.0.0");
	config->challenge.http01_port = 80;
	config->challenge.types[0] = CHALLENGE_HTTP01;
	config->challenge.type_count = 1;
	config->challenge.tlsalpn01_address = strdup("0.0.0.0");
	config->challenge.tlsalpn01_port = 443;
	config->acme.poll_interval = 2;
	config->acme.poll_first_ms = 50;
	config->acme.poll_timeout = 300;
	config->acme.http_timeout = 30;
	config->acme.bad_nonce_retries = 5;
	config->acme.account_key_type = KEY_TYPE_EC_P256;
	config->acme.certificate_key_type = KEY_TYPE_EC_P256;
	config->daemon.renew_fraction = 666;
	config->daemon.renew_jitter = 3600;
	config->daemon.retry_base = 60;
	config->daemon.retry_max = 6 * 3600;
	config->daemon.order_deadline = 3600;
	config->daemon.poll_interval = 60;
	config->daemon.concurrency = 32;
	config->daemon.connections = 8;
	config->daemon.restart_max = 300;
	config->daemon.deploy_timeout = 60;
	config->audit.file = strdup("/var/log/custos/audit.log");
	config->audit.checkpoint_interval = 3600;
	config->audit.rotate_size = 64LL * 1024 * 1024;
	if (config->signer.user == NULL || config->broker.user == NULL ||
	    config->broker.state_dir == NULL ||
	    config->store.directory == NULL ||
	    config->challenge.http01_address == NULL ||
	    config->challenge.tlsalpn01_address == NULL ||
	    config->audit.file == NULL)
		return -1;
	return 0;
}

static int
load_tree(const struct conf_tree *tree, struct custos_config *config,
    char *err, size_t errlen)
{
	struct loader ld = {
		.file = tree->file,
		.config = config,
		.err = err,
		.errlen = errlen,
	};
	const struct conf_node *root = &tree->root;
	size_t i, issuers = 0, zones = 0;

	for (i = 0; i < root->child_count; i++) {
		if (strcmp(root->children[i].key, "issuer") == 0)
			issuers++;
		if (strcmp(root->children[i].key, "dns-zone") == 0)
			zones++;
	}
	if (issuers > 0) {
		config->issuers = calloc(issuers, sizeof(*config->issuers));
		if (config->issuers == NULL) {
			snprintf(err, errlen, "%s: out of memory", tree->file);
			return -1;
		}
	}
	if (zones > 0) {
		config->dns_zones = calloc(zones, sizeof(*config->dns_zones));
		if (config->dns_zones == NULL) {
			snprintf(err, errlen, "%s: out of memory", tree->file);
			return -1;
		}
	}
	for (i = 0; i < root->child_count; i++)
		if (load_top_statement(&ld, root, i) != 0)
			return -1;
	if (check_required_blocks(&ld, root) != 0)
		return -1;
	return check_challenge_types(&ld);
}

static int
load_parsed(struct conf_tree *tree, struct custos_config **out, char *err,
    size_t errlen)
{
	struct custos_config *config;
	int rc = -1;

	config = calloc(1, sizeof(*config));
	if (config == NULL || (config->path = strdup(tree->file)) == NULL ||
	    set_defaults(config) != 0) {
		snprintf(err, errlen, "%s: out of memory", tree->file);
		goto out;
	}
	if (load_tree(tree, config, err, errlen) != 0)
		goto out;
	*out = config;
	config = NULL;
	rc = 0;
out:
	config_free(config);
	conf_tree_free(tree);
	return rc;
}

int
config_load(const char *path, struct custos_config **out, char *err,
    size_t errlen)
{
	struct conf_tree *tree;

	*out = NULL;
	if (conf_tree_parse_file(path, &tree, err, errlen) != 0)
		return -1;
	return load_parsed(tree, out, err, errlen);
}

int
config_load_string(const char *name, const char *text,
    struct custos_config **out, char *err, size_t errlen)
{
	struct conf_tree *tree;

	*out = NULL;
	if (conf_tree_parse(name, text, strlen(text), &tree, err,
	    errlen) != 0)
		return -1;
	return load_parsed(tree, out, err, errlen);
}

static void
issuer_clear(struct config_issuer *issuer)
{
	size_t i;

	free(issuer->name);
	free(issuer->directory);
	free(issuer->trust_bundle);
	for (i = 0; i < issuer->contact_count; i++)
		free(issuer->contacts[i]);
	free(issuer->contacts);
	free(issuer->account);
	for (i = 0; i < issuer->account_count; i++)
		free(issuer->accounts[i]);
	free(issuer->accounts);
	free(issuer->eab_key_id);
	free(issuer->eab_key_file);
	free(issuer->preferred_chain);
	free(issuer->profile);
}

static void
dns_servers_free(struct config_dns_server *servers, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(servers[i].address);
	free(servers);
}

static void
dns_zone_clear(struct config_dns_zone *zone)
{
	free(zone->name);
	free(zone->server.address);
	free(zone->tsig_name);
	free(zone->tsig_algorithm);
	free(zone->tsig_secret_file);
	free(zone->hook);
	dns_servers_free(zone->nameservers, zone->nameserver_count);
}

void
config_free(struct custos_config *config)
{
	size_t i;

	if (config == NULL)
		return;
	free(config->hsm.module);
	free(config->hsm.token_label);
	free(config->hsm.token_serial);
	free(config->hsm.pin_file);
	free(config->signer.user);
	free(config->signer.program);
	free(config->broker.user);
	free(config->broker.state_dir);
	free(config->challenge.http01_address);
	free(config->challenge.webroot);
	free(config->challenge.tlsalpn01_address);
	dns_servers_free(config->challenge.dns_resolvers,
	    config->challenge.dns_resolver_count);
	for (i = 0; i < config->dns_zone_count; i++)
		dns_zone_clear(&config->dns_zones[i]);
	free(config->dns_zones);
	free(config->store.directory);
	free(config->policy.file);
	free(config->audit.file);
	free(config->daemon.deploy_hook);
	free(config->daemon.trust_anchors);
	free(config->api.socket);
	free(config->api.group);
	free(config->api.listen_address);
	free(config->api.tls_certificate);
	free(config->api.tls_key);
	for (i = 0; i < config->issuer_count; i++)
		issuer_clear(&config->issuers[i]);
	free(config->issuers);
	free(config->path);
	free(config);
}

const struct config_issuer *
config_find_issuer(const struct custos_config *config, const char *name)
{
	size_t i;

	if (name == NULL)
		return config->issuer_count == 1 ? &config->issuers[0] : NULL;
	for (i = 0; i < config->issuer_count; i++)
		if (strcmp(config->issuers[i].name, name) == 0)
			return &config->issuers[i];
	return NULL;
}

int
config_issuer_has_account(const struct config_issuer *issuer,
    const char *account)
{
	for (size_t i = 0; i < issuer->account_count; i++)
		if (strcmp(issuer->accounts[i], account) == 0)
			return 1;
	return 0;
}

const struct config_dns_zone *
config_find_dns_zone(const struct custos_config *config, const char *name)
{
	for (size_t i = 0; i < config->dns_zone_count; i++)
		if (strcmp(config->dns_zones[i].name, name) == 0)
			return &config->dns_zones[i];
	return NULL;
}

int
config_challenge_enabled(const struct custos_config *config,
    enum challenge_type type)
{
	for (size_t i = 0; i < config->challenge.type_count; i++)
		if (config->challenge.types[i] == type)
			return 1;
	return 0;
}
