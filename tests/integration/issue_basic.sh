#!/bin/bash
# Issues one certificate for two names from Pebble and checks the stored
# files, the chain against Pebble's root, and that the certificate's key is
# a sensitive, non-extractable key on the token named by key.uri.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

NAMES=(a.demo.test b.demo.test)

# Prints the DER public key of a certificate as hex.
certificate_public_key() {
	openssl x509 -in "$1" -noout -pubkey |
		openssl pkey -pubin -outform DER | od -An -tx1 | tr -d ' \n'
}

# Usage: token_public_key ID
# Prints the DER public key of the token's public-key object ID as hex.
token_public_key() {
	softhsm_public_key_der "$1" "$LAB_DIR/token-public.der" || return 1
	openssl pkey -pubin -inform DER -in "$LAB_DIR/token-public.der" \
		-outform DER | od -An -tx1 | tr -d ' \n'
}

# Usage: probe_field NAME
# Prints the value of NAME in p11probe's "name=value" lines in PROBE.
probe_field() {
	sed -n "s/^$1=//p" <<<"$PROBE"
}

check_stored_files() {
	local name

	for name in cert.pem chain.pem fullchain.pem key.uri; do
		assert_file_exists "store has $name" \
			"$(custos_store_file "${NAMES[0]}" "$name")"
	done
	assert_equal "no private key in the store" \
		"$(grep -rl 'PRIVATE KEY' "$CUSTOS_STORE")" ""
}

check_certificate() {
	local cert chain fullchain names

	cert=$(custos_store_file "${NAMES[0]}" cert.pem)
	chain=$(custos_store_file "${NAMES[0]}" chain.pem)
	fullchain=$(custos_store_file "${NAMES[0]}" fullchain.pem)
	check "chain verifies against Pebble's root" openssl verify \
		-CAfile "$PEBBLE_ROOT" -untrusted "$chain" "$fullchain"
	assert_equal "fullchain.pem is cert.pem then chain.pem" \
		"$(cat "$fullchain")" "$(cat "$cert" "$chain")"
	names=$(openssl x509 -in "$cert" -noout -ext subjectAltName |
		grep -oE 'DNS:[^, ]+' | sort | tr '\n' ' ')
	assert_equal "certificate names" "$names" \
		"DNS:a.demo.test DNS:b.demo.test "
	assert_contains "issuer is Pebble's intermediate" \
		"$(openssl x509 -in "$cert" -noout -issuer)" \
		"Pebble Intermediate CA"
}

check_token_key() {
	local cert key_uri id cert_key token_key

	cert=$(custos_store_file "${NAMES[0]}" cert.pem)
	key_uri=$(cat "$(custos_store_file "${NAMES[0]}" key.uri)")
	assert_contains "key.uri is a PKCS#11 URI" "$key_uri" "pkcs11:"
	assert_contains "key.uri names the token" "$key_uri" \
		"token=$SOFTHSM_LABEL"
	id=$(custos_uri_id "$key_uri")
	assert_not_equal "key.uri has an id" "$id" ""
	cert_key=$(certificate_public_key "$cert")
	token_key=$(token_public_key "$id")
	assert_not_equal "token has public key $id" "$token_key" ""
	assert_equal "certificate key is the token's key $id" "$cert_key" \
		"$token_key"

	PROBE=$("$CUSTOS_BUILD_DIR/tests/p11probe" "$SOFTHSM_MODULE" \
		"$SOFTHSM_LABEL" "$SOFTHSM_PIN_FILE" "$id" 2>&1)
	diag "p11probe for $id:" "$PROBE"
	assert_equal "CKA_SENSITIVE is true" "$(probe_field sensitive)" 1
	assert_equal "CKA_EXTRACTABLE is false" \
		"$(probe_field extractable)" 0
	assert_equal "CKA_VALUE cannot be read" "$(probe_field value)" \
		CKR_ATTRIBUTE_SENSITIVE
	assert_equal "CKA_EXTRACTABLE cannot be set to true" \
		"$(probe_field set_extractable)" CKR_ATTRIBUTE_READ_ONLY
	assert_equal "private key can sign" "$(probe_field sign)" 1
	assert_equal "private key cannot derive" "$(probe_field derive)" 0
}

custos_lab_start custos-issue-basic

assert_status "custos issue succeeds" 0 custos_issue "${NAMES[@]}"
assert_not_contains "output does not contain the PIN" "$TAP_OUTPUT" \
	"$SOFTHSM_PIN"
assert_equal "Pebble created one order" "$(pebble_order_count)" 1
assert_equal "Pebble issued one certificate" "$(pebble_issued_count)" 1

check_stored_files
check_certificate
check_token_key

tap_done
