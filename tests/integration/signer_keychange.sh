#!/bin/bash
# A compromised broker must not hand a tenant's ACME account to a key of
# its own. The inner JWS of a keyChange payload carries the new account
# key in its "jwk" (RFC 8555, section 7.3.5), so the signer signs a
# keyChange payload only when it built that inner JWS itself, through a
# key-change request. Here the broker sends jws-sign with an inner JWS for
# a key that the token does not hold: the signer must deny it and keep
# serving, and the same account key must still sign a newOrder.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

CLIENT=$CUSTOS_BUILD_DIR/tests/signer_client
TOKEN_LABEL=custos-signer-keychange
ORIGIN=https://127.0.0.1:14000
KID=$ORIGIN/my-account/1
KEY_CHANGE_URL=$ORIGIN/rollover-account-key

for program in "$CUSTOS_SIGNER" "$CLIENT"; do
	[ -x "$program" ] || bail_out "$program is missing; run make first"
done
if [ "$(id -u)" -eq 0 ] &&
	! id "$CUSTOS_SIGNER_USER" >/dev/null 2>&1; then
	useradd --system --no-create-home --shell /usr/sbin/nologin \
		"$CUSTOS_SIGNER_USER" || bail_out "useradd failed"
fi
lab_tmpdir custos-signer-keychange || bail_out "cannot make a directory"
softhsm_init "$LAB_DIR" "$TOKEN_LABEL" || bail_out "cannot make a token"

POLICY=$LAB_DIR/policy.conf
cat >"$POLICY" <<EOF
tenant alpha {
	allow .alpha.test
	issuers pebble
	accounts pebble
}
EOF
CONF=$LAB_DIR/signer.conf
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
	directory "$ORIGIN/dir"
}
policy {
	file "$POLICY"
}
EOF
chmod 0644 "$POLICY" "$CONF"

b64url() {
	printf '%s' "$1" | base64 -w 0 | tr '+/' '-_' | tr -d '='
}

# Escapes JSON text for use inside a JSON string.
esc() {
	printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'
}

# Usage: jws_request URL PAYLOAD
# Prints a jws-sign request for the account key kept as ACCOUNT.
jws_request() {
	printf '{"key_id":"@ACCOUNT@","tenant":"alpha","url":"%s",' "$1"
	printf '"nonce":"n1","kid":"%s","payload":"%s"}' "$KID" "$(esc "$2")"
}

# An inner JWS for a P-256 key that the token does not hold (the example
# key of RFC 7515, appendix A.3), with a signature the signer cannot check.
FOREIGN_JWK='{"kty":"EC","crv":"P-256",'
FOREIGN_JWK+='"x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",'
FOREIGN_JWK+='"y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}'
INNER_PROTECTED=$(b64url "{\"alg\":\"ES256\",\"jwk\":$FOREIGN_JWK,\
\"url\":\"$KEY_CHANGE_URL\"}")
INNER_PAYLOAD=$(b64url "{\"account\":\"$KID\",\"oldKey\":{\"kty\":\"EC\"}}")
INNER="{\"protected\":\"$INNER_PROTECTED\",\
\"payload\":\"$INNER_PAYLOAD\",\"signature\":\"AAAA\"}"
NEW_ORDER='{"identifiers":[{"type":"dns","value":"www.alpha.test"}]}'

OUTPUT=$("$CLIENT" "$CUSTOS_SIGNER" "$CONF" \
	request key-generate \
	'{"purpose":"account","tenant":"alpha","issuer":"pebble"}' \
	keep ACCOUNT key_id \
	request jws-sign "$(jws_request "$KEY_CHANGE_URL" "$INNER")" \
	request jws-sign "$(jws_request "$ORIGIN/new-order" "$NEW_ORDER")" \
	2>&1)
GENERATED=$(printf '%s\n' "$OUTPUT" | grep -E '^(result|error|eof)' |
	sed -n 1p)
KEY_CHANGE=$(printf '%s\n' "$OUTPUT" | grep -E '^(result|error|eof)' |
	sed -n 2p)
ORDER=$(printf '%s\n' "$OUTPUT" | grep -E '^(result|error|eof)' | sed -n 3p)

assert_contains "account key is generated" "$GENERATED" '"key_id":"'
assert_contains "keyChange to a foreign key is denied" "$KEY_CHANGE" \
	'"code":"policy-denied"'
assert_contains "denial says the signer did not build the inner JWS" \
	"$KEY_CHANGE" "is not the one this signer built"
assert_not_contains "keyChange to a foreign key is not signed" \
	"$KEY_CHANGE" '"signature"'
assert_contains "newOrder with the same key is still signed" "$ORDER" \
	'result {"protected"'
assert_equal "signer exits 0" "$(printf '%s\n' "$OUTPUT" | tail -1)" \
	"exit 0"

tap_done
