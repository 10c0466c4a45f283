#!/bin/bash
# The distribution endpoint and the metrics of the daemon's API, on its
# UNIX socket, with certificates that Pebble issues through SoftHSM2 keys.
# Edge nodes fetch with their own tokens: ETag and 304, a new version
# changes the ETag, every 404 and 401 case, a node token outside the
# endpoint, and a node removed by a reload (SIGHUP). The metrics are
# checked with promtool and against the database and the certificates.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/daemon.sh
source "$(dirname "$0")/../lib/daemon.sh"

ALPHA_UID=5001
BETA_UID=5002
STRANGER_UID=5003

# Usage: request METHOD PATH [CURL-ARG ...]
# Sends one request as root and sets API_STATUS, API_HEADERS and API_BODY.
request() {
	local method=$1 path=$2 response

	shift 2
	response=$(curl -sS -i --unix-socket "$API_SOCKET" -X "$method" "$@" \
		"http://localhost$path")
	API_HEADERS=$(sed -n '1,/^\r$/p' <<<"$response" | tr -d '\r')
	API_BODY=$(sed '1,/^\r$/d' <<<"$response")
	API_STATUS=$(sed -n '1s/^HTTP\/1.1 \([0-9]*\).*/\1/p' <<<"$response")
}

# Usage: fetch TOKEN PATH [CURL-ARG ...]
# GET with "Authorization: Bearer TOKEN".
fetch() {
	local token=$1 path=$2

	shift 2
	request GET "$path" -H "Authorization: Bearer $token" "$@"
}

# Usage: as_uid_get UID PATH
# GET as a tenant's user, with no supplementary groups.
as_uid_get() {
	local response

	response=$(setpriv --reuid="$1" --regid="$1" --clear-groups -- \
		curl -sS -i --unix-socket "$API_SOCKET" "http://localhost$2")
	API_BODY=$(sed '1,/^\r$/d' <<<"$response")
	API_STATUS=$(sed -n '1s/^HTTP\/1.1 \([0-9]*\).*/\1/p' <<<"$response")
}

field() {
	jq -r "$1" <<<"$API_BODY"
}

# Prints the value of header NAME of the last response.
header() {
	sed -n "s/^$1: //Ip" <<<"$API_HEADERS"
}

# Usage: metric NAME-AND-LABELS
# Prints the value of one exact series of the last metrics response.
metric() {
	awk -v series="$1" '$1 == series { print $2 }' <<<"$API_BODY"
}

# Prints the current version's name of certificate ID.
current_version() {
	state_query "SELECT name FROM versions WHERE cert_id = $1 AND
		status = 'current'"
}

# Usage: wait_for_api COUNT
# Waits until the daemon's log shows more than COUNT API process starts.
wait_for_api() {
	local deadline=$((SECONDS + 30))

	while [ "$(grep -c "api: listening on" "$DAEMON_LOG")" -le "$1" ]; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

token_hash() {
	printf %s "$1" | sha256sum | cut -d' ' -f1
}

# Writes the policy; with "without-edge2" node edge2 is left out.
write_policy() {
	local edge2=

	if [ "${1:-}" != without-edge2 ]; then
		edge2="node edge2 {
		token sha256:$(token_hash "$EDGE2_TOKEN")
		certificates 2
	}"
	fi
	cat >"$LAB_DIR/policy.conf" <<POLICY
tenant alpha {
	users $ALPHA_UID
	token ci-alpha sha256:$(token_hash "$ALPHA_TOKEN")
	node edge1 {
		token sha256:$(token_hash "$EDGE1_TOKEN")
		certificates 1 b.alpha.test
	}
	$edge2
	allow .alpha.test
	issuers pebble
	accounts pebble
	challenges http-01
	key-types ec-p256
}
tenant beta {
	users $BETA_UID
	token ci-beta sha256:$(token_hash "$BETA_TOKEN")
	node edge-beta {
		token sha256:$(token_hash "$BETA_EDGE_TOKEN")
		certificates 1 3
	}
	allow .beta.test
	issuers pebble
	accounts pebble
	challenges http-01
	key-types ec-p256
}
POLICY
}

custos_lab_start custos-dist
API_SOCKET=$LAB_DIR/run/api.sock
ALPHA_TOKEN=$(openssl rand -hex 24)
BETA_TOKEN=$(openssl rand -hex 24)
EDGE1_TOKEN=$(openssl rand -hex 24)
EDGE2_TOKEN=$(openssl rand -hex 24)
BETA_EDGE_TOKEN=$(openssl rand -hex 24)
write_policy
cat >>"$CUSTOS_CONF" <<CONF
daemon {
	poll-interval 2s
	renew-jitter 0
	retry-base 2s
	retry-max 5s
}
api {
	socket "$API_SOCKET"
}
CONF
at_exit daemon_stop
daemon_start
wait_for_log 30 "api: listening on $API_SOCKET" ||
	bail_out "the API process did not start: $(tail -n 20 "$DAEMON_LOG")"

# Certificates 1 and 2 of alpha, 3 of beta.
for body in '{"names":["a.alpha.test"],"tenant":"alpha"}' \
	'{"names":["b.alpha.test"],"tenant":"alpha"}' \
	'{"names":["a.beta.test"],"tenant":"beta"}'; do
	request POST /v1/certificates -H 'Content-Type: application/json' \
		-d "$body"
	assert_equal "request $(jq -r '.names[0]' <<<"$body") answers 201" \
		"$API_STATUS" 201
done
wait_for 120 "SELECT count(*) FROM versions WHERE status = 'current'" 3 ||
	bail_out "no three certificates: $(tail -n 30 "$DAEMON_LOG")"

# 1. A granted node fetches the chain, the key URI and the tag.
v1=$(current_version 1)
fetch "$EDGE1_TOKEN" /v1/distribution/1
assert_equal "edge1 fetches certificate 1" "$API_STATUS" 200
assert_equal "the ETag is the version's name" "$(header ETag)" "\"$v1\""
assert_equal "the body names the version" "$(field .version)" "$v1"
assert_equal "the body names the certificate" "$(field .id)" 1
assert_equal "the body names the tenant" "$(field .tenant)" alpha
assert_equal "the body lists the names" "$(field '.names | join(" ")')" \
	a.alpha.test
assert_contains "the answer is JSON" "$(header Content-Type)" \
	application/json
version_dir=$CUSTOS_STORE/alpha/a.alpha.test/$v1
assert_equal "fullchain is the stored file" "$(field .fullchain)" \
	"$(cat "$version_dir/fullchain.pem")"
assert_equal "chain is the stored file" "$(field .chain)" \
	"$(cat "$version_dir/chain.pem")"
assert_equal "certificate has the version's serial" \
	"$(field .certificate | openssl x509 -noout -serial |
		cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//')" \
	"$(state_query "SELECT serial FROM versions WHERE name = '$v1'" |
		sed 's/^0*//')"
assert_equal "the key URI is the stored one" "$(field .key.uri)" \
	"$(cat "$version_dir/key.uri")"
assert_contains "the key URI names the token" "$(field .key.uri)" \
	"pkcs11:token="
assert_contains "the key URI names the key id" "$(field .key.uri)" ";id=%"
assert_not_contains "the key URI has no PIN" "$(field .key.uri)" pin
assert_equal "the key stays in the HSM" "$(field .key.export)" hsm
assert_not_contains "the answer has no private key" "$API_BODY" \
	"PRIVATE KEY"

fetch "$EDGE1_TOKEN" /v1/distribution/b.alpha.test
assert_equal "edge1 fetches by label" "$API_STATUS" 200
assert_equal "the label finds certificate 2" "$(field .id)" 2

# 2. ETag and If-None-Match.
fetch "$EDGE1_TOKEN" /v1/distribution/1 -H "If-None-Match: \"$v1\""
assert_equal "the current tag answers 304" "$API_STATUS" 304
assert_equal "304 has no body" "$API_BODY" ""
assert_equal "304 repeats the ETag" "$(header ETag)" "\"$v1\""
fetch "$EDGE1_TOKEN" /v1/distribution/1 -H "If-None-Match: \"x\", \"$v1\""
assert_equal "a tag in a list answers 304" "$API_STATUS" 304
fetch "$EDGE1_TOKEN" /v1/distribution/1 \
	-H 'If-None-Match: "20200101T000000Z-01"'
assert_equal "another tag answers 200" "$API_STATUS" 200

# 3. What a node may not fetch: all the same 404.
fetch "$EDGE1_TOKEN" /v1/distribution/999
assert_equal "unknown id answers 404" "$API_STATUS" 404
unknown_type=$(field .type)
fetch "$EDGE1_TOKEN" /v1/distribution/no.alpha.test
assert_equal "unknown label answers 404" "$API_STATUS" 404
fetch "$EDGE2_TOKEN" /v1/distribution/1
assert_equal "certificate without grant answers 404" "$API_STATUS" 404
assert_equal "no-grant 404 has the not-found type" "$(field .type)" \
	"$unknown_type"
assert_equal "no-grant detail reads like an unknown one" "$(field .detail)" \
	"no certificate \"1\" for this node (check the id or label, and the \
node's certificates in the policy)"
fetch "$EDGE2_TOKEN" /v1/distribution/2
assert_equal "edge2 fetches its granted certificate" "$API_STATUS" 200
fetch "$BETA_EDGE_TOKEN" /v1/distribution/1
assert_equal "another tenant's certificate answers 404 despite a grant" \
	"$API_STATUS" 404
fetch "$BETA_EDGE_TOKEN" /v1/distribution/a.alpha.test
assert_equal "another tenant's label answers 404" "$API_STATUS" 404
fetch "$BETA_EDGE_TOKEN" /v1/distribution/3
assert_equal "beta's node fetches beta's certificate" "$API_STATUS" 200

# 4. Tokens: missing, unknown, a tenant's, a node's elsewhere.
request GET /v1/distribution/1
assert_equal "no token answers 401" "$API_STATUS" 401
assert_equal "401 asks for a bearer token" "$(header WWW-Authenticate)" \
	Bearer
fetch not-a-token /v1/distribution/1
assert_equal "unknown token answers 401" "$API_STATUS" 401
fetch "$ALPHA_TOKEN" /v1/distribution/1
assert_equal "a tenant's token answers 403" "$API_STATUS" 403
fetch "$EDGE1_TOKEN" /v1/certificates
assert_equal "a node token may not list certificates" "$API_STATUS" 403
fetch "$EDGE1_TOKEN" /v1/certificates/1
assert_equal "a node token may not show a certificate" "$API_STATUS" 403
fetch "$EDGE1_TOKEN" /v1/metrics
assert_equal "a node token may not read metrics" "$API_STATUS" 403
request POST /v1/certificates/1/reissue -H "Authorization: Bearer $EDGE1_TOKEN"
assert_equal "a node token may not reissue" "$API_STATUS" 403
request DELETE /v1/distribution/1 -H "Authorization: Bearer $EDGE1_TOKEN"
assert_equal "DELETE on distribution answers 405" "$API_STATUS" 405
assert_not_contains "daemon log has no node token" "$(cat "$DAEMON_LOG")" \
	"$EDGE1_TOKEN"
assert_contains "daemon log names the node" "$(cat "$DAEMON_LOG")" \
	"with the token of node edge1 GET /v1/distribution/1: 304"

# 5. A new version changes the ETag.
request POST /v1/certificates/1/reissue
assert_equal "reissue answers 202" "$API_STATUS" 202
wait_for 120 "SELECT count(*) FROM versions WHERE cert_id = 1" 2 ||
	diag "daemon log:" "$(tail -n 30 "$DAEMON_LOG")"
wait_for 30 "SELECT count(*) FROM versions WHERE cert_id = 1 AND
	status = 'previous'" 1
v2=$(current_version 1)
assert_not_equal "reissue made a new version" "$v2" "$v1"
fetch "$EDGE1_TOKEN" /v1/distribution/1 -H "If-None-Match: \"$v1\""
assert_equal "the old tag answers 200" "$API_STATUS" 200
assert_equal "the new ETag is the new version" "$(header ETag)" "\"$v2\""
assert_equal "the body has the new version" "$(field .version)" "$v2"

# 6. Metrics.
before=$(date +%s)
request GET /v1/metrics
after=$(date +%s)
assert_equal "metrics answer 200" "$API_STATUS" 200
assert_equal "metrics are the text format 0.0.4" "$(header Content-Type)" \
	"text/plain; version=0.0.4; charset=utf-8"
printf '%s\n' "$API_BODY" >"$LAB_DIR/metrics.txt"
assert_status "promtool accepts the metrics" 0 promtool check metrics \
	<"$LAB_DIR/metrics.txt"
not_after=$(date -d "$(openssl x509 -noout -enddate \
	-in "$CUSTOS_STORE/alpha/a.alpha.test/$v2/cert.pem" | cut -d= -f2)" +%s)
cert1='{tenant="alpha",id="1",label="a.alpha.test"}'
expiry=$(metric "custos_certificate_expiry_seconds$cert1")
check "expiry of 1 is at most notAfter - request start" \
	test "$expiry" -le $((not_after - before))
check "expiry of 1 is at least notAfter - request end" \
	test "$expiry" -ge $((not_after - after))
check "expiry of 1 is positive" test "$expiry" -gt 0
assert_equal "last attempt of 1 is the database's" \
	"$(metric "custos_certificate_last_attempt_timestamp_seconds$cert1")" \
	"$(state_query "SELECT max(started) FROM attempts WHERE cert_id = 1")"
# Two requests and one reissue for alpha, one request for beta.
assert_equal "alpha's orders are the three run" \
	"$(metric 'custos_orders_total{tenant="alpha"}')" 3
assert_equal "beta's orders are the one run" \
	"$(metric 'custos_orders_total{tenant="beta"}')" 1
assert_equal "alpha's order counter matches the database" \
	"$(metric 'custos_orders_total{tenant="alpha"}')" \
	"$(state_query "SELECT count(*) FROM orders o JOIN certificates c
		ON c.id = o.cert_id WHERE c.tenant = 'alpha'")"
assert_equal "alpha's succeeded attempts are three" \
	"$(metric 'custos_attempts_total{tenant="alpha",result="succeeded"}')" 3
assert_equal "no retries were needed" \
	"$(grep -c '^custos_retries_total{' <<<"$API_BODY")" 0
signer_ops=$(metric 'custos_signer_operations_total{tenant="alpha"}')
assert_equal "signer operations come from the database" "$signer_ops" \
	"$(state_query "SELECT value FROM counters WHERE
		name = 'signer_operations' AND tenant = 'alpha'")"
# Each issuance needs at least a key, a CSR and signed ACME requests.
check "signer operations of alpha are at least 3 per order" \
	test "$signer_ops" -ge 9

as_uid_get $ALPHA_UID /v1/metrics
assert_equal "alpha's user reads metrics" "$API_STATUS" 200
assert_contains "alpha's user sees alpha" "$API_BODY" 'tenant="alpha"'
assert_not_contains "alpha's user does not see beta" "$API_BODY" \
	'tenant="beta"'
fetch "$BETA_TOKEN" /v1/metrics
assert_equal "beta's token reads metrics" "$API_STATUS" 200
assert_contains "beta's token sees beta's orders" "$API_BODY" \
	'custos_orders_total{tenant="beta"} 1'
assert_not_contains "beta's token does not see alpha" "$API_BODY" \
	'tenant="alpha"'
as_uid_get $STRANGER_UID /v1/metrics
assert_equal "a user of no tenant gets 403 on metrics" "$API_STATUS" 403

# 7. Counters survive a restart of the daemon.
listening=$(grep -c "api: listening on" "$DAEMON_LOG")
daemon_stop
daemon_start
wait_for_api "$listening" || bail_out "the API process did not restart"
request GET /v1/metrics
assert_equal "orders survive a restart" \
	"$(metric 'custos_orders_total{tenant="alpha"}')" 3
check "signer operations survive a restart" test \
	"$(metric 'custos_signer_operations_total{tenant="alpha"}')" \
	-ge "$signer_ops"

# 8. Removing a node and reloading revokes its token at once.
fetch "$EDGE2_TOKEN" /v1/distribution/2
assert_equal "edge2 fetches before the reload" "$API_STATUS" 200
write_policy without-edge2
listening=$(grep -c "api: listening on" "$DAEMON_LOG")
kill -HUP "$DAEMON_PID"
wait_for_log 30 "reloaded $CUSTOS_CONF" ||
	bail_out "no reload: $(tail -n 20 "$DAEMON_LOG")"
wait_for_api "$listening" || bail_out "the API process did not restart"
fetch "$EDGE2_TOKEN" /v1/distribution/2
assert_equal "removed node answers 401 after the reload" "$API_STATUS" 401
fetch "$EDGE1_TOKEN" /v1/distribution/1
assert_equal "edge1 still fetches after the reload" "$API_STATUS" 200

daemon_stop
assert_equal "daemon exits 0" "$DAEMON_STATUS" 0
tap_done
