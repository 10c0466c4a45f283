#!/bin/bash
# Responses that break at the transport level: bodies over the broker's
# 4 MiB cap (with a length, and chunked without end), a server that
# stalls in the middle of a body, and one that closes the connection in
# the middle of a body. Each run must fail with one clear error line
# within acme http-timeout (3 seconds here), and its maximum resident set
# size, measured by /usr/bin/time -v, must stay within 16 MiB of a normal
# issuance.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/hostile.sh
source "$(dirname "$0")/../lib/hostile.sh"

MAX_EXTRA_RSS_KB=$((16 * 1024))

hostile_lab_start custos-hostile-transport
hostile_set_acme http-timeout 3 || bail_out "cannot set http-timeout"

hostile_run normal
hostile_expect_success "normal issuance"
baseline_kb=$HOSTILE_MAX_RSS_KB
diag "normal issuance: max RSS ${baseline_kb} KiB"

# Usage: check_memory CASE
check_memory() {
	local limit=$((baseline_kb + MAX_EXTRA_RSS_KB))

	if [ -n "$HOSTILE_MAX_RSS_KB" ] &&
		[ "$HOSTILE_MAX_RSS_KB" -le "$limit" ]; then
		ok "$1: max RSS ${HOSTILE_MAX_RSS_KB} KiB"
	else
		not_ok "$1: max RSS ${HOSTILE_MAX_RSS_KB:-unknown} KiB" \
			"expected at most $limit KiB"
	fi
}

# Usage: check_elapsed CASE MAX-SECONDS
check_elapsed() {
	if [ "$HOSTILE_ELAPSED" -le "$2" ]; then
		ok "$1: ended in ${HOSTILE_ELAPSED}s"
	else
		not_ok "$1: ended in ${HOSTILE_ELAPSED}s" \
			"expected at most $2s"
	fi
}

# Each row: the resource and the request that carries the large body.
HUGE=(
	"directory|GET https://localhost:$HOSTILE_PORT/dir"
	"directory-endless|GET https://localhost:$HOSTILE_PORT/dir"
	"order|POST https://localhost:$HOSTILE_PORT/new-order"
	"cert|POST https://localhost:$HOSTILE_PORT/cert/1"
)
for row in "${HUGE[@]}"; do
	IFS='|' read -r value request <<<"$row"
	hostile_run huge-body "$value"
	hostile_expect_failure "huge $value body" "$request" \
		"response body over 4194304 bytes"
	check_memory "huge $value body"
done

# The stalled server stays silent for 120 seconds; the broker must give
# up after http-timeout. The order case runs a whole issuance first.
hostile_run stall directory
hostile_expect_failure "stalled directory" \
	"GET https://localhost:$HOSTILE_PORT/dir" "timed out after 3"
check_elapsed "stalled directory" 6
hostile_run stall order
hostile_expect_failure "stalled order" \
	"POST https://localhost:$HOSTILE_PORT/order/1" "timed out after 3"
check_elapsed "stalled order" 15

hostile_run close-mid-body directory
hostile_expect_failure "directory closed mid-body" \
	"GET https://localhost:$HOSTILE_PORT/dir" "transfer closed"
hostile_run close-mid-body order
hostile_expect_failure "order closed mid-body" \
	"POST https://localhost:$HOSTILE_PORT/order/1" "transfer closed"

tap_done
