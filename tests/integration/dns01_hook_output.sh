#!/bin/bash
# The DNS hook output cap at its edge. The broker logs the first 4096
# bytes a hook prints (DNS_HOOK_OUTPUT_MAX). A hook that prints exactly
# 4096 bytes is logged whole with no cut notice. One more byte is
# dropped, and the log says "output cut at 4096 bytes". The hooks print
# 64-byte lines because each log line is capped at 2048 bytes, and they
# exit with status 3 so that the order fails without waiting for DNS.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/named.sh
source "$(dirname "$0")/../lib/named.sh"

named_lab_start custos-dns01-hook-output

# Usage: write_hook NAME LINES EXTRA
# Writes a hook that prints LINES lines "line-NN" padded with dots to 63
# characters plus a newline (64 bytes each), then EXTRA with no newline.
write_hook() {
	cat >"$LAB_DIR/$1" <<HOOK
#!/bin/bash
dots=\$(printf '%56s' '' | tr ' ' .)
for i in \$(seq -w 1 $2); do
	printf 'line-%s%s\\n' "\$i" "\$dots"
done
printf '%s' '$3'
exit 3
HOOK
	chmod 0755 "$LAB_DIR/$1"
}

# Usage: run_hook NAME
# Issues with the hook as the zone's DNS provider.
run_hook() {
	CUSTOS_EXTRA_BLOCKS="$(printf 'dns-zone %s {\n\thook "%s"\n' \
		"$NAMED_ZONE" "$LAB_DIR/$1"
		printf '\thook-timeout 10s\n\tnameserver %s %s\n' \
			"$NAMED_ADDRESS" "$NAMED_PORT"
		printf '\tpropagation-timeout 10s\n}\n')" \
		custos_write_config "$LAB_DIR" "$1.conf" ||
		bail_out "cannot write $LAB_DIR/$1.conf"
	CUSTOS_CONF=$LAB_DIR/$1.conf
	assert_fails "$1: order fails" custos_issue "${1%.sh}.example.test"
	assert_contains "$1: error shows the hook's status" "$TAP_OUTPUT" \
		"exited with status 3"
}

# Prints the hook's output lines from the broker's log in TAP_OUTPUT.
hook_lines() {
	printf '%s\n' "$TAP_OUTPUT" | grep -o 'dns hook add [^ ]*: .*' |
		sed 's/^dns hook add [^ ]*: //'
}

last_line="line-64$(printf '%56s' '' | tr ' ' .)"

# Control: 63 lines and "Z" (4033 bytes) log the "Z", so the check that
# byte 4097 is not logged can fail.
write_hook under.sh 63 Z
run_hook under.sh
assert_equal "4033 bytes: trailing byte logged" \
	"$(hook_lines | grep -c '^Z$')" 1

write_hook exact.sh 64 ''
run_hook exact.sh
assert_equal "4096 bytes: all 64 lines logged" \
	"$(hook_lines | grep -c '^line-')" 64
assert_equal "4096 bytes: last line logged whole" \
	"$(hook_lines | grep '^line-64')" "$last_line"
assert_not_contains "4096 bytes: no cut notice" "$TAP_OUTPUT" \
	"output cut at"

write_hook over.sh 64 Z
run_hook over.sh
assert_equal "4097 bytes: all 64 lines logged" \
	"$(hook_lines | grep -c '^line-')" 64
assert_equal "4097 bytes: last line logged whole" \
	"$(hook_lines | grep '^line-64')" "$last_line"
assert_equal "4097 bytes: byte 4097 not logged" \
	"$(hook_lines | grep -c '^Z$')" 0
assert_contains "4097 bytes: cut notice" "$TAP_OUTPUT" \
	"output cut at 4096 bytes"

tap_done
