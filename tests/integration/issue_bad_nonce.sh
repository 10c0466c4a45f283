#!/bin/bash
# Issues a certificate while Pebble rejects half of all valid nonces, so
# that nearly every request needs at least one badNonce retry.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

export PEBBLE_WFE_NONCEREJECT=50
# With 50% rejected, 20 retries leave about one chance in 2^21 per request
# that all of them fail.
CUSTOS_BAD_NONCE_RETRIES=20
custos_lab_start custos-issue-nonce

assert_status "custos issue succeeds" 0 custos_issue a.demo.test
assert_contains "Pebble rejected nonces" \
	"$(grep -m1 'reject' "$PEBBLE_LOG")" "50%"
assert_equal "Pebble issued one certificate" "$(pebble_issued_count)" 1
check "chain verifies against Pebble's root" openssl verify \
	-CAfile "$PEBBLE_ROOT" \
	-untrusted "$(custos_store_file a.demo.test chain.pem)" \
	"$(custos_store_file a.demo.test fullchain.pem)"

tap_done
