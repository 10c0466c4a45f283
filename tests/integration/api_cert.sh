#!/bin/bash
# The daemon's HTTP API on its UNIX socket, driven with curl as root and
# as two tenants' users (uids 5001 and 5002, run with setpriv, so that no
# account is created on the machine). Every endpoint, every error
# (unknown id, malformed JSON, oversized body, wrong method, a policy
# denial naming its rule), 404 for another tenant's certificate, a
# request that ends in a certificate from Pebble, and custos cert run by
# a tenant's user through the API.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/daemon.sh
source "$(dirname "$0")/../lib/daemon.sh"

ALPHA_UID=5001
BETA_UID=5002
STRANGER_UID=5003

# Usage: as_uid UID COMMAND [ARG ...]
# Runs COMMAND as UID with no supplementary groups; UID 0 runs it as is.
as_uid() {
	local uid=$1

	shift
	if [ "$uid" -eq 0 ]; then
		"$@"
	else
		setpriv --reuid="$uid" --regid="$uid" --clear-groups -- "$@"
	fi
}

# Usage: api UID METHOD PATH [BODY [CONTENT-TYPE]]
# Sends one request and sets API_STATUS, API_HEADERS and API_BODY.
api() {
	local uid=$1 method=$2 path=$3 type=${5:-application/json} response
	local -a data=()

	if [ "$#" -ge 4 ]; then
		printf '%s' "$4" >"$LAB_DIR/body"
		chmod 0644 "$LAB_DIR/body"
		data=(-H "Content-Type: $type" --data-binary "@$LAB_DIR/body")
	fi
	response=$(as_uid "$uid" curl -sS -i --unix-socket "$API_SOCKET" \
		-X "$method" "${data[@]}" "http://localhost$path")
	API_HEADERS=$(sed -n '1,/^\r$/p' <<<"$response")
	API_BODY=$(sed '1,/^\r$/d' <<<"$response")
	API_STATUS=$(sed -n '1s/^HTTP\/1.1 \([0-9]*\).*/\1/p' <<<"$response")
}

# Usage: api_token TOKEN METHOD PATH
# Sends one request as root with "Authorization: Bearer TOKEN".
api_token() {
	local response

	response=$(curl -sS -i --unix-socket "$API_SOCKET" -X "$2" \
		-H "Authorization: Bearer $1" "http://localhost$3")
	API_BODY=$(sed '1,/^\r$/d' <<<"$response")
	API_STATUS=$(sed -n '1s/^HTTP\/1.1 \([0-9]*\).*/\1/p' <<<"$response")
}

# Usage: field JQ-FILTER
# Prints a value of API_BODY.
field() {
	jq -r "$1" <<<"$API_BODY"
}

custos_lab_start custos-api
API_SOCKET=$LAB_DIR/run/api.sock
# API tokens: the policy holds only their SHA-256.
ALPHA_TOKEN=$(openssl rand -hex 24)
BETA_TOKEN=$(openssl rand -hex 24)
ALPHA_TOKEN_HASH=$(printf %s "$ALPHA_TOKEN" | sha256sum | cut -d' ' -f1)
BETA_TOKEN_HASH=$(printf %s "$BETA_TOKEN" | sha256sum | cut -d' ' -f1)
cat >"$LAB_DIR/policy.conf" <<POLICY
tenant alpha {
	users $ALPHA_UID
	token ci-alpha sha256:$ALPHA_TOKEN_HASH
	allow .alpha.test
	deny secret.alpha.test
	issuers pebble
	accounts pebble
	challenges http-01
	key-types ec-p256 ec-p384
}
tenant beta {
	users $BETA_UID
	token ci-beta sha256:$BETA_TOKEN_HASH
	allow .beta.test
	issuers pebble
	accounts pebble
	challenges http-01
	key-types ec-p256
}
POLICY
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
deadline=$((SECONDS + 30))
while [ ! -S "$API_SOCKET" ] && [ "$SECONDS" -lt "$deadline" ]; do
	sleep 0.2
done
[ -S "$API_SOCKET" ] ||
	bail_out "no API socket at $API_SOCKET: $(tail -n 20 "$DAEMON_LOG")"
wait_for_log 10 "api: listening on $API_SOCKET" ||
	bail_out "the API process did not start: $(tail -n 20 "$DAEMON_LOG")"

assert_equal "socket mode is 0666" "$(stat -c %a "$API_SOCKET")" 666

# 1. Lists and the request that Pebble fulfils.
api $ALPHA_UID GET /v1/certificates
assert_equal "empty list answers 200" "$API_STATUS" 200
assert_equal "empty list has no certificates" "$API_BODY" \
	'{"certificates":[]}'

api $ALPHA_UID POST /v1/certificates '{"names":["a.alpha.test","B.alpha.test"]}'
assert_equal "request answers 201" "$API_STATUS" 201
assert_equal "request gets id 1" "$(field .id)" 1
assert_equal "request acts for the peer's tenant" "$(field .tenant)" alpha
assert_equal "request stores canonical names" "$(field '.names | join(" ")')" \
	"a.alpha.test b.alpha.test"
assert_contains "request answers with a Location" "$API_HEADERS" \
	"Location: /v1/certificates/1"
assert_contains "request answers JSON" "$API_HEADERS" \
	"Content-Type: application/json"

wait_for 90 "SELECT count(*) FROM versions WHERE status = 'current'" 1 ||
	diag "daemon log:" "$(tail -n 30 "$DAEMON_LOG")"
api $ALPHA_UID GET /v1/certificates/1
assert_equal "show answers 200" "$API_STATUS" 200
assert_equal "show lists the issued version" \
	"$(field '.versions | length')" 1
assert_equal "issued version is current" "$(field '.versions[0].status')" \
	current
v1=$(field '.versions[0].name')
check "Pebble's certificate is in the tenant's store" openssl x509 -noout \
	-in "$CUSTOS_STORE/alpha/a.alpha.test/current/cert.pem"

api $ALPHA_UID GET /v1/certificates
assert_equal "list shows the certificate" "$(field '.certificates[0].id')" 1

# 2. Errors.
api $ALPHA_UID POST /v1/certificates '{"names":["x.beta.test"]}'
assert_equal "name of another tenant answers 403" "$API_STATUS" 403
assert_equal "denial has the policy-denied type" "$(field .type)" \
	urn:custos:error:policy-denied
assert_contains "denial is a problem document" "$API_HEADERS" \
	"Content-Type: application/problem+json"
assert_contains "denial detail names the name and the reason" \
	"$(field .detail)" "x.beta.test: denied, no rule allows it"
api $ALPHA_UID POST /v1/certificates '{"names":["secret.alpha.test"]}'
assert_contains "denial detail names the deny rule and its place" \
	"$(field .detail)" \
	"denied by deny secret.alpha.test at $LAB_DIR/policy.conf:5:7"
assert_equal "denial lists each denied check" \
	"$(field '.denials | length')" 1
api $ALPHA_UID POST /v1/certificates '{"names":["c.alpha.test"],"key_type":"rsa-4096"}'
assert_contains "key type outside the policy is denied" \
	"$(field .detail)" "rsa-4096"

api $ALPHA_UID POST /v1/certificates '{"names":['
assert_equal "malformed JSON answers 400" "$API_STATUS" 400
assert_equal "malformed JSON has its type" "$(field .type)" \
	urn:custos:error:malformed-json
assert_contains "malformed JSON detail names the place" "$(field .detail)" \
	"invalid JSON at line 1"
api $ALPHA_UID POST /v1/certificates \
	'{"names":["d.alpha.test"],"x":[[[[[[[[1]]]]]]]]}'
assert_equal "nine levels of JSON answer 400" "$API_STATUS" 400
assert_contains "depth detail names the limit" "$(field .detail)" \
	"deeper than 8 levels"
api $ALPHA_UID POST /v1/certificates '{"names":["d.alpha.test"],"label":"x"}'
assert_equal "unknown member answers 400" "$API_STATUS" 400
assert_contains "unknown member is named" "$(field .detail)" \
	'unknown member "label"'
api $ALPHA_UID POST /v1/certificates '{"names":"d.alpha.test"}'
assert_contains "names must be an array" "$(field .detail)" \
	'member "names" must be an array'
api $ALPHA_UID POST /v1/certificates '{"names":["bad..alpha.test"]}'
assert_equal "invalid name answers 400" "$API_STATUS" 400
assert_contains "invalid name is quoted" "$(field .detail)" \
	"bad..alpha.test"
api $ALPHA_UID POST /v1/certificates '{"names":["d.alpha.test"]}' text/plain
assert_equal "body of another media type answers 415" "$API_STATUS" 415
big=$(head -c 70000 /dev/zero | tr '\0' ' ')
api $ALPHA_UID POST /v1/certificates "{\"names\":[\"d.alpha.test\"]}$big"
assert_equal "70000-byte body answers 413" "$API_STATUS" 413
assert_contains "oversized body detail names the limit" "$(field .detail)" \
	"larger than 65536 bytes"
api $ALPHA_UID PUT /v1/certificates '{}'
assert_equal "PUT on the collection answers 405" "$API_STATUS" 405
assert_contains "405 lists the allowed methods" "$API_HEADERS" \
	"Allow: GET, POST"
api $ALPHA_UID GET /v1/certificates/1/reissue
assert_equal "GET on reissue answers 405" "$API_STATUS" 405
assert_contains "reissue allows POST only" "$API_HEADERS" "Allow: POST"
api $ALPHA_UID GET /v1/certificates/999
assert_equal "unknown id answers 404" "$API_STATUS" 404
assert_equal "unknown id has the not-found type" "$(field .type)" \
	urn:custos:error:not-found
assert_contains "unknown id is named" "$(field .detail)" \
	"no certificate with id 999"
api $ALPHA_UID GET /v1/keys
assert_equal "unknown path answers 404" "$API_STATUS" 404
api $ALPHA_UID POST /v1/certificates/1/revoke '{"reason": "old"}'
assert_equal "revoke with a text reason answers 400" "$API_STATUS" 400
assert_contains "the reason detail names the value" "$(field .detail)" \
	'invalid reason "old"'
assert_contains "the reason detail names the codes" "$(field .detail)" \
	"use 0 (unspecified), 1 (keyCompromise), 3 (affiliationChanged), 4 (superseded) or 5 (cessationOfOperation)"
# ACME CAs accept only the reasons a subscriber may give: 2 and 6 are
# for CAs and holds, 7 is unused, and 8 to 10 are for CRLs.
for reason in 2 6 7 8 9 10 11 -1 4.0 true; do
	api $ALPHA_UID POST /v1/certificates/1/revoke "{\"reason\": $reason}"
	assert_equal "revoke with reason $reason answers 400" "$API_STATUS" 400
	assert_contains "the detail for reason $reason names it" \
		"$(field .detail)" "invalid reason $reason "
done
api $ALPHA_UID POST /v1/certificates/import '{}'
assert_equal "import without chain answers 400" "$API_STATUS" 400
assert_contains "the import detail names the member" "$(field .detail)" \
	'member "chain" must be a string'
api $STRANGER_UID GET /v1/certificates
assert_equal "user of no tenant answers 403" "$API_STATUS" 403
assert_contains "no-tenant detail names the user" "$(field .detail)" \
	"user uid $STRANGER_UID belongs to no tenant"

# 3. Tenant beta sees nothing of alpha's certificate.
api $BETA_UID GET /v1/certificates
assert_equal "beta lists no certificate" "$(field '.certificates | length')" 0
api $BETA_UID GET "/v1/certificates?tenant=alpha"
assert_equal "beta may not list alpha's" "$API_STATUS" 403
api $BETA_UID GET /v1/certificates/1
assert_equal "beta gets 404 on show" "$API_STATUS" 404
assert_equal "beta's 404 reads like an unknown id" "$(field .detail)" \
	"no certificate with id 1 (see GET /v1/certificates or custos cert list)"
api $BETA_UID POST /v1/certificates/1/reissue
assert_equal "beta gets 404 on reissue" "$API_STATUS" 404
api $BETA_UID POST /v1/certificates/1/rollback
assert_equal "beta gets 404 on rollback" "$API_STATUS" 404
api $BETA_UID DELETE /v1/certificates/1
assert_equal "beta gets 404 on remove" "$API_STATUS" 404
api $BETA_UID POST /v1/certificates '{"names":["a.beta.test"],"tenant":"alpha"}'
assert_equal "beta may not request for alpha" "$API_STATUS" 403
api 0 GET /v1/certificates/1
assert_equal "root sees every tenant's certificate" "$API_STATUS" 200

# An API token limits even root to the token's tenant.
api_token "$ALPHA_TOKEN" GET /v1/certificates/1
assert_equal "alpha's token shows alpha's certificate" "$API_STATUS" 200
api_token "$BETA_TOKEN" GET /v1/certificates/1
assert_equal "beta's token gets 404 as root" "$API_STATUS" 404
api_token "$BETA_TOKEN" GET /v1/certificates
assert_equal "beta's token lists nothing" \
	"$(field '.certificates | length')" 0
api_token "$BETA_TOKEN" GET "/v1/certificates?tenant=alpha"
assert_equal "beta's token may not name alpha" "$API_STATUS" 403
api_token "not-a-token" GET /v1/certificates
assert_equal "unknown token answers 401" "$API_STATUS" 401
assert_equal "unknown token's problem type" "$(field .type)" \
	"urn:custos:error:unauthorized"
assert_not_contains "daemon log has no token" "$(cat "$DAEMON_LOG")" \
	"$ALPHA_TOKEN"
assert_contains "daemon log names the token id" "$(cat "$DAEMON_LOG")" \
	"with token ci-beta"

# 4. Reissue, then rollback to the first version.
api $ALPHA_UID POST /v1/certificates/1/reissue
assert_equal "reissue answers 202" "$API_STATUS" 202
assert_equal "reissue raises the request number" "$(field .request)" 2
wait_for 90 "SELECT count(*) FROM versions" 2 ||
	diag "daemon log:" "$(tail -n 30 "$DAEMON_LOG")"
wait_for 30 "SELECT count(*) FROM versions WHERE status = 'previous'" 1
api $ALPHA_UID POST /v1/certificates/1/rollback
assert_equal "rollback answers 200" "$API_STATUS" 200
assert_equal "rollback restores the first version" "$(field .current)" "$v1"
assert_equal "current symlink follows the rollback" \
	"$(readlink "$CUSTOS_STORE/alpha/a.alpha.test/current")" "$v1"
api $ALPHA_UID POST /v1/certificates/1/rollback
assert_equal "second rollback answers 409" "$API_STATUS" 409
assert_contains "409 says why" "$(field .detail)" \
	"has no earlier version to roll back to"

# 5. custos cert as a tenant's user goes through the API.
assert_status "cert list as uid $ALPHA_UID succeeds" 0 as_uid $ALPHA_UID \
	"$CUSTOS" cert list --config "$CUSTOS_CONF"
assert_contains "cert list prints the certificate" "$TAP_OUTPUT" \
	"1	alpha	"
assert_contains "cert list went through the API" "$(cat "$DAEMON_LOG")" \
	"api: uid $ALPHA_UID GET /v1/certificates: 200"
assert_status "cert add as uid $ALPHA_UID succeeds" 0 as_uid $ALPHA_UID \
	"$CUSTOS" cert add --config "$CUSTOS_CONF" e.alpha.test
assert_contains "cert add names the tenant" "$TAP_OUTPUT" \
	"added certificate 2 for tenant alpha: e.alpha.test"
assert_status "cert show of alpha's as uid $BETA_UID fails" 1 as_uid \
	$BETA_UID "$CUSTOS" cert show --config "$CUSTOS_CONF" 1
assert_contains "cert show prints the 404 detail" "$TAP_OUTPUT" \
	"no certificate with id 1"
assert_status "cert add denied as uid $BETA_UID" 1 as_uid $BETA_UID \
	"$CUSTOS" cert add --config "$CUSTOS_CONF" x.alpha.test
assert_contains "cert add prints the denial" "$TAP_OUTPUT" \
	"x.alpha.test: denied, no rule allows it"

api $ALPHA_UID DELETE /v1/certificates/2
assert_equal "remove answers 200" "$API_STATUS" 200
api $ALPHA_UID GET /v1/certificates
assert_equal "removed certificate leaves the list" \
	"$(field '[.certificates[].id] | join(",")')" 1

# 6. Without a daemon, custos cert goes to the database directly.
daemon_stop
assert_equal "daemon exits 0" "$DAEMON_STATUS" 0
assert_status "cert list as root without a daemon succeeds" 0 "$CUSTOS" \
	cert list --config "$CUSTOS_CONF"
assert_contains "direct cert list prints the certificate" "$TAP_OUTPUT" \
	"1	alpha	"

tap_done
