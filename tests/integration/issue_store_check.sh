#!/bin/bash
# custos issue checks the store before it contacts the CA: a store that
# the broker user cannot write, or a file where the certificate's
# directory belongs, fails the run before any order, account key or
# certificate key exists.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

# Prints the number of private keys on the token other than the audit
# key, which the signer creates at its first start.
account_and_certificate_keys() {
	local audit

	audit=$(softhsm_tool --list-objects --type privkey 2>/dev/null |
		grep -c 'label: *custos/audit/')
	echo $(($(softhsm_private_key_count) - audit))
}

# Usage: expect_early_failure DESCRIPTION EXPECTED-TEXT NAME
# Runs custos issue NAME, which must fail with EXPECTED-TEXT in its
# output, and checks that Pebble saw no order and the token got no key.
expect_early_failure() {
	local what=$1 text=$2 name=$3 orders keys

	orders=$(pebble_order_count)
	keys=$(account_and_certificate_keys)
	assert_fails "$what: custos issue fails" custos_issue "$name"
	assert_contains "$what: the error says why" "$TAP_OUTPUT" "$text"
	assert_equal "$what: Pebble saw no order" "$(pebble_order_count)" \
		"$orders"
	assert_equal "$what: the token got no key" \
		"$(account_and_certificate_keys)" "$keys"
}

custos_lab_start custos-store-check

chmod 0550 "$CUSTOS_STORE"
expect_early_failure "read-only store" \
	"store directory $CUSTOS_STORE is not writable" ro.test
assert_file_missing "read-only store: no tenant directory" \
	"$CUSTOS_STORE/$CUSTOS_TENANT"
chmod 0750 "$CUSTOS_STORE"

mkdir -p "$CUSTOS_STORE/$CUSTOS_TENANT/sub.test"
touch "$CUSTOS_STORE/$CUSTOS_TENANT/file.test"
custos_give_to "$CUSTOS_BROKER_USER" "$CUSTOS_STORE"
chmod 0550 "$CUSTOS_STORE/$CUSTOS_TENANT/sub.test"
expect_early_failure "read-only certificate directory" \
	"store directory $CUSTOS_STORE/$CUSTOS_TENANT/sub.test is not writable" \
	sub.test
expect_early_failure "file in the way" \
	"$CUSTOS_STORE/$CUSTOS_TENANT/file.test is not a directory" file.test

mkdir -p "$CUSTOS_STORE/$CUSTOS_TENANT/cur.test/current"
custos_give_to "$CUSTOS_BROKER_USER" "$CUSTOS_STORE"
expect_early_failure "current is a directory" \
	"$CUSTOS_STORE/$CUSTOS_TENANT/cur.test/current is not a symlink" \
	cur.test

assert_status "a writable store still works" 0 custos_issue ok.test
assert_file_exists "certificate is stored" \
	"$(custos_store_file ok.test cert.pem)"

tap_done
