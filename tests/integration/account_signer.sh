#!/bin/bash
# The signer's account requests, driven by signer_client as a compromised
# broker would: account keys of several accounts, the External Account
# Binding MAC, the inner JWS of a key change and the outer JWS that must
# carry it, the destruction of the old key, and revocation signed by a
# certificate key. Each request that the tenant's policy or the signer's
# own records do not allow is denied with its reason. Tenant alpha may
# use issuer pebble with accounts main and spare; beta only issuer other.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

CLIENT=$CUSTOS_BUILD_DIR/tests/signer_client
TOKEN_LABEL=custos-account-signer
PEBBLE_ORIGIN=https://127.0.0.1:14000
OTHER_ORIGIN=https://127.0.0.2:14000
KID=$PEBBLE_ORIGIN/my-account/1
NEW_ACCOUNT_URL=$PEBBLE_ORIGIN/sign-me-up
KEY_CHANGE_URL=$PEBBLE_ORIGIN/rollover-account-key
REVOKE_URL=$PEBBLE_ORIGIN/revoke-cert
# IPC message types of ipc/ipc.h.
EAB_SIGN=10
KEY_CHANGE=11
KEY_DESTROY=12
REVOKE_SIGN=13

for program in "$CUSTOS_SIGNER" "$CLIENT"; do
	[ -x "$program" ] || bail_out "$program is missing; run make first"
done
if [ "$(id -u)" -eq 0 ] &&
	! id "$CUSTOS_SIGNER_USER" >/dev/null 2>&1; then
	useradd --system --no-create-home --shell /usr/sbin/nologin \
		"$CUSTOS_SIGNER_USER" || bail_out "useradd failed"
fi
lab_tmpdir custos-account-signer || bail_out "cannot make a directory"
softhsm_init "$LAB_DIR" "$TOKEN_LABEL" || bail_out "cannot make a token"

EAB_HEX=$(openssl rand -hex 32)
xxd -r -p <<<"$EAB_HEX" | base64 -w0 >"$LAB_DIR/eab.key"
chmod 0600 "$LAB_DIR/eab.key"
POLICY=$LAB_DIR/policy.conf
CONF=$LAB_DIR/signer.conf
cat >"$POLICY" <<EOF
tenant alpha {
	allow .alpha.test
	issuers pebble
	accounts main spare
	key-types ec-p256
}
tenant beta {
	allow .beta.test
	issuers other
	accounts other-account
	key-types ec-p256
}
EOF
cat >"$CONF" <<EOF
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
	account main spare unlisted
	eab-key-id kid-1
	eab-key-file "$LAB_DIR/eab.key"
}
issuer other {
	directory "$OTHER_ORIGIN/directory"
	account other-account
}
policy {
	file "$POLICY"
}
EOF
chmod 0644 "$POLICY" "$CONF"

assert_status "the EAB key imports" 0 "$CUSTOS_SIGNER" --import-eab \
	--config "$CONF" --issuer pebble

# --- Requests ------------------------------------------------------------

STEPS=()
NAMES=()

# Usage: req NAME TYPE JSON
req() {
	NAMES+=("$1")
	STEPS+=(request "$2" "$3")
}

keep() {
	STEPS+=(keep "$1" "$2")
}

# Usage: account_key TENANT ISSUER ACCOUNT
account_key() {
	printf '{"purpose":"account","tenant":"%s","issuer":"%s",' "$1" "$2"
	printf '"account":"%s"}' "$3"
}

# Usage: eab TENANT KEY URL
eab() {
	printf '{"key_id":"%s","tenant":"%s","url":"%s"}' "$2" "$1" "$3"
}

# Usage: change TENANT OLD NEW [URL [ACCOUNT-URL]]
change() {
	printf '{"key_id":"%s","new_key_id":"%s","tenant":"%s",' "$2" "$3" "$1"
	printf '"url":"%s","account":"%s"}' "${4:-$KEY_CHANGE_URL}" "${5:-$KID}"
}

# Usage: outer TENANT KEY INNER-JSON
outer() {
	printf '{"key_id":"%s","tenant":"%s","url":"%s","nonce":"n1",' \
		"$2" "$1" "$KEY_CHANGE_URL"
	printf '"kid":"%s","payload":"%s"}' "$KID" \
		"$(sed 's/"/\\"/g' <<<"$3")"
}

# Usage: destroy TENANT KEY
destroy() {
	printf '{"key_id":"%s","tenant":"%s"}' "$2" "$1"
}

INNER='{"protected":"@P@","payload":"@PL@","signature":"@S@"}'

req gen-old key-generate "$(account_key alpha pebble main)"
keep OLD key_id
req gen-new key-generate "$(account_key alpha pebble main)"
keep NEW key_id
req gen-spare key-generate "$(account_key alpha pebble spare)"
keep SPARE key_id
req gen-beta key-generate "$(account_key beta other other-account)"
keep BETA key_id
req gen-unlisted key-generate "$(account_key alpha pebble unlisted)"
req gen-missing key-generate "$(account_key alpha pebble missing)"
req gen-beta-spare key-generate "$(account_key beta pebble spare)"

req eab-allowed $EAB_SIGN "$(eab alpha @OLD@ "$NEW_ACCOUNT_URL")"
req eab-other-tenant $EAB_SIGN "$(eab beta @OLD@ "$NEW_ACCOUNT_URL")"
req eab-beta-key $EAB_SIGN "$(eab alpha @BETA@ "$NEW_ACCOUNT_URL")"
req eab-origin $EAB_SIGN "$(eab alpha @OLD@ "$OTHER_ORIGIN/new-acct")"
req eab-no-key-id $EAB_SIGN "$(eab beta @BETA@ "$OTHER_ORIGIN/new-acct")"

req change-other-account $KEY_CHANGE "$(change alpha @OLD@ @SPARE@)"
req change-same-key $KEY_CHANGE "$(change alpha @OLD@ @OLD@)"
req change-other-tenant $KEY_CHANGE "$(change beta @OLD@ @NEW@)"
req change-account-origin $KEY_CHANGE "$(change alpha @OLD@ @NEW@ \
	"$KEY_CHANGE_URL" "$OTHER_ORIGIN/acct/1")"
req change-url-origin $KEY_CHANGE "$(change alpha @OLD@ @NEW@ \
	"$OTHER_ORIGIN/key-change")"
req change-allowed $KEY_CHANGE "$(change alpha @OLD@ @NEW@)"
keep P protected
keep PL payload
keep S signature
req destroy-early $KEY_DESTROY "$(destroy alpha @OLD@)"
req outer-forged jws-sign "$(outer alpha @OLD@ \
	'{"protected":"@P@","payload":"@PL@","signature":"AAAA"}')"
req outer-new-key jws-sign "$(outer alpha @NEW@ "$INNER")"
req outer-allowed jws-sign "$(outer alpha @OLD@ "$INNER")"
req destroy-new $KEY_DESTROY "$(destroy alpha @NEW@)"
req destroy-other-tenant $KEY_DESTROY "$(destroy beta @OLD@)"
req destroy-old $KEY_DESTROY "$(destroy alpha @OLD@)"
req destroy-again $KEY_DESTROY "$(destroy alpha @OLD@)"
req public-old key-public "{\"key_id\":\"@OLD@\"}"
req public-new key-public "{\"key_id\":\"@NEW@\"}"
req gen-cert key-generate '{"purpose":"certificate","tenant":"alpha"}'
keep CERT key_id
req csr-cert csr-build '{"key_id":"@CERT@","tenant":"alpha","names":["a.alpha.test"]}'
keep CSR csr

OUT=$LAB_DIR/session.out
LOG=$LAB_DIR/session.log
"$CLIENT" "$CUSTOS_SIGNER" "$CONF" "${STEPS[@]}" >"$OUT" 2>"$LOG"

# Usage: reply NAME [FILE NAMES...]
reply() {
	local i

	for i in "${!NAMES[@]}"; do
		if [ "${NAMES[$i]}" = "$1" ]; then
			sed -n "$((i + 1))p" "$OUT"
			return
		fi
	done
}

allowed() {
	assert_contains "$1: allowed" "$(reply "$1")" 'result {'
}

# Usage: refused NAME CODE REASON
refused() {
	local out

	out=$(reply "$1" | sed 's/\\"/"/g')
	assert_contains "$1: $2" "$out" "error {\"code\":\"$2\""
	assert_contains "$1: reason" "$out" "$3"
}

# Prints member MEMBER of the result of request NAME.
member() {
	reply "$1" | sed 's/^result //' | jq -r ".$2"
}

b64url_decode() {
	local text=$1

	text=$(tr -- '-_' '+/' <<<"$text")
	while [ $((${#text} % 4)) -ne 0 ]; do
		text+="="
	done
	base64 -d <<<"$text"
}

assert_equal "one reply per request" "$(grep -c . "$OUT")" \
	"$((${#NAMES[@]} + 1))"
assert_equal "signer exits 0" "$(tail -n 1 "$OUT")" "exit 0"

allowed gen-old
allowed gen-spare
assert_contains "spare key label names its account" "$(reply gen-spare)" \
	'object=custos%2Faccount%2Fpebble%2Fspare%2F'
refused gen-unlisted policy-denied 'account unlisted: denied, not in the accounts of tenant alpha'
refused gen-missing policy-denied 'account missing: denied, issuer pebble lists no such account'
refused gen-beta-spare policy-denied 'issuer pebble: denied, not in the issuers of tenant beta'

# The EAB MAC is HMAC-SHA256 over the JWS input, with the imported key.
allowed eab-allowed
protected=$(member eab-allowed protected)
payload=$(member eab-allowed payload)
expected=$(printf '%s.%s' "$protected" "$payload" |
	openssl dgst -sha256 -mac HMAC -macopt "hexkey:$EAB_HEX" -binary |
	base64 -w0 | tr '+/' '-_' | tr -d '=')
assert_equal "EAB MAC verifies with the HMAC key" \
	"$(member eab-allowed signature)" "$expected"
assert_equal "EAB header names HS256, the key id and the URL" \
	"$(b64url_decode "$protected" | jq -c .)" \
	"{\"alg\":\"HS256\",\"kid\":\"kid-1\",\"url\":\"$NEW_ACCOUNT_URL\"}"
assert_equal "EAB payload is the account key's JWK" \
	"$(b64url_decode "$payload" | jq -cS .)" \
	"$(reply gen-old | sed 's/^result //' | jq -cS .jwk)"
refused eab-other-tenant policy-denied 'issuer pebble: denied, not in the issuers of tenant beta'
refused eab-beta-key policy-denied 'is not https://127.0.0.2:14000, the origin of issuer other'
refused eab-origin policy-denied 'is not https://127.0.0.1:14000, the origin of issuer pebble'
refused eab-no-key-id unknown-key 'issuer other has no eab-key-id'

refused change-other-account policy-denied 'new key: denied, it is not a key of the same issuer and account'
refused change-same-key policy-denied 'the new key is the old key'
refused change-other-tenant policy-denied 'issuer pebble: denied, not in the issuers of tenant beta'
refused change-account-origin policy-denied "account URL: denied, its origin is not the key-change URL's"
refused change-url-origin policy-denied 'the origin of issuer pebble'
allowed change-allowed
header=$(b64url_decode "$(member change-allowed protected)")
assert_equal "inner JWS has no nonce" "$(jq -r '.nonce // "none"' <<<"$header")" none
assert_equal "inner JWS embeds the new key" "$(jq -cS .jwk <<<"$header")" \
	"$(reply gen-new | sed 's/^result //' | jq -cS .jwk)"
inner_payload=$(b64url_decode "$(member change-allowed payload)")
assert_equal "inner payload names the account" \
	"$(jq -r .account <<<"$inner_payload")" "$KID"
assert_equal "inner payload's oldKey is the old key" \
	"$(jq -cS .oldKey <<<"$inner_payload")" \
	"$(reply gen-old | sed 's/^result //' | jq -cS .jwk)"

refused destroy-early policy-denied 'neither the old key of a key change this signer signed'
refused outer-forged policy-denied 'the inner JWS is not the one this signer built'
refused outer-new-key policy-denied 'built for another tenant or old key'
allowed outer-allowed
refused destroy-new policy-denied 'neither the old key of a key change'
refused destroy-other-tenant policy-denied 'neither the old key of a key change'
allowed destroy-old
refused destroy-again policy-denied 'neither the old key of a key change'
refused public-old unknown-key 'no key with id'
allowed public-new
old_id=$(member gen-old key_id)
objects=$(softhsm_list_objects)
assert_not_contains "the old key's objects are gone from the token" \
	"$objects" "$old_id"
assert_contains "the new key stays on the token" "$objects" \
	"$(member gen-new key_id)"
assert_not_contains "the log never shows the HMAC key" "$(cat "$LOG")" \
	"$(xxd -r -p <<<"$EAB_HEX" | base64 -w0 | tr -d '=' | cut -c1-16)"

# --- Revocation by the certificate key -----------------------------------

cert_id=$(member gen-cert key_id)
b64url_decode "$(member csr-cert csr)" >"$LAB_DIR/cert.csr.der"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-subj "/CN=Test CA" -keyout "$LAB_DIR/ca.key" -out "$LAB_DIR/ca.pem" \
	-days 1 2>/dev/null
openssl x509 -req -inform DER -in "$LAB_DIR/cert.csr.der" \
	-CA "$LAB_DIR/ca.pem" -CAkey "$LAB_DIR/ca.key" -CAcreateserial \
	-days 1 -outform DER -out "$LAB_DIR/cert.der" 2>/dev/null
openssl x509 -in "$LAB_DIR/ca.pem" -outform DER -out "$LAB_DIR/other.der"
CERT=$(base64 -w0 <"$LAB_DIR/cert.der" | tr '+/' '-_' | tr -d '=')
OTHER=$(base64 -w0 <"$LAB_DIR/other.der" | tr '+/' '-_' | tr -d '=')

# Usage: revoke TENANT ISSUER URL CERTIFICATE [REASON]
revoke() {
	printf '{"key_id":"%s","tenant":"%s","url":"%s","nonce":"n1",' \
		"$cert_id" "$1" "$3"
	printf '"issuer":"%s","certificate":"%s"%s}' "$2" "$4" \
		"${5:+,\"reason\":$5}"
}

STEPS=()
NAMES=()
req revoke-allowed $REVOKE_SIGN "$(revoke alpha pebble "$REVOKE_URL" \
	"$CERT" 1)"
req revoke-other-cert $REVOKE_SIGN "$(revoke alpha pebble "$REVOKE_URL" \
	"$OTHER")"
req revoke-other-tenant $REVOKE_SIGN "$(revoke beta other \
	"$OTHER_ORIGIN/revoke" "$CERT")"
req revoke-other-issuer $REVOKE_SIGN "$(revoke alpha other \
	"$OTHER_ORIGIN/revoke" "$CERT")"
req revoke-origin $REVOKE_SIGN "$(revoke alpha pebble \
	"$OTHER_ORIGIN/revoke" "$CERT")"
req revoke-reason-7 $REVOKE_SIGN "$(revoke alpha pebble "$REVOKE_URL" \
	"$CERT" 7)"
"$CLIENT" "$CUSTOS_SIGNER" "$CONF" "${STEPS[@]}" >"$OUT" 2>"$LOG"

allowed revoke-allowed
header=$(b64url_decode "$(member revoke-allowed protected)")
assert_equal "revocation embeds the certificate's key" \
	"$(jq -r .jwk.kty <<<"$header")" EC
assert_equal "revocation payload carries the reason" \
	"$(b64url_decode "$(member revoke-allowed payload)" | jq -c .)" \
	"{\"certificate\":\"$CERT\",\"reason\":1}"
refused revoke-other-cert policy-denied "certificate: denied, the certificate's public key is not the key"
refused revoke-other-tenant policy-denied 'bound to tenant alpha, not beta'
refused revoke-other-issuer policy-denied 'issuer other: denied, not in the issuers of tenant alpha'
refused revoke-origin policy-denied "URL: denied, its origin is not the issuer's"
assert_equal "an unknown reason code ends the connection" \
	"$(reply revoke-reason-7)" "eof"
assert_contains "the log names the reason member" "$(cat "$LOG")" \
	'member "reason" is not an RFC 5280 reason code'

tap_done
