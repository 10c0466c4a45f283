#!/bin/bash
# Rate limits and 503s move the order. Issuer "pebble" is the hostile ACME
# server and issuer "real" a real Pebble, in that order for the tenant.
# A newOrder answered 429 cools account pebble/pebble down for its
# Retry-After and the order completes at real/main; a 503 cools the
# whole issuer down. Every move is logged with its reason.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/hostile.sh
source "$(dirname "$0")/../lib/hostile.sh"

# Usage: cooldown_of FILE
# Prints the seconds from now until the record's cooldown ends.
cooldown_of() {
	echo $(($(jq -r '.cooldown_until // 0' "$1") - $(date +%s)))
}

hostile_lab_start custos-fallback-rate
pebble_start "$LAB_DIR" ||
	bail_out "Pebble did not start; see $LAB_DIR/pebble/*.log"
CUSTOS_POLICY=$LAB_DIR/fallback.policy
cat >"$CUSTOS_POLICY" <<EOF
tenant $CUSTOS_TENANT {
	users $(id -un)
	allow .test
	issuers pebble real
	accounts pebble main
	challenges http-01
	key-types ec-p256
}
EOF
chmod 0644 "$CUSTOS_POLICY"
CUSTOS_EXTRA_BLOCKS="issuer real {
	directory \"$PEBBLE_DIRECTORY\"
	trust-bundle \"$PEBBLE_TLS_CA\"
	contact mailto:admin@example.org
	agree-tos yes
	account main
}"
CUSTOS_DIRECTORY_URL=$HOSTILE_DIRECTORY \
	CUSTOS_TRUST_BUNDLE=$LAB_DIR/hostile/tls/tls-ca.pem \
	custos_write_config "$LAB_DIR" || bail_out "cannot write the configuration"
RECORD=$CUSTOS_STATE/accounts/pebble/pebble.json
ISSUER_RECORD=$CUSTOS_STATE/accounts/pebble/.cooldown.json

hostile_start status-order 429:empty
assert_status "a 429 moves the order to the next issuer" 0 custos_issue \
	limited.demo.test
assert_contains "the log names the rate limit and the move" "$TAP_OUTPUT" \
	"moving the order from pebble/pebble to real/main: rate limited"
assert_contains "the log names the cooldown" "$TAP_OUTPUT" \
	"account pebble/pebble cools down for 120 seconds"
left=$(cooldown_of "$RECORD")
check "the account cools down for the Retry-After" test "$left" -gt 100 \
	-a "$left" -le 120
assert_contains "the record keeps the reason" \
	"$(jq -r .cooldown_reason "$RECORD")" "HTTP 429"
assert_file_exists "the real Pebble issued the certificate" \
	"$(custos_store_file limited.demo.test cert.pem)"

assert_status "the next order puts the cooling account last" 0 \
	custos_issue next.demo.test
assert_contains "the deferral is logged" "$TAP_OUTPUT" \
	"account pebble/pebble cools down for"
assert_contains "the cooling account is tried last" "$TAP_OUTPUT" \
	"; trying it last"
assert_not_contains "no request reaches the limited issuer" \
	"$TAP_OUTPUT" "issuer pebble: $HOSTILE_DIRECTORY"

jq 'del(.cooldown_until, .cooldown_reason)' "$RECORD" >"$LAB_DIR/r.json"
cp "$LAB_DIR/r.json" "$RECORD"
hostile_start status-order 503:html
assert_status "a 503 moves the order to the next issuer" 0 custos_issue \
	unavailable.demo.test
assert_contains "the log names the 503 and the move" "$TAP_OUTPUT" \
	"moving the order from pebble/pebble to real/main: the issuer answered 503"
assert_contains "the log names the issuer's cooldown" "$TAP_OUTPUT" \
	"issuer pebble cools down for 120 seconds"
assert_file_exists "the issuer's cooldown is recorded" "$ISSUER_RECORD"
assert_equal "the account itself does not cool down" \
	"$(jq -r '.cooldown_until // "none"' "$RECORD")" none

tap_done
