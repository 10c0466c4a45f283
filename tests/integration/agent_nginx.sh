#!/bin/bash
# nginx (Debian's package) serves a Custos certificate whose key stays in
# the HSM: custos-agent writes the chain and the key's PKCS#11 URI, its
# reload command points nginx at "engine:pkcs11:URI" through the
# libengine-pkcs11-openssl engine and reloads nginx, and openssl s_client
# on the loopback port sees the certificate. A re-issued version is
# served after the agent's next poll. nginx runs as the agent's user,
# with a copy of the SoftHSM2 token standing in for the node's own access
# to the HSM.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/daemon.sh
source "$(dirname "$0")/../lib/daemon.sh"
# shellcheck source=tests/lib/agent.sh
source "$(dirname "$0")/../lib/agent.sh"

PORT=8443
ENGINE=/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so

current_version() {
	state_query "SELECT name FROM versions WHERE cert_id = 1 AND
		status = 'current'"
}

# Copies the signer's token for the node; the copy belongs to AGENT_UID.
copy_token() {
	rm -rf "$NODE_HSM/tokens"
	cp -a "$SOFTHSM_TOKEN_DIR" "$NODE_HSM/tokens"
	chown -R "$AGENT_UID:$AGENT_GID" "$NODE_HSM"
}

# Usage: wait_served FINGERPRINT
# Waits until the port presents the certificate with that fingerprint.
wait_served() {
	local deadline=$((SECONDS + 15))

	until [ "$(served_fingerprint "$PORT")" = "$1" ]; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

custos_lab_start custos-agent-nginx
[ -x /usr/sbin/nginx ] || bail_out "nginx is missing; run make deps"
[ -f "$ENGINE" ] || bail_out "$ENGINE is missing; run make deps"
agent_setup
agent_request a.alpha.test >/dev/null
wait_for 120 "SELECT count(*) FROM versions WHERE status = 'current'" 1 ||
	bail_out "no certificate: $(tail -n 30 "$DAEMON_LOG")"
v1=$(current_version)
certs=$AGENT_HOME/certs/1
web=$AGENT_HOME/nginx
NODE_HSM=$AGENT_HOME/hsm
mkdir -p "$web" "$NODE_HSM"

# The node's SoftHSM2 and OpenSSL configuration: the engine logs in with
# the PIN from a file only the node's user reads.
cat >"$NODE_HSM/softhsm2.conf" <<CONF
directories.tokendir = $NODE_HSM/tokens
objectstore.backend = file
log.level = ERROR
CONF
(umask 077 && cat >"$NODE_HSM/openssl.cnf" <<CONF
openssl_conf = openssl_init
[openssl_init]
engines = engine_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
dynamic_path = $ENGINE
MODULE_PATH = $SOFTHSM_MODULE
PIN = $SOFTHSM_PIN
init = 1
CONF
)
copy_token
# Only nginx gets the engine's configuration: the agent does not use it.
NGINX_ENV="SOFTHSM2_CONF=$NODE_HSM/softhsm2.conf"
NGINX_ENV+=" OPENSSL_CONF=$NODE_HSM/openssl.cnf"

# The reload command writes the key's directive from the URI file, which
# the agent checked to hold only RFC 7512 characters, then checks and
# reloads nginx; a failure rolls the files back.
cat >"$web/reload.sh" <<SCRIPT
#!/bin/sh
set -e
export $NGINX_ENV
printf 'ssl_certificate_key "engine:pkcs11:%s";\n' \\
	"\$(cat "\$CUSTOS_KEY_URI_FILE")" >"$web/key.conf.new"
mv "$web/key.conf.new" "$web/key.conf"
/usr/sbin/nginx -q -c "$web/nginx.conf" -e "$web/error.log" -t
/usr/sbin/nginx -c "$web/nginx.conf" -e "$web/error.log" -s reload
SCRIPT
chmod 0755 "$web/reload.sh"
chown -R "$AGENT_UID:$AGENT_GID" "$web"
agent_write_config "$AGENT_HOME/agent.conf"

# 1. The agent writes the first version; nginx starts on it.
agent_run "$AGENT_HOME/agent.conf"
assert_equal "agent writes the first version" "$AGENT_STATUS" 0
assert_equal "current names the version" "$(readlink "$certs/current")" "$v1"
printf 'ssl_certificate_key "engine:pkcs11:%s";\n' \
	"$(cat "$certs/current/key.uri")" >"$web/key.conf"
nginx_start "$web" "$PORT" "$certs/current/fullchain.pem" ||
	bail_out "nginx did not start: $(cat "$web/start.log" \
		"$web/error.log" 2>/dev/null | tail -n 20)"
served=$(served_fingerprint "$PORT")
assert_equal "s_client sees the certificate through the engine" "$served" \
	"$(file_fingerprint "$certs/current/cert.pem")"
assert_equal "the served certificate is the store's" "$served" \
	"$(file_fingerprint "$CUSTOS_STORE/alpha/a.alpha.test/$v1/cert.pem")"
assert_status "a TLS 1.3 handshake verifies the key's signature" 0 \
	openssl s_client -connect "127.0.0.1:$PORT" -tls1_3 \
	-CAfile "$certs/current/chain.pem" -partial_chain -verify_return_error \
	-verify_hostname a.alpha.test </dev/null
assert_contains "nginx answers over TLS" \
	"$(curl -sS --cacert "$certs/current/chain.pem" \
		--resolve "a.alpha.test:$PORT:127.0.0.1" \
		"https://a.alpha.test:$PORT/" 2>&1)" custos

# 2. A re-issued version reaches nginx through the reload command.
curl -sS --unix-socket "$API_SOCKET" -X POST \
	http://localhost/v1/certificates/1/reissue >/dev/null
wait_for 120 "SELECT count(*) FROM versions WHERE cert_id = 1 AND
	status = 'previous'" 1 || bail_out "no re-issue"
v2=$(current_version)
copy_token
agent_write_config "$AGENT_HOME/agent.conf" "reload \"$web/reload.sh\""
agent_run "$AGENT_HOME/agent.conf"
assert_equal "agent writes the re-issued version" "$AGENT_STATUS" 0
assert_equal "current names the new version" \
	"$(readlink "$certs/current")" "$v2"
wait_served "$(file_fingerprint "$certs/current/cert.pem")"
assert_equal "nginx serves the new certificate after the reload" \
	"$(served_fingerprint "$PORT")" \
	"$(file_fingerprint "$CUSTOS_STORE/alpha/a.alpha.test/$v2/cert.pem")"
assert_not_contains "nginx logged no engine error" \
	"$(cat "$web/error.log")" "ENGINE"
assert_equal "nginx runs as the agent's user" \
	"$(ps -o uid= -p "$(cat "$web/nginx.pid")" | tr -d ' ')" "$AGENT_UID"

# 3. A key that the node's token lacks fails nginx -t in the reload
# command: the agent rolls back and nginx keeps serving the old version.
curl -sS --unix-socket "$API_SOCKET" -X POST \
	http://localhost/v1/certificates/1/reissue >/dev/null
wait_for 120 "SELECT count(*) FROM versions WHERE cert_id = 1" 3 ||
	bail_out "no second re-issue"
wait_for 30 "SELECT count(*) FROM versions WHERE cert_id = 1 AND
	status = 'current' AND name NOT IN ('$v1', '$v2')" 1
agent_run "$AGENT_HOME/agent.conf"
assert_equal "agent exits 1 when nginx rejects the key" "$AGENT_STATUS" 1
# nginx -t exits 1, or crashes with SIGSEGV as it exits when the engine
# failed to load the key (nginx 1.22.1, libp11 0.4.12, OpenSSL 3.0), so
# the status is not checked.
assert_contains "the failed reload is logged" "$AGENT_OUTPUT" \
	"the reload command exited with status"
assert_contains "the rollback names the old version" "$AGENT_OUTPUT" \
	"; rolling back to $v2"
assert_equal "current is the served version again" \
	"$(readlink "$certs/current")" "$v2"
assert_contains "key.conf names the old key again" "$(cat "$web/key.conf")" \
	"$(cat "$CUSTOS_STORE/alpha/a.alpha.test/$v2/key.uri")"
assert_equal "nginx still serves the old certificate" \
	"$(served_fingerprint "$PORT")" \
	"$(file_fingerprint "$CUSTOS_STORE/alpha/a.alpha.test/$v2/cert.pem")"

daemon_stop
tap_done
