#!/bin/bash
# custos-agent with wrapped keys from a scripted distribution endpoint
# (tests/hostile/dist_scripted.py on 127.0.0.1, reached by an http://
# endpoint): keys wrapped by tests/tools/wrap_key with either OAEP hash
# are unwrapped, written as PKCS#8 PEM with mode 0600 and served by
# nginx; a blob for another recipient, a damaged blob and a key that does
# not match the certificate are rejected with nothing written; and the
# recipient key's mode is checked.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/agent.sh
source "$(dirname "$0")/../lib/agent.sh"

PORT=8080
TLS_PORT=8443
WRAP_KEY=$CUSTOS_BUILD_DIR/tests/wrap_key

# Usage: make_leaf NAME
# Writes NAME.key (EC P-256, PKCS#8) and NAME.pem, signed by the test CA.
make_leaf() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$PKI/$1.key" 2>/dev/null
	openssl req -new -key "$PKI/$1.key" -subj "/CN=a.alpha.test" \
		-out "$PKI/$1.csr" 2>/dev/null
	printf 'subjectAltName=DNS:a.alpha.test\n' >"$PKI/ext.cnf"
	openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/ca.pem" \
		-CAkey "$PKI/ca.key" -CAcreateserial -days 2 \
		-extfile "$PKI/ext.cnf" -out "$PKI/$1.pem" 2>/dev/null
}

# Usage: fingerprint PUBLIC-KEY-PEM
fingerprint() {
	printf 'sha256:%s' "$(openssl pkey -pubin -in "$1" -outform DER |
		sha256sum | cut -d' ' -f1)"
}

# Usage: serve VERSION LEAF DATA [RECIPIENT [HASH [EXPORT-MEMBERS]]]
# Writes the body of certificate 1: LEAF.pem, the CA as chain, and a
# wrapped key with DATA (base64).
serve() {
	local leaf=$PKI/$2

	jq -n --arg version "$1" --rawfile cert "$leaf.pem" \
		--rawfile chain "$PKI/ca.pem" --arg data "$3" \
		--arg recipient "${4:-$FINGERPRINT_A}" \
		--arg hash "${5:-sha256}" \
		'{id: 1, version: $version, certificate: $cert, chain: $chain,
		  fullchain: ($cert + $chain),
		  key: {export: "wrapped", wrapped: {format: "rsa-oaep-aes-kwp",
		    oaep_hash: $hash, recipient: $recipient,
		    key_type: "ec-p256", data: $data}}}' >"$SERVER/1.json"
	if [ -n "${6:-}" ]; then
		jq "$6" "$SERVER/1.json" >"$SERVER/1.json.new" &&
			mv "$SERVER/1.json.new" "$SERVER/1.json"
	fi
}

# Usage: wrap LEAF RECIPIENT-PUBLIC HASH
wrap() {
	"$WRAP_KEY" "$PKI/$1.key" "$2" "$3"
}

# Prints the SHA-256 of a private key's DER form.
key_digest() {
	openssl pkey -in "$1" -outform DER | sha256sum | cut -d' ' -f1
}

lab_tmpdir custos-agent-unwrap || bail_out "cannot make a directory"
[ -x "$CUSTOS_AGENT" ] || bail_out "$CUSTOS_AGENT is missing; run make"
[ -x "$WRAP_KEY" ] || bail_out "$WRAP_KEY is missing; run make"
PKI=$LAB_DIR/pki
SERVER=$LAB_DIR/server
AGENT_HOME=$LAB_DIR/agent
certs=$AGENT_HOME/certs/1
mkdir -p "$PKI" "$SERVER" "$AGENT_HOME/certs"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$PKI/ca.key" -subj "/CN=Agent Test CA" -days 2 \
	-out "$PKI/ca.pem" 2>/dev/null
make_leaf v1
make_leaf v2
make_leaf v3
make_leaf other
for node in a b; do
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
		-out "$AGENT_HOME/recipient-$node.key" 2>/dev/null
	openssl pkey -in "$AGENT_HOME/recipient-$node.key" -pubout \
		-out "$PKI/recipient-$node.pub"
done
FINGERPRINT_A=$(fingerprint "$PKI/recipient-a.pub")
FINGERPRINT_B=$(fingerprint "$PKI/recipient-b.pub")
AGENT_TOKEN=$(openssl rand -hex 24)
printf '%s\n' "$AGENT_TOKEN" >"$SERVER/token"
(umask 077 && printf '%s\n' "$AGENT_TOKEN" >"$AGENT_HOME/token")
chown -R "$AGENT_UID:$AGENT_GID" "$AGENT_HOME"
chmod 0600 "$AGENT_HOME"/recipient-*.key
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

conf=$AGENT_HOME/agent.conf
cat >"$conf" <<CONF
endpoint "http://127.0.0.1:$PORT"
token-file "$AGENT_HOME/token"
recipient-key "$AGENT_HOME/recipient-a.key"
certificate 1 {
	directory "$certs"
}
CONF

# 1. A key wrapped with SHA-256 OAEP is unwrapped and written.
blob_v1=$(wrap v1 "$PKI/recipient-a.pub" sha256)
serve v1 v1 "$blob_v1"
agent_run "$conf"
assert_equal "sha256 blob exits 0" "$AGENT_STATUS" 0
assert_equal "current is v1" "$(readlink "$certs/current")" v1
assert_equal "privkey.pem is the wrapped key" \
	"$(key_digest "$certs/current/privkey.pem")" \
	"$(key_digest "$PKI/v1.key")"
assert_equal "privkey.pem is PKCS#8 PEM" \
	"$(head -n 1 "$certs/current/privkey.pem")" \
	"-----BEGIN PRIVATE KEY-----"
assert_equal "privkey.pem has mode 0600" \
	"$(stat -c %a "$certs/current/privkey.pem")" 600
assert_equal "the key matches the certificate" \
	"$(openssl pkey -in "$certs/current/privkey.pem" -pubout)" \
	"$(openssl x509 -in "$certs/current/cert.pem" -noout -pubkey)"
assert_file_missing "a wrapped key writes no key.uri" "$certs/current/key.uri"
assert_contains "the change names the unwrapped key" "$AGENT_OUTPUT" \
	"1: version (none) -> v1 (unwrapped key)"

# 2. nginx serves the certificate with the key file the agent wrote.
mkdir -p "$AGENT_HOME/nginx"
printf 'ssl_certificate_key %s;\n' "$certs/current/privkey.pem" \
	>"$AGENT_HOME/nginx/key.conf"
nginx_start "$AGENT_HOME/nginx" "$TLS_PORT" "$certs/current/fullchain.pem" ||
	bail_out "nginx did not start: $(cat "$AGENT_HOME/nginx/start.log" \
		"$AGENT_HOME/nginx/error.log" 2>/dev/null | tail -n 20)"
assert_equal "s_client sees the certificate" \
	"$(served_fingerprint "$TLS_PORT")" "$(file_fingerprint "$PKI/v1.pem")"
assert_status "the handshake verifies with the test CA" 0 \
	openssl s_client -connect "127.0.0.1:$TLS_PORT" \
	-CAfile "$PKI/ca.pem" -verify_return_error \
	-verify_hostname a.alpha.test </dev/null

# 3. An unchanged version returns 304 and writes nothing.
before=$(agent_tree_state "$certs")
agent_run "$conf"
assert_equal "unchanged version exits 0" "$AGENT_STATUS" 0
assert_equal "unchanged version writes nothing" \
	"$(agent_tree_state "$certs")" "$before"
assert_equal "the server returned 304" "$(tail -n 1 "$SERVER/requests.log")" \
	"1 304"

# 4. Rejected blobs leave every file as it was.
# Usage: rejected NAME EXPECTED-MESSAGE
rejected() {
	agent_run "$conf"
	assert_equal "$1: exits 1" "$AGENT_STATUS" 1
	assert_contains "$1: names the cause" "$AGENT_OUTPUT" "$2"
	assert_equal "$1: writes nothing" "$(agent_tree_state "$certs")" \
		"$before"
}
serve v2 v2 "$(wrap v2 "$PKI/recipient-b.pub" sha256)"
rejected "blob for another recipient" \
	"RSA-OAEP decryption with the recipient key failed"
serve v2 v2 "$(wrap v2 "$PKI/recipient-b.pub" sha256)" "$FINGERPRINT_B"
rejected "recipient of another node" \
	"is wrapped to recipient $FINGERPRINT_B, not to this node's key\
 $FINGERPRINT_A"
serve v2 v2 "$(wrap other "$PKI/recipient-a.pub" sha256)"
rejected "key of another certificate" \
	"the unwrapped key of version v2 does not match its certificate;\
 nothing was written"
serve v2 v2 "$(wrap v2 "$PKI/recipient-a.pub" sha256 | base64 -d |
	head -c -8 | base64 -w0)"
rejected "truncated blob" "AES key unwrap failed its integrity check"
serve v2 v2 "$(wrap v2 "$PKI/recipient-a.pub" sha256 | base64 -d |
	python3 -c 'import sys; b = bytearray(sys.stdin.buffer.read());
b[300] ^= 1; sys.stdout.buffer.write(b)' | base64 -w0)"
rejected "bit-flipped blob" "AES key unwrap failed its integrity check"
serve v2 v2 "$(wrap v2 "$PKI/recipient-a.pub" sha1)"
rejected "wrong OAEP hash" "RSA-OAEP decryption"
serve v2 v2 "$(wrap v2 "$PKI/recipient-a.pub" sha256 | fold -w 64)"
rejected "base64 with line breaks" \
	"member \"key.wrapped.data\" is not standard base64 with padding"
serve v2 v2 "$(wrap v2 "$PKI/recipient-a.pub" sha256)" "" "" \
	'.key.export = "hsm"'
rejected "hsm body with a wrapped member" \
	"member \"key\" of an hsm certificate carries a wrapped key"
serve ../v2 v2 "$(wrap v2 "$PKI/recipient-a.pub" sha256)"
rejected "version with a path" "member \"version\" is not a name"
serve v2 v2 "$(wrap v2 "$PKI/recipient-a.pub" sha256)" "" "" \
	'.fullchain = .chain'
rejected "fullchain without the certificate" \
	"member \"fullchain\" is not the certificate followed by the chain"
assert_equal "nginx still serves v1" "$(served_fingerprint "$TLS_PORT")" \
	"$(file_fingerprint "$PKI/v1.pem")"

# 5. A key wrapped with SHA-1 OAEP is accepted; key-mode applies.
agent_reload_script reload-nginx "/usr/sbin/nginx \
-c $AGENT_HOME/nginx/nginx.conf -e $AGENT_HOME/nginx/error.log -s reload"
sed -i "s|^\tdirectory .*|&\n\tkey-mode 0640|" "$conf"
sed -i "s|^\tkey-mode .*|&\n\treload $AGENT_HOME/reload-nginx|" "$conf"
serve v2 v2 "$(wrap v2 "$PKI/recipient-a.pub" sha1)" "" sha1
agent_run "$conf"
assert_equal "sha1 blob exits 0" "$AGENT_STATUS" 0
assert_equal "current is v2" "$(readlink "$certs/current")" v2
assert_equal "previous is v1" "$(readlink "$certs/previous")" v1
assert_equal "privkey.pem is the v2 key" \
	"$(key_digest "$certs/current/privkey.pem")" \
	"$(key_digest "$PKI/v2.key")"
assert_equal "key-mode 0640 applies" \
	"$(stat -c %a "$certs/current/privkey.pem")" 640
deadline=$((SECONDS + 10))
while [ "$(served_fingerprint "$TLS_PORT")" != \
	"$(file_fingerprint "$PKI/v2.pem")" ] &&
	[ "$SECONDS" -lt "$deadline" ]; do
	sleep 0.2
done
assert_equal "nginx serves v2 after the reload" \
	"$(served_fingerprint "$TLS_PORT")" "$(file_fingerprint "$PKI/v2.pem")"

# 6. Without --once the agent polls every interval until SIGTERM.
sed -i 's/^token-file .*/&\ninterval 5s/' "$conf"
polls=$(grep -c '^1 304$' "$SERVER/requests.log")
setpriv --reuid="$AGENT_UID" --regid="$AGENT_GID" --clear-groups -- \
	"$CUSTOS_AGENT" --config "$conf" >"$AGENT_HOME/daemon.log" 2>&1 &
agent_pid=$!
deadline=$((SECONDS + 10))
while [ "$(grep -c '^1 304$' "$SERVER/requests.log")" -le "$polls" ] &&
	[ "$SECONDS" -lt "$deadline" ]; do
	sleep 0.2
done
serve v3 v3 "$(wrap v3 "$PKI/recipient-a.pub" sha256)"
deadline=$((SECONDS + 15))
while [ "$(readlink "$certs/current")" != v3 ] &&
	[ "$SECONDS" -lt "$deadline" ]; do
	sleep 0.2
done
assert_equal "the polling agent installs v3" "$(readlink "$certs/current")" v3
kill -TERM "$agent_pid"
wait "$agent_pid"
assert_equal "the polling agent exits 0 on SIGTERM" "$?" 0
daemon_log=$(cat "$AGENT_HOME/daemon.log")
assert_contains "the start names the interval and endpoint" "$daemon_log" \
	"polling 1 certificate every 5s from http://127.0.0.1:$PORT"
assert_contains "the polling agent logs the change" "$daemon_log" \
	"1: version v2 -> v3 (unwrapped key)"
assert_contains "the polling agent logs its stop" "$daemon_log" \
	"custos-agent: info: stopped"
cat "$AGENT_HOME/daemon.log" >>"$AGENT_HOME/agent.log"

# 7. A failed reload of a first version leaves no version at all.
first=$AGENT_HOME/certs/first
sed -e "s|$certs|$first|" -e 's|^\treload .*|\treload "exit 4"|' \
	-e '/^interval/d' "$conf" >"$AGENT_HOME/first.conf"
agent_run "$AGENT_HOME/first.conf"
assert_equal "failed first reload exits 1" "$AGENT_STATUS" 1
assert_contains "failed first reload names no old version" \
	"$AGENT_OUTPUT" "the reload command exited with status 4;\
 rolling back to no version"
assert_file_missing "failed first reload leaves no current link" \
	"$first/current"
assert_equal "failed first reload leaves an empty directory" \
	"$(find "$first" -mindepth 1 | wc -l)" 0

# 8. The recipient key must be private to the agent's user.
chmod 0640 "$AGENT_HOME/recipient-a.key"
agent_run "$conf"
assert_equal "group-readable recipient key exits 1" "$AGENT_STATUS" 1
assert_contains "the key's mode is named" "$AGENT_OUTPUT" \
	"recipient-a.key: the recipient key has mode 0640, which gives group\
 or others access; run chmod 0600"
chmod 0600 "$AGENT_HOME/recipient-a.key"

all_output=$(cat "$AGENT_HOME/agent.log")
assert_not_contains "agent log has no token" "$all_output" "$AGENT_TOKEN"
assert_not_contains "agent log has no blob" "$all_output" "${blob_v1:0:40}"
assert_not_contains "agent log has no key" "$all_output" "PRIVATE KEY"
tap_done
