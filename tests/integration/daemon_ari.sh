#!/bin/bash
# ACME Renewal Information (RFC 9773) in custos daemon, against the
# hostile CA (Pebble 2.4.0 has no renewalInfo). Its certificates live 7
# days, so the lifetime fraction (2/3) never renews within a test: every
# renewal here comes from the CA's window.
#   1. A window 25 to 45 seconds after the first renewalInfo request: the
#      renewal's newOrder comes inside it, not before, and carries
#      replaces with the identifier that openssl gives for the first
#      version. A restart does not request renewalInfo again.
#   2. A window in the past: the daemon renews at once.
#   3. alreadyReplaced: one more newOrder without replaces, and a new
#      version.
#   4. Malformed renewalInfo bodies: a log line naming the issuer and the
#      value, renewal left at the lifetime fraction, and no new order.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/daemon.sh
source "$(dirname "$0")/../lib/daemon.sh"
# shellcheck source=tests/lib/hostile.sh
source "$(dirname "$0")/../lib/hostile.sh"

# Usage: ari_id CERT-PEM
# Prints the renewalInfo identifier of a certificate, computed with
# openssl: base64url of the Authority Key Identifier's keyIdentifier, a
# dot, base64url of the serial's DER content octets.
ari_id() {
	local key_id serial

	key_id=$(openssl x509 -in "$1" -noout -ext authorityKeyIdentifier |
		sed 1d | grep -o '[0-9A-F][0-9A-F]\(:[0-9A-F][0-9A-F]\)*' |
		head -n 1 | tr -d ':')
	serial=$(openssl x509 -in "$1" -noout -serial | cut -d= -f2)
	if [ $((${#serial} % 2)) -eq 1 ]; then
		serial=0$serial
	fi
	# A set high bit takes a zero octet in front (a positive INTEGER).
	case $serial in
	[89A-F]*) serial=00$serial ;;
	esac
	printf '%s.%s\n' "$(b64url "$key_id")" "$(b64url "$serial")"
}

# Usage: b64url HEX
b64url() {
	printf '%s' "$1" | xxd -r -p | base64 -w 0 | tr '+/' '-_' | tr -d '='
}

# Usage: version_cert CERT-ID LABEL N
# Prints the cert.pem path of the Nth version (from 1) of a certificate.
version_cert() {
	local name

	name=$(state_query "SELECT name FROM versions WHERE cert_id = $1
		ORDER BY id LIMIT 1 OFFSET $(($3 - 1))")
	printf '%s\n' "$CUSTOS_STORE/lab/$2/$name/cert.pem"
}

# Usage: start_case SCENARIO VALUE
# Starts the hostile server for the next case. Its ids continue past the
# earlier cases, because the state database keeps their order URLs.
start_case() {
	CASE=$((CASE + 1))
	HOSTILE_FIRST_ID=$((CASE * 10000)) hostile_start "$1" "$2" ||
		bail_out "the hostile server did not start for $1 $2"
}
CASE=0

# Usage: add_cert NAME
# Adds a certificate and sets CERT_ID.
add_cert() {
	CERT_ID=$("$CUSTOS" cert add --config "$CUSTOS_CONF" --tenant \
		"$CUSTOS_TENANT" "$1" | sed -n 's/^added certificate \([0-9]*\).*/\1/p')
	[ -n "$CERT_ID" ] || bail_out "cert add $1 failed"
}

# Usage: remove_cert
# Stops managing CERT_ID, so that it does not renew during later cases.
remove_cert() {
	"$CUSTOS" cert remove --config "$CUSTOS_CONF" "$CERT_ID" >/dev/null ||
		bail_out "cert remove $CERT_ID failed"
}

# Usage: wait_versions SECONDS COUNT
wait_versions() {
	wait_for "$1" "SELECT count(*) FROM versions WHERE cert_id = $CERT_ID" \
		"$2" || diag "daemon log:" "$(tail -n 30 "$DAEMON_LOG")"
}

CUSTOS_EXTRA_BLOCKS=$(printf '%s\n' 'daemon {' '	poll-interval 1s' \
	'	renew-jitter 0' '	retry-base 1s' '	retry-max 4s' '}')
hostile_lab_start custos-daemon-ari
DAEMON_LOG=$LAB_DIR/daemon.log
at_exit daemon_stop

# 1. A window in the future.
start_case renewal-info 25:45
add_cert window.hostile.test
daemon_start
wait_versions 120 2
daemon_stop
first=$(version_cert "$CERT_ID" window.hostile.test 1)
first_id=$(ari_id "$first")
diag "identifier of the first version: $first_id"
read -r _ _ _ start end < <(grep "^renewal-info $first_id window " \
	"$HOSTILE_LOG" | head -n 1)
assert_equal "renewalInfo requested once for the first version" \
	"$(grep -c "^renewal-info $first_id " "$HOSTILE_LOG")" 1
orders=$(grep '^new-order ' "$HOSTILE_LOG")
assert_equal "two newOrders in all" "$(grep -c '' <<<"$orders")" 2
assert_equal "first newOrder replaces nothing" \
	"$(sed -n 1p <<<"$orders" | awk '{ print $5 }')" "(none)"
assert_equal "renewal newOrder replaces the first version" \
	"$(sed -n 2p <<<"$orders" | awk '{ print $5 }')" "$first_id"
renewed_at=$(sed -n 2p <<<"$orders" | awk '{ print $3 }')
diag "window $start..$end, renewal newOrder at $renewed_at"
check "renewal not before the window" test "${renewed_at:-0}" -ge \
	"${start:-1}"
check "renewal not after the window" test "${renewed_at:-0}" -le \
	"${end:-0}"
assert_contains "daemon logs the window" "$(cat "$DAEMON_LOG")" \
	"issuer pebble suggests renewal from"
assert_contains "daemon logs the explanation URL" "$(cat "$DAEMON_LOG")" \
	"explains its window at https://localhost:$HOSTILE_PORT/why-renew"

# The second version's window is chosen; a restart keeps it.
second_id=$(ari_id "$(version_cert "$CERT_ID" window.hostile.test 2)")
daemon_start
deadline=$((SECONDS + 30))
while [ "$SECONDS" -lt "$deadline" ] &&
	! grep -q "^renewal-info $second_id " "$HOSTILE_LOG"; do
	sleep 0.5
done
daemon_stop
daemon_start
sleep 3
daemon_stop
assert_equal "restart does not request renewalInfo again" \
	"$(grep -c "^renewal-info $second_id " "$HOSTILE_LOG")" 1
assert_equal "restart does not renew early" \
	"$(state_query "SELECT count(*) FROM versions WHERE cert_id =
		$CERT_ID")" 2
assert_equal "chosen time is inside the recorded window" \
	"$(state_query "SELECT renew_at >= window_start AND
		renew_at < window_end FROM renewals WHERE cert_id = $CERT_ID")" 1
check "fetch time is recorded" test "$(state_query "SELECT fetched FROM
	renewals WHERE cert_id = $CERT_ID")" -gt 0
remove_cert

# 2. A window in the past: renew at once.
start_case renewal-info -7200:-3600
add_cert past.hostile.test
daemon_start
wait_versions 60 2
daemon_stop
first_id=$(ari_id "$(version_cert "$CERT_ID" past.hostile.test 1)")
assert_equal "past window: renewal replaces the first version" \
	"$(grep '^new-order ' "$HOSTILE_LOG" | sed -n 2p |
	awk '{ print $5 }')" "$first_id"
check "past window: renewed" test "$(state_query "SELECT count(*) FROM
	versions WHERE cert_id = $CERT_ID")" -ge 2
remove_cert

# 3. alreadyReplaced: once more without replaces.
start_case already-replaced -7200:-3600
add_cert replaced.hostile.test
daemon_start
wait_versions 60 2
daemon_stop
first_id=$(ari_id "$(version_cert "$CERT_ID" replaced.hostile.test 1)")
orders=$(grep '^new-order ' "$HOSTILE_LOG")
assert_equal "alreadyReplaced: the order with replaces was rejected" \
	"$(sed -n 2p <<<"$orders")" "new-order already-replaced $first_id"
assert_equal "alreadyReplaced: the retry has no replaces" \
	"$(sed -n 3p <<<"$orders" | awk '{ print $5 }')" "(none)"
assert_contains "alreadyReplaced is logged" "$(cat "$DAEMON_LOG")" \
	"returned alreadyReplaced for an order replacing $first_id"
check "alreadyReplaced: a new version" test "$(state_query "SELECT
	count(*) FROM versions WHERE cert_id = $CERT_ID")" -ge 2
assert_equal "alreadyReplaced: no attempt failed" \
	"$(grep -c "certificate $CERT_ID: attempt .* failed" "$DAEMON_LOG")" 0
remove_cert

# 4. Malformed bodies fall back to the lifetime fraction.
declare -A EXPECTED=(
	[end-before-start]='ends at "2030-01-01T00:00:00Z", not after its start "2030-01-02T00:00:00Z"'
	[bad-time]='suggestedWindow.start "next tuesday" is not an RFC 3339 date-time'
	[huge]='bytes, more than the 65536 allowed'
	[not-json]='the body is not a JSON object'
	[missing-window]='member "suggestedWindow" is missing or not an object'
)
for kind in end-before-start bad-time huge not-json missing-window; do
	start_case renewal-info-bad "$kind"
	add_cert "$kind.hostile.test"
	: >"$DAEMON_LOG"
	daemon_start
	wait_for_log 60 "renewal falls back to the lifetime fraction" ||
		diag "daemon log:" "$(tail -n 20 "$DAEMON_LOG")"
	daemon_stop
	line=$(grep "certificate $CERT_ID: issuer pebble: invalid renewalInfo" \
		"$DAEMON_LOG")
	assert_contains "$kind: log names the value" "$line" "${EXPECTED[$kind]}"
	assert_contains "$kind: log names the fallback" "$line" \
		"renewal falls back to the lifetime fraction at"
	assert_equal "$kind: one newOrder only" \
		"$(grep -c '^new-order ' "$HOSTILE_LOG")" 1
	assert_equal "$kind: renewal at the lifetime fraction" \
		"$(state_query "SELECT renew_at = fallback_at AND window_end = 0
			FROM renewals WHERE cert_id = $CERT_ID")" 1
	check "$kind: next poll after at least an hour" test \
		"$(state_query "SELECT next_poll - strftime('%s', 'now') FROM
			renewals WHERE cert_id = $CERT_ID")" -ge 3500
	remove_cert
done

# A window that starts after the certificate expires: the renewal keeps
# the lifetime fraction, so the certificate cannot lapse.
start_case renewal-info 3000000000:3000003600
add_cert late.hostile.test
: >"$DAEMON_LOG"
daemon_start
wait_for_log 60 "renewal falls back to the lifetime fraction" ||
	diag "daemon log:" "$(tail -n 20 "$DAEMON_LOG")"
daemon_stop
assert_contains "late window: log names the cause" "$(cat "$DAEMON_LOG")" \
	"the renewalInfo window starts at or after the certificate's notAfter"
assert_equal "late window: renewal at the lifetime fraction" \
	"$(state_query "SELECT renew_at = fallback_at AND
		renew_at < (SELECT max(not_after) FROM versions
		WHERE cert_id = $CERT_ID) FROM renewals WHERE cert_id = $CERT_ID")" 1
remove_cert

tap_done
