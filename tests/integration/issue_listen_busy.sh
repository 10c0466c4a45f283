#!/bin/bash
# When the HTTP-01 port is taken, custos issue fails before contacting
# the CA, and its hint names the configuration statement to change.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

command -v busybox >/dev/null ||
	bail_out "busybox is missing; run packaging/install-deps.sh"
custos_lab_start custos-listen-busy
mkdir -p "$LAB_DIR/www"
busybox httpd -f -p "$CUSTOS_HTTP01_ADDRESS:$CUSTOS_HTTP01_PORT" \
	-h "$LAB_DIR/www" >"$LAB_DIR/httpd.log" 2>&1 &
at_exit kill "$!"
sleep 0.5

ORDERS=$(pebble_order_count)
assert_fails "busy port fails the run" custos_issue busy.test
assert_contains "error names the address and the errno" "$TAP_OUTPUT" \
	"cannot listen on $CUSTOS_HTTP01_ADDRESS:$CUSTOS_HTTP01_PORT: Address already in use"
assert_contains "hint names the http-01 listen statement" "$TAP_OUTPUT" \
	"choose another port in 'http-01 listen ADDRESS PORT' of the challenge block"
assert_not_contains "hint names no unknown key" "$TAP_OUTPUT" "http01-"
assert_equal "no order reached Pebble" "$(pebble_order_count)" "$ORDERS"

tap_done
