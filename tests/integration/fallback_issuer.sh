#!/bin/bash
# Two Pebble instances as two issuers, in the tenant's order pebble then
# second. With the first stopped, custos issue moves the order to the
# second and logs why. An account cooling down after a rate limit (its
# record says so) is tried last, with a log line, so the order goes to
# the next account first.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

custos_require_programs
lab_tmpdir custos-fallback || bail_out "cannot make a directory under /tmp"
pebble_start "$LAB_DIR" ||
	bail_out "Pebble did not start; see $LAB_DIR/pebble/*.log"
pebble2_start "$LAB_DIR" ||
	bail_out "the second Pebble did not start; see $LAB_DIR/pebble2/*.log"
softhsm_init "$LAB_DIR" custos-test ||
	bail_out "SoftHSM2 token setup failed in $LAB_DIR/softhsm"

CUSTOS_POLICY=$LAB_DIR/policy.conf
cat >"$CUSTOS_POLICY" <<EOF
tenant $CUSTOS_TENANT {
	users $(id -un)
	allow .test
	issuers pebble second
	accounts pebble main spare
	challenges http-01
	key-types ec-p256
}
EOF
chmod 0644 "$CUSTOS_POLICY"
CUSTOS_EXTRA_BLOCKS="issuer second {
	directory \"$PEBBLE2_DIRECTORY\"
	trust-bundle \"$PEBBLE_TLS_CA\"
	contact mailto:admin@example.org
	agree-tos yes
	account main spare
}"
custos_write_config "$LAB_DIR" || bail_out "cannot write the configuration"

assert_status "issuance uses the first issuer while it runs" 0 custos_issue \
	first.demo.test
assert_contains "the first issuer issued it" "$TAP_OUTPUT" \
	"issuer pebble: $PEBBLE_DIRECTORY"
assert_not_contains "nothing moved" "$TAP_OUTPUT" "moving the order"

pebble_stop_acme
assert_status "issuance succeeds with the first issuer stopped" 0 \
	custos_issue moved.demo.test
assert_contains "the log says the first issuer is unavailable" \
	"$TAP_OUTPUT" "custos: warning: issuer pebble is unavailable: cannot fetch the ACME directory"
assert_contains "the log names the move and its reason" "$TAP_OUTPUT" \
	"moving the order from pebble/pebble to second/main: the issuer is unavailable"
assert_contains "the second issuer registered an account" "$TAP_OUTPUT" \
	"account: registered https://localhost:14001/my-account/"
cert=$(custos_store_file moved.demo.test cert.pem)
assert_file_exists "the certificate is stored" "$cert"
check "the second Pebble issued it" openssl verify -CAfile "$PEBBLE2_ROOT" \
	-untrusted "$(custos_store_file moved.demo.test chain.pem)" \
	"$(custos_store_file moved.demo.test fullchain.pem)"
assert_equal "no cooldown for a stopped issuer" \
	"$(ls -A "$CUSTOS_STATE/accounts/pebble")" pebble.json

# A rate-limited account records a cooldown; the plan then tries it last.
until=$(($(date +%s) + 600))
jq ". + {cooldown_until: $until, cooldown_reason: \"rateLimited: test\"}" \
	"$CUSTOS_STATE/accounts/second/main.json" >"$LAB_DIR/main.json"
cp "$LAB_DIR/main.json" "$CUSTOS_STATE/accounts/second/main.json"
assert_status "issuance puts the cooling account last" 0 custos_issue \
	--issuer second spare.demo.test
assert_contains "the log names the cooling account" "$TAP_OUTPUT" \
	"account second/main cools down for"
assert_contains "the cooling account is tried last" "$TAP_OUTPUT" \
	"after: rateLimited: test; trying it last"
assert_contains "the spare account takes the order" "$TAP_OUTPUT" \
	"policy: tenant lab may request 1 name from second (account spare"
assert_status "account list shows the cooldown" 0 "$CUSTOS" account list \
	--config "$CUSTOS_CONF" --issuer second
assert_contains "the cooldown and its reason are listed" "$TAP_OUTPUT" \
	"(rateLimited: test)"

jq ". + {cooldown_until: $((until + 60)), cooldown_reason: \"later\"}" \
	"$CUSTOS_STATE/accounts/second/spare.json" >"$LAB_DIR/spare.json"
cp "$LAB_DIR/spare.json" "$CUSTOS_STATE/accounts/second/spare.json"
assert_status "with every account cooling down, one is tried" 0 \
	custos_issue --issuer second last.demo.test
assert_contains "the earliest cooldown end goes first" "$TAP_OUTPUT" \
	"policy: tenant lab may request 1 name from second (account main"

tap_done
