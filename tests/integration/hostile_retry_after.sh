#!/bin/bash
# Sends Retry-After in every form HTTP allows and in several it does not,
# first on a pending authorization and then on a processing order, and
# checks how long the broker waits before its next poll. Valid values are
# obeyed, invalid ones fall back to acme poll-interval (1 second here),
# and a value past acme poll-timeout (6 seconds here) is cut to the time
# left, so the issuance still finishes.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/hostile.sh
source "$(dirname "$0")/../lib/hostile.sh"

hostile_lab_start custos-hostile-retry
hostile_set_acme poll-timeout 6 || bail_out "cannot set poll-timeout"
# The first poll waits a whole poll-interval too, as the ranges below
# expect. Other tests cover the waits that grow from 50 ms.
sed -i 's/^\tpoll-interval 1$/&\n\tpoll-first 1000/' "$CUSTOS_CONF"
grep -q '^	poll-first 1000$' "$CUSTOS_CONF" ||
	bail_out "cannot set poll-first"

# Each row: a label, the server's value ("imf:+2" is an IMF-fixdate two
# seconds ahead), the expected wait in milliseconds as MIN MAX, and the
# warning expected ("-" for none). A date has whole seconds, so it may
# come up to a second early. The broker polls the authorization one
# poll-interval after triggering the challenge, which leaves 5 of the 6
# seconds for a capped wait. Each MAX leaves 1.5 seconds or more for a
# loaded machine, still below what a wrongly obeyed value would take
# (5 seconds for "-5" read as 5).
CASES=(
	"delta-seconds|2|1900 5000|-"
	"IMF-fixdate|imf:+2|900 5000|-"
	"RFC 850 date|rfc850:+2|900 5000|-"
	"asctime date|asctime:+2|900 5000|-"
	"date in the past|imf:-3600|900 4000|-"
	"negative|-5|900 4000|invalid Retry-After \"-5\""
	"fractional|1.5|900 4000|invalid Retry-After \"1.5\""
	"garbage|soon, maybe|900 4000|invalid Retry-After \"soon, maybe\""
	"empty||900 4000|invalid Retry-After \"\""
	"huge|99999999999|3900 8000|longer than the 5 seconds left"
)

for resource in authz order; do
	for row in "${CASES[@]}"; do
		IFS='|' read -r label value range warning <<<"$row"
		read -r min max <<<"$range"
		case_name="$resource $label"
		hostile_run "retry-after-$resource" "$value"
		hostile_expect_success "$case_name"
		waited=$(hostile_wait_ms "$resource")
		if [ -n "$waited" ] && [ "$waited" -ge "$min" ] &&
			[ "$waited" -le "$max" ]; then
			ok "$case_name: waited ${waited}ms"
		else
			not_ok "$case_name: waited ${waited:-no}ms" \
				"expected between $min and $max ms"
		fi
		if [ "$warning" != - ]; then
			assert_contains "$case_name: warning" \
				"$HOSTILE_OUTPUT" "$warning"
		else
			assert_not_contains "$case_name: no warning" \
				"$HOSTILE_OUTPUT" "warning:"
		fi
	done
done

tap_done
