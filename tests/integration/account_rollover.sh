#!/bin/bash
# Account lifecycle against Pebble: register, key rollover to a new token
# key (the old key object is destroyed once Pebble accepts the change),
# an issuance with the new key, a contact update, the account list, and
# deactivation, after which the account can no longer be used.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

# Prints the key_id member of the pebble/pebble account record.
record_key() {
	jq -r .key_id "$CUSTOS_STATE/accounts/pebble/pebble.json"
}

custos_lab_start custos-account-rollover

assert_status "account register succeeds" 0 "$CUSTOS" account register \
	--config "$CUSTOS_CONF"
assert_contains "the account is registered" "$TAP_OUTPUT" \
	"account: registered https://localhost:14000/my-account/"
old_key=$(record_key)
assert_equal "the record names a key" "${#old_key}" 32
assert_contains "the old key is on the token" "$(softhsm_list_objects)" \
	"$old_key"
assert_equal "the record says valid" \
	"$(jq -r .status "$CUSTOS_STATE/accounts/pebble/pebble.json")" valid

assert_status "account rollover succeeds" 0 "$CUSTOS" account rollover \
	--config "$CUSTOS_CONF"
assert_contains "Pebble accepted the new key" "$TAP_OUTPUT" \
	"rollover: the CA accepted key"
assert_contains "the old key is destroyed" "$TAP_OUTPUT" \
	"rollover: destroyed the old key $old_key"
new_key=$(record_key)
assert_not_equal "the record names the new key" "$new_key" "$old_key"
objects=$(softhsm_list_objects)
assert_not_contains "the old key object is gone from the token" \
	"$objects" "$old_key"
assert_contains "the new key object is on the token" "$objects" \
	"$new_key"
assert_contains "Pebble logged the key change" \
	"$(cat "$PEBBLE_LOG")" "rollover"

assert_status "issuance with the new key succeeds" 0 custos_issue \
	rolled.demo.test
assert_contains "the issuance uses the same account" "$TAP_OUTPUT" \
	"account: using pebble/pebble https://localhost:14000/my-account/"
assert_file_exists "the certificate is stored" \
	"$(custos_store_file rolled.demo.test cert.pem)"

assert_status "account update sets two contacts" 0 "$CUSTOS" account \
	update --config "$CUSTOS_CONF" --contact mailto:a@example.org \
	--contact mailto:b@example.org
assert_contains "update reports the contacts" "$TAP_OUTPUT" \
	"update: account pebble/pebble has 2 contacts"
assert_fails "update rejects a contact that is not mailto:" "$CUSTOS" \
	account update --config "$CUSTOS_CONF" --contact https://x.test/
assert_contains "the contact error names the value" "$TAP_OUTPUT" \
	'invalid --contact (use mailto:ADDRESS) "https://x.test/"'

assert_status "account list succeeds" 0 "$CUSTOS" account list \
	--config "$CUSTOS_CONF"
assert_contains "list shows the account and its new key" "$TAP_OUTPUT" \
	"pebble/pebble status=valid url=https://localhost:14000/my-account/"
assert_contains "list shows the key id" "$TAP_OUTPUT" "key=$new_key"

assert_status "account deactivate succeeds" 0 "$CUSTOS" account \
	deactivate --config "$CUSTOS_CONF"
assert_equal "the record says deactivated" \
	"$(jq -r .status "$CUSTOS_STATE/accounts/pebble/pebble.json")" \
	deactivated
assert_fails "a deactivated account is not used" custos_issue \
	after.demo.test
assert_contains "the error says the account is deactivated" \
	"$TAP_OUTPUT" "account pebble/pebble is deactivated (remove it from issuer pebble"

tap_done
