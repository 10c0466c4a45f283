#!/bin/bash
# Runs custos daemon with concurrency 8 and connections 3 on 24
# certificates against a Pebble whose VA sleeps a random time before each
# validation (its default), so that orders overlap. Checks that every
# certificate is issued exactly once and that more than one order was in
# flight at a time. Also checks that the requests to the CA went over at
# most 3 connections, and that the metrics match the state database. The audit log rotates at 16 KiB, so several
# rotations fall between the batches of signer records that the order
# threads append at once; the whole chain must still verify.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/daemon.sh
source "$(dirname "$0")/../lib/daemon.sh"

CERT_COUNT=24
CONCURRENCY=8
CONNECTIONS=3

# Usage: metric NAME-AND-LABELS
# Prints the value of one series of the last metrics response.
metric() {
	awk -v series="$1" '$1 == series { print $2 }' <<<"$METRICS"
}

# Pebble's VA sleeps a random time before each validation unless
# PEBBLE_VA_NOSLEEP is 1 or true. The later assignment in env wins.
PEBBLE_ENV=PEBBLE_VA_NOSLEEP=0
API_SOCKET=
CUSTOS_EXTRA_BLOCKS=$(printf '%s\n' 'daemon {' '	poll-interval 1s' \
	'	renew-jitter 0' '	retry-base 1s' '	retry-max 4s' \
	"	concurrency $CONCURRENCY" "	connections $CONNECTIONS" '}')
CUSTOS_AUDIT_LINES=$'\trotate-size 16K'
custos_lab_start custos-daemon-concurrent
API_SOCKET=$LAB_DIR/api.sock
printf 'api {\n\tsocket "%s"\n}\n' "$API_SOCKET" >>"$CUSTOS_CONF"
at_exit daemon_stop

for ((i = 1; i <= CERT_COUNT; i++)); do
	"$CUSTOS" cert add --config "$CUSTOS_CONF" --tenant "$CUSTOS_TENANT" \
		"c$i.demo.test" >/dev/null || bail_out "cert add c$i failed"
done
# cert add runs as root and starts new audit files after rotations. Each
# must belong to the broker user, who owns the directory, or the worker
# cannot append to the newest one.
owner=$(stat -c %U "$CUSTOS_AUDIT_LOG")
assert_equal "the audit file that root started belongs to the broker" \
	"$owner" "$CUSTOS_BROKER_USER"

started=$SECONDS
daemon_start
# An attempt ends after its run added its requests to the counters.
if ! wait_for 120 "SELECT count(*) FROM attempts WHERE result =
	'succeeded'" "$CERT_COUNT"; then
	diag "daemon log (tail):" "$(tail -n 30 "$DAEMON_LOG")"
fi
diag "$CERT_COUNT certificates in $((SECONDS - started)) s"
wait_for_log 10 "api: listening on $API_SOCKET" ||
	diag "the API process did not start"
METRICS=$(curl -sS --unix-socket "$API_SOCKET" \
	http://localhost/v1/metrics)
daemon_stop
assert_equal "daemon exits 0 on SIGTERM" "$DAEMON_STATUS" 0

assert_equal "every certificate has a version" \
	"$(state_query "SELECT count(DISTINCT cert_id) FROM versions")" \
	"$CERT_COUNT"
assert_equal "one version per certificate" \
	"$(state_query "SELECT count(*) FROM versions")" "$CERT_COUNT"
assert_equal "one current version per certificate" \
	"$(state_query "SELECT count(*) FROM versions
		WHERE status = 'current'")" "$CERT_COUNT"
assert_equal "Pebble issued one certificate per version" \
	"$(pebble_issued_count)" "$CERT_COUNT"
assert_equal "no attempt failed" "$(state_query "SELECT count(*)
	FROM attempts WHERE result != 'succeeded'")" 0
for ((i = 1; i <= CERT_COUNT; i += 7)); do
	check "c$i chain verifies" openssl verify -CAfile "$PEBBLE_ROOT" \
		-untrusted "$(custos_store_file "c$i.demo.test" chain.pem)" \
		"$(custos_store_file "c$i.demo.test" cert.pem)"
done

# A crash, or a sanitizer report in the ASan build, restarts the worker.
assert_equal "worker started once" \
	"$(grep -c 'started signer (pid [0-9]*) and worker' "$DAEMON_LOG")" 1
assert_equal "no sanitizer report" \
	"$(grep -c 'Sanitizer\|runtime error' "$DAEMON_LOG")" 0
assert_contains "the worker started $CONCURRENCY order threads" \
	"$(cat "$DAEMON_LOG")" "$CONCURRENCY order threads"
most=$(sed -n 's/.*: \([0-9]*\) orders in flight, a new maximum$/\1/p' \
	"$DAEMON_LOG" | sort -n | tail -n 1)
diag "max orders in flight at once: ${most:-1}"
check "more than one order was in flight at once" \
	test "${most:-1}" -gt 1
check "no more than $CONCURRENCY orders were in flight" \
	test "${most:-1}" -le "$CONCURRENCY"

requests=$(state_query "SELECT value FROM counters
	WHERE name = 'acme_requests' AND tenant = '$CUSTOS_TENANT'")
connections=$(state_query "SELECT value FROM counters
	WHERE name = 'acme_connections' AND tenant = '$CUSTOS_TENANT'")
diag "$requests requests to the CA over $connections connections"
# Each order sends at least newNonce, newOrder, the authorization, the
# challenge, finalize and the download.
check "at least 6 requests per certificate" \
	test "${requests:-0}" -ge "$((CERT_COUNT * 6))"
check "some connection was opened" test "${connections:-0}" -gt 0
check "fewer connections than requests" \
	test "${connections:-0}" -lt "${requests:-0}"
# The pool lends 3 handles, each of which keeps its connection; more
# would mean that a thread opened its own, or that Pebble closed one.
check "at most $CONNECTIONS connections for $CONCURRENCY orders" \
	test "${connections:-0}" -le "$CONNECTIONS"
assert_equal "metrics report the requests" \
	"$(metric "custos_acme_requests_total{tenant=\"$CUSTOS_TENANT\"}")" \
	"$requests"
assert_equal "metrics report the connections" \
	"$(metric "custos_acme_connections_total{tenant=\"$CUSTOS_TENANT\"}")" \
	"$connections"

assert_status "audit verify succeeds across rotations" 0 "$CUSTOS" \
	audit verify --config "$CUSTOS_CONF"
rotated=$(find "$(dirname "$CUSTOS_AUDIT_LOG")" -name 'audit.log.*' |
	wc -l)
diag "$rotated rotated audit files"
check "the audit log rotated more than once" test "$rotated" -gt 1
check "the audit log contains the signer's records" \
	grep -q '"source":"signer"' "$CUSTOS_AUDIT_LOG"*

tap_done
