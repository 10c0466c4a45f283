/*
 * Tests of custos-agent's configuration loader: a full file, defaults,
 * and an error naming the file, line, value and fix for each bad value.
 */
#include "agent/agent_conf.h"
#include "tests/unit/check.h"

#include <stdlib.h>
#include <unistd.h>

static char path[] = "/tmp/custos-agent-conf.XXXXXX";
static char err[AGENT_CONF_ERR_MAX];

static int
load(const char *text, struct agent_config *config)
{
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
	err[0] = '\0';
	return agent_conf_load(path, config, err, sizeof(err));
}

/* Loads text that must fail; returns the error without the path. */
static const char *
load_error(const char *text)
{
	struct agent_config config;

	if (load(text, &config) == 0) {
		agent_conf_free(&config);
		return "(loaded without error)";
	}
	return strncmp(err, path, strlen(path)) == 0 ? err + strlen(path) :
	    err;
}

#define BASE "endpoint /run/custos/api.sock\ntoken-file /etc/t\n"
#define CERT "certificate www.example.com {\n\tdirectory /srv/www\n"

static void
test_full_file(void)
{
	struct agent_config config;

	CHECK_INT(load("endpoint \"http://127.0.0.1:8080\"\n"
	    "trust-bundle /etc/custos-agent/api-ca.pem\n"
	    "token-file /etc/custos-agent/token\n"
	    "recipient-key /etc/custos-agent/recipient.pem\n"
	    "interval 2m\nreload-timeout 10s\nhttp-timeout 5\n"
	    "allow-root yes\n"
	    CERT "\tgroup root\n\tkey-mode 0640\n\tcert-mode 0640\n"
	    "\treload \"/usr/sbin/nginx -s reload\"\n}\n"
	    "certificate 7 {\n\tdirectory /srv/seven\n}\n", &config), 0);
	CHECK_STR(err, "");
	CHECK_STR(config.endpoint, "http://127.0.0.1:8080");
	CHECK_STR(config.trust_bundle, "/etc/custos-agent/api-ca.pem");
	CHECK_STR(config.recipient_key, "/etc/custos-agent/recipient.pem");
	CHECK_INT(config.interval, 120);
	CHECK_INT(config.reload_timeout, 10);
	CHECK_INT(config.http_timeout, 5);
	CHECK_INT(config.allow_root, 1);
	CHECK_INT(config.cert_count, 2);
	CHECK_STR(config.certs[0].ref, "www.example.com");
	CHECK_INT(config.certs[0].gid, 0);
	CHECK_INT(config.certs[0].uid, (uid_t)-1);
	CHECK_INT(config.certs[0].key_mode, 0640);
	CHECK_STR(config.certs[0].reload, "/usr/sbin/nginx -s reload");
	CHECK_STR(config.certs[1].ref, "7");
	CHECK_INT(config.certs[1].key_mode, 0600);
	CHECK_INT(config.certs[1].cert_mode, 0644);
	CHECK(config.certs[1].reload == NULL);
	agent_conf_free(&config);
}

static void
test_defaults(void)
{
	struct agent_config config;

	CHECK_INT(load(BASE CERT "}\n", &config), 0);
	CHECK_INT(config.interval, 300);
	CHECK_INT(config.reload_timeout, 60);
	CHECK_INT(config.allow_root, 0);
	CHECK(config.recipient_key == NULL);
	agent_conf_free(&config);
}

static void
test_errors(void)
{
	CHECK_STR(load_error(BASE CERT "\tkey-mode 0644\n}\n"),
	    ":5:11: too wide or unreadable mode '0644' for key-mode; use an "
	    "octal mode within 0640, such as 0640");
	CHECK_STR(load_error(BASE CERT "\tcert-mode 0666\n}\n"),
	    ":5:12: too wide or unreadable mode '0666' for cert-mode; use an "
	    "octal mode within 0644, such as 0644");
	CHECK_STR(load_error(BASE CERT "\tkey-mode rw\n}\n"),
	    ":5:11: invalid mode 'rw' for key-mode; use an octal mode within "
	    "0640, such as 0640");
	CHECK_STR(load_error("endpoint http://192.0.2.1:80\n"),
	    ":1:10: non-loopback http endpoint 'http://192.0.2.1:80' for "
	    "endpoint; use https:// for other hosts, because the node's "
	    "token must not cross a network in clear");
	CHECK_STR(load_error("endpoint http://127.0.0.1.example:80\n"),
	    ":1:10: non-loopback http endpoint 'http://127.0.0.1.example:80' "
	    "for endpoint; use https:// for other hosts, because the node's "
	    "token must not cross a network in clear");
	CHECK_STR(load_error("endpoint api.sock\n"),
	    ":1:10: invalid endpoint 'api.sock' for endpoint; use the API's "
	    "socket path, https://HOST[:PORT] or http://127.0.0.1:PORT");
	CHECK_STR(load_error(BASE "interval 1s\n"),
	    ":3:10: out-of-range duration '1s' for interval; use a duration "
	    "from 5s to 86400s, such as 30s or 5m");
	CHECK_STR(load_error(BASE "allow-root maybe\n"),
	    ":3:12: invalid value 'maybe' for allow-root; use yes or no");
	CHECK_STR(load_error(BASE "pin-file /x\n"),
	    ":3:1: unknown key 'pin-file' (expected one of: endpoint, "
	    "trust-bundle, token-file, recipient-key, interval, "
	    "reload-timeout, http-timeout, allow-root, certificate)");
	CHECK_STR(load_error(BASE CERT "\tmode 0600\n}\n"),
	    ":5:2: unknown key 'mode' in block 'certificate' (expected one "
	    "of: directory, owner, group, key-mode, cert-mode, reload)");
	CHECK_STR(load_error(BASE CERT "\towner no-such-user-here\n}\n"),
	    ":5:8: unknown user 'no-such-user-here' for owner; use a user "
	    "name that getent passwd lists");
	CHECK_STR(load_error(BASE "certificate ../x {\n\tdirectory /a\n}\n"),
	    ":3:13: invalid reference '../x' for certificate; use the "
	    "certificate's id or store label, such as www.example.com");
	CHECK_STR(load_error(BASE "certificate a {\n}\n"),
	    ":3:1: certificate a has no directory; add 'directory /PATH' for "
	    "its files");
	CHECK_STR(load_error(BASE CERT "\tdirectory srv\n}\n"),
	    ":5:2: directory is given twice (first on line 4); keep one");
	CHECK_STR(load_error(BASE CERT "}\n" CERT "}\n"),
	    ":6:1: certificate www.example.com is given twice (first on line "
	    "3); keep one");
	CHECK_STR(load_error(BASE CERT "}\ncertificate b {\n"
	    "\tdirectory /srv/www\n}\n"),
	    ":6:1: certificates www.example.com and b share the directory "
	    "/srv/www; give each its own");
	CHECK_STR(load_error(BASE "interval 5m\ninterval 6m\n"),
	    ":4:1: interval is given twice (first on line 3); keep one");
	CHECK_STR(load_error("token-file /t\n" CERT "}\n"),
	    ": missing key 'endpoint'; add the API's socket path, such as "
	    "'endpoint /run/custos/api.sock'");
	CHECK_STR(load_error(BASE),
	    ": missing block 'certificate'; add 'certificate REF {' with its "
	    "directory");
	CHECK_STR(load_error(BASE CERT "\treload \"a\\nb\"\n}\n"),
	    ":5:9: invalid command 'a\\nb' for reload; use one line of shell "
	    "command, such as \"/usr/sbin/nginx -s reload\"");
}

int
main(void)
{
	int fd = mkstemp(path);

	close(fd);
	RUN(test_full_file);
	RUN(test_defaults);
	RUN(test_errors);
	unlink(path);
	return check_done();
}
