#!/bin/bash
# Limits of the daemon's API on TCP against callers who tie up resources:
# a client address beyond connections-per-address is refused while
# another address and the socket are served; requests without a valid
# token over TCP are logged but append no audit record; and a reload
# whose new listen port another program holds is rejected, keeping the
# running listener, and accepted once the port is free.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/daemon.sh
source "$(dirname "$0")/../lib/daemon.sh"

API_PORT=18445
NEW_PORT=18446

token_hash() {
	printf %s "$1" | sha256sum | cut -d' ' -f1
}

# Writes a test CA and a server certificate for 127.0.0.1 into TLS_DIR.
make_tls_files() {
	mkdir -p "$TLS_DIR" || return 1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.pem" -days 2 \
		-subj /CN=api-test-ca 2>/dev/null || return 1
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$TLS_DIR/api-key.pem" -out "$TLS_DIR/api.csr" \
		-subj /CN=127.0.0.1 2>/dev/null || return 1
	printf 'subjectAltName=IP:127.0.0.1\n' >"$TLS_DIR/ext"
	openssl x509 -req -in "$TLS_DIR/api.csr" -CA "$TLS_DIR/ca.pem" \
		-CAkey "$TLS_DIR/ca.key" -CAcreateserial -days 2 \
		-extfile "$TLS_DIR/ext" -out "$TLS_DIR/api-cert.pem" \
		2>/dev/null || return 1
	chmod 0600 "$TLS_DIR/api-key.pem"
}

# Usage: write_config PORT
# Writes the configuration with an api block that listens on PORT and
# lets one address hold 2 connections.
write_config() {
	cp "$LAB_DIR/base.conf" "$CUSTOS_CONF"
	cat >>"$CUSTOS_CONF" <<CONF
api {
	socket "$API_SOCKET"
	listen 127.0.0.1 $1
	tls-certificate "$TLS_DIR/api-cert.pem"
	tls-key "$TLS_DIR/api-key.pem"
	connections-per-address 2
}
CONF
}

# Usage: tcp_status PORT [SOURCE-ADDRESS]
# Prints the status of GET /v1/certificates on PORT with alpha's token,
# sent from SOURCE-ADDRESS (default 127.0.0.1).
tcp_status() {
	curl -sS -o /dev/null -w '%{http_code}' --max-time 5 \
		--interface "${2:-127.0.0.1}" --cacert "$TLS_DIR/ca.pem" \
		-H "Authorization: Bearer $ALPHA_TOKEN" \
		"https://127.0.0.1:$1/v1/certificates" 2>/dev/null
}

# Usage: post_status TOKEN
# Prints the status of a POST on TCP with TOKEN (none when empty).
post_status() {
	local -a args=(-sS -o /dev/null -w '%{http_code}' --max-time 5
		--cacert "$TLS_DIR/ca.pem" -H 'Content-Type: application/json'
		-d '{"names":["a.alpha.test"]}')

	if [ -n "$1" ]; then
		args+=(-H "Authorization: Bearer $1")
	fi
	curl "${args[@]}" "https://127.0.0.1:$API_PORT/v1/certificates"
}

api_records() {
	grep -c '"command":"api request"' "$CUSTOS_AUDIT_LOG"
}

custos_lab_start custos-api-tcp-limits
TLS_DIR=$LAB_DIR/tls
API_SOCKET=$LAB_DIR/run/api.sock
ALPHA_TOKEN=$(openssl rand -hex 24)
make_tls_files || bail_out "cannot make the test CA in $TLS_DIR"
cat >"$LAB_DIR/policy.conf" <<POLICY
tenant alpha {
	token ci-alpha sha256:$(token_hash "$ALPHA_TOKEN")
	allow .alpha.test
	issuers pebble
	accounts pebble
	challenges http-01
	key-types ec-p256
}
POLICY
cp "$CUSTOS_CONF" "$LAB_DIR/base.conf"
write_config "$API_PORT"
at_exit daemon_stop
DAEMON_LOG=$LAB_DIR/daemon.log
daemon_start
wait_for_log 30 "api: listening on 127.0.0.1 port $API_PORT with TLS" ||
	bail_out "the API did not listen on TCP: $(tail -n 20 "$DAEMON_LOG")"

# 1. Two connections from 127.0.0.1, each sending one header byte, use up
# that address's share. A third is refused at once, but 127.0.0.2 and the
# socket are served.
held=$(python3 -c '
import socket, ssl, subprocess, sys, time
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
held = []
for i in range(2):
    t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port),
        timeout=5), server_hostname="127.0.0.1")
    t.sendall(b"G")
    held.append(t)
time.sleep(0.5)
try:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
            t.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            third = "served" if t.recv(64) else "refused"
except (OSError, ssl.SSLError):
    third = "refused"
other = subprocess.run(sys.argv[3:], capture_output=True, text=True)
print(third, other.stdout)
' "$API_PORT" "$TLS_DIR/ca.pem" curl -sS -o /dev/null -w '%{http_code}' \
	--max-time 5 --interface 127.0.0.2 --cacert "$TLS_DIR/ca.pem" \
	-H "Authorization: Bearer $ALPHA_TOKEN" \
	"https://127.0.0.1:$API_PORT/v1/certificates")
assert_equal "a third connection from 127.0.0.1 is refused" \
	"${held% *}" refused
assert_equal "127.0.0.2 is served meanwhile" "${held#* }" 200
assert_equal "the socket serves" "$(curl -sS -o /dev/null \
	-w '%{http_code}' --max-time 5 --unix-socket "$API_SOCKET" \
	http://localhost/v1/certificates)" 200
sleep 0.5
assert_equal "127.0.0.1 is served once its connections close" \
	"$(tcp_status "$API_PORT")" 200

# 2. Refused TCP callers are logged, but only identified ones audited.
before=$(api_records)
assert_equal "a POST without a token answers 401" "$(post_status "")" 401
assert_equal "a POST with an unknown token answers 401" \
	"$(post_status "$(openssl rand -hex 24)")" 401
assert_equal "neither appends an audit record" "$(api_records)" "$before"
assert_equal "both are logged" "$(grep -c \
	"api: tcp 127.0.0.1 POST /v1/certificates: 401" "$DAEMON_LOG")" 2
body=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 \
	--unix-socket "$API_SOCKET" -H "Authorization: Bearer nothing" \
	-H 'Content-Type: application/json' -d '{"names":["a.alpha.test"]}' \
	http://localhost/v1/certificates)
assert_equal "a bad token on the socket answers 401" "$body" 401
assert_equal "the socket's peer is known, so it is audited" \
	"$(api_records)" "$((before + 1))"
assert_equal "alpha's token over TCP adds a certificate" \
	"$(post_status "$ALPHA_TOKEN")" 201
assert_equal "and is audited" "$(api_records)" "$((before + 2))"

# 3. A reload to a port that another program uses keeps the listener.
python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1)
time.sleep(60)
' "$NEW_PORT" &
holder=$!
sleep 0.5
write_config "$NEW_PORT"
kill -HUP "$DAEMON_PID"
wait_for_log 15 "reload rejected" ||
	diag "no rejection: $(tail -n 5 "$DAEMON_LOG")"
assert_contains "the reload is rejected with the address and the fix" \
	"$(grep "reload rejected" "$DAEMON_LOG")" "reload rejected, keeping \
the running configuration: cannot listen on 127.0.0.1 port $NEW_PORT: \
Address already in use (stop the program that listens there, or set api \
listen to a free port)"
assert_equal "the running listener still serves" \
	"$(tcp_status "$API_PORT")" 200
kill "$holder"
wait "$holder" 2>/dev/null
kill -HUP "$DAEMON_PID"
wait_for_log 30 "api: listening on 127.0.0.1 port $NEW_PORT with TLS" ||
	diag "no new listener: $(tail -n 5 "$DAEMON_LOG")"
assert_equal "with the port free, the reload moves the listener" \
	"$(tcp_status "$NEW_PORT")" 200
assert_equal "the reload was rejected once" \
	"$(grep -c "reload rejected" "$DAEMON_LOG")" 1

tap_done
