#!/bin/bash
# Retries of custos daemon. Pebble stops in the middle of an issuance:
# the failed attempts are retried after delays that grow (retry-base 1s,
# doubled per failure up to retry-max 16s, each drawn between half and
# all of that), and once Pebble runs again the daemon finishes. Then the
# hostile CA answers newOrder with 503 and "Retry-After: 7": the next
# attempt waits those 7 seconds rather than the 1 second backoff, and the
# issuance finishes after that.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/daemon.sh
source "$(dirname "$0")/../lib/daemon.sh"
# shellcheck source=tests/lib/hostile.sh
source "$(dirname "$0")/../lib/hostile.sh"

DAEMON_BLOCK=$(printf '%s\n' 'daemon {' '	poll-interval 1s' \
	'	renew-jitter 0' '	retry-base 1s' '	retry-max 16s' '}')

# Prints the delays of "retrying in N s" log lines, one per line.
retry_delays() {
	local pattern='.*attempt [0-9]* failed: .*; retrying in \([0-9]*\) s.*'

	sed -n "s/$pattern/\\1/p" "$DAEMON_LOG"
}

# Usage: delays_grow DELAY...
# Succeeds when no delay is shorter than the one before it and the last
# is longer than the first.
delays_grow() {
	local previous=$1 delay

	for delay in "$@"; do
		[ "$delay" -ge "$previous" ] || return 1
		previous=$delay
	done
	[ "$previous" -gt "$1" ]
}

# 1. Pebble goes away during an issuance and comes back. The first poll
# of the authorization waits a whole second (poll-first 1000), so that
# the order is still open when Pebble stops.
CUSTOS_EXTRA_BLOCKS=$DAEMON_BLOCK
custos_lab_start custos-daemon-retry
sed -i 's/^\tpoll-interval 1$/&\n\tpoll-first 1000/' "$CUSTOS_CONF"
grep -q '^	poll-first 1000$' "$CUSTOS_CONF" ||
	bail_out "cannot set acme poll-first"
at_exit daemon_stop
"$CUSTOS" cert add --config "$CUSTOS_CONF" --tenant "$CUSTOS_TENANT" \
	a.demo.test >/dev/null || bail_out "cert add failed"
daemon_start
wait_for 30 "SELECT count(*) FROM orders WHERE url IS NOT NULL" 1 ||
	diag "daemon log:" "$(tail -n 20 "$DAEMON_LOG")"
pebble_stop_acme
wait_for_log 60 "attempt 5 failed" ||
	diag "daemon log:" "$(tail -n 20 "$DAEMON_LOG")"
mapfile -t delays < <(retry_delays)
diag "delays while Pebble was stopped: ${delays[*]}"
check "five failures were retried" test "${#delays[@]}" -ge 5
check "retry delays grow" delays_grow "${delays[@]:0:5}"
check "fifth delay at least retry-base doubled three times, halved" \
	test "${delays[4]:-0}" -ge 4
assert_equal "no version while Pebble is stopped" \
	"$(state_query "SELECT count(*) FROM versions")" 0

# Pebble forgets its orders and accounts, and makes new roots, when it
# starts again. The stored account URL is dropped so that custos
# registers again.
pebble_start "$LAB_DIR" || bail_out "Pebble did not start again"
find "$CUSTOS_STATE" -name '*.json' -delete
kill -USR1 "$DAEMON_PID"
wait_for 60 "SELECT count(*) FROM versions WHERE status = 'current'" 1 ||
	diag "daemon log:" "$(tail -n 30 "$DAEMON_LOG")"
daemon_stop
assert_equal "daemon exits 0" "$DAEMON_STATUS" 0
assert_equal "one version after Pebble came back" \
	"$(state_query "SELECT count(*) FROM versions")" 1
check "chain verifies against Pebble's new root" openssl verify \
	-CAfile "$PEBBLE_ROOT" -untrusted \
	"$(custos_store_file a.demo.test chain.pem)" \
	"$(custos_store_file a.demo.test cert.pem)"
assert_contains "order of the stopped Pebble is abandoned" \
	"$(cat "$DAEMON_LOG")" "abandoning order https://localhost:14000/"
assert_equal "task has no failure left" \
	"$(state_query "SELECT failures FROM tasks")" 0

# 2. The hostile CA sends 503 with Retry-After: 7 to the first newOrder.
pebble_stop
hostile_lab_start custos-daemon-retry-after
DAEMON_LOG=$LAB_DIR/daemon.log
hostile_start status-order "503:empty:7:1" ||
	bail_out "the hostile server did not start"
"$CUSTOS" cert add --config "$CUSTOS_CONF" --tenant "$CUSTOS_TENANT" \
	ra.hostile.test >/dev/null || bail_out "cert add failed"
daemon_start
wait_for 60 "SELECT count(*) FROM versions WHERE status = 'current'" 1 ||
	diag "daemon log:" "$(tail -n 30 "$DAEMON_LOG")"
daemon_stop
assert_contains "daemon reports the CA's Retry-After" \
	"$(cat "$DAEMON_LOG")" "retrying in 7 s (the CA sent Retry-After 7)"
assert_equal "newOrder was sent twice" \
	"$(hostile_request_count POST /new-order)" 2
first=$(grep -n -m1 'attempt 1 failed' "$DAEMON_LOG" | cut -d: -f1)
check "the failure came before the success" test -n "$first"
started=$(state_query "SELECT group_concat(started, ' ') FROM
	(SELECT started FROM attempts ORDER BY id)")
read -r first_start second_start <<<"$started"
check "second attempt waited the Retry-After" \
	test "$((second_start - first_start))" -ge 7
assert_equal "hostile issuance finished" \
	"$(state_query "SELECT count(*) FROM versions")" 1

tap_done
