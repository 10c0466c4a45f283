#!/bin/bash
# A key without a public key object takes its public half from the
# private key's CKA_PUBLIC_KEY_INFO. Any user of the token can write
# a wrong value there: nothing, bytes that are not DER, a cut DER, a key
# of another curve or algorithm, or another key on the same curve. The
# signer must then reply with an error, and never a JWK or CSR that
# carries a public key the token's private key does not match. RSA keys
# and keys with a public key object, as made before the signer dropped
# those objects, do not read the attribute and must still work. A
# key-destroy must remove every object with the key's CKA_ID.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

CLIENT=$CUSTOS_BUILD_DIR/tests/signer_client
PROBE=$CUSTOS_BUILD_DIR/tests/p11probe
TOKEN_LABEL=custos-pubinfo

for program in "$CUSTOS_SIGNER" "$CLIENT" "$PROBE"; do
	[ -x "$program" ] || bail_out "$program is missing; run make first"
done
if [ "$(id -u)" -eq 0 ] &&
	! id "$CUSTOS_SIGNER_USER" >/dev/null 2>&1; then
	useradd --system --no-create-home --shell /usr/sbin/nologin \
		"$CUSTOS_SIGNER_USER" || bail_out "useradd failed"
fi
lab_tmpdir custos-signer-pubinfo ||
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
	key-types ec-p256 ec-p384 rsa-2048
}
EOF2
chmod 0644 "$LAB_DIR/policy.conf"

# Usage: member JSON-LINE NAME
member() {
	printf '%s\n' "${1#result }" |
		sed -n "s/.*\"$2\":\"\\([^\"]*\\)\".*/\\1/p"
}

# Usage: generate TYPE [certificate]
# Generates an account key, or a certificate key, for tenant lab and
# prints its id. Only account keys lack a public key object.
generate() {
	local purpose='"purpose":"account","issuer":"pebble"'

	[ "${2:-}" = certificate ] && purpose='"purpose":"certificate"'
	member "$("$CLIENT" "$CUSTOS_SIGNER" "$CONF" request key-generate \
		"{$purpose,\"tenant\":\"lab\",\"type\":\"$1\"}" \
		2>&1 | grep '^result ')" key_id
}

# Usage: set_info ID FILE
set_info() {
	"$PROBE" "$SOFTHSM_MODULE" "$TOKEN_LABEL" "$SOFTHSM_PIN_FILE" "$1" \
		--set-info "$2"
}

# Usage: b64url_to_file TEXT FILE
b64url_to_file() {
	local text=$1 pad

	pad=$(( (4 - ${#text} % 4) % 4 ))
	text=$text$(printf '%*s' "$pad" '' | tr ' ' '=')
	printf '%s' "$text" | tr -- '-_' '+/' | base64 -d >"$2"
}

CSR_TEMPLATE='{"key_id":"%s","tenant":"lab","names":["a.test"]}'
JWS_TEMPLATE='{"key_id":"%s","tenant":"lab",'
JWS_TEMPLATE+='"url":"https://127.0.0.1:14000/new-order",'
JWS_TEMPLATE+='"nonce":"abc-_1","kid":"https://127.0.0.1:14000/acct/1",'
JWS_TEMPLATE+='"payload":"{}"}'

# Usage: check_rejected CASE ID
# A new signer process, which finds the account key through libp11, must
# reply with an error to key-public and jws-sign for key ID, and exit 0.
check_rejected() {
	local out

	# shellcheck disable=SC2059 # The template is a format string.
	out=$("$CLIENT" "$CUSTOS_SIGNER" "$CONF" \
		request key-public "{\"key_id\":\"$2\"}" \
		request jws-sign "$(printf "$JWS_TEMPLATE" "$2")" 2>&1)
	assert_equal "$1: no result" \
		"$(printf '%s\n' "$out" | grep -c '^result ')" 0
	assert_equal "$1: key-public is an hsm-failure" \
		"$(printf '%s\n' "$out" | grep '^error ' | sed -n 1p |
			grep -o '"code":"[a-z-]*"')" '"code":"hsm-failure"'
	assert_equal "$1: jws-sign is an hsm-failure" \
		"$(printf '%s\n' "$out" | grep '^error ' | sed -n 2p |
			grep -o '"code":"[a-z-]*"')" '"code":"hsm-failure"'
	assert_contains "$1: the reply names the attribute" \
		"$(printf '%s\n' "$out" | grep '^error ' | sed -n 1p)" \
		"\"message\":\"key $2 in token '$TOKEN_LABEL' has no valid public key: its public key object or CKA_PUBLIC_KEY_INFO is missing, invalid or another key's\""
	assert_equal "$1: signer exits 0" \
		"$(printf '%s\n' "$out" | tail -n 1)" "exit 0"
}

other=$(generate ec-p256)
p384=$(generate ec-p384)
rsa=$(generate rsa-2048)
for id in "$other" "$p384" "$rsa"; do
	softhsm_public_key_der "$id" "$LAB_DIR/$id.der" ||
		bail_out "cannot read the public key of $id"
done

: >"$LAB_DIR/empty.der"
printf 'not DER at all' >"$LAB_DIR/text.der"
head -c 40 "$LAB_DIR/$other.der" >"$LAB_DIR/cut.der"

victim=$(generate ec-p256)
set_info "$victim" "$LAB_DIR/$other.der" ||
	bail_out "cannot set CKA_PUBLIC_KEY_INFO"
check_rejected "another P-256 key's info" "$victim"

for case in empty text cut; do
	victim=$(generate ec-p256)
	set_info "$victim" "$LAB_DIR/$case.der" ||
		bail_out "cannot set CKA_PUBLIC_KEY_INFO"
	check_rejected "$case info" "$victim"
done

victim=$(generate ec-p256)
set_info "$victim" "$LAB_DIR/$p384.der" ||
	bail_out "cannot set CKA_PUBLIC_KEY_INFO"
check_rejected "a P-384 key's info on a P-256 key" "$victim"

victim=$(generate ec-p384)
set_info "$victim" "$LAB_DIR/$other.der" ||
	bail_out "cannot set CKA_PUBLIC_KEY_INFO"
check_rejected "a P-256 key's info on a P-384 key" "$victim"

victim=$(generate ec-p256)
set_info "$victim" "$LAB_DIR/$rsa.der" ||
	bail_out "cannot set CKA_PUBLIC_KEY_INFO"
check_rejected "an RSA key's info on a P-256 key" "$victim"

# Usage: check_csr CASE ID PEM-FILE
# A new signer process must build a CSR for key ID that verifies and
# contains the public key in PEM-FILE.
check_csr() {
	local out

	# shellcheck disable=SC2059 # The template is a format string.
	out=$("$CLIENT" "$CUSTOS_SIGNER" "$CONF" \
		request csr-build "$(printf "$CSR_TEMPLATE" "$2")" 2>&1)
	b64url_to_file "$(member "$(grep '^result {"csr"' <<<"$out")" csr)" \
		"$LAB_DIR/$2.csr"
	check "$1: CSR verifies" \
		openssl req -inform DER -in "$LAB_DIR/$2.csr" -verify -noout
	assert_equal "$1: CSR contains the key's public key" \
		"$(openssl req -inform DER -in "$LAB_DIR/$2.csr" -pubkey \
			-noout 2>&1)" "$(cat "$3")"
}

# A public key object with the key's CKA_ID gives libp11 the point of
# another key. SoftHSM2 2.6.1 lets a session that is not logged in create
# such a public object, so no PIN is needed to plant it.
victim=$(generate ec-p256)
softhsm_tool --write-object "$LAB_DIR/$other.der" --type pubkey \
	--id "$victim" --label planted >/dev/null 2>&1 ||
	bail_out "pkcs11-tool cannot write a public key object"
if [ "$(id -u)" -eq 0 ]; then
	chown -R "$SOFTHSM_SIGNER_USER:" "$SOFTHSM_TOKEN_DIR" ||
		bail_out "chown $SOFTHSM_TOKEN_DIR failed"
fi
check_rejected "another key's public key object" "$victim"

# A second private key with the same CKA_ID: libp11 may sign with either.
victim=$(generate ec-p256)
softhsm_tool --keypairgen --key-type EC:prime256v1 --id "$victim" \
	--label second >/dev/null 2>&1 ||
	bail_out "pkcs11-tool cannot make a P-256 key"
softhsm_tool --delete-object --type pubkey --id "$victim" \
	>/dev/null 2>&1 || bail_out "pkcs11-tool cannot delete an object"
if [ "$(id -u)" -eq 0 ]; then
	chown -R "$SOFTHSM_SIGNER_USER:" "$SOFTHSM_TOKEN_DIR" ||
		bail_out "chown $SOFTHSM_TOKEN_DIR failed"
fi
check_rejected "two private keys with one id" "$victim"

# A key that the token will not sign with cannot be checked, and the
# reply must then name a token failure, not the key's public key.
victim=$(generate ec-p256)
"$PROBE" "$SOFTHSM_MODULE" "$TOKEN_LABEL" "$SOFTHSM_PIN_FILE" "$victim" \
	--forbid-sign || bail_out "cannot set CKA_SIGN"
out=$("$CLIENT" "$CUSTOS_SIGNER" "$CONF" \
	request key-public "{\"key_id\":\"$victim\"}" 2>&1)
assert_contains "a key that cannot sign: hsm-failure" \
	"$(grep '^error ' <<<"$out")" \
	"{\"code\":\"hsm-failure\",\"message\":\"reading key $victim from token '$TOKEN_LABEL' failed\"}"
assert_equal "a key that cannot sign: signer exits 0" \
	"$(printf '%s\n' "$out" | tail -n 1)" "exit 0"

# libp11 reads an RSA key's public half from the private key object, so
# a wrong CKA_PUBLIC_KEY_INFO does not matter for it.
victim=$(generate rsa-2048 certificate)
softhsm_public_key_der "$victim" "$LAB_DIR/$victim.der" ||
	bail_out "cannot read the public key of $victim"
set_info "$victim" "$LAB_DIR/$other.der" ||
	bail_out "cannot set CKA_PUBLIC_KEY_INFO"
check_csr "an RSA key with a P-256 key's info" "$victim" \
	"$LAB_DIR/$victim.der.pem"

# Keys made before the signer dropped public key objects keep theirs.
# Such a key, with a wrong CKA_PUBLIC_KEY_INFO too, still signs with the
# point of its public key object.
for curve in prime256v1 secp384r1; do
	id=$(openssl rand -hex 16)
	softhsm_tool --keypairgen --key-type "EC:$curve" --id "$id" \
		--label "custos/certificate/lab/$id" >/dev/null 2>&1 ||
		bail_out "pkcs11-tool cannot make a $curve key"
	# The signer runs as its own user, and the token files must be its.
	if [ "$(id -u)" -eq 0 ]; then
		chown -R "$SOFTHSM_SIGNER_USER:" "$SOFTHSM_TOKEN_DIR" ||
			bail_out "chown $SOFTHSM_TOKEN_DIR failed"
	fi
	softhsm_public_key_der "$id" "$LAB_DIR/$id.der" ||
		bail_out "cannot read the public key of $id"
	set_info "$id" "$LAB_DIR/$other.der" ||
		bail_out "cannot set CKA_PUBLIC_KEY_INFO"
	check_csr "a $curve key with a public key object" "$id" \
		"$LAB_DIR/$id.der.pem"
done

# A key-destroy must remove every object with the key's CKA_ID, however
# many there are, and one search returns at most 4. The signer only
# destroys a certificate key that it made itself, so the objects are
# planted while the process that made the key waits. They are five
# copies of the key's own public key, so the key still loads: 7 objects
# with its id in all.
plant='id=@K@; '
plant+="p11=\"$CUSTOS_BUILD_DIR/tests/p11probe\"; "
plant+="\"\$p11\" '$SOFTHSM_MODULE' '$TOKEN_LABEL' '$SOFTHSM_PIN_FILE' "
plant+="\$id '$LAB_DIR/planted.pem' >/dev/null && "
plant+="openssl pkey -pubin -in '$LAB_DIR/planted.pem' -outform DER "
plant+="-out '$LAB_DIR/planted.der' && "
plant+='for n in 1 2 3 4 5; do '
plant+="SOFTHSM_PIN=\$(cat '$SOFTHSM_PIN_FILE') "
plant+="pkcs11-tool --module '$SOFTHSM_MODULE' "
plant+="--token-label '$TOKEN_LABEL' --pin env:SOFTHSM_PIN "
plant+="--write-object '$LAB_DIR/planted.der' --type pubkey --id \$id "
# shellcheck disable=SC2016 # $n belongs to the shell step's loop.
plant+='--label planted$n >/dev/null 2>&1 || exit 1; done'
if [ "$(id -u)" -eq 0 ]; then
	plant+=" && chown -R '$SOFTHSM_SIGNER_USER:' '$SOFTHSM_TOKEN_DIR'"
fi
out=$("$CLIENT" "$CUSTOS_SIGNER" "$CONF" \
	request key-generate \
	'{"purpose":"certificate","tenant":"lab","type":"ec-p256"}' \
	keep K key_id \
	shell "$plant" \
	request key-destroy '{"key_id":"@K@","tenant":"lab"}' 2>&1)
victim=$(member "$(grep '^result ' <<<"$out" | head -n 1)" key_id)
assert_equal "planted objects: planting succeeds" \
	"$(grep -c '^failed: ' <<<"$out")" 0
mapfile -t replies < <(grep -E '^(result|error) ' <<<"$out")
assert_equal "planted objects: key-destroy succeeds" \
	"$(printf '%s' "${replies[1]:-}" | cut -c1-7)" "result "
assert_equal "planted objects: no object with the key's id is left" \
	"$(softhsm_tool --list-objects 2>/dev/null | grep -c "ID: *$victim")" 0

tap_done
