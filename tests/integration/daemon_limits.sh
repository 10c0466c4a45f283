#!/bin/bash
# The policy limits max-lifetime, max-certificates and rate, enforced by
# custos daemon when it runs a request. Of two managed certificates under
# max-certificates 1, one is issued, valid for at most max-lifetime. The
# other is denied before any order reaches Pebble. After a restart with
# rate 1/hour, a re-issue of the held certificate is denied as well.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/daemon.sh
source "$(dirname "$0")/../lib/daemon.sh"

CUSTOS_EXTRA_BLOCKS=$(printf '%s\n' 'daemon {' '	poll-interval 1s' \
	'	renew-jitter 0' '	retry-base 1s' '	retry-max 2s' '}')
lab_tmpdir custos-daemon-limits || bail_out "cannot make a directory"
CUSTOS_POLICY=$LAB_DIR/limits.policy
custos_write_limits_policy "$CUSTOS_POLICY" "max-lifetime 1d" \
	"max-certificates 1"
export CUSTOS_POLICY CUSTOS_EXTRA_BLOCKS
custos_require_programs
pebble_start "$LAB_DIR" || bail_out "Pebble did not start"
softhsm_init "$LAB_DIR" custos-test || bail_out "SoftHSM2 setup failed"
custos_write_config "$LAB_DIR" || bail_out "cannot write the configuration"
at_exit daemon_stop

for name in one.test two.test; do
	assert_status "cert add $name succeeds" 0 "$CUSTOS" cert add \
		--config "$CUSTOS_CONF" --tenant "$CUSTOS_TENANT" "$name"
done

STARTED=$(date +%s)
daemon_start
wait_for 90 "SELECT count(*) FROM versions" 1 ||
	diag "daemon log:" "$(cat "$DAEMON_LOG")"
wait_for_log 60 "denied by max-certificates 1 at $CUSTOS_POLICY:9:" ||
	diag "daemon log:" "$(cat "$DAEMON_LOG")"
FINISHED=$(date +%s)
daemon_stop

assert_equal "one certificate is issued" \
	"$(state_query "SELECT count(*) FROM versions")" 1
assert_equal "Pebble issued one certificate" "$(pebble_issued_count)" 1
assert_contains "the other is denied by max-certificates" \
	"$(cat "$DAEMON_LOG")" \
	"one more certificate with 1 held: denied by max-certificates 1"
HELD=$(state_query "SELECT c.label FROM certificates c JOIN versions v
	ON v.cert_id = c.id")
DENIED=$(state_query "SELECT id FROM certificates WHERE label != '$HELD'")
assert_equal "the denied certificate has a failure" \
	"$(state_query "SELECT failures > 0 FROM tasks WHERE
		cert_id = $DENIED")" 1
assert_contains "its last error names the policy" \
	"$(state_query "SELECT last_error FROM tasks WHERE
		cert_id = $DENIED")" "the tenant's policy denies the request"

CERT=$CUSTOS_STORE/$CUSTOS_TENANT/$HELD/current/cert.pem
assert_file_exists "the held certificate is stored" "$CERT"
if [ -f "$CERT" ]; then
	# The order asked for notAfter = its creation time + 86400.
	NOT_AFTER=$(custos_cert_seconds "$CERT" enddate)
	check "notAfter is at most one day after the run" \
		test "$((NOT_AFTER - FINISHED))" -le 86400
	check "notAfter is at least one day after the start" \
		test "$((NOT_AFTER - STARTED))" -ge 86400
fi

# A re-issue of the held certificate replaces it, so max-certificates
# would allow it, but the hourly rate counts the version issued above.
custos_write_limits_policy "$CUSTOS_POLICY" "rate 1/hour"
HELD_ID=$(state_query "SELECT id FROM certificates WHERE label = '$HELD'")
assert_status "cert reissue succeeds" 0 "$CUSTOS" cert reissue \
	--config "$CUSTOS_CONF" "$HELD_ID"
DAEMON_LOG=$LAB_DIR/daemon-rate.log
daemon_start
wait_for_log 60 "denied by rate 1/hour at $CUSTOS_POLICY:8:" ||
	diag "daemon log:" "$(cat "$DAEMON_LOG")"
daemon_stop
assert_contains "the re-issue is denied by the hourly rate" \
	"$(cat "$DAEMON_LOG")" \
	"one more certificate with 1 issued in the last hour: denied by rate 1/hour"
assert_equal "still one version" \
	"$(state_query "SELECT count(*) FROM versions")" 1
assert_equal "Pebble still issued one certificate" \
	"$(pebble_issued_count)" 1

tap_done
