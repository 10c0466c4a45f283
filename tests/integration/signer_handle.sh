#!/bin/bash
# A new EC key signs through the object handle of its generation until it
# leaves the key cache. Within one signer process, a new key's JWS and
# CSR must verify with the key's public key, for P-256 and P-384. A
# destroyed key must be an error, and a key that more than the cache's
# 128 newer keys pushed out must still sign through libp11.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

CLIENT=$CUSTOS_BUILD_DIR/tests/signer_client
VERIFY=$CUSTOS_BUILD_DIR/tests/jws_verify
TOKEN_LABEL=custos-handle

for program in "$CUSTOS_SIGNER" "$CLIENT" "$VERIFY"; do
	[ -x "$program" ] || bail_out "$program is missing; run make first"
done
if [ "$(id -u)" -eq 0 ] &&
	! id "$CUSTOS_SIGNER_USER" >/dev/null 2>&1; then
	useradd --system --no-create-home --shell /usr/sbin/nologin \
		"$CUSTOS_SIGNER_USER" || bail_out "useradd failed"
fi
lab_tmpdir custos-signer-handle ||
	bail_out "cannot make a temporary directory"
softhsm_init "$LAB_DIR" "$TOKEN_LABEL" || bail_out "cannot make a token"

CONF=$LAB_DIR/signer.conf
cat >"$CONF" <<EOF2
hsm {
	module "$SOFTHSM_MODULE"
	token-label "$TOKEN_LABEL"
	pin-file "$SOFTHSM_PIN_FILE"
}
signer {
	user $CUSTOS_SIGNER_USER
}
issuer pebble {
	directory "https://127.0.0.1:14000/dir"
}
policy {
	file "$LAB_DIR/policy.conf"
}
EOF2
cat >"$LAB_DIR/policy.conf" <<EOF2
tenant lab {
	allow .test
	issuers pebble
	accounts pebble
	key-types ec-p256 ec-p384
}
EOF2
chmod 0644 "$LAB_DIR/policy.conf"

# Usage: member JSON-LINE NAME
member() {
	printf '%s\n' "${1#result }" |
		sed -n "s/.*\"$2\":\"\\([^\"]*\\)\".*/\\1/p"
}

# Usage: b64url_to_file TEXT FILE
b64url_to_file() {
	local text=$1 pad

	pad=$(( (4 - ${#text} % 4) % 4 ))
	text=$text$(printf '%*s' "$pad" '' | tr ' ' '=')
	printf '%s' "$text" | tr -- '-_' '+/' | base64 -d >"$2"
}

# Request bodies; @NAME@ is a key id that a keep step stored.
ACCOUNT_KEY='{"purpose":"account","tenant":"lab","issuer":"pebble",'
CERT_KEY='{"purpose":"certificate","tenant":"lab",'
JWS='{"key_id":"@%s@","tenant":"lab",'
JWS+='"url":"https://127.0.0.1:14000/new-order",'
JWS+='"nonce":"abc-_1","kid":"https://127.0.0.1:14000/acct/1",'
JWS+='"payload":"{\\"identifiers\\":[{\\"type\\":\\"dns\\",'
JWS+='\\"value\\":\\"a.test\\"}]}"}'
CSR='{"key_id":"@%s@","tenant":"lab","names":["a.test"]}'

# Usage: check_jws CASE REPLY-LINE KEY-ID ALG
# Checks that the JWS verifies with the key's public key in the token.
check_jws() {
	softhsm_public_key_der "$3" "$LAB_DIR/$3.der" ||
		bail_out "cannot read the public key of $3"
	assert_equal "$1: JWS verifies" \
		"$(printf '%s' "${2#result }" |
			"$VERIFY" "$LAB_DIR/$3.der.pem")" "alg=$4
valid"
}

# Usage: check_csr CASE REPLY-LINE KEY-ID
# Checks that the CSR verifies and contains the key's public key.
check_csr() {
	softhsm_public_key_der "$3" "$LAB_DIR/$3.der" ||
		bail_out "cannot read the public key of $3"
	b64url_to_file "$(member "$2" csr)" "$LAB_DIR/$3.csr"
	check "$1: CSR verifies" \
		openssl req -inform DER -in "$LAB_DIR/$3.csr" -verify -noout
	assert_equal "$1: CSR contains the key's public key" \
		"$(openssl req -inform DER -in "$LAB_DIR/$3.csr" -pubkey \
			-noout 2>&1)" "$(cat "$LAB_DIR/$3.der.pem")"
}

# One process: new keys of both curves sign at once, and a destroyed new
# key is an error.
# shellcheck disable=SC2059 # The templates are format strings.
out=$("$CLIENT" "$CUSTOS_SIGNER" "$CONF" \
	request key-generate "$ACCOUNT_KEY\"type\":\"ec-p256\"}" \
	keep A256 key_id \
	request jws-sign "$(printf "$JWS" A256)" \
	request key-generate "$ACCOUNT_KEY\"type\":\"ec-p384\"}" \
	keep A384 key_id \
	request jws-sign "$(printf "$JWS" A384)" \
	request key-generate "$CERT_KEY\"type\":\"ec-p256\"}" \
	keep C256 key_id \
	request csr-build "$(printf "$CSR" C256)" \
	request key-generate "$CERT_KEY\"type\":\"ec-p384\"}" \
	keep C384 key_id \
	request csr-build "$(printf "$CSR" C384)" \
	request key-generate "$CERT_KEY\"type\":\"ec-p256\"}" \
	keep GONE key_id \
	request key-destroy '{"key_id":"@GONE@","tenant":"lab"}' \
	request csr-build "$(printf "$CSR" GONE)" 2>&1)
mapfile -t replies < <(printf '%s\n' "$out" | grep -E '^(result|error) ')
assert_equal "one process: reply count" "${#replies[@]}" 11
check_jws "new P-256 account key" "${replies[1]}" \
	"$(member "${replies[0]}" key_id)" ES256
check_jws "new P-384 account key" "${replies[3]}" \
	"$(member "${replies[2]}" key_id)" ES384
check_csr "new P-256 certificate key" "${replies[5]}" \
	"$(member "${replies[4]}" key_id)"
check_csr "new P-384 certificate key" "${replies[7]}" \
	"$(member "${replies[6]}" key_id)"
assert_equal "destroying a new key succeeds" \
	"$(printf '%s' "${replies[9]}" | cut -c1-7)" "result "
assert_contains "a destroyed new key is unknown" "${replies[10]}" \
	'"code":"unknown-key"'
assert_equal "one process: signer exits 0" \
	"$(printf '%s\n' "$out" | tail -n 1)" "exit 0"

# One process: 129 newer keys push the first two out of the cache.
steps=(request key-generate "$ACCOUNT_KEY\"type\":\"ec-p256\"}"
	keep FIRST key_id
	request key-generate "$CERT_KEY\"type\":\"ec-p384\"}"
	keep SECOND key_id)
for _ in $(seq 129); do
	steps+=(request key-generate "$CERT_KEY\"type\":\"ec-p256\"}")
done
# shellcheck disable=SC2059 # The templates are format strings.
steps+=(request jws-sign "$(printf "$JWS" FIRST)"
	request csr-build "$(printf "$CSR" SECOND)")
out=$("$CLIENT" "$CUSTOS_SIGNER" "$CONF" "${steps[@]}" 2>&1)
mapfile -t replies < <(printf '%s\n' "$out" | grep -E '^(result|error) ')
assert_equal "eviction: reply count" "${#replies[@]}" 133
assert_equal "eviction: every key generated" \
	"$(printf '%s\n' "${replies[@]:0:131}" | grep -c '^result ')" 131
check_jws "evicted account key" "${replies[131]}" \
	"$(member "${replies[0]}" key_id)" ES256
check_csr "evicted certificate key" "${replies[132]}" \
	"$(member "${replies[1]}" key_id)"
assert_equal "eviction: signer exits 0" \
	"$(printf '%s\n' "$out" | tail -n 1)" "exit 0"

tap_done
