#!/bin/bash
# The broker's caps on the names of one `custos issue` request, at their
# edges: 100 names pass and 101 do not, a 63-byte label passes and a
# 64-byte one does not, and a 253-byte name passes and a 254-byte one
# does not. Each request names an issuer that does not exist, so a name
# that passes the caps reaches the issuer lookup and nothing is sent.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

custos_require_programs
lab_tmpdir custos-limits-broker || bail_out "cannot make a directory"
CONF=$LAB_DIR/custos.conf
cat >"$CONF" <<EOF
hsm {
	module "/usr/lib/softhsm/libsofthsm2.so"
	token-label "unused"
	pin-file "$LAB_DIR/unused.pin"
}
issuer pebble {
	directory "https://127.0.0.1:14000/dir"
}
policy {
	file "$LAB_DIR/policy.conf"
}
store {
	directory "$LAB_DIR/store"
}
audit {
	file "$LAB_DIR/audit.log"
}
EOF

# Usage: issue NAME ...
issue() {
	"$CUSTOS" issue --config "$CONF" --issuer nosuch "$@"
}

# Usage: names COUNT
names() {
	local i

	for ((i = 1; i <= $1; i++)); do
		printf 'n%d.test\n' "$i"
	done
}

# Usage: repeat CHAR COUNT
repeat() {
	printf "%${2}s" '' | tr ' ' "$1"
}

NO_ISSUER='issuer "nosuch" not found'

mapfile -t hundred < <(names 100)
assert_fails "100 names: request runs" issue "${hundred[@]}"
assert_contains "100 names pass the cap" "$TAP_OUTPUT" "$NO_ISSUER"

mapfile -t over < <(names 101)
assert_fails "101 names: request fails" issue "${over[@]}"
assert_contains "101 names are rejected" "$TAP_OUTPUT" \
	"give 1 to 100 names to issue a certificate for (got 101)"

assert_fails "63-byte label: request runs" issue "$(repeat a 63).test"
assert_contains "63-byte label passes" "$TAP_OUTPUT" "$NO_ISSUER"
assert_fails "64-byte label: request fails" issue "$(repeat a 64).test"
assert_contains "64-byte label is rejected" "$TAP_OUTPUT" \
	"is 64 characters long, over the maximum of 63"

# Labels of 62, 61, 61 and 61 bytes and ".test" make 253 bytes. One more
# byte in the first label makes 254, and every label stays under 64.
label=$(repeat b 61)
name253=b$label.$label.$label.$label.test
assert_equal "253-byte name is 253 bytes" "${#name253}" 253
assert_fails "253-byte name: request runs" issue "$name253"
assert_contains "253-byte name passes" "$TAP_OUTPUT" "$NO_ISSUER"
assert_fails "254-byte name: request fails" issue "b$name253"
assert_not_contains "254-byte name is rejected" "$TAP_OUTPUT" "$NO_ISSUER"
assert_contains "254-byte name: reason names the length" "$TAP_OUTPUT" \
	"254 characters long, over the maximum of 253"

tap_done
