#!/bin/bash
# Concurrent `custos issue` runs on one token and state directory. SoftHSM2
# is not safe for several processes that write one token, so each run
# takes the lock broker.state-dir/custos.lock for its whole run: the runs
# must all succeed, one after the other, and a run that waits prints a
# message.
# While a daemon holds the lock, `custos issue` must fail at once and point
# at `custos cert add`.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

RUNS=3

custos_lab_start custos-issue-concurrent
LOCK=$CUSTOS_STATE/custos.lock

for n in $(seq 1 "$RUNS"); do
	custos_issue "run$n.concurrent.test" >"$LAB_DIR/run$n.log" 2>&1 &
	PIDS[n]=$!
done
WAITED=0
for n in $(seq 1 "$RUNS"); do
	wait "${PIDS[n]}"
	STATUS=$?
	assert_equal "run $n exits 0" "$STATUS" 0
	[ "$STATUS" -eq 0 ] || diag "$(tail -n 5 "$LAB_DIR/run$n.log")"
	assert_file_exists "run $n stored its certificate" \
		"$(custos_store_file "run$n.concurrent.test" cert.pem)"
	if grep -q 'waiting for another custos issue to finish' \
		"$LAB_DIR/run$n.log"; then
		WAITED=$((WAITED + 1))
	fi
done
check "at least one run waited for the lock" test "$WAITED" -ge 1
assert_equal "lock file names the last holder" \
	"$(cut -d' ' -f1 "$LOCK")" issue

# A daemon's supervisor holds the lock and has written its note.
printf 'daemon %d\n' "$$" >"$LOCK"
flock "$LOCK" sleep 60 &
HOLDER=$!
at_exit kill "$HOLDER"
for i in $(seq 1 50); do
	flock -n "$LOCK" true || break
	sleep 0.1
done
ORDERS=$(pebble_order_count)
START=$SECONDS
assert_fails "issue while a daemon runs fails" timeout 20 \
	"$CUSTOS" issue --config "$CUSTOS_CONF" daemon.concurrent.test
check "issue while a daemon runs fails at once" \
	test "$((SECONDS - START))" -le 5
assert_contains "error names the daemon and its pid" "$TAP_OUTPUT" \
	"custos daemon (pid $$) is running on this state directory"
assert_contains "error points at custos cert add" "$TAP_OUTPUT" \
	"use custos cert add"
assert_not_contains "no waiting message for a daemon" "$TAP_OUTPUT" \
	"waiting for another custos issue"
assert_equal "no order reached Pebble" "$(pebble_order_count)" "$ORDERS"

tap_done
