#!/bin/bash
# POST /v1/certificates/import and POST /v1/certificates/ID/revoke on the
# daemon's API, as the users of two tenants (uids 5001 and 5002 through
# setpriv). An import through the API is listed beside ACME certificates;
# bad uploads get 400 or 403 and change neither the store nor the
# database. A certificate from Pebble is revoked through the API, and
# Pebble then reports its serial revoked with the reason sent. Another
# tenant's certificate gets 404, and an imported or already revoked one
# gets 409.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/daemon.sh
source "$(dirname "$0")/../lib/daemon.sh"

ALPHA_UID=5001
BETA_UID=5002

# Usage: as_uid UID COMMAND [ARG ...]
as_uid() {
	local uid=$1

	shift
	setpriv --reuid="$uid" --regid="$uid" --clear-groups -- "$@"
}

# Usage: api UID METHOD PATH [BODY]
# Sends one request and sets API_STATUS, API_HEADERS and API_BODY.
api() {
	local uid=$1 method=$2 path=$3 response
	local -a data=()

	if [ "$#" -ge 4 ]; then
		printf '%s' "$4" >"$LAB_DIR/body"
		chmod 0644 "$LAB_DIR/body"
		data=(-H "Content-Type: application/json"
			--data-binary "@$LAB_DIR/body")
	fi
	response=$(as_uid "$uid" curl -sS -i --max-time 120 \
		--unix-socket "$API_SOCKET" -X "$method" "${data[@]}" \
		"http://localhost$path")
	API_HEADERS=$(sed -n '1,/^\r$/p' <<<"$response")
	API_BODY=$(sed '1,/^\r$/d' <<<"$response")
	API_STATUS=$(sed -n '1s/^HTTP\/1.1 \([0-9]*\).*/\1/p' <<<"$response")
}

# Usage: field JQ-FILTER
field() {
	jq -r "$1" <<<"$API_BODY"
}

# Usage: import_body CHAIN-FILE KEY-ID
import_body() {
	jq -n --rawfile chain "$1" --arg key "$2" \
		'{chain: $chain, key_id: $key}'
}

# Usage: pebble_status SERIAL-HEX
pebble_status() {
	curl -fsS --max-time 5 --cacert "$PEBBLE_TLS_CA" \
		"https://$PEBBLE_MANAGEMENT_ADDRESS/cert-status-by-serial/$1"
}

state_rows() {
	state_query "SELECT count(*) FROM certificates;
		SELECT count(*) FROM versions;"
}

# Usage: expect_problem DESCRIPTION STATUS DETAIL BODY
# Sends BODY to the import path as alpha's user and checks the problem
# document and that nothing was written.
expect_problem() {
	local store_before rows_before

	store_before=$(custos_store_snapshot)
	rows_before=$(state_rows)
	api $ALPHA_UID POST /v1/certificates/import "$4"
	assert_equal "import of $1 gets $2" "$API_STATUS" "$2"
	assert_contains "the detail for $1 names the cause" \
		"$(field .detail)" "$3"
	assert_equal "the store is unchanged after $1" \
		"$(custos_store_snapshot)" "$store_before"
	assert_equal "the database is unchanged after $1" "$(state_rows)" \
		"$rows_before"
}

custos_lab_start custos-api-import
API_SOCKET=$LAB_DIR/run/api.sock
cat >"$LAB_DIR/policy.conf" <<POLICY
tenant alpha {
	users $ALPHA_UID
	allow .alpha.test
	deny secret.alpha.test
	issuers pebble
	accounts pebble
	challenges http-01
	key-types ec-p256 rsa-2048
}
tenant beta {
	users $BETA_UID
	allow .beta.test
	issuers pebble
	accounts pebble
	challenges http-01
	key-types ec-p256 rsa-2048
}
POLICY
# The deploy hook writes its CUSTOS_* variables to hook.log, one line per
# run, checks that the files they name exist, and fails while hook.fail
# exists.
HOOK_DIR=$LAB_DIR/hook
mkdir -p "$HOOK_DIR"
cat >"$HOOK_DIR/hook" <<HOOK
#!/bin/sh
files=ok
for f in "\$CUSTOS_CERT" "\$CUSTOS_CHAIN" "\$CUSTOS_FULLCHAIN" \\
	"\$CUSTOS_KEY_URI_FILE"; do
	[ -f "\$f" ] || files=missing
done
printf '%s|%s|%s|%s|%s|%s|%s\n' "\$CUSTOS_CERT_ID" "\$CUSTOS_TENANT" \\
	"\$CUSTOS_NAMES" "\$CUSTOS_VERSION" "\$CUSTOS_VERSION_DIR" \\
	"\$CUSTOS_ROLLBACK" "\$files" >>"$HOOK_DIR/hook.log"
[ ! -f "$HOOK_DIR/hook.fail" ]
HOOK
chmod 0755 "$HOOK_DIR/hook"
: >"$HOOK_DIR/hook.log"
custos_give_to "$CUSTOS_BROKER_USER" "$HOOK_DIR"
cat >>"$CUSTOS_CONF" <<CONF
daemon {
	deploy-hook "$HOOK_DIR/hook"
	poll-interval 2s
	renew-jitter 0
	retry-base 2s
	retry-max 5s
}
api {
	socket "$API_SOCKET"
}
CONF

# A test CA and two leaves for alpha, one outside its policy.
CA_DIR=$LAB_DIR/ca
mkdir -p "$CA_DIR"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$CA_DIR/ca.key" -out "$CA_DIR/ca.pem" -days 30 \
	-subj "/CN=Custos API import test CA" \
	-addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign 2>/dev/null ||
	bail_out "cannot make the test CA"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
	-out "$LAB_DIR/leaf.key" 2>/dev/null
for name in www.alpha.test secret.alpha.test hook.alpha.test; do
	if ! openssl req -new -key "$LAB_DIR/leaf.key" -subj "/CN=$name" \
		-addext "subjectAltName=DNS:$name" \
		-out "$LAB_DIR/$name.csr" 2>/dev/null ||
		! openssl x509 -req -in "$LAB_DIR/$name.csr" \
			-CA "$CA_DIR/ca.pem" -CAkey "$CA_DIR/ca.key" \
			-CAcreateserial -days 30 -copy_extensions copy \
			-out "$LAB_DIR/$name.pem" 2>/dev/null; then
		bail_out "cannot issue the leaf for $name"
	fi
	cat "$LAB_DIR/$name.pem" "$CA_DIR/ca.pem" >"$LAB_DIR/$name.chain"
done
# A leaf whose DNS name ends with a dot, with the same key, and the
# chain of www.alpha.test in the wrong order.
if ! openssl req -new -key "$LAB_DIR/leaf.key" -subj "/CN=dot.alpha.test" \
	-addext "subjectAltName=DNS:dot.alpha.test." \
	-out "$LAB_DIR/dot.csr" 2>/dev/null ||
	! openssl x509 -req -in "$LAB_DIR/dot.csr" -CA "$CA_DIR/ca.pem" \
		-CAkey "$CA_DIR/ca.key" -CAcreateserial -days 30 \
		-copy_extensions copy -out "$LAB_DIR/dot.pem" 2>/dev/null; then
	bail_out "cannot issue the leaf for dot.alpha.test."
fi
cat "$LAB_DIR/dot.pem" "$CA_DIR/ca.pem" >"$LAB_DIR/dot.chain"
cat "$CA_DIR/ca.pem" "$LAB_DIR/www.alpha.test.pem" >"$LAB_DIR/leaf-last.chain"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	-out "$LAB_DIR/other.key" 2>/dev/null

key_id() {
	"$CUSTOS_SIGNER" --import-key --config "$CUSTOS_CONF" --tenant "$1" \
		--key "$2" 2>/dev/null | sed -n 's/^key-id: //p'
}
ALPHA_KEY=$(key_id alpha "$LAB_DIR/leaf.key")
ALPHA_OTHER_KEY=$(key_id alpha "$LAB_DIR/other.key")
BETA_KEY=$(key_id beta "$LAB_DIR/leaf.key")
if [ -z "$ALPHA_KEY" ] || [ -z "$ALPHA_OTHER_KEY" ] || [ -z "$BETA_KEY" ]
then
	bail_out "custos-signer --import-key printed no key id"
fi

at_exit daemon_stop
daemon_start
wait_for_log 30 "api: listening on $API_SOCKET" ||
	bail_out "the API process did not start: $(tail -n 20 "$DAEMON_LOG")"

# 1. An ACME certificate, issued by the daemon.
api $ALPHA_UID POST /v1/certificates '{"names": ["www.alpha.test"]}'
assert_equal "the request gets 201" "$API_STATUS" 201
ACME_ID=$(field .id)
wait_for 90 "SELECT count(*) FROM versions WHERE cert_id = $ACME_ID" 1 ||
	bail_out "the daemon issued nothing: $(tail -n 20 "$DAEMON_LOG")"

# 2. Bad imports.
expect_problem "garbage" 400 "text outside the PEM blocks at byte 0" \
	"$(jq -n --arg key "$ALPHA_KEY" '{chain: "garbage", key_id: $key}')"
expect_problem "text after the chain" 400 "text outside the PEM blocks" \
	"$(jq -n --arg key "$ALPHA_KEY" --rawfile chain \
		"$LAB_DIR/www.alpha.test.chain" \
		'{chain: ($chain + "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"),
		key_id: $key}')"
assert_equal "no job kept the rejected text" \
	"$(state_query "SELECT count(*) FROM jobs WHERE
		instr(request, 'MIIEvQIBADANBgkq') > 0")" 0
expect_problem "a key id that is not hex" 400 "invalid key_id" \
	"$(import_body "$LAB_DIR/www.alpha.test.chain" XYZ)"
expect_problem "an unknown member" 400 'unknown member "key"' \
	'{"chain": "x", "key": "y"}'
expect_problem "a key that does not match" 400 "public key" \
	"$(import_body "$LAB_DIR/www.alpha.test.chain" "$ALPHA_OTHER_KEY")"
expect_problem "another tenant's key" 400 \
	"is not a certificate key of tenant alpha" \
	"$(import_body "$LAB_DIR/www.alpha.test.chain" "$BETA_KEY")"
expect_problem "a name outside the policy" 403 \
	"secret.alpha.test: denied by deny secret.alpha.test" \
	"$(import_body "$LAB_DIR/secret.alpha.test.chain" "$ALPHA_KEY")"
assert_equal "the denial is a policy-denied problem" "$(field .type)" \
	urn:custos:error:policy-denied
jobs_before=$(state_query "SELECT count(*) FROM jobs")
expect_problem "a trailing-dot name" 400 \
	'the leaf certificate names "dot.alpha.test." with a trailing dot' \
	"$(import_body "$LAB_DIR/dot.chain" "$ALPHA_KEY")"
assert_equal "the trailing-dot upload made no job" \
	"$(state_query "SELECT count(*) FROM jobs")" "$jobs_before"
expect_problem "a chain with the leaf last" 400 \
	'the chain starts with the CA certificate "CN=Custos API import test CA", but the leaf certificate must come first' \
	"$(import_body "$LAB_DIR/leaf-last.chain" "$ALPHA_KEY")"
assert_not_contains "the leaf-last detail is not the SAN error" \
	"$(field .detail)" "has no DNS or IP name"

# 3. An import beside the ACME certificate of the same name.
api $ALPHA_UID POST /v1/certificates/import \
	"$(import_body "$LAB_DIR/www.alpha.test.chain" "$ALPHA_KEY")"
assert_equal "the import gets 201" "$API_STATUS" 201
IMPORT_ID=$(field .id)
assert_equal "the import is marked imported" "$(field .imported)" true
assert_equal "the import has the leaf's key type" "$(field .key_type)" \
	rsa-2048
assert_equal "the import has no next run" "$(field .next_run)" null
assert_contains "Location names the import" "$API_HEADERS" \
	"Location: /v1/certificates/$IMPORT_ID"
api $ALPHA_UID GET /v1/certificates
assert_equal "the list holds both certificates" \
	"$(field '[.certificates[].names[0]] | join(" ")')" \
	"www.alpha.test www.alpha.test"
assert_equal "the list gives the import's expiry" \
	"$(field ".certificates[] | select(.id == $IMPORT_ID) | .not_after" |
	grep -c '^20[0-9][0-9]-')" 1
api $BETA_UID GET "/v1/certificates/$IMPORT_ID"
assert_equal "another tenant gets 404 for the import" "$API_STATUS" 404

# The deploy hook ran for the import as for a new ACME version.
import_version=$(state_query "SELECT name FROM versions
	WHERE cert_id = $IMPORT_ID AND status = 'current'")
import_label=$(state_query "SELECT label FROM certificates
	WHERE id = $IMPORT_ID")
hook_line=$(grep "^$IMPORT_ID|" "$HOOK_DIR/hook.log")
assert_equal "the hook ran once for the import" \
	"$(grep -c "^$IMPORT_ID|" "$HOOK_DIR/hook.log")" 1
assert_equal "the hook got the import's environment" "$hook_line" \
	"$IMPORT_ID|alpha|www.alpha.test|$import_version|$CUSTOS_STORE/alpha/$import_label/$import_version|0|ok"
assert_equal "the import's deploy is recorded" \
	"$(state_query "SELECT deploy_pending FROM versions
		WHERE cert_id = $IMPORT_ID")" 0
acme_line=$(grep "^$ACME_ID|" "$HOOK_DIR/hook.log" | head -n 1)
assert_equal "the ACME version's hook had the same fields" \
	"$(cut -d'|' -f2,3,6,7 <<<"$acme_line")" "alpha|www.alpha.test|0|ok"

# A failed hook leaves the import stored and current, and says so.
touch "$HOOK_DIR/hook.fail"
api $ALPHA_UID POST /v1/certificates/import \
	"$(import_body "$LAB_DIR/hook.alpha.test.chain" "$ALPHA_KEY")"
assert_equal "an import whose hook fails gets 500" "$API_STATUS" 500
assert_equal "the failed hook is a deploy-failed problem" \
	"$(field .type)" urn:custos:error:deploy-failed
HOOK_ID=$(field .id)
assert_contains "the detail names the import and the hook" \
	"$(field .detail)" "certificate $HOOK_ID is imported and current, but"
assert_equal "the import stays current" \
	"$(state_query "SELECT count(*) FROM versions
		WHERE cert_id = $HOOK_ID AND status = 'current'")" 1
assert_equal "the failed import's deploy is not pending" \
	"$(state_query "SELECT deploy_pending FROM versions
		WHERE cert_id = $HOOK_ID")" 0
assert_equal "the hook ran once for the failed import" \
	"$(grep -c "^$HOOK_ID|" "$HOOK_DIR/hook.log")" 1
rm -f "$HOOK_DIR/hook.fail"
api $ALPHA_UID POST /v1/certificates/import \
	"$(import_body "$LAB_DIR/www.alpha.test.chain" "$ALPHA_KEY")"
assert_equal "a second upload gets 409" "$API_STATUS" 409
api $ALPHA_UID POST "/v1/certificates/$IMPORT_ID/reissue"
assert_equal "reissue of an import gets 409" "$API_STATUS" 409
assert_status "cert list through the API succeeds" 0 as_uid $ALPHA_UID \
	"$CUSTOS" cert list --config "$CUSTOS_CONF"
assert_contains "cert list marks the import" "$TAP_OUTPUT" \
	"$IMPORT_ID	alpha	imported	"

# 4. Revocation through the API.
api $BETA_UID POST "/v1/certificates/$ACME_ID/revoke" '{"reason": 4}'
assert_equal "another tenant's revoke gets 404" "$API_STATUS" 404
api $ALPHA_UID POST "/v1/certificates/$ACME_ID/revoke" '{"reason": 7}'
assert_equal "reason 7 gets 400" "$API_STATUS" 400
api $ALPHA_UID POST "/v1/certificates/$IMPORT_ID/revoke"
assert_equal "revoke of an import gets 409" "$API_STATUS" 409
assert_contains "the 409 says why" "$(field .detail)" "was imported"
api $ALPHA_UID POST "/v1/certificates/$ACME_ID/revoke" '{"reason": 4}'
assert_equal "revoke gets 200" "$API_STATUS" 200
SERIAL=$(state_query "SELECT serial FROM versions WHERE cert_id = $ACME_ID
	AND status = 'current'")
assert_equal "the response gives the serial" "$(field .serial)" "$SERIAL"
assert_equal "the response gives the reason" "$(field .reason)" 4
trimmed=$SERIAL
while [[ $trimmed == 0* ]]; do
	trimmed=${trimmed#0}
done
status=$(pebble_status "$trimmed")
diag "Pebble: $status"
assert_equal "Pebble reports the certificate revoked" \
	"$(jq -r .Status <<<"$status")" Revoked
assert_equal "Pebble records reason superseded" \
	"$(jq -r .Reason <<<"$status")" 4
assert_file_exists "the store records the revocation" \
	"$(custos_store_file www.alpha.test revoked alpha)"
api $ALPHA_UID POST "/v1/certificates/$ACME_ID/revoke"
assert_equal "a second revoke gets 409" "$API_STATUS" 409
assert_contains "the second 409 says already revoked" "$(field .detail)" \
	"already revoked"
assert_contains "the audit log records the revocation" \
	"$(cat "$CUSTOS_AUDIT_LOG")" '"certificate.revoke"'
assert_contains "the audit log records the import" \
	"$(cat "$CUSTOS_AUDIT_LOG")" '"cert import"'

daemon_stop
assert_equal "the daemon exits 0" "$DAEMON_STATUS" 0

tap_done
