#!/bin/bash
# newOrder returns malformed or mistyped JSON: a syntax error, status
# a number, identifiers an object, authorizations holding non-strings,
# 100000 nested arrays and a 3 MiB string; and an authorization names a
# domain outside the order. Each must fail with one short error line
# naming the problem, without a crash, and store nothing.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/hostile.sh
source "$(dirname "$0")/../lib/hostile.sh"

# Maximum error line length in bytes, so a 3 MiB string must be cut.
MAX_ERROR_LINE=600

hostile_lab_start custos-hostile-json

# Each row: the body variant and the text the error must contain.
CASES=(
	"invalid|invalid order from the CA: unexpected token near ','"
	"status-number|invalid order from the CA: member \"status\" is not"
	"identifiers-object|member \"identifiers\" is missing or not a"
	"authorizations-non-string|authorizations[1] is not an https:// URL"
	"deep-nesting|invalid order from the CA: maximum parsing depth"
	"huge-string|invalid order from the CA: unknown status \"sss"
)
for row in "${CASES[@]}"; do
	IFS='|' read -r value expected <<<"$row"
	hostile_run bad-json "$value"
	hostile_expect_failure "order JSON $value" "$expected"
	length=$(hostile_error_lines | wc -c)
	if [ "$length" -le "$MAX_ERROR_LINE" ]; then
		ok "order JSON $value: error line of $length bytes"
	else
		not_ok "order JSON $value: error line of $length bytes" \
			"expected at most $MAX_ERROR_LINE"
	fi
done

# An authorization for a name outside the order: nothing is answered or
# printed for it, and the escape sequence in it never reaches the output.
hostile_run foreign-authz
hostile_expect_failure "foreign authorization" \
	"its identifier is not one of the order's"
assert_not_contains "foreign authorization: name not printed" \
	"$HOSTILE_OUTPUT" "evil"

tap_done
