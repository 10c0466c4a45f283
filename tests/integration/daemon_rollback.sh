#!/bin/bash
# Deploy hook failures, hand rollback and the activation checks of custos
# daemon. A renewal whose deploy hook fails leaves the previous version
# current, marks the new one failed and reruns the previous version's
# hook with CUSTOS_ROLLBACK=1. `custos cert rollback` switches back by
# hand and reruns the hook. A hook cut off by a SIGKILL of the whole
# daemon runs again at the next start. A certificate whose chain does not
# verify against trust-anchors is never stored or made current.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/daemon.sh
source "$(dirname "$0")/../lib/daemon.sh"

LABEL=a.demo.test

current_name() {
	state_query "SELECT name FROM versions WHERE status = 'current'"
}

version_status() {
	state_query "SELECT status FROM versions WHERE name = '$1'"
}

version_count() {
	state_query "SELECT count(*) FROM versions"
}

# Usage: reissue_now
# Starts a new request for certificate 1 and wakes the daemon.
reissue_now() {
	"$CUSTOS" cert reissue --config "$CUSTOS_CONF" 1 >/dev/null &&
		kill -USR1 "$DAEMON_PID"
}

custos_lab_start custos-daemon-rollback
daemon_hook_install "$LAB_DIR/hooks" || bail_out "cannot write the hook"
# Renewal far away, so that only reissue starts a request; a retry after a
# failure waits 2 to 5 seconds, long enough to stop the daemon before it.
cat >>"$CUSTOS_CONF" <<CONF
daemon {
	poll-interval 1s
	renew-jitter 0
	retry-base 5s
	retry-max 5s
	deploy-hook "$DAEMON_HOOK_DIR/hook"
	deploy-timeout 20s
}
CONF
at_exit daemon_stop

assert_status "cert add succeeds" 0 "$CUSTOS" cert add --config \
	"$CUSTOS_CONF" --tenant "$CUSTOS_TENANT" "$LABEL" b.demo.test
daemon_start
wait_for 60 "SELECT count(*) FROM versions WHERE status = 'current'" 1 ||
	diag "daemon log:" "$(cat "$DAEMON_LOG")"
v1=$(current_name)
check "first version is current" test -n "$v1"
assert_equal "hook ran once for the first version" \
	"$(cat "$DAEMON_HOOK_DIR/hook.log")" "$v1 0"

# 1. The hook fails for the renewal: v1 comes back.
echo 3 >"$DAEMON_HOOK_DIR/hook.status"
reissue_now
wait_for 60 "SELECT count(*) FROM versions WHERE status = 'failed'" 1 ||
	diag "daemon log:" "$(tail -n 30 "$DAEMON_LOG")"
v2=$(state_query "SELECT name FROM versions WHERE status = 'failed'")
check "renewal made a second version" test -n "$v2"
assert_not_equal "second version differs from the first" "$v2" "$v1"
# Stop the retries before they start another version.
daemon_stop
rm -f "$DAEMON_HOOK_DIR/hook.status"
assert_equal "previous version current after a failed hook" \
	"$(current_name)" "$v1"
assert_equal "current symlink back on the previous version" \
	"$(readlink "$CUSTOS_STORE/lab/$LABEL/current")" "$v1"
assert_equal "hook ran for the new version, then rolled back" \
	"$(sed -n '2,3p' "$DAEMON_HOOK_DIR/hook.log")" \
	"$(printf '%s 0\n%s 1' "$v2" "$v1")"
assert_contains "task records the hook failure" \
	"$(state_query "SELECT last_error FROM tasks WHERE cert_id = 1")" \
	"failed for $v2 with status 3"
check "task counts the failure" test \
	"$(state_query "SELECT failures FROM tasks WHERE cert_id = 1")" -ge 1
assert_equal "no deploy pending after the rollback" \
	"$(state_query "SELECT count(*) FROM versions
		WHERE deploy_pending != 0")" 0
assert_contains "rollback is logged" "$(cat "$DAEMON_LOG")" \
	"restored version $v1"

# 2. With a working hook the retry makes a third version current.
: >"$DAEMON_HOOK_DIR/hook.log"
daemon_start
wait_for 60 "SELECT count(*) FROM versions" 3 ||
	diag "daemon log:" "$(tail -n 30 "$DAEMON_LOG")"
wait_for_log 20 "deploy-hook $DAEMON_HOOK_DIR/hook succeeded" ||
	diag "daemon log:" "$(tail -n 30 "$DAEMON_LOG")"
v3=$(current_name)
assert_not_equal "retry made a new version current" "$v3" "$v1"
assert_equal "failed version stays failed" "$(version_status "$v2")" failed
assert_equal "hook ran for the third version" \
	"$(cat "$DAEMON_HOOK_DIR/hook.log")" "$v3 0"

# 3. custos cert rollback goes back to v1, the newest earlier version
# that was current, and reruns the hook.
: >"$DAEMON_HOOK_DIR/hook.log"
assert_status "cert rollback succeeds" 0 "$CUSTOS" cert rollback \
	--config "$CUSTOS_CONF" 1
assert_contains "cert rollback names both versions" "$TAP_OUTPUT" \
	"$v1 is current again (was $v3)"
assert_equal "rolled back version is current" "$(current_name)" "$v1"
assert_equal "replaced version is marked rolled-back" \
	"$(version_status "$v3")" rolled-back
assert_equal "current symlink follows cert rollback" \
	"$(readlink "$CUSTOS_STORE/lab/$LABEL/current")" "$v1"
assert_equal "cert rollback reran the hook" \
	"$(cat "$DAEMON_HOOK_DIR/hook.log")" "$v1 1"
assert_equal "no deploy pending after cert rollback" \
	"$(state_query "SELECT count(*) FROM versions
		WHERE deploy_pending != 0")" 0

# 4. A SIGKILL of the whole daemon while the hook runs: the next start
# runs the hook again for the version that the database made current.
: >"$DAEMON_HOOK_DIR/hook.log"
echo 30 >"$DAEMON_HOOK_DIR/hook.sleep"
reissue_now
wait_for 60 "SELECT count(*) FROM versions" 4 ||
	diag "daemon log:" "$(tail -n 30 "$DAEMON_LOG")"
sleep 1
v4=$(current_name)
assert_equal "hook of the fourth version is pending while it runs" \
	"$(state_query "SELECT deploy_pending FROM versions
		WHERE name = '$v4'")" 1
daemon_kill_group
rm -f "$DAEMON_HOOK_DIR/hook.sleep"
assert_equal "the killed hook started once" \
	"$(cat "$DAEMON_HOOK_DIR/hook.log")" "$v4 0"
daemon_start
wait_for_log 30 "the deploy of version $v4 was cut off" ||
	diag "daemon log:" "$(tail -n 30 "$DAEMON_LOG")"
wait_for 30 "SELECT count(*) FROM versions WHERE deploy_pending = 0" 4
assert_equal "restart reran the cut-off hook" \
	"$(cat "$DAEMON_HOOK_DIR/hook.log")" \
	"$(printf '%s 0\n%s 0' "$v4" "$v4")"
assert_equal "cut-off version is current after the restart" \
	"$(current_name)" "$v4"
assert_equal "no deploy pending after the rerun" \
	"$(state_query "SELECT count(*) FROM versions
		WHERE deploy_pending != 0")" 0
daemon_stop
assert_equal "daemon exits 0" "$DAEMON_STATUS" 0

# 5. trust-anchors naming another root: Pebble issues, custos rejects.
sed -i "s|^\tdeploy-timeout 20s|&\n\ttrust-anchors \"$PEBBLE_TLS_CA\"|" \
	"$CUSTOS_CONF"
issued_before=$(pebble_issued_count)
versions_before=$(version_count)
dirs_before=$(find "$CUSTOS_STORE/lab/$LABEL" -mindepth 1 -maxdepth 1 \
	-type d | wc -l)
: >"$DAEMON_HOOK_DIR/hook.log"
"$CUSTOS" cert reissue --config "$CUSTOS_CONF" 1 >/dev/null
daemon_start
wait_for_log 60 "the certificate chain does not verify" ||
	diag "daemon log:" "$(tail -n 30 "$DAEMON_LOG")"
daemon_stop
check "Pebble issued the rejected certificate" \
	test "$(pebble_issued_count)" -gt "$issued_before"
assert_equal "rejected certificate is not recorded" "$(version_count)" \
	"$versions_before"
assert_equal "rejected certificate is not stored" \
	"$(find "$CUSTOS_STORE/lab/$LABEL" -mindepth 1 -maxdepth 1 -type d |
		wc -l)" "$dirs_before"
assert_equal "current stays on the last good version" "$(current_name)" \
	"$v4"
assert_equal "current symlink stays on the last good version" \
	"$(readlink "$CUSTOS_STORE/lab/$LABEL/current")" "$v4"
assert_equal "no hook runs for a rejected certificate" \
	"$(cat "$DAEMON_HOOK_DIR/hook.log")" ""
assert_contains "task records the failed check" \
	"$(state_query "SELECT last_error FROM tasks WHERE cert_id = 1")" \
	"does not verify"

tap_done
