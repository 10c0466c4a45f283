#!/bin/bash
# custos-agent against the daemon's API with certificates whose keys stay
# in the HSM (SoftHSM2), issued by Pebble: the first fetch writes the
# files, the second gets 304 and writes nothing, a re-issued version is
# written with the previous one kept, and a failing, killed or hanging
# reload command rolls the files back byte for byte. The agent runs as a
# user of its own and rejects root. It also polls over the API's TCP
# listener with TLS, trusting the test CA through trust-bundle.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/daemon.sh
source "$(dirname "$0")/../lib/daemon.sh"
# shellcheck source=tests/lib/agent.sh
source "$(dirname "$0")/../lib/agent.sh"

current_version() {
	state_query "SELECT name FROM versions WHERE cert_id = $1 AND
		status = 'current'"
}

# Usage: reissue_and_wait COUNT
# Re-issues certificate 1 and waits until it has COUNT versions.
reissue_and_wait() {
	curl -sS --unix-socket "$API_SOCKET" -X POST \
		http://localhost/v1/certificates/1/reissue >/dev/null
	wait_for 120 "SELECT count(*) FROM versions WHERE cert_id = 1" "$1" ||
		bail_out "no version $1: $(tail -n 20 "$DAEMON_LOG")"
	wait_for 30 "SELECT count(*) FROM versions WHERE cert_id = 1 AND
		status = 'current' AND name NOT IN ($2)" 1 ||
		bail_out "version $1 did not become current"
}

# Usage: files_of DIR
# Prints the SHA-256 of each file of a version directory, and its mode.
files_of() {
	(cd "$1" && for f in cert.pem chain.pem fullchain.pem key.uri; do
		printf '%s %s\n' "$(stat -c %a "$f")" "$(sha256sum <"$f")"
	done)
}

# Writes a test CA and the API listener's certificate for 127.0.0.1.
make_tls_files() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.pem" -days 2 \
		-subj /CN=agent-test-ca 2>/dev/null &&
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
			-nodes -keyout "$TLS_DIR/api-key.pem" \
			-out "$TLS_DIR/api.csr" -subj /CN=127.0.0.1 \
			2>/dev/null &&
		printf 'subjectAltName=IP:127.0.0.1\n' >"$TLS_DIR/ext" &&
		openssl x509 -req -in "$TLS_DIR/api.csr" -CA "$TLS_DIR/ca.pem" \
			-CAkey "$TLS_DIR/ca.key" -CAcreateserial -days 2 \
			-extfile "$TLS_DIR/ext" -out "$TLS_DIR/api-cert.pem" \
			2>/dev/null &&
		chmod 0600 "$TLS_DIR/api-key.pem" "$TLS_DIR/ca.key" &&
		chmod 0644 "$TLS_DIR/ca.pem"
}

custos_lab_start custos-agent
TLS_DIR=$LAB_DIR/tls
API_PORT=8444
mkdir -p "$TLS_DIR"
make_tls_files || bail_out "cannot make the test CA in $TLS_DIR"
AGENT_API_LINES="listen 127.0.0.1 $API_PORT
	tls-certificate \"$TLS_DIR/api-cert.pem\"
	tls-key \"$TLS_DIR/api-key.pem\""
agent_setup
[ -x "$CUSTOS_AGENT" ] || bail_out "$CUSTOS_AGENT is missing; run make"
agent_request a.alpha.test >/dev/null
wait_for 120 "SELECT count(*) FROM versions WHERE status = 'current'" 1 ||
	bail_out "no certificate: $(tail -n 30 "$DAEMON_LOG")"
v1=$(current_version 1)
store1=$CUSTOS_STORE/alpha/a.alpha.test/$v1
certs=$AGENT_HOME/certs/1
conf=$AGENT_HOME/agent.conf
reload_log=$AGENT_HOME/reload.log
# The reload command records its environment; fetched data reach it only
# there, never in the command line.
# shellcheck disable=SC2016 # The scripts expand the variables.
agent_reload_script record 'echo "$CUSTOS_VERSION $CUSTOS_ROLLBACK\
 $CUSTOS_FULLCHAIN" >>'"$reload_log"
# shellcheck disable=SC2016
agent_reload_script fail \
	'echo "$CUSTOS_VERSION $CUSTOS_ROLLBACK" >>'"$reload_log"'
test "$CUSTOS_ROLLBACK" = 1 || exit 3'
# shellcheck disable=SC2016
agent_reload_script kill 'test "$CUSTOS_ROLLBACK" = 1 || kill -9 $$'
# shellcheck disable=SC2016
agent_reload_script hang 'test "$CUSTOS_ROLLBACK" = 1 || sleep 30'
agent_write_config "$conf" "reload $AGENT_HOME/record"

# 1. Root is rejected unless the configuration allows it.
assert_status "agent rejects root" 1 "$CUSTOS_AGENT" --config "$conf" --once
assert_contains "root refusal names allow-root" "$TAP_OUTPUT" \
	"set 'allow-root yes'"
assert_file_missing "root refusal writes nothing" "$certs/current"

# 2. The first fetch writes the files of the current version.
agent_run "$conf"
assert_equal "first fetch exits 0" "$AGENT_STATUS" 0
assert_equal "current names the version" "$(readlink "$certs/current")" "$v1"
for f in cert.pem chain.pem fullchain.pem key.uri; do
	assert_equal "$f equals the store's" \
		"$(sha256sum <"$certs/current/$f")" "$(sha256sum <"$store1/$f")"
done
assert_file_missing "an hsm key writes no privkey.pem" \
	"$certs/current/privkey.pem"
assert_equal "cert.pem has mode 0644" "$(stat -c %a "$certs/$v1/cert.pem")" \
	644
assert_equal "files belong to the agent's user" \
	"$(stat -c %u:%g "$certs/$v1/cert.pem")" "$AGENT_UID:$AGENT_GID"
assert_contains "the change is logged in one line" "$AGENT_OUTPUT" \
	"1: version (none) -> $v1 (hsm key) in $certs"
assert_equal "the reload command saw the version and paths" \
	"$(cat "$reload_log")" "$v1 0 $certs/current/fullchain.pem"
assert_file_missing "no previous link after the first version" \
	"$certs/previous"

# 3. An unchanged certificate costs one request that returns 304.
before=$(agent_tree_state "$certs")
requests=$(grep -c "node edge1 GET /v1/distribution/1: 304" "$DAEMON_LOG")
agent_run "$conf"
assert_equal "second fetch exits 0" "$AGENT_STATUS" 0
assert_equal "second fetch writes nothing" "$(agent_tree_state "$certs")" \
	"$before"
assert_equal "second fetch logs nothing" "$AGENT_OUTPUT" ""
wait_for_log 5 "node edge1 GET /v1/distribution/1: 304"
assert_equal "second fetch got 304" \
	"$(grep -c "node edge1 GET /v1/distribution/1: 304" "$DAEMON_LOG")" \
	$((requests + 1))
assert_equal "second fetch runs no reload" "$(wc -l <"$reload_log")" 1
agent_run "$conf" --verbose
assert_contains "verbose mode logs the unchanged version" "$AGENT_OUTPUT" \
	"1: version $v1 is current"

# 4. A re-issued version is written and the previous one kept.
v1_files=$(files_of "$certs/$v1")
reissue_and_wait 2 "'$v1'"
v2=$(current_version 1)
agent_run "$conf"
assert_equal "new version exits 0" "$AGENT_STATUS" 0
assert_equal "current names the new version" "$(readlink "$certs/current")" \
	"$v2"
assert_equal "previous names the old version" \
	"$(readlink "$certs/previous")" "$v1"
assert_equal "the old version's files are unchanged" \
	"$(files_of "$certs/$v1")" "$v1_files"
assert_equal "new cert.pem equals the store's" \
	"$(sha256sum <"$certs/current/cert.pem")" \
	"$(sha256sum <"$CUSTOS_STORE/alpha/a.alpha.test/$v2/cert.pem")"
assert_contains "the new version is logged" "$AGENT_OUTPUT" \
	"1: version $v1 -> $v2 (hsm key)"

# 5. A reload command that fails rolls the files back.
v2_files=$(files_of "$certs/$v2")
reissue_and_wait 3 "'$v1', '$v2'"
v3=$(current_version 1)
: >"$reload_log"
agent_write_config "$conf" "reload $AGENT_HOME/fail"
agent_run "$conf"
assert_equal "failed reload exits 1" "$AGENT_STATUS" 1
assert_contains "the failure names the status" "$AGENT_OUTPUT" \
	"1: version $v3: the reload command exited with status 3;\
 rolling back to $v2"
assert_contains "the rollback is logged" "$AGENT_OUTPUT" \
	"1: rolled back to version $v2"
assert_equal "current points at the old version again" \
	"$(readlink "$certs/current")" "$v2"
assert_equal "previous is kept" "$(readlink "$certs/previous")" "$v1"
assert_equal "the old files are byte-equal" "$(files_of "$certs/current")" \
	"$v2_files"
assert_file_missing "the failed version is removed" "$certs/$v3"
assert_equal "reload ran for the new version, then the old" \
	"$(cat "$reload_log")" "$v3 0
$v2 1"

# 6. A reload command killed by a signal or past its timeout, too.
# exec makes the script the agent's child, so the signal reaches it.
agent_write_config "$conf" "reload \"exec $AGENT_HOME/kill\""
agent_run "$conf"
assert_equal "killed reload exits 1" "$AGENT_STATUS" 1
assert_contains "the kill is named" "$AGENT_OUTPUT" \
	"the reload command was killed by signal 9"
assert_equal "killed reload keeps the old version" \
	"$(readlink "$certs/current")" "$v2"
agent_write_config "$conf" "reload $AGENT_HOME/hang" \
	"reload-timeout 1s"
sed -i '/^reload-timeout 5s$/d' "$conf"
start=$SECONDS
agent_run "$conf"
assert_equal "hanging reload exits 1" "$AGENT_STATUS" 1
assert_contains "the timeout is named" "$AGENT_OUTPUT" \
	"the reload command timed out after 1s"
check "the hanging reload is killed within 5 s" test $((SECONDS - start)) -lt 6
assert_equal "hanging reload keeps the old version" \
	"$(readlink "$certs/current")" "$v2"
assert_equal "files stay byte-equal after three failures" \
	"$(files_of "$certs/current")" "$v2_files"

# 7. A reload that succeeds installs the version; the oldest is pruned.
agent_write_config "$conf" "reload true"
agent_run "$conf"
assert_equal "successful reload exits 0" "$AGENT_STATUS" 0
assert_equal "current is the newest version" "$(readlink "$certs/current")" \
	"$v3"
assert_equal "previous is the version before" \
	"$(readlink "$certs/previous")" "$v2"
assert_file_missing "versions older than previous are removed" "$certs/$v1"

# 8. The same agent over the TCP listener with TLS.
tls_conf=$AGENT_HOME/tls.conf
sed "s|^endpoint .*|endpoint \"https://127.0.0.1:$API_PORT\"\n\
trust-bundle \"$TLS_DIR/ca.pem\"|" "$conf" >"$tls_conf"
before=$(agent_tree_state "$certs")
requests=$(grep -c "node edge1 GET /v1/distribution/1: 304" "$DAEMON_LOG")
agent_run "$tls_conf"
assert_equal "https fetch exits 0" "$AGENT_STATUS" 0
assert_equal "https fetch of the current version writes nothing" \
	"$(agent_tree_state "$certs")" "$before"
wait_for_log 5 "node edge1 GET /v1/distribution/1: 304"
assert_equal "https fetch got 304" \
	"$(grep -c "node edge1 GET /v1/distribution/1: 304" "$DAEMON_LOG")" \
	$((requests + 1))
sed -i '/^trust-bundle/d' "$tls_conf"
agent_run "$tls_conf"
assert_equal "https without the test CA exits 1" "$AGENT_STATUS" 1
assert_contains "the TLS failure names the URL" "$AGENT_OUTPUT" \
	"1: GET https://127.0.0.1:$API_PORT/v1/distribution/1 failed:"
assert_equal "a TLS failure writes nothing" "$(agent_tree_state "$certs")" \
	"$before"

# 9. Errors: a token of no node, a token file readable by others.
printf 'x%s\n' "$AGENT_TOKEN" >"$AGENT_HOME/token.bad"
chown "$AGENT_UID:$AGENT_GID" "$AGENT_HOME/token.bad"
chmod 0600 "$AGENT_HOME/token.bad"
sed "s|$AGENT_HOME/token\"|$AGENT_HOME/token.bad\"|" "$conf" \
	>"$AGENT_HOME/bad.conf"
agent_run "$AGENT_HOME/bad.conf"
assert_equal "unknown token exits 1" "$AGENT_STATUS" 1
assert_contains "unknown token names 401" "$AGENT_OUTPUT" \
	"1: the API returned HTTP 401"
chmod 0640 "$AGENT_HOME/token.bad"
agent_run "$AGENT_HOME/bad.conf"
assert_equal "group-readable token exits 1" "$AGENT_STATUS" 1
assert_contains "the token's mode is named" "$AGENT_OUTPUT" \
	"run chmod 0600 $AGENT_HOME/token.bad"
assert_not_contains "agent log has no token" "$(cat "$AGENT_HOME/agent.log")" \
	"$AGENT_TOKEN"

daemon_stop
assert_equal "daemon exits 0" "$DAEMON_STATUS" 0
tap_done
