# shellcheck shell=bash
# custos daemon for tests, sourced by bash after lab.sh.
#
# daemon_start runs the daemon in its own process group (setsid), so that
# daemon_kill_group can SIGKILL the supervisor, the signer, the worker and
# a running deploy hook at once, the way a power cut would. Its output
# goes to DAEMON_LOG. state_query reads the state database.

DAEMON_PID=
DAEMON_STATUS=

# Usage: state_query SQL
# Prints the result of SQL on the daemon's database, run as the broker
# user so that no file of the database becomes root's.
state_query() {
	runuser -u "$CUSTOS_BROKER_USER" -- sqlite3 "$CUSTOS_STATE/custos.db" \
		"$1"
}

daemon_start() {
	DAEMON_LOG=${DAEMON_LOG:-$LAB_DIR/daemon.log}
	setsid "$CUSTOS" daemon --config "$CUSTOS_CONF" >>"$DAEMON_LOG" 2>&1 &
	DAEMON_PID=$!
}

# Stops the daemon with SIGTERM and sets DAEMON_STATUS.
daemon_stop() {
	if [ -n "$DAEMON_PID" ]; then
		kill -TERM "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID"
		DAEMON_STATUS=$?
		DAEMON_PID=
	fi
}

# Kills every process of the daemon's group with SIGKILL and waits until
# they are gone.
daemon_kill_group() {
	local deadline=$((SECONDS + 10))

	[ -n "$DAEMON_PID" ] || return 0
	kill -KILL -- "-$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID" 2>/dev/null
	while [ "$SECONDS" -lt "$deadline" ] &&
		pgrep -g "$DAEMON_PID" >/dev/null; do
		sleep 0.1
	done
	DAEMON_PID=
}

# Prints the pid of the newest worker that the supervisor started.
daemon_worker_pid() {
	local pattern='.*started signer (pid [0-9]*) and worker (pid \([0-9]*\)).*'

	sed -n "s/$pattern/\\1/p" "$DAEMON_LOG" | tail -n 1
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
		sleep 0.3
	done
	return 1
}

# Usage: wait_for_log SECONDS TEXT
# Waits until DAEMON_LOG contains TEXT.
wait_for_log() {
	local deadline=$((SECONDS + $1))

	while [ "$SECONDS" -lt "$deadline" ]; do
		if grep -qF -- "$2" "$DAEMON_LOG" 2>/dev/null; then
			return 0
		fi
		sleep 0.3
	done
	return 1
}

# Usage: daemon_hook_install DIR
# Writes DIR/hook, a deploy hook that appends "VERSION ROLLBACK" to
# DIR/hook.log and sleeps DIR/hook.sleep seconds when that file exists.
# For a new version (CUSTOS_ROLLBACK=0) it exits with the status in
# DIR/hook.status, 0 without that file; for a restored version it exits 0.
# Sets DAEMON_HOOK_DIR.
daemon_hook_install() {
	DAEMON_HOOK_DIR=$1
	mkdir -p "$1" || return 1
	cat >"$1/hook" <<HOOK
#!/bin/sh
printf '%s %s\n' "\$CUSTOS_VERSION" "\$CUSTOS_ROLLBACK" >>"$1/hook.log"
if [ -f "$1/hook.sleep" ]; then
	sleep "\$(cat "$1/hook.sleep")"
fi
if [ "\$CUSTOS_ROLLBACK" = 0 ] && [ -f "$1/hook.status" ]; then
	exit "\$(cat "$1/hook.status")"
fi
exit 0
HOOK
	chmod 0755 "$1/hook"
	: >"$1/hook.log"
	custos_give_to "$CUSTOS_BROKER_USER" "$1"
}
