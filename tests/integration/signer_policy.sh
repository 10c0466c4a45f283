#!/bin/bash
# The compromised-broker test: signer_client speaks to the signer as the
# broker would and requests signatures that tenant "alpha" may not have. The
# signer must deny each request with "policy-denied" and a reason, log one
# warning line without the payload, keep serving, and allow the
# counterparts that the policy permits. Tenant alpha may have .alpha.test
# and beta .beta.test, both through issuer pebble; issuer "other" has
# another origin, and only beta may use it.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

CLIENT=$CUSTOS_BUILD_DIR/tests/signer_client
TOKEN_LABEL=custos-signer-policy
PEBBLE_ORIGIN=https://127.0.0.1:14000
OTHER_ORIGIN=https://127.0.0.2:14000
KID=$PEBBLE_ORIGIN/my-account/1
MARKER=payload-marker-7f3a

for program in "$CUSTOS_SIGNER" "$CLIENT"; do
	[ -x "$program" ] || bail_out "$program is missing; run make first"
done
if [ "$(id -u)" -eq 0 ] &&
	! id "$CUSTOS_SIGNER_USER" >/dev/null 2>&1; then
	useradd --system --no-create-home --shell /usr/sbin/nologin \
		"$CUSTOS_SIGNER_USER" || bail_out "useradd failed"
fi
lab_tmpdir custos-signer-policy || bail_out "cannot make a temporary directory"
softhsm_init "$LAB_DIR" "$TOKEN_LABEL" || bail_out "cannot make a token"

# Usage: write_config FILE POLICY-FILE
write_config() {
	cat >"$1" <<EOF
hsm {
	module "$SOFTHSM_MODULE"
	token-label "$TOKEN_LABEL"
	pin-file "$SOFTHSM_PIN_FILE"
}
signer {
	user $CUSTOS_SIGNER_USER
}
issuer pebble {
	directory "$PEBBLE_ORIGIN/dir"
}
issuer other {
	directory "$OTHER_ORIGIN/directory"
	account other-account
}
policy {
	file "$2"
}
EOF
}

POLICY=$LAB_DIR/policy.conf
cat >"$POLICY" <<EOF
tenant alpha {
	allow .alpha.test
	issuers pebble
	accounts pebble
	key-types ec-p256
	max-names 3
	max-lifetime 7d
}
tenant beta {
	allow .beta.test
	issuers pebble other
	accounts pebble other-account
	key-types ec-p256 rsa-2048
}
EOF
chmod 0644 "$POLICY"
CONF=$LAB_DIR/signer.conf
write_config "$CONF" "$POLICY"

# --- Request builders ----------------------------------------------------

# Escapes JSON text for use inside a JSON string.
esc() {
	printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'
}

# Usage: jws TENANT KEY URL PAYLOAD [KID]
# An empty KID embeds the JWK; an absent one uses $KID. KEY may be a
# variable kept by signer_client, such as @ACCOUNT@.
jws() {
	local kid=${5-$KID}

	printf '{"key_id":"%s","tenant":"%s","url":"%s","nonce":"n1"%s,' \
		"$2" "$1" "$3" "${kid:+,\"kid\":\"$kid\"}"
	printf '"payload":"%s"}' "$(esc "$4")"
}

# Usage: csr TENANT KEY NAME ...
csr() {
	local tenant=$1 key=$2 names

	shift 2
	names=$(printf '"%s",' "$@")
	printf '{"key_id":"%s","tenant":"%s","names":[%s]}' "$key" "$tenant" \
		"${names%,}"
}

# Usage: order NAME ... (prints a newOrder payload)
order() {
	local ids

	ids=$(printf '{"type":"dns","value":"%s"},' "$@")
	printf '{"identifiers":[%s]}' "${ids%,}"
}

# Prints a base64url DER CSR that the signer did not build.
foreign_csr() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout /dev/null -subj /CN=a.alpha.test \
		-addext subjectAltName=DNS:a.alpha.test -outform DER 2>/dev/null |
		base64 -w 0 | tr '+/' '-_' | tr -d '='
}

# Usage: cert_b64 SAN (prints a base64url DER self-signed certificate)
cert_b64() {
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-nodes -keyout /dev/null -subj /CN=revoked -days 1 \
		-addext "subjectAltName=$1" -outform DER 2>/dev/null |
		base64 -w 0 | tr '+/' '-_' | tr -d '='
}

# --- One signer session --------------------------------------------------

STEPS=()
NAMES=()

# Usage: req NAME TYPE JSON
req() {
	NAMES+=("$1")
	STEPS+=(request "$2" "$3")
}

# Usage: keep VARIABLE MEMBER (of the last result)
keep() {
	STEPS+=(keep "$1" "$2")
}

NEW_ORDER_URL=$PEBBLE_ORIGIN/order-plz
FINALIZE_URL=$PEBBLE_ORIGIN/finalize-order/1
CHALLENGE_URL=$PEBBLE_ORIGIN/chalZ/1

req gen-account key-generate \
	'{"purpose":"account","tenant":"alpha","issuer":"pebble"}'
keep ACCOUNT key_id
req gen-alpha-cert key-generate \
	'{"purpose":"certificate","tenant":"alpha"}'
keep ALPHA_CERT key_id
req gen-beta-cert key-generate \
	'{"purpose":"certificate","tenant":"beta","type":"rsa-2048"}'
keep BETA_CERT key_id
req gen-beta-other key-generate \
	'{"purpose":"account","tenant":"beta","issuer":"other"}'
keep BETA_OTHER key_id
req gen-alpha-other key-generate \
	'{"purpose":"account","tenant":"alpha","issuer":"other"}'
req gen-unknown-issuer key-generate \
	'{"purpose":"account","tenant":"alpha","issuer":"nowhere"}'
req gen-alpha-rsa key-generate \
	'{"purpose":"certificate","tenant":"alpha","type":"rsa-2048"}'
req gen-unknown-tenant key-generate \
	'{"purpose":"certificate","tenant":"nobody"}'

req csr-alpha csr-build "$(csr alpha @ALPHA_CERT@ a.alpha.test)"
keep ALPHA_CSR csr
req csr-beta csr-build "$(csr beta @BETA_CERT@ b.beta.test)"
keep BETA_CSR csr
req csr-forbidden csr-build "$(csr alpha @ALPHA_CERT@ a.alpha.test \
	x.beta.test)"
req csr-beta-key csr-build "$(csr alpha @BETA_CERT@ a.alpha.test)"
req csr-account-key csr-build "$(csr alpha @ACCOUNT@ a.alpha.test)"
req csr-too-many csr-build "$(csr alpha @ALPHA_CERT@ a.alpha.test \
	b.alpha.test c.alpha.test d.alpha.test)"

req order-allowed jws-sign \
	"$(jws alpha @ACCOUNT@ "$NEW_ORDER_URL" "$(order a.alpha.test)")"
req order-forbidden jws-sign \
	"$(jws alpha @ACCOUNT@ "$NEW_ORDER_URL" "$(order x.beta.test)")"
req order-as-finalize jws-sign \
	"$(jws alpha @ACCOUNT@ "$FINALIZE_URL" "$(order x.beta.test)")"
req order-as-challenge jws-sign \
	"$(jws alpha @ACCOUNT@ "$CHALLENGE_URL" "$(order x.beta.test)")"
req order-mixed jws-sign "$(jws alpha @ACCOUNT@ "$NEW_ORDER_URL" \
	"$(order a.alpha.test x.beta.test)")"
req order-uppercase jws-sign \
	"$(jws alpha @ACCOUNT@ "$NEW_ORDER_URL" "$(order A.alpha.test)")"
req order-too-many jws-sign "$(jws alpha @ACCOUNT@ "$NEW_ORDER_URL" \
	"$(order a.alpha.test b.alpha.test c.alpha.test d.alpha.test)")"
req order-ip jws-sign "$(jws alpha @ACCOUNT@ "$NEW_ORDER_URL" \
	'{"identifiers":[{"type":"ip","value":"192.0.2.1"}]}')"
# Usage: dated_order NOT-BEFORE NOT-AFTER
dated_order() {
	printf '{"identifiers":[{"type":"dns","value":"a.alpha.test"}],'
	printf '"notBefore":"%s","notAfter":"%s"}' "$1" "$2"
}

req order-lifetime-ok jws-sign "$(jws alpha @ACCOUNT@ "$NEW_ORDER_URL" \
	"$(dated_order 2030-01-01T00:00:00Z 2030-01-08T00:00:00Z)")"
req order-lifetime-long jws-sign "$(jws alpha @ACCOUNT@ "$NEW_ORDER_URL" \
	"$(dated_order 2030-01-01T00:00:00Z 2030-01-11T00:00:00Z)")"
req order-lifetime-now jws-sign "$(jws alpha @ACCOUNT@ "$NEW_ORDER_URL" \
	'{"identifiers":[{"type":"dns","value":"a.alpha.test"}],"notAfter":"2099-01-01T00:00:00Z"}')"
req beta-order jws-sign \
	"$(jws beta @ACCOUNT@ "$NEW_ORDER_URL" "$(order b.beta.test)")"

req authz-allowed jws-sign "$(jws alpha @ACCOUNT@ "$PEBBLE_ORIGIN/new-authz" \
	'{"identifier":{"type":"dns","value":"a.alpha.test"}}')"
req authz-forbidden jws-sign "$(jws alpha @ACCOUNT@ "$CHALLENGE_URL" \
	'{"identifier":{"type":"dns","value":"x.beta.test"}}')"

req finalize-own jws-sign \
	"$(jws alpha @ACCOUNT@ "$FINALIZE_URL" '{"csr":"@ALPHA_CSR@"}')"
req finalize-beta-csr jws-sign \
	"$(jws alpha @ACCOUNT@ "$FINALIZE_URL" '{"csr":"@BETA_CSR@"}')"
req finalize-foreign jws-sign \
	"$(jws alpha @ACCOUNT@ "$FINALIZE_URL" "{\"csr\":\"$(foreign_csr)\"}")"
req finalize-not-b64 jws-sign \
	"$(jws alpha @ACCOUNT@ "$FINALIZE_URL" '{"csr":"not base64!"}')"

req shape-extra jws-sign "$(jws alpha @ACCOUNT@ "$NEW_ORDER_URL" \
	'{"identifiers":[{"type":"dns","value":"a.alpha.test"}],"extra":1}')"
req shape-type jws-sign "$(jws alpha @ACCOUNT@ "$NEW_ORDER_URL" \
	'{"identifiers":"a.alpha.test"}')"
req shape-array jws-sign \
	"$(jws alpha @ACCOUNT@ "$NEW_ORDER_URL" '[{"csr":"x"}]')"
req shape-nested jws-sign "$(jws alpha @ACCOUNT@ "$NEW_ORDER_URL" \
	"{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.alpha.test\",\"junk\":{\"x\":\"$MARKER\"}}]}")"
req shape-email jws-sign "$(jws alpha @ACCOUNT@ "$NEW_ORDER_URL" \
	"{\"identifiers\":[{\"type\":\"email\",\"value\":\"$MARKER\"}]}")"
req shape-none jws-sign "$(jws alpha @ACCOUNT@ "$NEW_ORDER_URL" \
	"{\"hello\":\"$MARKER\"}")"
req shape-deactivate jws-sign "$(jws alpha @ACCOUNT@ "$KID" \
	'{"status":"valid"}')"
req shape-new-account-kid jws-sign "$(jws alpha @ACCOUNT@ \
	"$PEBBLE_ORIGIN/sign-me-up" '{"termsOfServiceAgreed":true}')"
req shape-get-without-kid jws-sign "$(jws alpha @ACCOUNT@ "$KID" '' '')"
req shape-not-json jws-sign "$(jws alpha @ACCOUNT@ "$KID" '{"a":')"

req url-host jws-sign "$(jws alpha @ACCOUNT@ \
	https://localhost:14000/order-plz "$(order a.alpha.test)")"
req url-port jws-sign "$(jws alpha @ACCOUNT@ \
	https://127.0.0.1:14001/order-plz "$(order a.alpha.test)")"
req url-http jws-sign "$(jws alpha @ACCOUNT@ \
	http://127.0.0.1:14000/order-plz "$(order a.alpha.test)")"
req url-userinfo jws-sign "$(jws alpha @ACCOUNT@ \
	https://127.0.0.1:14000@127.0.0.2/order-plz "$(order a.alpha.test)")"
req url-other-issuer jws-sign "$(jws alpha @ACCOUNT@ \
	"$OTHER_ORIGIN/new-order" "$(order a.alpha.test)")"
req url-case jws-sign "$(jws alpha @ACCOUNT@ \
	HTTPS://127.0.0.1:14000/order-plz "$(order a.alpha.test)")"

req key-other-issuer jws-sign "$(jws alpha @BETA_OTHER@ \
	"$OTHER_ORIGIN/new-order" "$(order a.alpha.test)")"
req key-other-issuer-beta jws-sign "$(jws beta @BETA_OTHER@ \
	"$OTHER_ORIGIN/new-order" "$(order b.beta.test)")"
req key-certificate jws-sign "$(jws alpha @ALPHA_CERT@ \
	"$NEW_ORDER_URL" "$(order a.alpha.test)")"
req tenant-unknown jws-sign "$(jws nobody @ACCOUNT@ \
	"$NEW_ORDER_URL" "$(order a.alpha.test)")"
req tenant-unknown-csr csr-build "$(csr nobody @ALPHA_CERT@ a.alpha.test)"

req get jws-sign "$(jws alpha @ACCOUNT@ "$KID" '')"
req challenge jws-sign "$(jws alpha @ACCOUNT@ "$CHALLENGE_URL" '{}')"
req new-account jws-sign "$(jws alpha @ACCOUNT@ "$PEBBLE_ORIGIN/sign-me-up" \
	'{"termsOfServiceAgreed":true,"contact":["mailto:a@alpha.test"]}' '')"
req account-update jws-sign "$(jws alpha @ACCOUNT@ "$KID" \
	'{"contact":["mailto:b@alpha.test"]}')"
req deactivate jws-sign "$(jws alpha @ACCOUNT@ "$KID" \
	'{"status":"deactivated"}')"
req key-change jws-sign "$(jws alpha @ACCOUNT@ "$PEBBLE_ORIGIN/rollover" \
	'{"protected":"e30","payload":"e30","signature":"AA"}')"
REVOKE_URL=$PEBBLE_ORIGIN/revoke-cert
req revoke jws-sign "$(jws alpha @ACCOUNT@ "$REVOKE_URL" \
	"{\"certificate\":\"$(cert_b64 DNS:a.alpha.test)\",\"reason\":4}")"
req revoke-foreign jws-sign "$(jws alpha @ACCOUNT@ "$REVOKE_URL" \
	"{\"certificate\":\"$(cert_b64 DNS:a.alpha.test,DNS:x.beta.test)\"}")"
req revoke-no-names jws-sign "$(jws alpha @ACCOUNT@ "$REVOKE_URL" \
	"{\"certificate\":\"$(cert_b64 email:a@alpha.test)\"}")"
req revoke-garbage jws-sign "$(jws alpha @ACCOUNT@ "$REVOKE_URL" \
	'{"certificate":"MIIB"}')"
# Destroying certificate keys: only one that this run generated for the
# tenant and that no signed finalize request used (ALPHA_CERT's CSR was
# finalized by finalize-own above).
req gen-discard key-generate '{"purpose":"certificate","tenant":"alpha"}'
keep DISCARD key_id
req csr-discard csr-build "$(csr alpha @DISCARD@ a.alpha.test)"
req discard-beta key-destroy '{"key_id":"@DISCARD@","tenant":"beta"}'
req discard-fresh key-destroy '{"key_id":"@DISCARD@","tenant":"alpha"}'
req discard-gone key-public '{"key_id":"@DISCARD@"}'
req discard-again key-destroy '{"key_id":"@DISCARD@","tenant":"alpha"}'
req discard-finalized key-destroy '{"key_id":"@ALPHA_CERT@","tenant":"alpha"}'
req discard-account key-destroy '{"key_id":"@ACCOUNT@","tenant":"alpha"}'

req last jws-sign \
	"$(jws alpha @ACCOUNT@ "$NEW_ORDER_URL" "$(order z.alpha.test)")"

OUT=$LAB_DIR/session.out
LOG=$LAB_DIR/session.log
"$CLIENT" "$CUSTOS_SIGNER" "$CONF" "${STEPS[@]}" >"$OUT" 2>"$LOG"

# Usage: reply NAME
# Prints the reply line of the request named NAME.
reply() {
	local i

	for i in "${!NAMES[@]}"; do
		if [ "${NAMES[$i]}" = "$1" ]; then
			sed -n "$((i + 1))p" "$OUT"
			return
		fi
	done
}

# Usage: allowed NAME
allowed() {
	assert_contains "$1: allowed" "$(reply "$1")" 'result {'
}

# Usage: denied NAME REASON
# The reply must be a policy-denied error whose message contains REASON
# (compared with JSON's escaped quotes unescaped).
denied() {
	local out

	out=$(reply "$1" | sed 's/\\"/"/g')
	assert_contains "$1: policy-denied" "$out" \
		'error {"code":"policy-denied"'
	assert_contains "$1: reason" "$out" "$2"
}

assert_equal "one reply per request" "$(grep -c . "$OUT")" \
	"$((${#NAMES[@]} + 1))"
assert_equal "signer exits 0 after every denial" "$(tail -n 1 "$OUT")" \
	"exit 0"

# Key generation.
allowed gen-account
assert_contains "account key label binds issuer and account" \
	"$(reply gen-account)" 'object=custos%2Faccount%2Fpebble%2Fpebble%2F'
allowed gen-alpha-cert
assert_contains "certificate key label binds the tenant" \
	"$(reply gen-alpha-cert)" 'object=custos%2Fcertificate%2Falpha%2F'
allowed gen-beta-cert
allowed gen-beta-other
assert_contains "other issuer's key carries its account" \
	"$(reply gen-beta-other)" \
	'object=custos%2Faccount%2Fother%2Fother-account%2F'
denied gen-alpha-other 'issuer other: denied, not in the issuers of tenant alpha'
denied gen-unknown-issuer 'issuer nowhere: denied, no issuer block'
denied gen-alpha-rsa 'key type rsa-2048: denied, not in the key-types'
denied gen-unknown-tenant 'tenant nobody: denied, no such tenant in'

# CSRs.
allowed csr-alpha
allowed csr-beta
denied csr-forbidden 'x.beta.test: denied, no rule allows it'
denied csr-beta-key 'bound to tenant beta, not alpha'
denied csr-account-key 'not a certificate key'
denied csr-too-many '4 names: denied by max-names 3'

# New orders and authorizations: names decide, whatever the URL claims.
allowed order-allowed
denied order-forbidden 'x.beta.test: denied, no rule allows it'
denied order-as-finalize 'x.beta.test: denied, no rule allows it'
denied order-as-challenge 'x.beta.test: denied, no rule allows it'
denied order-mixed 'x.beta.test: denied, no rule allows it'
denied order-uppercase 'A.alpha.test: denied'
denied order-too-many '4 names: denied by max-names 3'
denied order-ip '192.0.2.1: denied, no rule allows it'
allowed order-lifetime-ok
denied order-lifetime-long 'lifetime of 864000 seconds: denied by max-lifetime'
denied order-lifetime-now 'denied by max-lifetime 604800s'
allowed beta-order
allowed authz-allowed
denied authz-forbidden 'x.beta.test: denied, no rule allows it'

# Finalize: only a CSR this signer built for this tenant.
allowed finalize-own
denied finalize-beta-csr 'finalize CSR: denied, it was built for tenant beta'
denied finalize-foreign 'finalize CSR: denied, this signer did not build it'
denied finalize-not-b64 'finalize CSR: denied, member "csr" is not base64url'

# Payloads of no ACME shape.
denied shape-extra 'payload: denied, newOrder: unexpected member "extra"'
denied shape-type 'payload: denied, newOrder: member "identifiers" is not an array'
denied shape-array 'payload: denied, a JSON array, not an object'
denied shape-nested \
	'payload: denied, newOrder: unexpected member "junk" in identifiers[0]'
denied shape-email \
	'newOrder: identifiers[0] has type "email", expected "dns" or "ip"'
denied shape-none 'payload: denied, of no ACME shape: member "hello" belongs to none'
denied shape-deactivate \
	'deactivation: member "status" is not "deactivated"'
denied shape-new-account-kid \
	'payload: denied, newAccount: needs an embedded JWK, not a kid'
denied shape-get-without-kid 'POST-as-GET: needs a kid'
denied shape-not-json 'payload: denied, not valid JSON'

# URLs outside the origin of the key's issuer.
denied url-host "origin https://localhost:14000 is not $PEBBLE_ORIGIN"
denied url-port "origin https://127.0.0.1:14001 is not $PEBBLE_ORIGIN"
denied url-http "origin http://127.0.0.1:14000 is not $PEBBLE_ORIGIN"
denied url-userinfo 'URL has an invalid host or port, or user information'
denied url-other-issuer \
	"origin https://127.0.0.2:14000 is not $PEBBLE_ORIGIN, the origin of issuer pebble"
allowed url-case

# Keys and tenants.
denied key-other-issuer 'issuer other: denied, not in the issuers of tenant alpha'
allowed key-other-issuer-beta
denied key-certificate 'not an account key'
denied tenant-unknown 'tenant nobody: denied, no such tenant in'
denied tenant-unknown-csr 'tenant nobody: denied, no such tenant in'

# Every other ACME shape is allowed, but a keyChange only with an inner
# JWS that the signer built (tests/integration/account_signer.sh).
for name in get challenge new-account account-update deactivate \
	revoke last; do
	allowed "$name"
done
denied key-change 'the inner JWS is not the one this signer built'

# A revocation signed by the account key: every name of the certificate
# must pass the tenant's policy.
denied revoke-foreign 'x.beta.test: denied, no rule allows it'
denied revoke-no-names \
	'revoked certificate: denied, the certificate has no DNS name'
denied revoke-garbage 'member "certificate" is not one base64url DER'

allowed gen-discard
allowed csr-discard
denied discard-beta \
	'a certificate key it generated for tenant beta'
allowed discard-fresh
assert_contains "discard-gone: the key is no longer in the token" \
	"$(reply discard-gone)" 'error {"code":"unknown-key"'
denied discard-again 'neither the old key of a key change'
denied discard-finalized \
	'a finalize request with a CSR of this key was signed'
denied discard-account 'neither the old key of a key change'

# --- The log -------------------------------------------------------------

log=$(cat "$LOG")
check "denial logs tenant, account, key and names" grep -qE \
	"warning: jws-sign request denied: tenant alpha, account pebble, key [0-9a-f]{32}, names \\[x\\.beta\\.test\\]: x\\.beta\\.test: denied, no rule allows it$" \
	"$LOG"
check "binding denial logs the key's account" grep -qE \
	"warning: jws-sign request denied: tenant alpha, account other-account, key [0-9a-f]{32}, names \\[\\]: issuer other: denied" \
	"$LOG"
assert_equal "one warning line per denial" \
	"$(grep -c 'warning: .* request denied: ' "$LOG")" \
	"$(grep -c '^error {"code":"policy-denied"' "$OUT")"
assert_not_contains "log never shows payload values" "$log" "$MARKER"
assert_contains "denied decisions logged at info" "$log" \
	"info: policy: tenant alpha: deny: x.beta.test: denied, no rule"
# Allowed decisions go to the audit channel and, with --debug, the log.
assert_not_contains "allowed decisions not logged at info" "$log" \
	"info: policy: tenant alpha: allow: "

# --- Startup -------------------------------------------------------------

printf 'tenant alpha {\n\tallow .alpha.test\n\tbogus 1\n}\n' \
	>"$LAB_DIR/broken.policy"
chmod 0644 "$LAB_DIR/broken.policy"
write_config "$LAB_DIR/broken.conf" "$LAB_DIR/broken.policy"
out=$("$CLIENT" "$CUSTOS_SIGNER" "$LAB_DIR/broken.conf" 2>&1)
assert_equal "broken policy: one line" \
	"$(grep -c '^custos-signer: ' <<<"$out")" 1
assert_contains "broken policy: names file, line and column" "$out" \
	"$LAB_DIR/broken.policy:3:2: "
assert_equal "broken policy: exit status 1" "$(tail -n 1 <<<"$out")" \
	"exit 1"

write_config "$LAB_DIR/missing.conf" "$LAB_DIR/no-such.policy"
out=$("$CLIENT" "$CUSTOS_SIGNER" "$LAB_DIR/missing.conf" 2>&1)
assert_contains "missing policy file is named" "$out" \
	"$LAB_DIR/no-such.policy"
assert_equal "missing policy: exit status 1" "$(tail -n 1 <<<"$out")" \
	"exit 1"

tap_done
