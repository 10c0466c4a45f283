# shellcheck shell=bash
# custos-agent for tests, sourced by bash after lab.sh and daemon.sh.
#
# agent_setup makes a daemon with its API socket and one tenant "alpha"
# whose node "edge1" is granted certificate 1, and a home for the agent
# that runs as AGENT_UID, a user with no entry in /etc/passwd. agent_run
# runs the agent once as that user with AGENT_CONF.

CUSTOS_AGENT=$CUSTOS_BUILD_DIR/custos-agent
AGENT_UID=5101
AGENT_GID=5101

token_hash() {
	printf %s "$1" | sha256sum | cut -d' ' -f1
}

# Usage: agent_write_policy [POLICY-LINES]
# Writes the policy of tenant alpha; POLICY-LINES go into node edge1's
# block and the tenant block (for the wrapped export's keys).
agent_write_policy() {
	cat >"$LAB_DIR/policy.conf" <<POLICY
tenant alpha {
	users 5001
	node edge1 {
		token sha256:$(token_hash "$AGENT_TOKEN")
		certificates 1 2
		${AGENT_NODE_LINES:-}
	}
	${AGENT_TENANT_LINES:-}
	allow .alpha.test
	issuers pebble
	accounts pebble
	challenges http-01
	key-types ec-p256
}
POLICY
}

# Starts the daemon with the API and writes the agent's token file and
# its directory, AGENT_HOME, which AGENT_UID owns. AGENT_TOKEN is edge1's
# token, new unless set; AGENT_API_LINES go into the api block.
agent_setup() {
	API_SOCKET=$LAB_DIR/run/api.sock
	AGENT_TOKEN=${AGENT_TOKEN:-$(openssl rand -hex 24)}
	AGENT_HOME=$LAB_DIR/agent
	agent_write_policy
	cat >>"$CUSTOS_CONF" <<CONF
daemon {
	poll-interval 2s
	renew-jitter 0
	retry-base 2s
	retry-max 5s
}
api {
	socket "$API_SOCKET"
	${AGENT_API_LINES:-}
}
CONF
	mkdir -p "$AGENT_HOME/certs"
	(umask 077 && printf '%s\n' "$AGENT_TOKEN" >"$AGENT_HOME/token")
	chown -R "$AGENT_UID:$AGENT_GID" "$AGENT_HOME"
	chmod 0711 "$AGENT_HOME"
	at_exit daemon_stop
	daemon_start
	wait_for_log 30 "api: listening on $API_SOCKET" ||
		bail_out "the API did not start: $(tail -n 20 "$DAEMON_LOG")"
}

# Usage: agent_request NAME
# Requests a certificate for NAME as tenant alpha through the API.
agent_request() {
	curl -sS --unix-socket "$API_SOCKET" -X POST \
		-H 'Content-Type: application/json' \
		-d "{\"names\":[\"$1\"],\"tenant\":\"alpha\"${2:-}}" \
		http://localhost/v1/certificates
}

# Usage: agent_write_config FILE [CERTIFICATE-LINES] [TOP-LINES]
# Writes an agent configuration for certificate 1 in AGENT_HOME/certs/1.
agent_write_config() {
	cat >"$1" <<CONF
endpoint "$API_SOCKET"
token-file "$AGENT_HOME/token"
interval 5s
reload-timeout 5s
${3:-}
certificate 1 {
	directory "$AGENT_HOME/certs/1"
	${2:-}
}
CONF
	chmod 0644 "$1"
}

# Usage: agent_run CONFIG [ARG ...]
# Runs custos-agent --once as AGENT_UID; its output goes to
# AGENT_HOME/agent.log and to AGENT_OUTPUT, and AGENT_STATUS is the exit
# status.
agent_run() {
	local config=$1

	shift
	AGENT_OUTPUT=$(setpriv --reuid="$AGENT_UID" --regid="$AGENT_GID" \
		--clear-groups -- "$CUSTOS_AGENT" --config "$config" --once \
		"$@" 2>&1)
	# shellcheck disable=SC2034 # The tests read it.
	AGENT_STATUS=$?
	printf '%s\n' "$AGENT_OUTPUT" >>"$AGENT_HOME/agent.log"
}

# Usage: agent_reload_script NAME BODY
# Writes AGENT_HOME/NAME, a /bin/sh script with BODY, for reload commands.
agent_reload_script() {
	printf '#!/bin/sh\n%s\n' "$2" >"$AGENT_HOME/$1"
	chmod 0755 "$AGENT_HOME/$1"
}

# Prints the sha256 of every file under DIR with its mode, type and
# modification time, so that "nothing was written" can be compared.
agent_tree_state() {
	find "$1" -printf '%P %y %m %T@ %l\n' | sort
}

# Usage: nginx_start DIR PORT CERT-FILE
# Starts Debian's nginx as AGENT_UID, serving TLS on 127.0.0.1:PORT with
# CERT-FILE and the ssl_certificate_key directive in DIR/key.conf (a key
# file, or "engine:pkcs11:URI"), with its configuration, pid file, logs
# and temporary files in DIR. Sets NGINX_CONF; waits until the port
# answers.
nginx_start() {
	local dir=$1 port=$2 cert=$3 deadline=$((SECONDS + 10))

	NGINX_CONF=$dir/nginx.conf
	mkdir -p "$dir/tmp"
	cat >"$NGINX_CONF" <<CONF
daemon on;
pid $dir/nginx.pid;
error_log $dir/error.log info;
worker_processes 1;
env SOFTHSM2_CONF;
env OPENSSL_CONF;
events {
	worker_connections 16;
}
http {
	access_log $dir/access.log;
	client_body_temp_path $dir/tmp/body;
	proxy_temp_path $dir/tmp/proxy;
	fastcgi_temp_path $dir/tmp/fastcgi;
	uwsgi_temp_path $dir/tmp/uwsgi;
	scgi_temp_path $dir/tmp/scgi;
	server {
		listen 127.0.0.1:$port ssl;
		ssl_protocols TLSv1.2 TLSv1.3;
		ssl_certificate $cert;
		include $dir/key.conf;
		location / {
			return 200 "custos\n";
		}
	}
}
CONF
	chown -R "$AGENT_UID:$AGENT_GID" "$dir"
	at_exit nginx_stop
	nginx_as_agent -t >"$dir/start.log" 2>&1 &&
		nginx_as_agent >>"$dir/start.log" 2>&1 || return 1
	until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.1
	done
}

# Runs nginx as AGENT_UID with NGINX_CONF and the given arguments, and
# with the NAME=VALUE words of NGINX_ENV added to its environment.
nginx_as_agent() {
	# shellcheck disable=SC2086 # NGINX_ENV is a list of words.
	setpriv --reuid="$AGENT_UID" --regid="$AGENT_GID" --clear-groups -- \
		env ${NGINX_ENV:-} /usr/sbin/nginx -c "$NGINX_CONF" \
		-e "$(dirname "$NGINX_CONF")/error.log" "$@"
}

nginx_stop() {
	local pid_file

	[ -n "${NGINX_CONF:-}" ] || return 0
	pid_file=$(dirname "$NGINX_CONF")/nginx.pid
	if [ -s "$pid_file" ]; then
		kill -TERM "$(cat "$pid_file")" 2>/dev/null
	fi
}

# Usage: served_fingerprint PORT
# Prints the SHA-256 fingerprint of the certificate that 127.0.0.1:PORT
# presents.
served_fingerprint() {
	openssl s_client -connect "127.0.0.1:$1" -servername a.alpha.test \
		</dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256 2>/dev/null |
		cut -d= -f2
}

# Usage: file_fingerprint CERT-FILE
file_fingerprint() {
	openssl x509 -noout -fingerprint -sha256 -in "$1" | cut -d= -f2
}
