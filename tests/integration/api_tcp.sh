#!/bin/bash
# The daemon's API on TCP with TLS, on 127.0.0.1, with a server
# certificate from a test CA made by openssl: requests and lists with a
# tenant's token, 401 without a token or with an unknown one, 404 across
# tenants, distribution with a node's token, revocation with a
# tenant's token, plain HTTP and TLS 1.1
# refused, a client that trusts another CA refused by curl, a key file
# that group or others may read rejected at start, and custos cert over
# TCP with a token file.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/daemon.sh
source "$(dirname "$0")/../lib/daemon.sh"

API_PORT=18443
API_URL=https://127.0.0.1:$API_PORT

# Usage: request TOKEN METHOD PATH [BODY]
# Sends one request over TLS with "Authorization: Bearer TOKEN" (none
# when TOKEN is empty) and sets API_STATUS, API_HEADERS and API_BODY.
request() {
	local token=$1 method=$2 path=$3 response
	local -a args=(-sS -i --cacert "$TLS_DIR/ca.pem" -X "$method")

	if [ -n "$token" ]; then
		args+=(-H "Authorization: Bearer $token")
	fi
	if [ $# -gt 3 ]; then
		args+=(-H 'Content-Type: application/json' -d "$4")
	fi
	response=$(curl "${args[@]}" "$API_URL$path")
	API_HEADERS=$(sed -n '1,/^\r$/p' <<<"$response" | tr -d '\r')
	API_BODY=$(sed '1,/^\r$/d' <<<"$response")
	API_STATUS=$(sed -n '1s/^HTTP\/1.1 \([0-9]*\).*/\1/p' <<<"$response")
}

field() {
	jq -r "$1" <<<"$API_BODY"
}

token_hash() {
	printf %s "$1" | sha256sum | cut -d' ' -f1
}

# Writes a test CA, a server certificate for 127.0.0.1 that it signs, and
# a second CA that signs nothing, into TLS_DIR.
make_tls_files() {
	mkdir -p "$TLS_DIR" || return 1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.pem" -days 2 \
		-subj /CN=api-test-ca 2>/dev/null || return 1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$TLS_DIR/other-ca.key" -out "$TLS_DIR/other-ca.pem" \
		-days 2 -subj /CN=other-ca 2>/dev/null || return 1
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$TLS_DIR/api-key.pem" -out "$TLS_DIR/api.csr" \
		-subj /CN=127.0.0.1 2>/dev/null || return 1
	printf 'subjectAltName=IP:127.0.0.1,IP:::1\n' >"$TLS_DIR/ext"
	openssl x509 -req -in "$TLS_DIR/api.csr" -CA "$TLS_DIR/ca.pem" \
		-CAkey "$TLS_DIR/ca.key" -CAcreateserial -days 2 \
		-extfile "$TLS_DIR/ext" -out "$TLS_DIR/api-cert.pem" \
		2>/dev/null || return 1
	chmod 0600 "$TLS_DIR/api-key.pem"
}

write_policy() {
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
}

custos_lab_start custos-api-tcp
TLS_DIR=$LAB_DIR/tls
API_SOCKET=$LAB_DIR/run/api.sock
ALPHA_TOKEN=$(openssl rand -hex 24)
BETA_TOKEN=$(openssl rand -hex 24)
EDGE_TOKEN=$(openssl rand -hex 24)
make_tls_files || bail_out "cannot make the test CA in $TLS_DIR"
write_policy
cat >>"$CUSTOS_CONF" <<CONF
daemon {
	poll-interval 2s
	renew-jitter 0
}
api {
	socket "$API_SOCKET"
	listen 127.0.0.1 $API_PORT
	tls-certificate "$TLS_DIR/api-cert.pem"
	tls-key "$TLS_DIR/api-key.pem"
}
CONF
at_exit daemon_stop

# 1. A key file that group members may read stops the start.
chmod 0640 "$TLS_DIR/api-key.pem"
DAEMON_LOG=$LAB_DIR/daemon-badkey.log
daemon_start
assert_status "a readable key file is rejected" 0 \
	wait_for_log 30 "api tls-key $TLS_DIR/api-key.pem has mode 0640"
assert_contains "the error names the fix" "$(cat "$DAEMON_LOG")" \
	"run chmod 600 $TLS_DIR/api-key.pem"
assert_not_contains "nothing listens with that key" "$(cat "$DAEMON_LOG")" \
	"with TLS"
daemon_stop
chmod 0600 "$TLS_DIR/api-key.pem"

DAEMON_LOG=$LAB_DIR/daemon.log
daemon_start
wait_for_log 30 "api: listening on 127.0.0.1 port $API_PORT with TLS" ||
	bail_out "the API did not listen on TCP: $(tail -n 20 "$DAEMON_LOG")"
assert_not_contains "the log shows no key" "$(cat "$DAEMON_LOG")" \
	"PRIVATE KEY"

# 2. Requests with a tenant's token.
request "$ALPHA_TOKEN" POST /v1/certificates '{"names":["a.alpha.test"]}'
assert_equal "alpha's token requests a certificate" "$API_STATUS" 201
assert_equal "the request is alpha's" "$(field .tenant)" alpha
assert_contains "the answer has a Location" "$API_HEADERS" \
	"Location: /v1/certificates/1"
actor=$(grep '"user":"tcp 127.0.0.1"' "$CUSTOS_AUDIT_LOG" | head -n 1 |
	jq -c .actor)
assert_equal "the audit record names the TCP caller and token" "$actor" \
	'{"tenant":"alpha","user":"tcp 127.0.0.1","token_id":"ci-alpha"}'
request "$BETA_TOKEN" POST /v1/certificates '{"names":["a.beta.test"]}'
assert_equal "beta's token requests a certificate" "$API_STATUS" 201
assert_equal "beta's request is certificate 2" "$(field .id)" 2
request "$ALPHA_TOKEN" POST /v1/certificates '{"names":["a.beta.test"]}'
assert_equal "alpha's token may not request beta's name" "$API_STATUS" 403
request "$ALPHA_TOKEN" GET /v1/certificates
assert_equal "alpha's token lists" "$API_STATUS" 200
assert_equal "alpha lists its certificate only" \
	"$(field '[.certificates[].id] | join(" ")')" 1
request "$BETA_TOKEN" GET /v1/certificates
assert_equal "beta lists its certificate only" \
	"$(field '[.certificates[].id] | join(" ")')" 2

# 3. No token, a wrong token, another tenant's certificate.
request "" GET /v1/certificates
assert_equal "no token answers 401" "$API_STATUS" 401
assert_equal "401 has the unauthorized type" "$(field .type)" \
	urn:custos:error:unauthorized
assert_contains "401 names the bearer token" "$(field .detail)" \
	"the API on TCP knows callers by their bearer token only"
assert_contains "401 asks for a bearer token" "$API_HEADERS" \
	"WWW-Authenticate: Bearer"
request "" GET /v1/metrics
assert_equal "metrics without token answer 401" "$API_STATUS" 401
request "not-a-token" GET /v1/certificates
assert_equal "an unknown token answers 401" "$API_STATUS" 401
request "" POST /v1/certificates '{"names":["b.alpha.test"]}'
assert_equal "a request without token answers 401" "$API_STATUS" 401
assert_equal "nothing was added without token" \
	"$(state_query 'SELECT count(*) FROM certificates')" 2
request "$BETA_TOKEN" GET /v1/certificates/1
assert_equal "beta gets 404 for alpha's certificate" "$API_STATUS" 404
assert_equal "the 404 reads like an unknown id" "$(field .detail)" \
	"no certificate with id 1 (see GET /v1/certificates or custos cert list)"
request "$BETA_TOKEN" POST /v1/certificates/1/reissue
assert_equal "beta gets 404 on alpha's reissue" "$API_STATUS" 404
request "$BETA_TOKEN" DELETE /v1/certificates/1
assert_equal "beta gets 404 on alpha's remove" "$API_STATUS" 404
request "$BETA_TOKEN" GET "/v1/certificates?tenant=alpha"
assert_equal "beta's token may not name alpha" "$API_STATUS" 403
request "$ALPHA_TOKEN" GET /v1/metrics
assert_equal "alpha's token reads the metrics" "$API_STATUS" 200

# 4. Distribution with the node's token once Pebble has issued.
wait_for 120 "SELECT count(*) FROM versions WHERE status = 'current'" 2 ||
	bail_out "no two certificates: $(tail -n 30 "$DAEMON_LOG")"
request "$EDGE_TOKEN" GET /v1/distribution/1
assert_equal "the node fetches certificate 1" "$API_STATUS" 200
assert_equal "the node gets alpha's certificate" "$(field .tenant)" alpha
assert_contains "the node gets the chain" "$(field .fullchain)" \
	"BEGIN CERTIFICATE"
etag=$(sed -n 's/^ETag: //Ip' <<<"$API_HEADERS")
assert_contains "the answer has an ETag" "$etag" '"'
curl_status=$(curl -sS -o /dev/null -w '%{http_code}' \
	--cacert "$TLS_DIR/ca.pem" -H "Authorization: Bearer $EDGE_TOKEN" \
	-H "If-None-Match: $etag" "$API_URL/v1/distribution/1")
assert_equal "the node's If-None-Match answers 304" "$curl_status" 304
request "$EDGE_TOKEN" GET /v1/distribution/2
assert_equal "the node gets 404 for beta's certificate" "$API_STATUS" 404
request "$EDGE_TOKEN" GET /v1/certificates
assert_equal "the node's token lists nothing" "$API_STATUS" 403
request "" GET /v1/distribution/1
assert_equal "distribution without token answers 401" "$API_STATUS" 401

# Revocation over TCP: a reason a CA would reject, then a valid one.
request "$ALPHA_TOKEN" POST /v1/certificates/2/revoke '{"reason": 5}'
assert_equal "alpha's token gets 404 on beta's revoke" "$API_STATUS" 404
request "$BETA_TOKEN" POST /v1/certificates/2/revoke '{"reason": 9}'
assert_equal "revoke with reason 9 answers 400" "$API_STATUS" 400
assert_contains "the 400 names reason 9" "$(field .detail)" \
	"invalid reason 9 "
request "$BETA_TOKEN" POST /v1/certificates/2/revoke '{"reason": 5}'
assert_equal "beta's token revokes its certificate" "$API_STATUS" 200
assert_equal "the revocation has reason 5" "$(field .reason)" 5
serial=$(field .serial | sed 's/^0*//')
status=$(curl -fsS --max-time 5 --cacert "$PEBBLE_TLS_CA" \
	"https://$PEBBLE_MANAGEMENT_ADDRESS/cert-status-by-serial/$serial")
assert_equal "Pebble reports certificate 2 revoked" \
	"$(jq -r .Status <<<"$status")" Revoked
assert_equal "Pebble records cessationOfOperation" \
	"$(jq -r .Reason <<<"$status")" 5

# 5. Plain HTTP, an old TLS version and a client of another CA.
plain=$(curl -sS -o /dev/null -w '%{http_code}' \
	"http://127.0.0.1:$API_PORT/v1/certificates" 2>&1)
assert_equal "plain HTTP gets no HTTP answer" "$?" 52
assert_contains "curl reports the empty reply" "$plain" \
	"Empty reply from server"
tls11=$(openssl s_client -connect "127.0.0.1:$API_PORT" -tls1_1 \
	-cipher 'DEFAULT@SECLEVEL=0' </dev/null 2>&1)
assert_contains "TLS 1.1 is refused" "$tls11" "Cipher is (NONE)"
tls12=$(openssl s_client -connect "127.0.0.1:$API_PORT" -tls1_2 \
	-CAfile "$TLS_DIR/ca.pem" </dev/null 2>&1)
assert_contains "TLS 1.2 is accepted" "$tls12" "New, TLSv1.2"
assert_contains "the chain verifies against the test CA" "$tls12" \
	"Verify return code: 0 (ok)"
other=$(curl -sS -o /dev/null --cacert "$TLS_DIR/other-ca.pem" \
	-H "Authorization: Bearer $ALPHA_TOKEN" "$API_URL/v1/certificates" \
	2>&1)
assert_equal "a client of another CA refuses the server" "$?" 60
assert_contains "curl names the certificate problem" "$other" \
	"SSL certificate problem"

# 6. custos cert over TCP with a token file, and without configuration.
printf '%s\n' "$ALPHA_TOKEN" >"$LAB_DIR/alpha.token"
chmod 0600 "$LAB_DIR/alpha.token"
printf '%s\n' "$BETA_TOKEN" >"$LAB_DIR/beta.token"
chmod 0600 "$LAB_DIR/beta.token"
remote=(--config /nonexistent/custos.conf --api-url "$API_URL"
	--api-ca "$TLS_DIR/ca.pem")
assert_status "cert list runs over TCP" 0 "$CUSTOS" cert list \
	"${remote[@]}" --token-file "$LAB_DIR/alpha.token"
assert_equal "cert list prints alpha's certificate only" \
	"$(cut -f1,2,5 <<<"$TAP_OUTPUT")" "$(printf '1\talpha\ta.alpha.test')"
assert_status "cert add runs over TCP" 0 "$CUSTOS" cert add \
	"${remote[@]}" --token-file "$LAB_DIR/alpha.token" c.alpha.test
assert_contains "cert add prints the new certificate" "$TAP_OUTPUT" \
	"added certificate 3 for tenant alpha: c.alpha.test"
assert_status "cert show of beta's certificate fails" 1 "$CUSTOS" cert \
	show "${remote[@]}" --token-file "$LAB_DIR/alpha.token" 2
assert_contains "the error is the API's 404" "$TAP_OUTPUT" \
	"no certificate with id 2"
assert_status "cert show runs with beta's token" 0 "$CUSTOS" cert show \
	"${remote[@]}" --token-file "$LAB_DIR/beta.token" 2
assert_contains "cert show prints beta's names" "$TAP_OUTPUT" \
	"names: a.beta.test"
assert_status "cert list runs on the socket with a token" 0 "$CUSTOS" \
	cert list --config "$CUSTOS_CONF" --token-file "$LAB_DIR/beta.token"
assert_equal "the socket with beta's token lists beta's only" \
	"$(cut -f1 <<<"$TAP_OUTPUT")" 2
assert_status "another CA fails the CLI" 1 "$CUSTOS" cert list \
	--api-url "$API_URL" --api-ca "$TLS_DIR/other-ca.pem" \
	--token-file "$LAB_DIR/alpha.token"
assert_contains "the CLI names the TLS failure" "$TAP_OUTPUT" \
	"request to the daemon's API at $API_URL failed"
assert_status "plain http is rejected by the CLI" 1 "$CUSTOS" cert list \
	--api-url "http://127.0.0.1:$API_PORT" \
	--token-file "$LAB_DIR/alpha.token"
assert_contains "the CLI names the URL" "$TAP_OUTPUT" \
	"invalid --api-url \"http://127.0.0.1:$API_PORT\""
assert_status "--api-url needs a token file" 1 "$CUSTOS" cert list \
	"${remote[@]}"
assert_contains "the CLI asks for --token-file" "$TAP_OUTPUT" \
	"--api-url needs --token-file"
chmod 0644 "$LAB_DIR/alpha.token"
assert_status "a readable token file is rejected" 1 "$CUSTOS" cert list \
	"${remote[@]}" --token-file "$LAB_DIR/alpha.token"
assert_contains "the CLI names the token file's mode" "$TAP_OUTPUT" \
	"token file $LAB_DIR/alpha.token has mode 0644"
assert_not_contains "the CLI does not print the token" "$TAP_OUTPUT" \
	"$ALPHA_TOKEN"

# 7. The socket still serves local users by their credentials.
socket_status=$(curl -sS -o /dev/null -w '%{http_code}' \
	--unix-socket "$API_SOCKET" http://localhost/v1/certificates)
assert_equal "root lists on the socket" "$socket_status" 200
assert_not_contains "the log shows no token" "$(cat "$DAEMON_LOG")" \
	"$ALPHA_TOKEN"

assert_contains "the failed handshakes are logged" "$(cat "$DAEMON_LOG")" \
	"api: tcp: "

# A reload (SIGHUP) reads replaced TLS files.
old_serial=$(openssl x509 -in "$TLS_DIR/api-cert.pem" -noout -serial)
openssl x509 -req -in "$TLS_DIR/api.csr" -CA "$TLS_DIR/ca.pem" \
	-CAkey "$TLS_DIR/ca.key" -CAcreateserial -days 2 \
	-extfile "$TLS_DIR/ext" -out "$TLS_DIR/api-cert.pem" 2>/dev/null
new_serial=$(openssl x509 -in "$TLS_DIR/api-cert.pem" -noout -serial)
assert_not_equal "the replaced certificate has a new serial" \
	"$new_serial" "$old_serial"
kill -HUP "$DAEMON_PID"
deadline=$((SECONDS + 30))
while [ "$(grep -c "port $API_PORT with TLS" "$DAEMON_LOG")" -lt 2 ] &&
	[ "$SECONDS" -lt "$deadline" ]; do
	sleep 0.2
done
served=$(openssl s_client -connect "127.0.0.1:$API_PORT" \
	-CAfile "$TLS_DIR/ca.pem" </dev/null 2>/dev/null |
	openssl x509 -noout -serial)
assert_equal "the reload serves the replaced certificate" "$served" \
	"$new_serial"
request "$ALPHA_TOKEN" GET /v1/certificates
assert_equal "alpha's token lists after the reload" "$API_STATUS" 200
daemon_stop
assert_equal "the daemon stops cleanly" "$DAEMON_STATUS" 0
chmod 0600 "$LAB_DIR/alpha.token"
assert_status "--token-file without a daemon fails" 1 "$CUSTOS" cert \
	list --config "$CUSTOS_CONF" --token-file "$LAB_DIR/alpha.token"
assert_contains "the CLI says no daemon answers" "$TAP_OUTPUT" \
	"--token-file needs a daemon that serves the API"
assert_status "--api-ca without --api-url fails" 1 "$CUSTOS" cert list \
	--config "$CUSTOS_CONF" --api-ca "$TLS_DIR/ca.pem"
assert_contains "the CLI names --api-url" "$TAP_OUTPUT" \
	"--api-ca applies only with --api-url"

# 8. On ::1, tls-min-version 1.3 refuses TLS 1.2.
sed -i 's/^\ttls-key .*/&\n\ttls-min-version 1.3/' "$CUSTOS_CONF"
sed -i "s/^\tlisten 127.0.0.1 /\tlisten ::1 /" "$CUSTOS_CONF"
API_URL="https://[::1]:$API_PORT"
DAEMON_LOG=$LAB_DIR/daemon-tls13.log
daemon_start
wait_for_log 30 "api: listening on ::1 port $API_PORT with TLS" ||
	bail_out "the API did not restart: $(tail -n 20 "$DAEMON_LOG")"
curl -sS -o /dev/null --cacert "$TLS_DIR/ca.pem" --tls-max 1.2 \
	-H "Authorization: Bearer $ALPHA_TOKEN" "$API_URL/v1/certificates" \
	2>/dev/null
assert_equal "TLS 1.2 is refused at minimum 1.3" "$?" 35
request "$ALPHA_TOKEN" GET /v1/certificates
assert_equal "TLS 1.3 lists at minimum 1.3" "$API_STATUS" 200
assert_contains "the log names the IPv6 caller" "$(cat "$DAEMON_LOG")" \
	"api: tcp ::1 with token ci-alpha GET /v1/certificates: 200"
daemon_stop
tap_done
