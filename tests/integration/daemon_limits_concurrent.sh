#!/bin/bash
# max-certificates 3 with 10 certificates due at once, on 10 order
# threads: the reservations of the orders in flight must let exactly 3
# through, both at the start and while the denied 7 are retried.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/daemon.sh
source "$(dirname "$0")/../lib/daemon.sh"

CERT_COUNT=10
LIMIT=3

PEBBLE_ENV=PEBBLE_VA_NOSLEEP=0
CUSTOS_EXTRA_BLOCKS=$(printf '%s\n' 'daemon {' '	poll-interval 1s' \
	'	renew-jitter 0' '	retry-base 1s' '	retry-max 2s' \
	"	concurrency $CERT_COUNT" '}')
lab_tmpdir custos-daemon-limits-concurrent ||
	bail_out "cannot make a directory"
CUSTOS_POLICY=$LAB_DIR/limits.policy
custos_write_limits_policy "$CUSTOS_POLICY" "max-certificates $LIMIT"
export CUSTOS_POLICY CUSTOS_EXTRA_BLOCKS PEBBLE_ENV
custos_require_programs
pebble_start "$LAB_DIR" || bail_out "Pebble did not start"
softhsm_init "$LAB_DIR" custos-test || bail_out "SoftHSM2 setup failed"
custos_write_config "$LAB_DIR" || bail_out "cannot write the configuration"
at_exit daemon_stop

for ((i = 1; i <= CERT_COUNT; i++)); do
	"$CUSTOS" cert add --config "$CUSTOS_CONF" --tenant "$CUSTOS_TENANT" \
		"c$i.test" >/dev/null || bail_out "cert add c$i.test failed"
done

daemon_start
wait_for 90 "SELECT count(*) FROM versions" "$LIMIT" ||
	diag "daemon log (tail):" "$(tail -n 30 "$DAEMON_LOG")"
# A second failure of each denied certificate shows that its retry,
# after the 3 issued ones were stored, was denied as well.
wait_for 60 "SELECT count(*) FROM tasks WHERE failures >= 2" \
	"$((CERT_COUNT - LIMIT))" ||
	diag "daemon log (tail):" "$(tail -n 30 "$DAEMON_LOG")"
daemon_stop
assert_equal "daemon exits 0 on SIGTERM" "$DAEMON_STATUS" 0

most=$(sed -n 's/.*: \([0-9]*\) orders in flight, a new maximum$/\1/p' \
	"$DAEMON_LOG" | sort -n | tail -n 1)
diag "max orders in flight at once: ${most:-1}"
check "more than $LIMIT orders were in flight at once" \
	test "${most:-1}" -gt "$LIMIT"
assert_equal "exactly $LIMIT certificates are issued" \
	"$(state_query "SELECT count(*) FROM versions")" "$LIMIT"
assert_equal "Pebble issued exactly $LIMIT certificates" \
	"$(pebble_issued_count)" "$LIMIT"
assert_equal "$((CERT_COUNT - LIMIT)) certificates are denied" \
	"$(state_query "SELECT count(*) FROM tasks WHERE
		last_error LIKE '%policy denies%'")" "$((CERT_COUNT - LIMIT))"
assert_equal "no order of a denied certificate reached Pebble" \
	"$(state_query "SELECT count(*) FROM orders WHERE cert_id NOT IN
		(SELECT cert_id FROM versions)")" 0

tap_done
