#!/bin/bash
# SIGINT (Ctrl-C) and SIGTERM that reach `custos issue` while a webroot
# challenge file is published end the run with status 128 + signal number,
# the challenge file removed and the signer stopped.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

# Usage: start_web_server DIR
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

# Prints the files under the webroot's challenge directory.
challenge_files() {
	find "$CUSTOS_WEBROOT/.well-known/acme-challenge" -type f 2>/dev/null
}

# Usage: interrupt SIGNAL NUMBER NAME
# Starts custos with SIGNAL at its default action (a background job of a
# script starts with SIGINT ignored), waits until the challenge file
# exists and sends SIGNAL to custos itself.
interrupt() {
	local signal=$1 number=$2 name=$3 pid status i

	find "$CUSTOS_WEBROOT" -type f -delete
	env --default-signal="$signal" "$CUSTOS" issue --config \
		"$CUSTOS_CONF" "$name" >"$LAB_DIR/$name.log" 2>&1 &
	pid=$!
	for i in $(seq 1 1000); do
		[ -n "$(challenge_files)" ] && break
		sleep 0.01
	done
	assert_not_equal "$signal: challenge file is published" \
		"$(challenge_files)" ""
	kill -"$signal" "$pid"
	wait "$pid"
	status=$?
	assert_equal "$signal: exit status is 128 + $number" "$status" \
		"$((128 + number))"
	assert_equal "$signal: challenge file is removed" \
		"$(challenge_files)" ""
	sleep 0.5
	assert_equal "$signal: no signer is left running" \
		"$(pgrep -f "custos-signer --config $CUSTOS_CONF" | wc -l)" 0
}

command -v busybox >/dev/null ||
	bail_out "busybox is missing; run packaging/install-deps.sh"
lab_tmpdir custos-webroot-interrupted || bail_out "cannot make a directory"
CUSTOS_WEBROOT=$LAB_DIR/webroot
mkdir -p "$CUSTOS_WEBROOT" && chmod 0755 "$CUSTOS_WEBROOT"
custos_give_to "$CUSTOS_BROKER_USER" "$CUSTOS_WEBROOT"
start_web_server "$CUSTOS_WEBROOT" ||
	bail_out "busybox httpd did not start; see $LAB_DIR/httpd.log"
custos_require_programs
pebble_start "$LAB_DIR" || bail_out "Pebble did not start"
softhsm_init "$LAB_DIR" custos-test || bail_out "SoftHSM2 setup failed"
custos_write_config "$LAB_DIR" || bail_out "cannot write the configuration"
assert_contains "configuration selects webroot mode" \
	"$(cat "$CUSTOS_CONF")" "http-01 webroot"

interrupt INT 2 int.test
interrupt TERM 15 term.test

tap_done
