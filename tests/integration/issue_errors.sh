#!/bin/bash
# Runs `custos issue` with one bad input at a time after a good issuance
# and checks that each run fails with one error line naming the problem,
# prints no PIN, and leaves the certificate store untouched.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

# Usage: expect_failure CASE EXPECTED-TEXT NAME ...
# Runs custos issue for the names with CUSTOS_CONF and checks the result.
expect_failure() {
	local case_name=$1 expected=$2 before errors

	shift 2
	before=$(custos_store_snapshot)
	assert_fails "$case_name: custos issue fails" custos_issue "$@"
	errors=$(grep ': error: ' <<<"$TAP_OUTPUT")
	assert_line_count "$case_name: one error line" "$errors" 1
	assert_contains "$case_name: error names $expected" "$errors" \
		"$expected"
	assert_not_contains "$case_name: output has no PIN" "$TAP_OUTPUT" \
		"$SOFTHSM_PIN"
	assert_equal "$case_name: store unchanged" \
		"$(custos_store_snapshot)" "$before"
}

# Usage: wait_for_listener PORT
wait_for_listener() {
	local deadline=$((SECONDS + 10))

	while [ "$SECONDS" -lt "$deadline" ]; do
		if ss -Hltn "sport = :$1" | grep -q LISTEN; then
			return 0
		fi
		sleep 0.2
	done
	return 1
}

custos_lab_start custos-issue-errors
good_conf=$CUSTOS_CONF

assert_status "good issuance succeeds" 0 custos_issue good.demo.test
assert_file_exists "store has the good certificate" \
	"$(custos_store_file good.demo.test fullchain.pem)"

# A wrong PIN: a valid file of the right mode with another PIN in it.
(umask 077 && openssl rand -hex 12 >"$LAB_DIR/wrong.pin")
custos_give_to "$CUSTOS_SIGNER_USER" "$LAB_DIR/wrong.pin"
wrong_pin=$(cat "$LAB_DIR/wrong.pin")
CUSTOS_PIN_FILE=$LAB_DIR/wrong.pin custos_write_config "$LAB_DIR" \
	wrong-pin.conf
expect_failure "wrong PIN" PIN wrong.demo.test
assert_not_contains "wrong PIN: output has no wrong PIN" "$TAP_OUTPUT" \
	"$wrong_pin"

CUSTOS_MODULE=$LAB_DIR/no-such-module.so custos_write_config "$LAB_DIR" \
	missing-module.conf
expect_failure "missing module" "$LAB_DIR/no-such-module.so" \
	module.demo.test

# Nothing listens on port 14099 in this network namespace.
CUSTOS_DIRECTORY_URL=https://localhost:14099/dir \
	custos_write_config "$LAB_DIR" unreachable.conf
expect_failure "unreachable directory" "https://localhost:14099/dir" \
	unreachable.demo.test

CUSTOS_CONF=$good_conf
orders=$(pebble_order_count)
expect_failure "CA rejects identifier" "$PEBBLE_BLOCKED_NAME" \
	"$PEBBLE_BLOCKED_NAME"
assert_contains "CA rejects identifier: error shows the CA's detail" \
	"$(grep ': error: ' <<<"$TAP_OUTPUT")" "forbidden by policy"
assert_equal "CA rejects identifier: no order created" \
	"$(pebble_order_count)" "$orders"

# Another server listens on the HTTP-01 port.
pebble-challtestsrv -http01 "$CUSTOS_HTTP01_ADDRESS:$CUSTOS_HTTP01_PORT" \
	-dns01 "" -https01 "" -tlsalpn01 "" -management 127.0.0.1:8056 \
	>"$LAB_DIR/port-holder.log" 2>&1 &
at_exit kill "$!"
wait_for_listener "$CUSTOS_HTTP01_PORT" ||
	bail_out "pebble-challtestsrv did not take port $CUSTOS_HTTP01_PORT"
expect_failure "HTTP-01 port in use" \
	"$CUSTOS_HTTP01_ADDRESS:$CUSTOS_HTTP01_PORT" busy.demo.test

tap_done
