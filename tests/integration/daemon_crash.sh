#!/bin/bash
# SIGKILLs custos daemon at random points of its issuances, CRASH_KILLS
# times: every even kill takes the whole process group (supervisor,
# signer, worker and deploy hook), every odd one the worker alone, which
# the supervisor restarts. Renewal is always due (renew-before longer
# than Pebble's certificate lifetime), so the certificates are issued
# over and over and the kills land in every step. After each kill
# the store must hold only complete versions. After the last one the
# daemon runs until it is idle, and then:
# - every certificate has one current version whose chain verifies,
# - every certificate that Pebble issued is a recorded version, so no
#   order was finalized and then lost or finalized twice,
# - no temporary file is left in the store and no http-01 file in the
#   webroot.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/daemon.sh
source "$(dirname "$0")/../lib/daemon.sh"

CRASH_KILLS=${CRASH_KILLS:-32}
# Upper bound of the random delay before a kill, in tenths of a second;
# about the time one issuance takes here.
CRASH_DELAY_MAX=${CRASH_DELAY_MAX:-40}
# CRASH_CERTS certificates named c1.demo.test and up, or a, b and c by
# default. The order threads (concurrency 32 by default) work on all at
# once.
if [ -n "${CRASH_CERTS:-}" ]; then
	LABELS=()
	for ((i = 1; i <= CRASH_CERTS; i++)); do
		LABELS+=("c$i.demo.test")
	done
else
	LABELS=(a.demo.test b.demo.test c.demo.test)
fi
VERSION_FILES=(cert.pem chain.pem fullchain.pem key.uri)

# Usage: start_web_server DIR
# Serves DIR on the http-01 port for Pebble's validation.
start_web_server() {
	local deadline=$((SECONDS + 10))
	local url=http://$CUSTOS_HTTP01_ADDRESS:$CUSTOS_HTTP01_PORT/probe.txt

	busybox httpd -f -p "$CUSTOS_HTTP01_ADDRESS:$CUSTOS_HTTP01_PORT" \
		-h "$1" >"$LAB_DIR/httpd.log" 2>&1 &
	at_exit kill "$!"
	printf 'probe\n' >"$1/probe.txt"
	while [ "$SECONDS" -lt "$deadline" ]; do
		if curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null
		then
			rm -f "$1/probe.txt"
			return 0
		fi
		sleep 0.2
	done
	return 1
}

# Prints one line per problem in the store: a version directory without
# one of its files, or a current symlink to a missing version.
store_problems() {
	local label dir file target

	for label in "${LABELS[@]}"; do
		for dir in "$CUSTOS_STORE/lab/$label"/*; do
			[ -d "$dir" ] && [ ! -L "$dir" ] || continue
			for file in "${VERSION_FILES[@]}"; do
				[ -s "$dir/$file" ] || echo "missing $dir/$file"
			done
		done
		dir=$CUSTOS_STORE/lab/$label
		target=$(readlink "$dir/current")
		if [ -n "$target" ] && [ ! -s "$dir/$target/cert.pem" ]; then
			echo "current of $label points at missing $target"
		fi
	done
}

# Prints the serials that Pebble issued, lowercase hex without leading
# zeros, sorted.
pebble_serials() {
	sed -n 's/.*Issued certificate serial \([0-9a-fA-F]*\).*/\1/p' \
		"$PEBBLE_LOG" | tr 'A-F' 'a-f' | sed 's/^0*//' | sort
}

db_serials() {
	state_query "SELECT serial FROM versions" | sed 's/^0*//' | sort
}

# Kills the worker alone; the supervisor notices and restarts it.
kill_worker() {
	local pid

	pid=$(daemon_worker_pid)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid"
		return 0
	fi
	return 1
}

command -v busybox >/dev/null ||
	bail_out "busybox is missing; run packaging/install-deps.sh"
custos_require_programs
lab_tmpdir custos-daemon-crash || bail_out "cannot make a directory"
CUSTOS_WEBROOT=$LAB_DIR/webroot
mkdir -p "$CUSTOS_WEBROOT" && chmod 0755 "$CUSTOS_WEBROOT"
custos_give_to "$CUSTOS_BROKER_USER" "$CUSTOS_WEBROOT"
start_web_server "$CUSTOS_WEBROOT" ||
	bail_out "busybox httpd did not start; see $LAB_DIR/httpd.log"
pebble_start "$LAB_DIR" || bail_out "Pebble did not start"
softhsm_init "$LAB_DIR" custos-test || bail_out "SoftHSM2 setup failed"
mkdir -p "$LAB_DIR/hooks"
printf '#!/bin/sh\nsleep 0.2\n' >"$LAB_DIR/hooks/hook"
chmod 0755 "$LAB_DIR/hooks/hook"
CUSTOS_EXTRA_BLOCKS=$(printf '%s\n' 'daemon {' '	poll-interval 1s' \
	'	renew-before 87600h' '	renew-jitter 0' '	retry-base 1s' \
	'	retry-max 2s' '	restart-max 1s' \
	"	deploy-hook \"$LAB_DIR/hooks/hook\"" '}')
custos_write_config "$LAB_DIR" || bail_out "cannot write the configuration"
at_exit daemon_kill_group

for label in "${LABELS[@]}"; do
	"$CUSTOS" cert add --config "$CUSTOS_CONF" --tenant "$CUSTOS_TENANT" \
		"$label" >/dev/null || bail_out "cert add $label failed"
done

group_kills=0
worker_kills=0
problems=
started=$SECONDS
for ((kill_number = 1; kill_number <= CRASH_KILLS; kill_number++)); do
	[ -n "$DAEMON_PID" ] || daemon_start
	sleep "$((RANDOM % CRASH_DELAY_MAX / 10)).$((RANDOM % 10))"
	if ((kill_number % 2 == 0)) || ! kill_worker; then
		daemon_kill_group
		group_kills=$((group_kills + 1))
	else
		worker_kills=$((worker_kills + 1))
		# The restart delay of the supervisor (restart-max 1s).
		sleep 1
	fi
	found=$(store_problems)
	if [ -n "$found" ] && [ -z "$problems" ]; then
		problems="after kill $kill_number: $found"
	fi
done
diag "$group_kills group kills and $worker_kills worker kills in \
$((SECONDS - started)) s; $(pebble_issued_count) certificates issued"
assert_equal "store complete after every kill" "$problems" ""
most=$(sed -n 's/.*: \([0-9]*\) orders in flight, a new maximum$/\1/p' \
	"$DAEMON_LOG" | sort -n | tail -n 1)
diag "max orders in flight at once: ${most:-1}"
if [ "${#LABELS[@]}" -ge 8 ]; then
	check "at least 8 orders were in flight at once" \
		test "${most:-1}" -ge 8
fi
check "at least $CRASH_KILLS kills" \
	test "$((group_kills + worker_kills))" -ge "$CRASH_KILLS"
check "both kinds of kill happened" test "$group_kills" -gt 0 -a \
	"$worker_kills" -gt 0

# Renewal no longer always due: the daemon finishes the open orders and
# becomes idle.
daemon_kill_group
sed -i '/renew-before 87600h/d' "$CUSTOS_CONF"
daemon_start
idle="SELECT (SELECT count(*) FROM orders WHERE status NOT IN
	('stored', 'abandoned')) = 0 AND (SELECT count(*) FROM tasks
	WHERE due < strftime('%s', 'now') + 3600) = 0"
if ! wait_for 120 "$idle" 1; then
	diag "the daemon did not become idle; log tail:" \
		"$(tail -n 30 "$DAEMON_LOG")"
fi
daemon_stop
assert_equal "daemon exits 0 at the end" "$DAEMON_STATUS" 0

for label in "${LABELS[@]}"; do
	id=$(state_query "SELECT id FROM certificates WHERE label = '$label'")
	current=$(state_query "SELECT name FROM versions
		WHERE cert_id = $id AND status = 'current'")
	check "$label has a current version" test -n "$current"
	assert_equal "$label current symlink matches the database" \
		"$(readlink "$CUSTOS_STORE/lab/$label/current")" "$current"
	check "$label current chain verifies" openssl verify \
		-CAfile "$PEBBLE_ROOT" -untrusted \
		"$CUSTOS_STORE/lab/$label/current/chain.pem" \
		"$CUSTOS_STORE/lab/$label/current/cert.pem"
done
assert_equal "store complete at the end" "$(store_problems)" ""
assert_equal "every issued certificate is a recorded version" \
	"$(pebble_serials)" "$(db_serials)"
assert_equal "no order has two versions" "$(state_query "SELECT order_id
	FROM versions GROUP BY order_id HAVING count(*) > 1")" ""
assert_equal "every stored order has its version" "$(state_query "SELECT
	count(*) FROM orders WHERE status = 'stored'")" \
	"$(state_query "SELECT count(*) FROM versions")"
assert_equal "no attempt left running" "$(state_query "SELECT count(*)
	FROM attempts WHERE result = 'running'")" 0
assert_equal "no deploy left pending" "$(state_query "SELECT count(*)
	FROM versions WHERE deploy_pending != 0")" 0
assert_equal "no temporary file left in the store" \
	"$(find "$CUSTOS_STORE" -name '.tmp-*' -o -name '.switch-*' -o \
		-name '.current-*')" ""
assert_equal "no http-01 file left in the webroot" \
	"$(find "$CUSTOS_WEBROOT" -type f)" ""
check "some kills interrupted an attempt" \
	test "$(state_query "SELECT count(*) FROM attempts
		WHERE result = 'interrupted'")" -gt 0

tap_done
