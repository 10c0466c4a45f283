#!/bin/bash
# The policy limits max-lifetime, max-certificates and rate, enforced by
# custos issue: the first certificate is valid for at most max-lifetime,
# and a second one that would exceed max-certificates or rate is denied
# before any order reaches Pebble.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

lab_tmpdir custos-policy-limits || bail_out "cannot make a directory"
CUSTOS_POLICY=$LAB_DIR/limits.policy
custos_write_limits_policy "$CUSTOS_POLICY" "max-lifetime 1d" \
	"max-certificates 1" "rate 1/hour 1/day"
export CUSTOS_POLICY
custos_require_programs
pebble_start "$LAB_DIR" || bail_out "Pebble did not start"
softhsm_init "$LAB_DIR" custos-test || bail_out "SoftHSM2 setup failed"
custos_write_config "$LAB_DIR" || bail_out "cannot write the configuration"

STARTED=$(date +%s)
assert_status "first certificate is issued" 0 custos_issue one.test
FINISHED=$(date +%s)
CERT=$(custos_store_file one.test cert.pem)
assert_file_exists "first certificate is stored" "$CERT"
if [ -f "$CERT" ]; then
	# The order was sent between STARTED and FINISHED, and custos
	# requested notAfter = the time of the order + 86400.
	NOT_AFTER=$(custos_cert_seconds "$CERT" enddate)
	diag "notAfter is $((NOT_AFTER - STARTED)) s after the start"
	check "notAfter is at most one day after the run" \
		test "$((NOT_AFTER - FINISHED))" -le 86400
	check "notAfter is at least one day after the start" \
		test "$((NOT_AFTER - STARTED))" -ge 86400
fi

ORDERS=$(pebble_order_count)
assert_fails "second name is denied" custos_issue two.test
assert_contains "denial names max-certificates and its line" \
	"$TAP_OUTPUT" "denied by max-certificates 1 at $CUSTOS_POLICY:9:"
assert_contains "denial names the hourly rate and its line" \
	"$TAP_OUTPUT" "denied by rate 1/hour at $CUSTOS_POLICY:10:"
assert_equal "no order reached Pebble" "$(pebble_order_count)" "$ORDERS"

# A renewal of the name already held replaces it: max-certificates
# allows it, but the rate still counts the first certificate.
custos_write_limits_policy "$CUSTOS_POLICY" "max-certificates 1" \
	"rate 2/hour"
assert_status "renewal within max-certificates is issued" 0 \
	custos_issue one.test
assert_fails "third certificate in an hour is denied" \
	custos_issue one.test
assert_contains "denial names rate 2/hour" "$TAP_OUTPUT" \
	"one more certificate with 2 issued in the last hour: denied by rate 2/hour"
assert_not_contains "renewal is not counted as held" "$TAP_OUTPUT" \
	"max-certificates"

tap_done
