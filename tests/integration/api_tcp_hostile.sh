#!/bin/bash
# Hostile callers and bad settings of the daemon's API on TCP with TLS.
# TLS files and listen values must stop the start with an error that
# names the value and the fix, and a reload (SIGHUP) with such files must
# keep the running listener. Also: Authorization headers with extra
# whitespace, a NUL byte or no token; bodies that are chunked, too large,
# too deep, of another type or with duplicate keys; idle connections
# that must not stop the socket; a tenant's token reaching for another
# tenant; renegotiation and invalid TLS records; imports that the API
# rejects before it looks up the key; and custos cert with a missing CA
# file or a server certificate for another name.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/daemon.sh
source "$(dirname "$0")/../lib/daemon.sh"

API_PORT=18444
API_URL=https://127.0.0.1:$API_PORT

# Usage: raw_request < REQUEST
# Sends the bytes on stdin over TLS, as they are, and prints the status
# line of the response, or "no answer".
raw_request() {
	python3 -c '
import socket, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
data = sys.stdin.buffer.read()
ctx = ssl.create_default_context(cafile=ca)
out = b""
with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
    with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
        try:
            t.sendall(data)
        except (ssl.SSLError, OSError):
            # The server may answer and close before the whole request
            # is sent; its answer can still be read.
            pass
        try:
            while True:
                chunk = t.recv(65536)
                if not chunk:
                    break
                out += chunk
        except (socket.timeout, ssl.SSLError, OSError):
            pass
line = out.split(b"\r\n", 1)[0].decode("latin-1")
print(line if line else "no answer")
' "$API_PORT" "$TLS_DIR/ca.pem"
}

# Usage: get_with HEADER-LINE
# Sends GET /v1/certificates with HEADER-LINE (printf %b escapes).
get_with() {
	printf "GET /v1/certificates HTTP/1.1\r\nHost: x\r\n"
	printf 'Connection: close\r\n%b\r\n\r\n' "$1"
}

# Usage: post_json HEADERS BODY
# Sends POST /v1/certificates with alpha's token, HEADERS (printf %b
# escapes) and BODY.
post_json() {
	printf "POST /v1/certificates HTTP/1.1\r\nHost: x\r\n"
	printf "Connection: close\r\nAuthorization: Bearer %s\r\n" \
		"$ALPHA_TOKEN"
	printf '%b\r\n\r\n' "$1"
	printf %s "$2"
}

token_hash() {
	printf %s "$1" | sha256sum | cut -d' ' -f1
}

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
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$TLS_DIR/other-key.pem" 2>/dev/null || return 1
	chmod 0600 "$TLS_DIR/api-key.pem" "$TLS_DIR/other-key.pem"
}

# Usage: write_api_block LINE...
# Writes the configuration with an api block of the socket and LINEs.
write_api_block() {
	cp "$LAB_DIR/base.conf" "$CUSTOS_CONF"
	{
		printf 'api {\n\tsocket "%s"\n' "$API_SOCKET"
		printf '\t%s\n' "$@"
		printf '}\n'
	} >>"$CUSTOS_CONF"
}

# Usage: start_fails NAME TEXT LINE...
# Starts the daemon with an api block of LINEs and checks that its log
# shows TEXT and that nothing listens on the API's port.
start_fails() {
	local name=$1 text=$2
	shift 2
	write_api_block "$@"
	DAEMON_LOG=$LAB_DIR/daemon-$name.log
	daemon_start
	assert_status "$name stops the start" 0 wait_for_log 30 "$text" ||
		diag "$(tail -n 3 "$DAEMON_LOG")"
	assert_not_contains "$name: nothing listens" "$(cat "$DAEMON_LOG")" \
		"with TLS"
	daemon_stop
}

# Usage: tcp_status
# Prints the status of GET /v1/certificates on TCP with alpha's token.
tcp_status() {
	curl -sS -o /dev/null -w '%{http_code}' --max-time 10 \
		--cacert "$TLS_DIR/ca.pem" \
		-H "Authorization: Bearer $ALPHA_TOKEN" \
		"$API_URL/v1/certificates" 2>/dev/null
}

# Usage: reload_rejected NAME TEXT
# Sends SIGHUP and checks that the reload is rejected with TEXT and that
# the running listener still serves.
reload_rejected() {
	local before deadline=$((SECONDS + 15))

	before=$(grep -c "reload rejected" "$DAEMON_LOG")
	kill -HUP "$DAEMON_PID"
	while [ "$(grep -c "reload rejected" "$DAEMON_LOG")" -le "$before" ] &&
		[ "$SECONDS" -lt "$deadline" ]; do
		sleep 0.2
	done
	assert_contains "$1: the reload is rejected" \
		"$(grep "reload rejected" "$DAEMON_LOG" | tail -n 1)" \
		"keeping the running configuration: "
	assert_contains "$1: the log names the error" \
		"$(grep "reload rejected" "$DAEMON_LOG" | tail -n 1)" "$2"
	assert_equal "$1: the listener still serves" "$(tcp_status)" 200
}

# Usage: make_leaf NAME SUBJECT-ALT-NAMES
# Writes TLS_DIR/NAME.pem, a leaf that the test CA signs for
# SUBJECT-ALT-NAMES (openssl's subjectAltName syntax).
make_leaf() {
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$TLS_DIR/$1.key" -out "$TLS_DIR/$1.csr" \
		-subj "/CN=$1" 2>/dev/null || return 1
	printf 'subjectAltName=%s\n' "$2" >"$TLS_DIR/$1.ext"
	openssl x509 -req -in "$TLS_DIR/$1.csr" -CA "$TLS_DIR/ca.pem" \
		-CAkey "$TLS_DIR/ca.key" -CAcreateserial -days 2 \
		-extfile "$TLS_DIR/$1.ext" -out "$TLS_DIR/$1.pem" 2>/dev/null
}

# Usage: import_status CHAIN-FILE
# Sends CHAIN-FILE to POST /v1/certificates/import with alpha's token
# and a key id that no key has, and sets API_STATUS and API_DETAIL.
import_status() {
	local response

	response=$(jq -n --rawfile chain "$1" \
		'{chain: $chain, key_id: "0123456789abcdef0123456789abcdef"}' |
		curl -sS -w '\n%{http_code}' --cacert "$TLS_DIR/ca.pem" \
		-H "Authorization: Bearer $ALPHA_TOKEN" \
		-H 'Content-Type: application/json' -d @- \
		"$API_URL/v1/certificates/import")
	API_STATUS=$(tail -n 1 <<<"$response")
	API_DETAIL=$(sed '$d' <<<"$response" | jq -r .detail)
}

custos_lab_start custos-api-tcp-hostile
TLS_DIR=$LAB_DIR/tls
API_SOCKET=$LAB_DIR/run/api.sock
ALPHA_TOKEN=$(openssl rand -hex 24)
EDGE_TOKEN=$(openssl rand -hex 24)
BETA_TOKEN=$(openssl rand -hex 24)
make_tls_files || bail_out "cannot make the test CA in $TLS_DIR"
cat >"$LAB_DIR/policy.conf" <<POLICY
tenant alpha {
	token ci-alpha sha256:$(token_hash "$ALPHA_TOKEN")
	node edge1 {
		token sha256:$(token_hash "$EDGE_TOKEN")
		certificates 1
	}
	allow .alpha.test
	issuers pebble
	accounts pebble
	challenges http-01
	key-types ec-p256
}
tenant beta {
	token ci-beta sha256:$(token_hash "$BETA_TOKEN")
	allow .beta.test
	issuers pebble
	accounts pebble
	challenges http-01
	key-types ec-p256
}
POLICY
cp "$CUSTOS_CONF" "$LAB_DIR/base.conf"
CERT_LINE="tls-certificate \"$TLS_DIR/api-cert.pem\""
KEY_LINE="tls-key \"$TLS_DIR/api-key.pem\""
LISTEN_LINE="listen 127.0.0.1 $API_PORT"
at_exit daemon_stop

# 1. Settings that must stop the start, each with its value and fix.
start_fails mismatch "api tls-key $TLS_DIR/other-key.pem is not the key of \
the first certificate in tls-certificate $TLS_DIR/api-cert.pem" \
	"$LISTEN_LINE" "$CERT_LINE" "tls-key \"$TLS_DIR/other-key.pem\""
start_fails "port 0" "invalid port '0' for listen; use a number from 1" \
	"listen 127.0.0.1 0" "$CERT_LINE" "$KEY_LINE"
start_fails "port 70000" "invalid port '70000' for listen" \
	"listen 127.0.0.1 70000" "$CERT_LINE" "$KEY_LINE"
start_fails hostname "invalid address 'localhost' for listen; use an IPv4" \
	"listen localhost $API_PORT" "$CERT_LINE" "$KEY_LINE"
start_fails "0.0.0.0" "api listen address 0.0.0.0 is not a loopback \
address" "listen 0.0.0.0 $API_PORT" "$CERT_LINE" "$KEY_LINE"
start_fails "TLS 1.1" "unsupported TLS version '1.1' for tls-min-version; \
use 1.2 or 1.3" "$LISTEN_LINE" "$CERT_LINE" "$KEY_LINE" \
	"tls-min-version 1.1"
start_fails "a bracketed address" "invalid address '[::1]' for listen" \
	"listen \"[::1]\" $API_PORT" "$CERT_LINE" "$KEY_LINE"
ln -s api-cert.pem "$TLS_DIR/link-cert.pem"
start_fails "a linked certificate" "api tls-certificate \
$TLS_DIR/link-cert.pem is a symbolic link, which is not followed (set \
tls-certificate to the file that the link points to)" "$LISTEN_LINE" \
	"tls-certificate \"$TLS_DIR/link-cert.pem\"" "$KEY_LINE"
cp "$TLS_DIR/api-key.pem" "$TLS_DIR/nobody-key.pem"
chown nobody "$TLS_DIR/nobody-key.pem"
start_fails "a key of nobody" "api tls-key $TLS_DIR/nobody-key.pem is \
owned by uid $(id -u nobody), not by root (run chown root" \
	"$LISTEN_LINE" "$CERT_LINE" "tls-key \"$TLS_DIR/nobody-key.pem\""
cp "$TLS_DIR/api-key.pem" "$TLS_DIR/open-key.pem"
chmod 0644 "$TLS_DIR/open-key.pem"
start_fails "a key of mode 0644" "api tls-key $TLS_DIR/open-key.pem has \
mode 0644" "$LISTEN_LINE" "$CERT_LINE" "tls-key \"$TLS_DIR/open-key.pem\""

write_api_block "$LISTEN_LINE" "$CERT_LINE" "$KEY_LINE"
DAEMON_LOG=$LAB_DIR/daemon.log
daemon_start
wait_for_log 30 "api: listening on 127.0.0.1 port $API_PORT with TLS" ||
	bail_out "the API did not listen on TCP: $(tail -n 20 "$DAEMON_LOG")"

# 2. Authorization headers.
auth="Authorization: Bearer $ALPHA_TOKEN"
assert_equal "the token answers 200" "$(get_with "$auth" | raw_request)" \
	"HTTP/1.1 200 OK"
assert_equal "a trailing space is not part of the token" \
	"$(get_with "$auth " | raw_request)" "HTTP/1.1 200 OK"
assert_equal "a trailing tab is not part of the token" \
	"$(get_with "$auth\t" | raw_request)" "HTTP/1.1 200 OK"
assert_equal "a NUL inside the token answers 401" \
	"$(get_with "${auth:0:30}\x00${auth:31}" | raw_request)" \
	"HTTP/1.1 401 Unauthorized"
assert_equal "the scheme is case-insensitive" \
	"$(get_with "authorization: bearer $ALPHA_TOKEN" | raw_request)" \
	"HTTP/1.1 200 OK"
assert_equal "two spaces before the token answer 401" \
	"$(get_with "Authorization: Bearer  $ALPHA_TOKEN" | raw_request)" \
	"HTTP/1.1 401 Unauthorized"
assert_equal "Bearer without a token answers 401" \
	"$(get_with "Authorization: Bearer" | raw_request)" \
	"HTTP/1.1 401 Unauthorized"
assert_equal "Bearer and spaces answer 401" \
	"$(get_with "Authorization: Bearer   " | raw_request)" \
	"HTTP/1.1 401 Unauthorized"
assert_equal "Basic answers 401" \
	"$(get_with "Authorization: Basic YTpi" | raw_request)" \
	"HTTP/1.1 401 Unauthorized"
long=$(head -c 100000 /dev/zero | tr '\0' a)
# The server answers 431 and closes while the client may still be
# sending; the reset that follows can then discard the answer before the
# client reads it. Either way the request is refused, and the next
# checks show that the listener still serves.
answer=$(get_with "Authorization: Bearer $long" | raw_request)
case $answer in
"HTTP/1.1 431 Request Header Fields Too Large" | "no answer")
	refused=yes ;;
*)	refused="no: $answer" ;;
esac
assert_equal "a 100000-byte token is refused (431, or a reset)" \
	"$refused" yes
assert_equal "a node's token gets 403 on the metrics" \
	"$(get_with "Authorization: Bearer $EDGE_TOKEN" |
		sed 's/certificates/metrics/' | raw_request)" \
	"HTTP/1.1 403 Forbidden"
assert_not_contains "the log shows no token" "$(cat "$DAEMON_LOG")" \
	"$ALPHA_TOKEN"

# 3. Bodies.
json='Content-Type: application/json'
# Usage: chunked_post
# Sends POST /v1/certificates with a chunked body of 80000 bytes.
chunked_post() {
	local chunk

	chunk=$(head -c 40000 /dev/zero | tr '\0' ' ')
	post_json "$json\r\nTransfer-Encoding: chunked" ""
	printf '9c40\r\n%s\r\n9c40\r\n%s\r\n0\r\n\r\n' "$chunk" "$chunk"
}
assert_equal "a chunked body over 64 KiB answers 413" \
	"$(chunked_post | raw_request)" "HTTP/1.1 413 Content Too Large"
assert_equal "a Content-Length over 64 KiB answers 413" \
	"$(post_json "$json\r\nContent-Length: 70000" "" | raw_request)" \
	"HTTP/1.1 413 Content Too Large"
body=$(printf '%.0s[' $(seq 5000))
assert_equal "5000 nested arrays answer 400" \
	"$(post_json "$json\r\nContent-Length: ${#body}" "$body" |
		raw_request)" "HTTP/1.1 400 Bad Request"
body='{"names":["a.alpha.test"],"names":["b.alpha.test"]}'
assert_equal "duplicate keys answer 400" \
	"$(post_json "$json\r\nContent-Length: ${#body}" "$body" |
		raw_request)" "HTTP/1.1 400 Bad Request"
body=$(printf '{"names":["\xff.alpha.test"]}')
assert_equal "invalid UTF-8 in a name answers 400" \
	"$(post_json "$json\r\nContent-Length: 26" "$body" | raw_request)" \
	"HTTP/1.1 400 Bad Request"
body='{"names":["c.alpha.test"]}'
assert_equal "text/plain answers 415" \
	"$(post_json "Content-Type: text/plain\r\nContent-Length: ${#body}" \
		"$body" | raw_request)" "HTTP/1.1 415 Unsupported Media Type"
assert_equal "nothing was added" \
	"$(state_query 'SELECT count(*) FROM certificates')" 0

# Alpha's token naming beta, and alpha's view of beta's certificate.
beta_status=$(curl -sS -o /dev/null -w '%{http_code}' \
	--unix-socket "$API_SOCKET" -H 'Content-Type: application/json' \
	-d '{"names":["a.beta.test"],"tenant":"beta"}' \
	http://localhost/v1/certificates)
assert_equal "root adds beta's certificate on the socket" "$beta_status" 201
body='{"names":["b.beta.test"],"tenant":"beta"}'
assert_equal "alpha's token may not name tenant beta" \
	"$(post_json "$json\r\nContent-Length: ${#body}" "$body" |
		raw_request)" "HTTP/1.1 403 Forbidden"
metrics=$(curl -sS --cacert "$TLS_DIR/ca.pem" \
	-H "Authorization: Bearer $ALPHA_TOKEN" "$API_URL/v1/metrics")
assert_contains "alpha reads the metrics" "$metrics" "# TYPE"
assert_not_contains "alpha's metrics leave beta out" "$metrics" beta
assert_contains "root's metrics show beta" "$(curl -sS --unix-socket \
	"$API_SOCKET" http://localhost/v1/metrics)" 'tenant="beta"'
assert_equal "the node gets 404 for beta's label" \
	"$(get_with "Authorization: Bearer $EDGE_TOKEN" |
		sed 's|/v1/certificates|/v1/distribution/a.beta.test|' |
		raw_request)" "HTTP/1.1 404 Not Found"
assert_equal "alpha gets 404 for beta's certificate" \
	"$(get_with "$auth" | sed 's|/v1/certificates|&/1|' | raw_request)" \
	"HTTP/1.1 404 Not Found"
assert_equal "beta's token reads it" \
	"$(get_with "Authorization: Bearer $BETA_TOKEN" |
		sed 's|/v1/certificates|&/1|' | raw_request)" "HTTP/1.1 200 OK"

# 4. Renegotiation, and idle connections beyond the connection limit.
reneg=$( (printf 'R\n'; sleep 2) | openssl s_client -connect \
	"127.0.0.1:$API_PORT" -tls1_2 -CAfile "$TLS_DIR/ca.pem" 2>&1)
assert_contains "a renegotiation is tried" "$reneg" RENEGOTIATING
assert_not_contains "the renegotiation does not complete" "$reneg" \
	"Verify return code: 0 (ok)
---
    Verify return code"
python3 -c '
import socket, sys, time
socks = [socket.create_connection(("127.0.0.1", int(sys.argv[1])),
    timeout=5) for i in range(40)]
time.sleep(8)
' "$API_PORT" &
idle_pid=$!
sleep 2
socket_status=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 \
	--unix-socket "$API_SOCKET" http://localhost/v1/certificates)
assert_equal "the socket serves during 40 idle TCP connections" \
	"$socket_status" 200
wait "$idle_pid"
assert_equal "TCP serves once the idle connections close" \
	"$(tcp_status)" 200

# Records that are not a valid ClientHello, one of them 16 KiB.
python3 -c '
import os, socket, struct, sys
port = int(sys.argv[1])
records = [
    b"\x16\x03\x01" + struct.pack(">H", 16384) + b"\x01" + os.urandom(16383),
    b"\x16\x03\x01\xff\xff" + os.urandom(1024),
    b"\x17\x03\x03\x00\x10" + os.urandom(16),
]
for record in records:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(record)
        try:
            s.recv(1024)
        except OSError:
            pass
' "$API_PORT"
assert_equal "TCP serves after invalid TLS records" "$(tcp_status)" 200

# 5. Reloads with bad TLS files keep the running listener.
write_api_block "$LISTEN_LINE" "$CERT_LINE" \
	"tls-key \"$TLS_DIR/other-key.pem\""
reload_rejected "another key" "api tls-key $TLS_DIR/other-key.pem is not \
the key of the first certificate"
write_api_block "$LISTEN_LINE" "$CERT_LINE" \
	"tls-key \"$TLS_DIR/open-key.pem\""
reload_rejected "a key of mode 0644" "api tls-key $TLS_DIR/open-key.pem \
has mode 0644"
write_api_block "$LISTEN_LINE" "$CERT_LINE" \
	"tls-key \"$TLS_DIR/nobody-key.pem\""
reload_rejected "a key of nobody" "api tls-key $TLS_DIR/nobody-key.pem \
is owned by uid"
write_api_block "listen 127.0.0.1 70000" "$CERT_LINE" "$KEY_LINE"
reload_rejected "port 70000" "invalid port '70000' for listen"
write_api_block "listen 0.0.0.0 $API_PORT" "$CERT_LINE" "$KEY_LINE"
reload_rejected "0.0.0.0" "api listen address 0.0.0.0 is not a loopback"
write_api_block "$LISTEN_LINE" "$CERT_LINE" "$KEY_LINE"

# 6. custos cert with a missing CA file or a name the certificate lacks.
printf '%s\n' "$ALPHA_TOKEN" >"$LAB_DIR/alpha.token"
chmod 0600 "$LAB_DIR/alpha.token"
assert_status "cert list runs over TCP" 0 "$CUSTOS" cert list \
	--api-url "$API_URL" --api-ca "$TLS_DIR/ca.pem" \
	--token-file "$LAB_DIR/alpha.token"
printf '%s \t\n' "$ALPHA_TOKEN" >"$LAB_DIR/blank.token"
chmod 0600 "$LAB_DIR/blank.token"
assert_status "blanks after the token are ignored" 0 "$CUSTOS" cert list \
	--api-url "$API_URL" --api-ca "$TLS_DIR/ca.pem" \
	--token-file "$LAB_DIR/blank.token"
assert_status "cert list runs with a trailing slash" 0 "$CUSTOS" cert \
	list --api-url "$API_URL/" --api-ca "$TLS_DIR/ca.pem" \
	--token-file "$LAB_DIR/alpha.token"
long_host=$(head -c 260 /dev/zero | tr '\0' a).test
assert_status "a 275-byte --api-url fails" 1 "$CUSTOS" cert list \
	--api-url "https://$long_host:$API_PORT" --api-ca "$TLS_DIR/ca.pem" \
	--token-file "$LAB_DIR/alpha.token"
assert_contains "the CLI names the URL's limit" "$TAP_OUTPUT" \
	"longer than 272 bytes"
assert_status "a missing --api-ca fails" 1 "$CUSTOS" cert list \
	--api-url "$API_URL" --api-ca "$LAB_DIR/missing-ca.pem" \
	--token-file "$LAB_DIR/alpha.token"
assert_contains "the CLI names the missing CA file" "$TAP_OUTPUT" \
	"$LAB_DIR/missing-ca.pem"
assert_status "a name the certificate lacks fails" 1 "$CUSTOS" cert list \
	--api-url "https://localhost:$API_PORT" --api-ca "$TLS_DIR/ca.pem" \
	--token-file "$LAB_DIR/alpha.token"
assert_contains "the CLI says the name does not match" "$TAP_OUTPUT" \
	"no alternative certificate subject name matches target host name \
'localhost'"
# 7. Imports that the API rejects before it looks up the key.
make_leaf dot "DNS:a.alpha.test,DNS:b.alpha.test.,DNS:c.alpha.test" ||
	bail_out "cannot make the leaf with a trailing dot"
cat "$TLS_DIR/dot.pem" "$TLS_DIR/ca.pem" >"$TLS_DIR/dot.chain"
import_status "$TLS_DIR/dot.chain"
assert_equal "a trailing dot in the second name answers 400" \
	"$API_STATUS" 400
assert_contains "the 400 names the name with the dot" "$API_DETAIL" \
	'names "b.alpha.test." with a trailing dot'
make_leaf many "$(seq -f 'DNS:n%g.alpha.test' 1 1000 | paste -sd,)" ||
	bail_out "cannot make the leaf with 1000 names"
cat "$TLS_DIR/many.pem" "$TLS_DIR/ca.pem" >"$TLS_DIR/many.chain"
import_status "$TLS_DIR/many.chain"
assert_equal "a leaf with 1000 names answers 400" "$API_STATUS" 400
assert_contains "the 400 gives the limit" "$API_DETAIL" \
	"more than 100 names"
make_leaf good "DNS:good.alpha.test" || bail_out "cannot make a leaf"
cat "$TLS_DIR/good.pem" "$TLS_DIR/good.key" "$TLS_DIR/ca.pem" \
	>"$TLS_DIR/key-inside.chain"
import_status "$TLS_DIR/key-inside.chain"
assert_equal "a private key block in the chain answers 400" \
	"$API_STATUS" 400
assert_contains "the 400 names the block's type" "$API_DETAIL" \
	'PEM block 2 is a "PRIVATE KEY", not a CERTIFICATE'
assert_not_contains "the 400 does not show the key" "$API_DETAIL" \
	"$(sed -n 2p "$TLS_DIR/good.key")"
cat "$TLS_DIR/ca.pem" "$TLS_DIR/good.pem" >"$TLS_DIR/leaf-last.chain"
import_status "$TLS_DIR/leaf-last.chain"
assert_equal "a leaf-last chain answers 400" "$API_STATUS" 400
assert_contains "the 400 names the CA first" "$API_DETAIL" \
	'starts with the CA certificate "CN=api-test-ca"'
cat "$TLS_DIR/good.pem" "$TLS_DIR/good.pem" >"$TLS_DIR/leaf-twice.chain"
import_status "$TLS_DIR/leaf-twice.chain"
assert_equal "a chain of the leaf twice answers 400" "$API_STATUS" 400
assert_contains "the 400 names the second certificate" "$API_DETAIL" \
	"certificate 2 of the chain is not a CA certificate"
cat "$TLS_DIR/good.pem" "$TLS_DIR/ca.pem" "$TLS_DIR/dot.pem" \
	>"$TLS_DIR/leaf-last-again.chain"
import_status "$TLS_DIR/leaf-last-again.chain"
assert_equal "a chain that ends with a leaf answers 400" "$API_STATUS" 400
assert_contains "the 400 names the third certificate" "$API_DETAIL" \
	"certificate 3 of the chain is not a CA certificate"
for i in 1 2 3 4 5 6 7 8; do
	cat "$TLS_DIR/ca.pem"
done | cat "$TLS_DIR/good.pem" - >"$TLS_DIR/nine.chain"
import_status "$TLS_DIR/nine.chain"
assert_equal "a chain of 9 certificates answers 400" "$API_STATUS" 400
assert_contains "the 400 gives the limit of 8" "$API_DETAIL" \
	"8 certificates"
assert_equal "no import was stored" \
	"$(state_query 'SELECT count(*) FROM certificates')" 1
daemon_stop
assert_equal "the daemon stops cleanly" "$DAEMON_STATUS" 0
tap_done
