#!/bin/bash
# Revocation against Pebble: one certificate revoked with the account key
# and reason superseded, another with its own certificate key in the
# token and reason keyCompromise. Pebble's management interface must
# report each serial revoked with that reason, and the store must hold a
# "revoked" file in each version directory.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

# Usage: pebble_status SERIAL-HEX
# Prints Pebble's status document for a certificate serial.
pebble_status() {
	curl -fsS --max-time 5 --cacert "$PEBBLE_TLS_CA" \
		"https://$PEBBLE_MANAGEMENT_ADDRESS/cert-status-by-serial/$1"
}

# Usage: serial NAME
serial() {
	openssl x509 -in "$(custos_store_file "$1" cert.pem)" -noout \
		-serial | sed 's/^serial=//' | tr 'A-F' 'a-f' | sed 's/^0*//'
}

custos_lab_start custos-revoke

for name in by-account.demo.test by-key.demo.test; do
	assert_status "issuing $name succeeds" 0 custos_issue "$name"
done

assert_status "revoke with the account key succeeds" 0 "$CUSTOS" revoke \
	--config "$CUSTOS_CONF" --reason superseded by-account.demo.test
assert_contains "revoke reports the account key" "$TAP_OUTPUT" \
	"(reason 4, signed by the account key)"
status=$(pebble_status "$(serial by-account.demo.test)")
diag "Pebble: $status"
assert_equal "Pebble reports the first certificate revoked" \
	"$(jq -r .Status <<<"$status")" Revoked
assert_equal "Pebble records reason superseded" \
	"$(jq -r .Reason <<<"$status")" 4
marker=$(custos_store_file by-account.demo.test revoked)
assert_file_exists "the store records the revocation" "$marker"
assert_contains "the marker names the reason" "$(cat "$marker")" \
	"reason 4"
assert_contains "the marker names the account key" "$(cat "$marker")" \
	"signed-by account-key"

assert_status "revoke with the certificate key succeeds" 0 "$CUSTOS" \
	revoke --config "$CUSTOS_CONF" --certificate-key \
	--reason keyCompromise by-key.demo.test
assert_contains "revoke reports the certificate key" "$TAP_OUTPUT" \
	"(reason 1, signed by the certificate key)"
status=$(pebble_status "$(serial by-key.demo.test)")
diag "Pebble: $status"
assert_equal "Pebble reports the second certificate revoked" \
	"$(jq -r .Status <<<"$status")" Revoked
assert_equal "Pebble records reason keyCompromise" \
	"$(jq -r .Reason <<<"$status")" 1
assert_contains "the second marker names the certificate key" \
	"$(cat "$(custos_store_file by-key.demo.test revoked)")" \
	"signed-by certificate-key"

assert_fails "revoking it again fails" "$CUSTOS" revoke --config \
	"$CUSTOS_CONF" by-key.demo.test
assert_contains "the error is Pebble's alreadyRevoked" "$TAP_OUTPUT" \
	"alreadyRevoked"
assert_fails "an unknown reason is rejected" "$CUSTOS" revoke --config \
	"$CUSTOS_CONF" --reason 7 by-key.demo.test
assert_contains "the reason error names the value" "$TAP_OUTPUT" \
	'invalid --reason (use 0 unspecified, 1 keyCompromise, 3 affiliationChanged, 4 superseded or 5 cessationOfOperation, by number or name) "7"'
assert_fails "a CRL reason is rejected" "$CUSTOS" revoke --config \
	"$CUSTOS_CONF" --reason removeFromCRL by-key.demo.test
assert_contains "the CRL reason error names the value" "$TAP_OUTPUT" \
	'invalid --reason (use 0 unspecified, 1 keyCompromise, 3 affiliationChanged, 4 superseded or 5 cessationOfOperation, by number or name) "removeFromCRL"'
assert_fails "reason 8 is rejected" "$CUSTOS" revoke --config \
	"$CUSTOS_CONF" --reason 8 by-key.demo.test
assert_fails "a name without a certificate fails" "$CUSTOS" revoke \
	--config "$CUSTOS_CONF" none.demo.test
assert_contains "the error names the certificate" "$TAP_OUTPUT" \
	"no stored certificate none.demo.test for tenant lab"

tap_done
