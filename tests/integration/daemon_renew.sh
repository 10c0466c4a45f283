#!/bin/bash
# Runs custos daemon with renewal due at once (renew-before longer than
# Pebble's certificate lifetime): the daemon issues and renews by itself,
# each new version becomes current and the old ones stay in the history.
# Then SIGHUP with a broken configuration keeps the daemon running and
# names the error's line, and SIGTERM stops it with status 0, leaving no
# process behind.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

NAMES=(a.demo.test b.demo.test)
DAEMON_PID=

# Usage: state_query SQL
# Prints the result of SQL on the daemon's database, read as the broker
# user so that no file of the database becomes root's.
state_query() {
	runuser -u "$CUSTOS_BROKER_USER" -- sqlite3 "$CUSTOS_STATE/custos.db" \
		"$1"
}

daemon_start() {
	"$CUSTOS" daemon --config "$CUSTOS_CONF" >>"$LAB_DIR/daemon.log" 2>&1 &
	DAEMON_PID=$!
}

daemon_stop() {
	if [ -n "$DAEMON_PID" ]; then
		kill -TERM "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID"
		DAEMON_STATUS=$?
		DAEMON_PID=
	fi
}

# Usage: wait_for SECONDS SQL MINIMUM
# Waits until SQL prints a number of at least MINIMUM.
wait_for() {
	local deadline=$((SECONDS + $1)) value

	while [ "$SECONDS" -lt "$deadline" ]; do
		value=$(state_query "$2" 2>/dev/null)
		if [ -n "$value" ] && [ "$value" -ge "$3" ]; then
			return 0
		fi
		sleep 0.5
	done
	return 1
}

CUSTOS_EXTRA_BLOCKS=$(printf '%s\n' 'daemon {' '	poll-interval 1s' \
	'	renew-before 87600h' '	renew-jitter 0' '	retry-base 1s' \
	'	retry-max 4s' '}')
custos_lab_start custos-daemon-renew
at_exit daemon_stop

assert_status "cert add succeeds" 0 "$CUSTOS" cert add --config \
	"$CUSTOS_CONF" --tenant "$CUSTOS_TENANT" "${NAMES[@]}"
assert_contains "cert add names the id" "$TAP_OUTPUT" \
	"added certificate 1 for tenant lab"
assert_fails "cert add rejects a name outside the policy" "$CUSTOS" cert \
	add --config "$CUSTOS_CONF" --tenant "$CUSTOS_TENANT" www.example.com
assert_fails "cert add rejects a second certificate of one label" \
	"$CUSTOS" cert add --config "$CUSTOS_CONF" --tenant \
	"$CUSTOS_TENANT" a.demo.test
assert_contains "the duplicate error names the label" "$TAP_OUTPUT" \
	"already has a certificate stored as a.demo.test"

daemon_start
if ! wait_for 90 "SELECT count(*) FROM versions" 3; then
	diag "daemon log:" "$(cat "$LAB_DIR/daemon.log")"
fi
daemon_stop
assert_equal "daemon exits 0 on SIGTERM" "$DAEMON_STATUS" 0
diag "daemon log (tail):" "$(tail -n 20 "$LAB_DIR/daemon.log")"

versions=$(state_query "SELECT count(*) FROM versions")
check "daemon renewed at least twice by itself" test "$versions" -ge 3
assert_equal "one version is current" \
	"$(state_query "SELECT count(*) FROM versions WHERE status =
		'current'")" 1
current=$(state_query "SELECT name FROM versions WHERE status =
	'current'")
assert_equal "current symlink matches the database" \
	"$(readlink "$CUSTOS_STORE/lab/a.demo.test/current")" "$current"
for name in $(state_query "SELECT name FROM versions"); do
	assert_file_exists "version $name stays in the store" \
		"$CUSTOS_STORE/lab/a.demo.test/$name/fullchain.pem"
done
assert_equal "Pebble issued one certificate per version" \
	"$(pebble_issued_count)" "$versions"
check "current chain verifies against Pebble's root" openssl verify \
	-CAfile "$PEBBLE_ROOT" -untrusted \
	"$(custos_store_file a.demo.test chain.pem)" \
	"$(custos_store_file a.demo.test cert.pem)"
assert_equal "no temporary directory left in the store" \
	"$(find "$CUSTOS_STORE" -name '.tmp-*' -o -name '.switch-*')" ""

assert_status "cert show succeeds" 0 "$CUSTOS" cert show --config \
	"$CUSTOS_CONF" 1
assert_contains "cert show lists the current version" "$TAP_OUTPUT" \
	"version: $current current"
assert_status "cert list succeeds" 0 "$CUSTOS" cert list --config \
	"$CUSTOS_CONF"
assert_contains "cert list shows the names" "$TAP_OUTPUT" \
	"a.demo.test b.demo.test"

# A reload that fails validation keeps the running configuration.
state_query "UPDATE tasks SET due = due + 100000" >/dev/null
daemon_start
sleep 2
cp "$CUSTOS_CONF" "$LAB_DIR/good.conf"
printf 'daemon {\n\tretry-base soon\n}\n' >>"$CUSTOS_CONF"
kill -HUP "$DAEMON_PID"
sleep 2
check "daemon still runs after a broken reload" kill -0 "$DAEMON_PID"
assert_contains "broken reload is logged with its position" \
	"$(cat "$LAB_DIR/daemon.log")" "custos.conf:$(grep -c '' \
	"$LAB_DIR/good.conf" | awk '{ print $1 + 1 }'):1: duplicate block"
cp "$LAB_DIR/good.conf" "$CUSTOS_CONF"
kill -HUP "$DAEMON_PID"
sleep 2
assert_contains "valid reload restarts the worker" \
	"$(cat "$LAB_DIR/daemon.log")" "reloaded $CUSTOS_CONF"
signer_pids=$(sed -n 's/.*started signer (pid \([0-9]*\)).*/\1/p' \
	"$LAB_DIR/daemon.log")
daemon_stop
assert_equal "daemon exits 0 after reloads" "$DAEMON_STATUS" 0
for pid in $signer_pids; do
	check "signer $pid is gone" test ! -e "/proc/$pid"
done

tap_done
