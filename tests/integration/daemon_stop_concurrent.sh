#!/bin/bash
# SIGHUP and then SIGTERM while 16 or more of 32 orders are in flight on
# 32 order threads, against a Pebble whose VA sleeps a random time before
# each validation. Each stop must end in bounded time: the workers park
# their orders, and the supervisor's 60 s deadline, after which it sends
# SIGKILL, is never reached. After a restart the parked orders resume and
# every certificate is issued exactly once.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/daemon.sh
source "$(dirname "$0")/../lib/daemon.sh"

CERT_COUNT=32
# Well below the supervisor's deadline of 60 s (SUPERVISE_STOP_SECONDS).
STOP_MAX=20

# Usage: wait_in_flight SECONDS COUNT
# Waits until the newest worker logged COUNT or more orders in flight.
wait_in_flight() {
	local deadline=$((SECONDS + $1)) most

	while [ "$SECONDS" -lt "$deadline" ]; do
		# shellcheck disable=SC2016 # ${x;p} is sed, not a variable.
		most=$(sed -n '/started signer/h; /orders in flight/H; ${x;p}' \
			"$DAEMON_LOG" | sed -n \
			's/.*: \([0-9]*\) orders in flight, a new maximum$/\1/p' |
			tail -n 1)
		[ "${most:-0}" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

PEBBLE_ENV=PEBBLE_VA_NOSLEEP=0
CUSTOS_EXTRA_BLOCKS=$(printf '%s\n' 'daemon {' '	poll-interval 1s' \
	'	renew-jitter 0' '	retry-base 1s' '	retry-max 2s' \
	"	concurrency $CERT_COUNT" '}')
custos_lab_start custos-daemon-stop-concurrent
at_exit daemon_kill_group

for ((i = 1; i <= CERT_COUNT; i++)); do
	"$CUSTOS" cert add --config "$CUSTOS_CONF" --tenant "$CUSTOS_TENANT" \
		"c$i.demo.test" >/dev/null || bail_out "cert add c$i failed"
done

daemon_start
check "16 orders in flight before SIGHUP" wait_in_flight 60 16
worker=$(daemon_worker_pid)
started=$SECONDS
kill -HUP "$DAEMON_PID"
wait_for_log 70 "worker (pid $worker) exited"
stopped=$((SECONDS - started))
diag "the worker stopped $stopped s after SIGHUP"
check "the worker stops within $STOP_MAX s of SIGHUP" \
	test "$stopped" -le "$STOP_MAX"
wait_for_log 10 "reloaded $CUSTOS_CONF; restarting the worker"
assert_equal "the supervisor restarted the worker" \
	"$(grep -c 'started signer (pid [0-9]*) and worker' "$DAEMON_LOG")" 2

if [ "$(state_query "SELECT count(*) FROM versions")" -lt "$CERT_COUNT" ]
then
	check "16 orders in flight before SIGTERM" wait_in_flight 60 16
fi
started=$SECONDS
daemon_stop
stopped=$((SECONDS - started))
diag "the daemon stopped $stopped s after SIGTERM"
assert_equal "daemon exits 0 on SIGTERM" "$DAEMON_STATUS" 0
check "the daemon stops within $STOP_MAX s of SIGTERM" \
	test "$stopped" -le "$STOP_MAX"
check "some orders were parked" grep -q 'parked for shutdown' "$DAEMON_LOG"
assert_equal "no attempt left running" "$(state_query "SELECT count(*)
	FROM attempts WHERE result = 'running'")" 0

daemon_start
if ! wait_for 120 "SELECT count(DISTINCT cert_id) FROM versions" \
	"$CERT_COUNT"; then
	diag "daemon log (tail):" "$(tail -n 30 "$DAEMON_LOG")"
fi
daemon_stop
assert_equal "daemon exits 0 at the end" "$DAEMON_STATUS" 0
assert_equal "every certificate has a version" \
	"$(state_query "SELECT count(DISTINCT cert_id) FROM versions")" \
	"$CERT_COUNT"
assert_equal "one version per certificate" \
	"$(state_query "SELECT count(*) FROM versions")" "$CERT_COUNT"
assert_equal "Pebble issued one certificate per version" \
	"$(pebble_issued_count)" "$CERT_COUNT"
assert_equal "no worker was killed" \
	"$(grep -c 'killed by signal\|signal 9' "$DAEMON_LOG")" 0

tap_done
