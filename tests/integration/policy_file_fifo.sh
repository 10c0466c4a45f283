#!/bin/bash
# A configuration or policy path that names a FIFO is rejected at once as
# "not a regular file"; opening it must not wait for a writer.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

[ -x "$CUSTOS" ] || bail_out "$CUSTOS is missing; run make first"
lab_tmpdir custos-policy-fifo || bail_out "cannot make a directory"
mkfifo "$LAB_DIR/fifo"

assert_status "policy lint of a FIFO exits 1 within 10 s" 1 \
	timeout 10 "$CUSTOS" policy lint "$LAB_DIR/fifo"
assert_contains "policy lint names the FIFO" "$TAP_OUTPUT" \
	"$LAB_DIR/fifo: not a regular file"
assert_status "policy check --policy FIFO exits 2 within 10 s" 2 \
	timeout 10 "$CUSTOS" policy check --policy "$LAB_DIR/fifo" \
	--tenant a a.test
assert_contains "policy check --policy names the FIFO" "$TAP_OUTPUT" \
	"$LAB_DIR/fifo: not a regular file"
assert_status "policy check --config FIFO exits 2 within 10 s" 2 \
	timeout 10 "$CUSTOS" policy check --config "$LAB_DIR/fifo" \
	--tenant a a.test
assert_contains "policy check --config names the FIFO" "$TAP_OUTPUT" \
	"$LAB_DIR/fifo: not a regular file"

tap_done
