#!/bin/bash
# The signer with a real SoftHSM2 token. Every key type must generate
# inside the token as a sensitive, non-extractable signing key, which
# p11probe checks with raw PKCS#11. OpenSSL then verifies the key's JWS
# and CSR with the public key read back from the token.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

CLIENT=$CUSTOS_BUILD_DIR/tests/signer_client
PROBE=$CUSTOS_BUILD_DIR/tests/p11probe
VERIFY=$CUSTOS_BUILD_DIR/tests/jws_verify
TOKEN_LABEL=custos-signer-keys

for program in "$CUSTOS_SIGNER" "$CLIENT" "$PROBE" "$VERIFY"; do
	[ -x "$program" ] || bail_out "$program is missing; run make first"
done
if [ "$(id -u)" -eq 0 ] &&
	! id "$CUSTOS_SIGNER_USER" >/dev/null 2>&1; then
	useradd --system --no-create-home --shell /usr/sbin/nologin \
		"$CUSTOS_SIGNER_USER" || bail_out "useradd failed"
fi
lab_tmpdir custos-signer-keys || bail_out "cannot make a temporary directory"
softhsm_init "$LAB_DIR" "$TOKEN_LABEL" || bail_out "cannot make a token"

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
	directory "https://127.0.0.1:14000/dir"
}
policy {
	file "$LAB_DIR/policy.conf"
}
EOF
# Tenant "lab" may use issuer pebble, every key type and the names the
# CSRs below list.
cat >"$LAB_DIR/policy.conf" <<EOF
tenant lab {
	allow .test 127.0.0.1
	issuers pebble
	accounts pebble
	key-types ec-p256 ec-p384 rsa-2048 rsa-3072 rsa-4096
}
EOF
chmod 0644 "$LAB_DIR/policy.conf"

# Usage: member JSON-LINE NAME
# Prints one string member of the JSON after "result " on a reply line.
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

# Requests for one key; %s is the key id. The payload is JSON text
# inside a JSON string, so its quotes are escaped. JWS_SIGN takes an
# account key and CSR_BUILD a certificate key.
JWS_TEMPLATE='{"key_id":"%s","tenant":"lab",'
JWS_TEMPLATE+='"url":"https://127.0.0.1:14000/new-order",'
JWS_TEMPLATE+='"nonce":"abc-_1","kid":"https://127.0.0.1:14000/acct/1",'
JWS_TEMPLATE+='"payload":"{\\"identifiers\\":[{\\"type\\":\\"dns\\",'
JWS_TEMPLATE+='\\"value\\":\\"a.test\\"}]}"}'
CSR_TEMPLATE='{"key_id":"%s","tenant":"lab",'
CSR_TEMPLATE+='"names":["a.test","*.a.test","127.0.0.1"]}'

expected_access="sensitive=1
extractable=0
always_sensitive=1
never_extractable=1"
expected_usage="sign=1
decrypt=0
unwrap=0
derive=0"

# Usage: generate PURPOSE TYPE
# Prints the reply line of a key-generate request for tenant lab.
generate() {
	local issuer=

	[ "$1" = account ] && issuer=',"issuer":"pebble"'
	"$CLIENT" "$CUSTOS_SIGNER" "$CONF" request key-generate \
		"{\"purpose\":\"$1\",\"tenant\":\"lab\"$issuer,\"type\":\"$2\"}" \
		2>&1 | grep '^result '
}

check_key_type() {
	local type=$1 alg=$2 out reply id probe jws csr_b64 account

	reply=$(generate certificate "$type")
	id=$(member "$reply" key_id)
	assert_equal "$type: generated type" "$(member "$reply" type)" "$type"
	assert_equal "$type: key id is 32 hex digits" \
		"$(printf '%s' "$id" | grep -cE '^[0-9a-f]{32}$')" 1
	assert_contains "$type: URI names the token and object" \
		"$(member "$reply" uri)" \
		"pkcs11:token=$TOKEN_LABEL;id=%"
	assert_contains "$type: URI ends with the label binding tenant lab" \
		"$(member "$reply" uri)" \
		";object=custos%2Fcertificate%2Flab%2F$id;type=private"
	[ -n "$id" ] || return

	probe=$("$PROBE" "$SOFTHSM_MODULE" "$TOKEN_LABEL" \
		"$SOFTHSM_PIN_FILE" "$id" "$LAB_DIR/$type.pem" 2>&1)
	assert_equal "$type: private key is sensitive, never extractable" \
		"$(printf '%s\n' "$probe" | sed -n 1,4p)" "$expected_access"
	assert_equal "$type: reading the secret is refused" \
		"$(printf '%s\n' "$probe" | sed -n 's/^value=//p')" \
		CKR_ATTRIBUTE_SENSITIVE
	assert_equal "$type: making it extractable is refused" \
		"$(printf '%s\n' "$probe" | sed -n 's/^set_extractable=//p')" \
		CKR_ATTRIBUTE_READ_ONLY
	assert_equal "$type: private key may only sign" \
		"$(printf '%s\n' "$probe" | sed -n '5,8p')" "$expected_usage"
	# Servers on the nodes use a certificate key through libp11's
	# engine, which does not read CKA_PUBLIC_KEY_INFO.
	assert_equal "$type: a certificate key keeps its public key object" \
		"$(printf '%s\n' "$probe" | sed -n 's/^public_object=//p')" 1

	account=$(member "$(generate account "$type")" key_id)
	probe=$("$PROBE" "$SOFTHSM_MODULE" "$TOKEN_LABEL" \
		"$SOFTHSM_PIN_FILE" "$account" "$LAB_DIR/$type-account.pem" 2>&1)
	assert_equal "$type: an account key has no public key object" \
		"$(printf '%s\n' "$probe" | sed -n 's/^public_object=//p')" 0

	# shellcheck disable=SC2059 # The templates are format strings.
	out=$("$CLIENT" "$CUSTOS_SIGNER" "$CONF" \
		request jws-sign "$(printf "$JWS_TEMPLATE" "$account")" \
		request csr-build "$(printf "$CSR_TEMPLATE" "$id")" 2>&1)
	jws=$(printf '%s\n' "$out" | grep '^result {"protected"')
	# The public key comes from the private key's CKA_PUBLIC_KEY_INFO,
	# so a valid signature shows that it is the private key's own.
	assert_equal "$type: JWS verifies with the token's public key" \
		"$(printf '%s' "${jws#result }" |
			"$VERIFY" "$LAB_DIR/$type-account.pem")" "alg=$alg
valid"

	csr_b64=$(member "$(printf '%s\n' "$out" | grep '^result {"csr"')" csr)
	b64url_to_file "$csr_b64" "$LAB_DIR/$type.csr"
	check "$type: CSR signature verifies" \
		openssl req -inform DER -in "$LAB_DIR/$type.csr" -verify -noout
	assert_equal "$type: CSR holds the token's public key" \
		"$(openssl req -inform DER -in "$LAB_DIR/$type.csr" -pubkey \
			-noout 2>&1)" "$(cat "$LAB_DIR/$type.pem")"
	assert_contains "$type: CSR lists every name" \
		"$(openssl req -inform DER -in "$LAB_DIR/$type.csr" -noout \
			-text 2>&1 | tr -d ' ')" \
		"DNS:a.test,DNS:*.a.test,IPAddress:127.0.0.1"
	assert_equal "$type: signer exits 0 at end of file" \
		"$(printf '%s\n' "$out" | tail -n 1)" "exit 0"
}

check_key_type ec-p256 ES256
check_key_type ec-p384 ES384
check_key_type rsa-2048 RS256
check_key_type rsa-3072 RS256
check_key_type rsa-4096 RS256

# The type defaults to P-256, and account keys carry their own label.
out=$("$CLIENT" "$CUSTOS_SIGNER" "$CONF" request key-generate \
	'{"purpose":"account","tenant":"lab","issuer":"pebble"}' 2>&1)
reply=$(printf '%s\n' "$out" | grep '^result ')
assert_equal "default key type is ec-p256" "$(member "$reply" type)" ec-p256
assert_contains "account key label binds issuer and account" \
	"$(member "$reply" uri)" \
	";object=custos%2Faccount%2Fpebble%2Fpebble%2F$(member "$reply" key_id);"

# A key made by one signer process is usable by the next one.
id=$(member "$reply" key_id)
out=$("$CLIENT" "$CUSTOS_SIGNER" "$CONF" request key-public \
	"{\"key_id\":\"$id\"}" 2>&1)
assert_equal "key-public finds the key in a new process" \
	"$(member "$(printf '%s\n' "$out" | grep '^result ')" key_id)" "$id"
assert_equal "key-public thumbprint matches key-generate" \
	"$(member "$(printf '%s\n' "$out" | grep '^result ')" thumbprint)" \
	"$(member "$reply" thumbprint)"


# A new process finds a certificate key through libp11, which takes its
# point from the public key object. Its CSR must contain the public key
# that the key's maker described. (The account keys above, which have no
# public key object, take theirs from CKA_PUBLIC_KEY_INFO.)
reply=$(generate certificate ec-p256)
id=$(member "$reply" key_id)
# shellcheck disable=SC2059 # The template is a format string.
out=$("$CLIENT" "$CUSTOS_SIGNER" "$CONF" \
	request csr-build "$(printf "$CSR_TEMPLATE" "$id")" 2>&1)
b64url_to_file "$(member "$(grep '^result {"csr"' <<<"$out")" csr)" \
	"$LAB_DIR/later.csr"
check "a later process's CSR verifies" \
	openssl req -inform DER -in "$LAB_DIR/later.csr" -verify -noout
"$PROBE" "$SOFTHSM_MODULE" "$TOKEN_LABEL" "$SOFTHSM_PIN_FILE" "$id" \
	"$LAB_DIR/later.pem" >/dev/null 2>&1
assert_equal "a later process's CSR holds the key's public key" \
	"$(openssl req -inform DER -in "$LAB_DIR/later.csr" -pubkey \
		-noout 2>&1)" "$(cat "$LAB_DIR/later.pem")"
assert_contains "a later process describes the key as its maker did" \
	"$("$CLIENT" "$CUSTOS_SIGNER" "$CONF" request key-public \
		"{\"key_id\":\"$id\"}" 2>&1)" \
	"\"thumbprint\":\"$(member "$reply" thumbprint)\""

# A failed key generation reaches the broker with its reason. Without
# write access to the token directory, SoftHSM2 cannot store the key.
TOKEN_SUBDIR=$(find "$SOFTHSM_TOKEN_DIR" -mindepth 1 -maxdepth 1 -type d)
chmod 0500 "$TOKEN_SUBDIR" || bail_out "chmod $TOKEN_SUBDIR failed"
out=$("$CLIENT" "$CUSTOS_SIGNER" "$CONF" request key-generate \
	'{"purpose":"certificate","tenant":"lab","type":"ec-p256"}' 2>&1)
chmod 0700 "$TOKEN_SUBDIR"
reply=$(printf '%s\n' "$out" | grep '^error ')
assert_contains "a failed generation is an hsm-failure" "$reply" \
	'"code":"hsm-failure"'
assert_contains "the hsm-failure reply gives the token's reason" "$reply" \
	"\"message\":\"generating a ec-p256 key in token '$TOKEN_LABEL' failed: CKR 0x"

tap_done
