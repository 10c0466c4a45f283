#!/bin/bash
# custos-agent against hostile responses and hostile local files, with a
# scripted distribution endpoint (tests/hostile/dist_scripted.py on
# 127.0.0.1): a private key inside the certificate member and the link
# names current and previous as versions are rejected; a directory that
# the agent creates gets the mode of a version directory; a symbolic
# link or a world-writable directory is rejected; and the reload command
# runs with SIGPIPE at its default action and its full reload-timeout;
# a current version removed by hand is fetched again; --check opens the
# trust bundle; pruning leaves directories of other programs alone; the
# reload command's output goes to standard error; owner and group apply
# to the files but not to the directory of the links.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/agent.sh
source "$(dirname "$0")/../lib/agent.sh"

PORT=8080

# Usage: serve VERSION LEAF [JQ-FILTER]
# Writes the hsm body of certificate 1 with LEAF.pem and the test CA as
# chain, changed by JQ-FILTER when given.
serve() {
	jq -n --arg version "$1" --rawfile cert "$PKI/$2.pem" \
		--rawfile chain "$PKI/ca.pem" \
		'{id: 1, version: $version, certificate: $cert, chain: $chain,
		  fullchain: ($cert + $chain),
		  key: {export: "hsm", uri: "pkcs11:token=t;object=k"}}' \
		>"$SERVER/1.json"
	if [ -n "${3:-}" ]; then
		jq --rawfile key "$PKI/v2.key" "$3" "$SERVER/1.json" \
			>"$SERVER/1.json.new" &&
			mv "$SERVER/1.json.new" "$SERVER/1.json"
	fi
}

# Usage: write_config FILE DIRECTORY [CERTIFICATE-LINES]
write_config() {
	cat >"$1" <<CONF
endpoint "http://127.0.0.1:$PORT"
token-file "$AGENT_HOME/token"
reload-timeout 5s
certificate 1 {
	directory "$2"
	${3:-}
}
CONF
}

lab_tmpdir custos-agent-hostile || bail_out "cannot make a directory"
[ -x "$CUSTOS_AGENT" ] || bail_out "$CUSTOS_AGENT is missing; run make"
PKI=$LAB_DIR/pki
SERVER=$LAB_DIR/server
AGENT_HOME=$LAB_DIR/agent
mkdir -p "$PKI" "$SERVER" "$AGENT_HOME/certs"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$PKI/ca.key" -subj "/CN=Agent Test CA" -days 2 \
	-out "$PKI/ca.pem" 2>/dev/null
for leaf in v1 v2; do
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$PKI/$leaf.key" 2>/dev/null
	openssl req -new -key "$PKI/$leaf.key" -subj "/CN=a.alpha.test" \
		-out "$PKI/$leaf.csr" 2>/dev/null
	openssl x509 -req -in "$PKI/$leaf.csr" -CA "$PKI/ca.pem" \
		-CAkey "$PKI/ca.key" -CAcreateserial -days 2 \
		-out "$PKI/$leaf.pem" 2>/dev/null
done
AGENT_TOKEN=$(openssl rand -hex 24)
printf '%s\n' "$AGENT_TOKEN" >"$SERVER/token"
(umask 077 && printf '%s\n' "$AGENT_TOKEN" >"$AGENT_HOME/token")
chown -R "$AGENT_UID:$AGENT_GID" "$AGENT_HOME"
chmod 0711 "$AGENT_HOME"

python3 "$CUSTOS_SOURCE_DIR/tests/hostile/dist_scripted.py" "$SERVER" \
	"$PORT" 2>"$LAB_DIR/server.log" &
at_exit kill $!
deadline=$((SECONDS + 10))
until (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do
	[ "$SECONDS" -lt "$deadline" ] ||
		bail_out "the scripted server did not start"
	sleep 0.1
done

certs=$AGENT_HOME/certs/1
conf=$AGENT_HOME/agent.conf
write_config "$conf" "$certs"

# 1. A private key before or after the certificate is never written.
# shellcheck disable=SC2016 # $key is a jq variable.
serve v1 v1 '.certificate = $key + .certificate'
agent_run "$conf"
assert_equal "key before the certificate: exits 1" "$AGENT_STATUS" 1
assert_contains "key before the certificate: names the member" \
	"$AGENT_OUTPUT" "member \"certificate\" is not one PEM certificate"
assert_file_missing "key before the certificate: no version" \
	"$certs/current"
# shellcheck disable=SC2016 # $key is a jq variable.
serve v1 v1 '.certificate += $key | .fullchain = .certificate + .chain'
agent_run "$conf"
assert_equal "key after the certificate: exits 1" "$AGENT_STATUS" 1
assert_file_missing "key after the certificate: no version" "$certs/current"
# shellcheck disable=SC2016 # $key is a jq variable.
serve v1 v1 '.chain += $key | .fullchain += $key'
agent_run "$conf"
assert_equal "key after the chain: exits 1" "$AGENT_STATUS" 1
assert_contains "key after the chain: names the member" "$AGENT_OUTPUT" \
	"member \"chain\" holds no PEM certificate"
assert_file_missing "key after the chain: no version" "$certs/current"

# 2. The directory that the agent creates can be entered by the readers.
serve v1 v1
agent_run "$conf"
assert_equal "first version exits 0" "$AGENT_STATUS" 0
assert_equal "current is v1" "$(readlink "$certs/current")" v1
assert_equal "created directory has the version mode" \
	"$(stat -c %a "$certs")" 755
assert_equal "version directory has mode 0755" \
	"$(stat -c %a "$certs/v1")" 755
keyed=$AGENT_HOME/certs/keyed
write_config "$AGENT_HOME/keyed.conf" "$keyed" "key-mode 0640
	cert-mode 0640"
agent_run "$AGENT_HOME/keyed.conf"
assert_equal "group-readable files: exits 0" "$AGENT_STATUS" 0
assert_equal "group-readable files: directory mode 0750" \
	"$(stat -c %a "$keyed")" 750

# 3. The link names are not versions.
before=$(agent_tree_state "$certs")
for name in previous current; do
	serve "$name" v2
	agent_run "$conf"
	assert_equal "version $name: exits 1" "$AGENT_STATUS" 1
	assert_contains "version $name: names the member" "$AGENT_OUTPUT" \
		"member \"version\" is not a name"
	assert_equal "version $name: writes nothing" \
		"$(agent_tree_state "$certs")" "$before"
done
serve v2 v2
agent_run "$conf"
assert_equal "a valid version after them exits 0" "$AGENT_STATUS" 0
assert_equal "current is v2" "$(readlink "$certs/current")" v2
assert_equal "previous is v1" "$(readlink "$certs/previous")" v1

# 4. A world-writable directory and a symbolic link are rejected.
chmod 0777 "$certs"
before=$(agent_tree_state "$certs")
serve v3 v1
agent_run "$conf"
assert_equal "world-writable directory: exits 1" "$AGENT_STATUS" 1
assert_contains "world-writable directory: names mode and fix" \
	"$AGENT_OUTPUT" "$certs has mode 0777, which lets group or others\
 write to it; run chmod go-w $certs"
assert_equal "world-writable directory: writes nothing" \
	"$(agent_tree_state "$certs")" "$before"
chmod 0755 "$certs"
before=$(agent_tree_state "$certs")
ln -s "$certs" "$AGENT_HOME/certs/link"
write_config "$AGENT_HOME/link.conf" "$AGENT_HOME/certs/link"
agent_run "$AGENT_HOME/link.conf"
assert_equal "directory symlink: exits 1" "$AGENT_STATUS" 1
assert_contains "directory symlink: names the link and fix" \
	"$AGENT_OUTPUT" "$AGENT_HOME/certs/link is a symbolic link, which the\
 agent does not follow; set directory to the path it points at"
assert_equal "directory symlink: writes nothing" \
	"$(agent_tree_state "$certs")" "$before"

# 5. The reload command gets SIGPIPE at its default action.
agent_reload_script reload-signals \
	"grep '^SigIgn:' /proc/\$\$/status >$AGENT_HOME/signals"
write_config "$conf" "$certs" "reload $AGENT_HOME/reload-signals"
agent_run "$conf"
assert_equal "reload exits 0" "$AGENT_STATUS" 0
assert_equal "reload ran for v3" "$(readlink "$certs/current")" v3
mask=$(awk '{ print $2 }' "$AGENT_HOME/signals")
assert_equal "SIGPIPE is not ignored in the reload command" \
	"$(((16#${mask:-0} >> 12) & 1))" 0

# 6. reload-timeout counts from the start of the command, not from the
# start of the clock's second: started 0.1 s before a second ends, a
# command of 0.3 s fits into reload-timeout 1s.
write_config "$conf" "$certs" "reload \"sleep 0.3\""
sed -i 's/^reload-timeout .*/reload-timeout 1s/' "$conf"
serve v4 v2
until [ "$(date +%N)" -ge 900000000 ]; do
	sleep 0.01
done
agent_run "$conf"
assert_equal "short reload near a second's end exits 0" "$AGENT_STATUS" 0
assert_equal "short reload near a second's end keeps v4" \
	"$(readlink "$certs/current")" v4

# 7. A current version whose directory was removed by hand is fetched
# again instead of being reported as current.
write_config "$conf" "$certs"
rm -r "${certs:?}/v4"
agent_run "$conf"
assert_equal "removed current version: exits 0" "$AGENT_STATUS" 0
assert_contains "removed current version: names it" "$AGENT_OUTPUT" \
	"$certs/current names v4, whose directory is missing; fetching it\
 again"
assert_equal "removed current version: fetched without If-None-Match" \
	"$(tail -n 1 "$SERVER/requests.log")" "1 200"
assert_equal "removed current version: current is v4" \
	"$(readlink "$certs/current")" v4
assert_equal "removed current version: cert.pem is back" \
	"$(file_fingerprint "$certs/current/cert.pem")" \
	"$(file_fingerprint "$PKI/v2.pem")"
assert_equal "removed current version: previous stays v3" \
	"$(readlink "$certs/previous")" v3

# 8. --check opens the trust bundle, which a fetch needs later.
sed "1i trust-bundle $AGENT_HOME/missing.pem" "$conf" >"$AGENT_HOME/tb.conf"
agent_run "$AGENT_HOME/tb.conf" --check
assert_equal "missing trust bundle: --check exits 1" "$AGENT_STATUS" 1
assert_contains "missing trust bundle: names file and fix" "$AGENT_OUTPUT" \
	"$AGENT_HOME/missing.pem: cannot open the trust bundle: No such file\
 or directory; set trust-bundle to a PEM file of CA certificates"
sed "1i trust-bundle $PKI/ca.pem" "$conf" >"$AGENT_HOME/tb.conf"
agent_run "$AGENT_HOME/tb.conf" --check
assert_equal "readable trust bundle: --check exits 0" "$AGENT_STATUS" 0

# 9. Pruning removes only the agent's own version directories: a
# directory named like a version but holding other files survives.
shared=$AGENT_HOME/shared
mkdir -p "$shared/html" "$shared/sites-enabled"
echo page >"$shared/html/index.html"
echo server >"$shared/sites-enabled/default"
chown -R "$AGENT_UID:$AGENT_GID" "$shared"
write_config "$AGENT_HOME/shared.conf" "$shared"
serve v5 v1
agent_run "$AGENT_HOME/shared.conf"
assert_equal "shared directory: exits 0" "$AGENT_STATUS" 0
assert_equal "shared directory: current is v5" \
	"$(readlink "$shared/current")" v5
assert_equal "shared directory: html/index.html survives" \
	"$(cat "$shared/html/index.html")" page
assert_equal "shared directory: sites-enabled/default survives" \
	"$(cat "$shared/sites-enabled/default")" server
assert_contains "shared directory: names the foreign directory" \
	"$AGENT_OUTPUT" "$shared/html is not a version directory of the\
 agent; left in place"
serve v6 v2
agent_run "$AGENT_HOME/shared.conf"
serve v7 v1
agent_run "$AGENT_HOME/shared.conf"
assert_equal "shared directory: current is v7" \
	"$(readlink "$shared/current")" v7
assert_file_missing "shared directory: old version v5 is pruned" \
	"$shared/v5"
assert_equal "shared directory: html still survives" \
	"$(cat "$shared/html/index.html")" page

# 10. The reload command's standard output goes to the agent's standard
# error, as docs/agent.md states.
write_config "$conf" "$certs" "reload \"echo reload-output\""
serve v8 v2
stdout=$(setpriv --reuid="$AGENT_UID" --regid="$AGENT_GID" --clear-groups \
	-- "$CUSTOS_AGENT" --config "$conf" --once 2>"$AGENT_HOME/stderr")
assert_equal "reload output: agent exits 0" "$?" 0
assert_equal "reload output: nothing on standard output" "$stdout" ""
assert_contains "reload output: on standard error" \
	"$(cat "$AGENT_HOME/stderr")" "reload-output"

# 11. With owner and group, a root agent gives the version's files to
# them, but the directory with the links only to the group.
owned=$AGENT_HOME/certs/owned
write_config "$AGENT_HOME/owned.conf" "$owned" "owner nobody
	group nogroup
	cert-mode 0640"
sed -i '1i allow-root yes' "$AGENT_HOME/owned.conf"
"$CUSTOS_AGENT" --config "$AGENT_HOME/owned.conf" --once \
	>>"$AGENT_HOME/agent.log" 2>&1
assert_equal "owner and group: root agent exits 0" "$?" 0
assert_equal "owner and group: directory stays root's, group nogroup" \
	"$(stat -c '%U:%G %a' "$owned")" "root:nogroup 750"
assert_equal "owner and group: version directory" \
	"$(stat -c '%U:%G %a' "$owned/current/")" "nobody:nogroup 750"
assert_equal "owner and group: cert.pem" \
	"$(stat -c '%U:%G %a' "$owned/current/cert.pem")" "nobody:nogroup 640"

all_output=$(cat "$AGENT_HOME/agent.log")
assert_not_contains "agent log has no token" "$all_output" "$AGENT_TOKEN"
assert_not_contains "agent log has no key" "$all_output" "PRIVATE KEY"
tap_done
