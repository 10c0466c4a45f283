/* Loader of the agent's configuration file; see agent/agent_conf.h. */
#include "agent/agent_conf.h"

#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/conf_tree.h"

#define VALUE_SHOWN_MAX 96	/* bytes of a value quoted in a message */
#define PATH_MAX_LEN 4095
#define REF_MAX 253
#define COMMAND_MAX 4096

struct loader {
	const char *file;
	char *err;
	size_t errlen;
};

static const char *const top_keys =
    "endpoint, trust-bundle, token-file, recipient-key, interval, "
    "reload-timeout, http-timeout, allow-root, certificate";
static const char *const cert_keys =
    "directory, owner, group, key-mode, cert-mode, reload";

static int
value_error(struct loader *ld, const struct conf_value *value,
    const char *key, const char *problem, const char *form)
{
	char buf[VALUE_SHOWN_MAX];

	return conf_error(ld->err, ld->errlen, ld->file, value->line,
	    value->column, "%s '%s' for %s; use %s", problem,
	    conf_format_value(buf, sizeof(buf), value->text), key, form);
}

/* Formats an error about the whole file: "FILE: message". */
static int __attribute__((format(printf, 2, 3)))
file_error(struct loader *ld, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(ld->err, ld->errlen, "%s: ", ld->file);
	if (n < 0 || (size_t)n >= ld->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(ld->err + n, ld->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static int
set_string(struct loader *ld, const struct conf_value *value, char **field)
{
	char *copy = strdup(value->text);

	if (copy == NULL)
		return conf_error(ld->err, ld->errlen, ld->file, value->line,
		    value->column, "out of memory");
	free(*field);
	*field = copy;
	return 0;
}

static int
set_path(struct loader *ld, const struct conf_node *node, char **field)
{
	const struct conf_value *value = &node->values[0];

	if (value->text[0] != '/' || strlen(value->text) > PATH_MAX_LEN)
		return value_error(ld, value, node->key, "invalid path",
		    "an absolute path of at most 4095 bytes");
	return set_string(ld, value, field);
}

/* A duration: seconds, or a number with the unit s, m or h. */
static int
set_duration(struct loader *ld, const struct conf_node *node, int min,
    int max, int *field)
{
	const struct conf_value *value = &node->values[0];
	char form[80], *end;
	long n, unit = 1;

	snprintf(form, sizeof(form), "a duration from %ds to %ds, such as "
	    "30s or 5m", min, max);
	n = strtol(value->text, &end, 10);
	if (end == value->text || value->text[0] < '0' ||
	    value->text[0] > '9' || end - value->text > 9)
		return value_error(ld, value, node->key, "invalid duration",
		    form);
	if (*end == 'm')
		unit = 60;
	else if (*end == 'h')
		unit = 3600;
	else if (*end != 's' && *end != '\0')
		return value_error(ld, value, node->key, "invalid duration",
		    form);
	if (*end != '\0' && end[1] != '\0')
		return value_error(ld, value, node->key, "invalid duration",
		    form);
	if (n * unit < min || n * unit > max)
		return value_error(ld, value, node->key, "out-of-range "
		    "duration", form);
	*field = (int)(n * unit);
	return 0;
}

static int
set_yes_no(struct loader *ld, const struct conf_node *node, int *field)
{
	const struct conf_value *value = &node->values[0];

	if (strcmp(value->text, "yes") == 0)
		*field = 1;
	else if (strcmp(value->text, "no") == 0)
		*field = 0;
	else
		return value_error(ld, value, node->key, "invalid value",
		    "yes or no");
	return 0;
}

/* Returns 1 when host (up to the port or path) is a loopback address. */
static int
host_is_loopback(const char *host)
{
	size_t len = strcspn(host, ":/");

	if (strncmp(host, "[::1]", 5) == 0)
		return host[5] == '\0' || host[5] == ':' || host[5] == '/';
	return (len == 9 && strncmp(host, "localhost", 9) == 0) ||
	    (len >= 9 && strncmp(host, "127.", 4) == 0 &&
	    strspn(host, "0123456789.") == len);
}

/*
 * The API's UNIX socket path, an https:// URL, or an http:// URL of a
 * loopback address: the bearer token must not cross a network in clear.
 */
static int
set_endpoint(struct loader *ld, const struct conf_node *node, char **field)
{
	const struct conf_value *value = &node->values[0];
	const char *form = "the API's socket path, https://HOST[:PORT] or "
	    "http://127.0.0.1:PORT";
	const unsigned char *p;

	for (p = (const unsigned char *)value->text; *p != '\0'; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			return value_error(ld, value, node->key,
			    "invalid endpoint", form);
	if (value->text[0] == '/')
		return set_path(ld, node, field);
	if (strncmp(value->text, "https://", 8) == 0 &&
	    value->text[8] != '\0' && strchr(value->text, '@') == NULL)
		return set_string(ld, value, field);
	if (strncmp(value->text, "http://", 7) == 0 &&
	    host_is_loopback(value->text + 7))
		return set_string(ld, value, field);
	if (strncmp(value->text, "http://", 7) == 0)
		return value_error(ld, value, node->key, "non-loopback http "
		    "endpoint", "https:// for other hosts, because the "
		    "node's token must not cross a network in clear");
	return value_error(ld, value, node->key, "invalid endpoint", form);
}

/* An octal mode of 3 or 4 digits with no bit outside allowed. */
static int
set_mode(struct loader *ld, const struct conf_node *node, int allowed,
    int *field)
{
	const struct conf_value *value = &node->values[0];
	char form[64];
	size_t len = strlen(value->text);
	long mode;

	snprintf(form, sizeof(form), "an octal mode within %04o, such as "
	    "%04o", allowed, allowed & 0600 ? allowed & 0644 : allowed);
	if (len < 3 || len > 4 || strspn(value->text, "01234567") != len)
		return value_error(ld, value, node->key, "invalid mode", form);
	mode = strtol(value->text, NULL, 8);
	if ((mode & ~(long)allowed) != 0 || (mode & 0400) == 0)
		return value_error(ld, value, node->key, "too wide or "
		    "unreadable mode", form);
	*field = (int)mode;
	return 0;
}

static int
set_owner(struct loader *ld, const struct conf_node *node,
    struct agent_cert *cert)
{
	const struct conf_value *value = &node->values[0];
	struct passwd *pw = getpwnam(value->text);

	if (pw == NULL)
		return value_error(ld, value, node->key, "unknown user",
		    "a user name that getent passwd lists");
	cert->uid = pw->pw_uid;
	return set_string(ld, value, &cert->owner);
}

static int
set_group(struct loader *ld, const struct conf_node *node,
    struct agent_cert *cert)
{
	const struct conf_value *value = &node->values[0];
	struct group *gr = getgrnam(value->text);

	if (gr == NULL)
		return value_error(ld, value, node->key, "unknown group",
		    "a group name that getent group lists");
	cert->gid = gr->gr_gid;
	return set_string(ld, value, &cert->group);
}

static int
set_command(struct loader *ld, const struct conf_node *node, char **field)
{
	const struct conf_value *value = &node->values[0];
	size_t len = strlen(value->text);

	if (len == 0 || len > COMMAND_MAX || strchr(value->text, '\n'))
		return value_error(ld, value, node->key, "invalid command",
		    "one line of shell command, such as "
		    "\"/usr/sbin/nginx -s reload\"");
	return set_string(ld, value, field);
}

/* Checks that node has count values and no block. */
static int
check_shape(struct loader *ld, const struct conf_node *node, size_t count,
    int block)
{
	if (node->value_count != count)
		return conf_error(ld->err, ld->errlen, ld->file, node->line,
		    node->column, "%s takes %zu value%s, not %zu", node->key,
		    count, count == 1 ? "" : "s", node->value_count);
	if (node->has_block != block)
		return conf_error(ld->err, ld->errlen, ld->file, node->line,
		    node->column, block ? "%s needs a block: %s REF { ... }" :
		    "%s takes no block", node->key, node->key);
	return 0;
}

/* Rejects a second statement of the same key among siblings. */
static int
check_once(struct loader *ld, const struct conf_node *siblings, size_t i)
{
	size_t j;

	for (j = 0; j < i; j++)
		if (strcmp(siblings[j].key, siblings[i].key) == 0)
			return conf_error(ld->err, ld->errlen, ld->file,
			    siblings[i].line, siblings[i].column,
			    "%s is given twice (first on line %d); keep one",
			    siblings[i].key, siblings[j].line);
	return 0;
}

/* Returns 1 when key is one of the comma-separated names of list. */
static int
key_listed(const char *list, const char *key)
{
	size_t len = strlen(key);
	const char *p = list;

	while ((p = strstr(p, key)) != NULL) {
		if ((p == list || p[-1] == ' ') &&
		    (p[len] == ',' || p[len] == '\0'))
			return 1;
		p += len;
	}
	return 0;
}

static int
cert_statement(struct loader *ld, const struct conf_node *node,
    struct agent_cert *cert)
{
	if (check_shape(ld, node, 1, 0) != 0)
		return -1;
	if (strcmp(node->key, "directory") == 0)
		return set_path(ld, node, &cert->directory);
	if (strcmp(node->key, "owner") == 0)
		return set_owner(ld, node, cert);
	if (strcmp(node->key, "group") == 0)
		return set_group(ld, node, cert);
	if (strcmp(node->key, "key-mode") == 0)
		return set_mode(ld, node, 0640, &cert->key_mode);
	if (strcmp(node->key, "cert-mode") == 0)
		return set_mode(ld, node, 0644, &cert->cert_mode);
	return set_command(ld, node, &cert->reload);
}

static int
load_cert(struct loader *ld, const struct conf_node *block,
    struct agent_cert *cert)
{
	const struct conf_value *ref = &block->values[0];
	const struct conf_node *node;
	size_t i, len = strlen(ref->text);

	cert->uid = (uid_t)-1;
	cert->gid = (gid_t)-1;
	cert->key_mode = 0600;
	cert->cert_mode = 0644;
	cert->line = block->line;
	cert->column = block->column;
	if (len == 0 || len > REF_MAX || ref->text[0] == '.' ||
	    strspn(ref->text, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_*") != len)
		return value_error(ld, ref, "certificate", "invalid reference",
		    "the certificate's id or store label, such as "
		    "www.example.com");
	if (set_string(ld, ref, &cert->ref) != 0)
		return -1;
	for (i = 0; i < block->child_count; i++) {
		node = &block->children[i];
		if (!key_listed(cert_keys, node->key))
			return conf_error(ld->err, ld->errlen, ld->file,
			    node->line, node->column, "unknown key '%s' in "
			    "block 'certificate' (expected one of: %s)",
			    node->key, cert_keys);
		if (check_once(ld, block->children, i) != 0 ||
		    cert_statement(ld, node, cert) != 0)
			return -1;
	}
	if (cert->directory == NULL)
		return conf_error(ld->err, ld->errlen, ld->file, block->line,
		    block->column, "certificate %s has no directory; add "
		    "'directory /PATH' for its files", cert->ref);
	return 0;
}

static int
top_statement(struct loader *ld, const struct conf_node *node,
    struct agent_config *config)
{
	if (check_shape(ld, node, 1, 0) != 0)
		return -1;
	if (strcmp(node->key, "endpoint") == 0)
		return set_endpoint(ld, node, &config->endpoint);
	if (strcmp(node->key, "trust-bundle") == 0)
		return set_path(ld, node, &config->trust_bundle);
	if (strcmp(node->key, "token-file") == 0)
		return set_path(ld, node, &config->token_file);
	if (strcmp(node->key, "recipient-key") == 0)
		return set_path(ld, node, &config->recipient_key);
	if (strcmp(node->key, "interval") == 0)
		return set_duration(ld, node, 5, 86400, &config->interval);
	if (strcmp(node->key, "reload-timeout") == 0)
		return set_duration(ld, node, 1, 3600,
		    &config->reload_timeout);
	if (strcmp(node->key, "http-timeout") == 0)
		return set_duration(ld, node, 1, 600, &config->http_timeout);
	return set_yes_no(ld, node, &config->allow_root);
}

static int
load_tree(struct loader *ld, const struct conf_node *root,
    struct agent_config *config)
{
	const struct conf_node *node;
	size_t i, j;

	for (i = 0; i < root->child_count; i++) {
		node = &root->children[i];
		if (!key_listed(top_keys, node->key))
			return conf_error(ld->err, ld->errlen, ld->file,
			    node->line, node->column, "unknown key '%s' "
			    "(expected one of: %s)", node->key, top_keys);
		if (strcmp(node->key, "certificate") != 0) {
			if (check_once(ld, root->children, i) != 0 ||
			    top_statement(ld, node, config) != 0)
				return -1;
			continue;
		}
		if (check_shape(ld, node, 1, 1) != 0)
			return -1;
		for (j = 0; j < config->cert_count; j++)
			if (strcmp(config->certs[j].ref,
			    node->values[0].text) == 0)
				return conf_error(ld->err, ld->errlen,
				    ld->file, node->line, node->column,
				    "certificate %s is given twice (first on "
				    "line %d); keep one", config->certs[j].ref,
				    config->certs[j].line);
		if (load_cert(ld, node,
		    &config->certs[config->cert_count++]) != 0)
			return -1;
	}
	return 0;
}

/* Checks what the file as a whole must have. */
static int
check_required(struct loader *ld, struct agent_config *config)
{
	size_t i, j;

	if (config->endpoint == NULL)
		return file_error(ld, "missing key 'endpoint'; add the API's "
		    "socket path, such as 'endpoint /run/custos/api.sock'");
	if (config->token_file == NULL)
		return file_error(ld, "missing key 'token-file'; add the path "
		    "of the file with the node's API token");
	if (config->cert_count == 0)
		return file_error(ld, "missing block 'certificate'; add "
		    "'certificate REF {' with its directory");
	for (i = 0; i < config->cert_count; i++)
		for (j = 0; j < i; j++)
			if (strcmp(config->certs[i].directory,
			    config->certs[j].directory) == 0)
				return conf_error(ld->err, ld->errlen,
				    ld->file, config->certs[i].line,
				    config->certs[i].column,
				    "certificates %s and %s share the "
				    "directory %s; give each its own",
				    config->certs[j].ref, config->certs[i].ref,
				    config->certs[i].directory);
	return 0;
}

int
agent_conf_load(const char *path, struct agent_config *config, char *err,
    size_t errlen)
{
	struct loader ld = { path, err, errlen };
	struct conf_tree *tree = NULL;
	int rc = -1;

	memset(config, 0, sizeof(*config));
	config->interval = 300;
	config->reload_timeout = 60;
	config->http_timeout = 60;
	if (conf_tree_parse_file(path, &tree, err, errlen) != 0)
		return -1;
	config->file = strdup(path);
	config->certs = calloc(tree->root.child_count + 1,
	    sizeof(*config->certs));
	if (config->file == NULL || config->certs == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	if (load_tree(&ld, &tree->root, config) != 0 ||
	    check_required(&ld, config) != 0)
		goto out;
	rc = 0;
out:
	conf_tree_free(tree);
	if (rc != 0)
		agent_conf_free(config);
	return rc;
}

void
agent_conf_free(struct agent_config *config)
{
	size_t i;

	for (i = 0; i < config->cert_count; i++) {
		free(config->certs[i].ref);
		free(config->certs[i].directory);
		free(config->certs[i].owner);
		free(config->certs[i].group);
		free(config->certs[i].reload);
	}
	free(config->certs);
	free(config->file);
	free(config->endpoint);
	free(config->trust_bundle);
	free(config->token_file);
	free(config->recipient_key);
	memset(config, 0, sizeof(*config));
}
