/*
 * The configuration file of custos-agent (docs/agent.md), in the syntax
 * of custos.conf (config/conf_tree.h):
 *
 *	endpoint /run/custos/api.sock
 *	token-file /etc/custos-agent/token
 *	recipient-key /etc/custos-agent/recipient.pem
 *	interval 5m
 *	certificate www.example.com {
 *		directory /var/lib/custos-agent/www
 *		reload "/usr/sbin/nginx -s reload"
 *	}
 */
#ifndef CUSTOS_AGENT_CONF_H
#define CUSTOS_AGENT_CONF_H

#include <stddef.h>
#include <sys/types.h>

#define AGENT_CONF_ERR_MAX 1024

struct agent_cert {
	char *ref;		/* certificate id or store label */
	char *directory;	/* absolute path of the version directories */
	char *owner;		/* NULL: the agent's user */
	char *group;		/* NULL: the agent's group */
	uid_t uid;		/* (uid_t)-1 when owner is unset */
	gid_t gid;		/* (gid_t)-1 when group is unset */
	int key_mode;		/* at most 0640 */
	int cert_mode;		/* at most 0644 */
	char *reload;		/* shell command, or NULL */
	int line;		/* of the block, for messages */
	int column;
};

struct agent_config {
	char *file;
	char *endpoint;		/* socket path, or an http(s):// URL */
	char *trust_bundle;	/* PEM roots for https; NULL: the system's */
	char *token_file;
	char *recipient_key;	/* NULL: no wrapped certificates */
	int interval;		/* seconds between polls */
	int reload_timeout;	/* seconds */
	int http_timeout;	/* seconds of one request */
	int allow_root;
	struct agent_cert *certs;
	size_t cert_count;
};

/*
 * Loads path. Returns 0 and fills config, or -1 with
 * "FILE:LINE:COLUMN: message" naming the value and the fix in err.
 */
int agent_conf_load(const char *path, struct agent_config *config, char *err,
    size_t errlen);

void agent_conf_free(struct agent_config *config);

#endif
