#!/bin/bash
# dns-01 failures and cleanup. A wrong TSIG secret, an unreachable update
# server and a hook that exits non-zero each fail with a clear error and
# leave no TXT record. A hook that updates named works. A value that an
# earlier run left behind (journalled, still in the zone) is removed at the
# next start.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/named.sh
source "$(dirname "$0")/../lib/named.sh"

named_lab_start custos-dns01-errors
GOOD_CONF=$CUSTOS_CONF

# Usage: write_variant FILE-NAME BLOCKS
# Writes another configuration with BLOCKS as its dns-zone blocks.
write_variant() {
	CUSTOS_EXTRA_BLOCKS=$2 custos_write_config "$LAB_DIR" "$1" ||
		bail_out "cannot write $LAB_DIR/$1"
}

# Usage: write_hook NAME BODY
# Writes an executable hook script that the broker's user can run.
write_hook() {
	printf '#!/bin/bash\n%s\n' "$2" >"$LAB_DIR/$1"
	chmod 0755 "$LAB_DIR/$1"
}

# Usage: hook_block ZONE PROGRAM
hook_block() {
	printf 'dns-zone %s {\n\thook "%s"\n\thook-timeout 10s\n' "$1" "$2"
	printf '\tnameserver %s %s\n' "$NAMED_ADDRESS" "$NAMED_PORT"
	printf '\tpropagation-timeout 10s\n\tpropagation-interval 1s\n}\n'
}

secret() {
	sed -n 's/.*secret "\(.*\)";/\1/p' "$1"
}

# A key with the right name and algorithm but another secret.
tsig-keygen -a hmac-sha256 "$NAMED_KEY_NAME" >"$LAB_DIR/wrong.key"
chmod 0600 "$LAB_DIR/wrong.key"
custos_give_to "$CUSTOS_BROKER_USER" "$LAB_DIR/wrong.key"
write_variant wrong-key.conf "$(named_zone_block "$NAMED_ZONE" \
	"$LAB_DIR/wrong.key")"
CUSTOS_CONF=$LAB_DIR/wrong-key.conf
assert_fails "wrong TSIG secret fails" custos_issue wrong.example.test
assert_contains "wrong secret: error names the key" "$TAP_OUTPUT" \
	"rejected the TSIG signature adding the TXT record"
assert_not_contains "wrong secret: secret not printed" "$TAP_OUTPUT" \
	"$(secret "$LAB_DIR/wrong.key")"
named_check_no_txt "wrong secret"

write_variant unreachable.conf "$(named_zone_block "$NAMED_ZONE" \
	"$NAMED_SECRET_FILE" 5399)"
CUSTOS_CONF=$LAB_DIR/unreachable.conf
assert_fails "unreachable server fails" custos_issue far.example.test
assert_contains "unreachable: error names the server" "$TAP_OUTPUT" \
	"at 127.0.0.1:5399 failed"
named_check_no_txt "unreachable server"

write_hook fail-hook.sh 'echo "cannot reach the DNS provider"; exit 3'
write_variant fail-hook.conf "$(hook_block "$NAMED_ZONE" \
	"$LAB_DIR/fail-hook.sh")"
CUSTOS_CONF=$LAB_DIR/fail-hook.conf
assert_fails "failing hook fails" custos_issue hook.example.test
assert_contains "failing hook: exit status shown" "$TAP_OUTPUT" \
	"exited with status 3"
assert_contains "failing hook: output logged" "$TAP_OUTPUT" \
	"cannot reach the DNS provider"
named_check_no_txt "failing hook"

# A hook that does what RFC 2136 would, through nsupdate. It records its
# arguments so that the test can check them.
write_hook nsupdate-hook.sh "$(cat <<HOOK
echo "\$*" >>"$LAB_DIR/hook-calls.log"
verb=add; ttl=30
[ "\$1" = remove ] && { verb=delete; ttl=; }
nsupdate -y "hmac-sha256:$NAMED_KEY_NAME:$(secret "$NAMED_SECRET_FILE")" <<U
server $NAMED_ADDRESS $NAMED_PORT
zone \$CUSTOS_DNS_ZONE
update \$verb \$3 \$ttl TXT "\$4"
send
U
HOOK
)"
touch "$LAB_DIR/hook-calls.log"
custos_give_to "$CUSTOS_BROKER_USER" "$LAB_DIR/hook-calls.log"
write_variant hook.conf "$(hook_block "$NAMED_ZONE" \
	"$LAB_DIR/nsupdate-hook.sh")"
CUSTOS_CONF=$LAB_DIR/hook.conf
assert_status "hook publishes the record" 0 custos_issue hook.example.test
assert_contains "hook got add NAME RECORD" "$(cat "$LAB_DIR/hook-calls.log")" \
	"add hook.example.test _acme-challenge.hook.example.test "
assert_contains "hook got the tenant" "$(cat "$LAB_DIR/hook-calls.log")" \
	" lab"
assert_contains "hook was called to remove" \
	"$(cat "$LAB_DIR/hook-calls.log")" "remove hook.example.test"
named_check_no_txt "working hook"

# A value left by an earlier run: in the zone and in the journal.
nsupdate -y "hmac-sha256:$NAMED_KEY_NAME:$(secret "$NAMED_SECRET_FILE")" <<U
server $NAMED_ADDRESS $NAMED_PORT
zone $NAMED_ZONE
update add _acme-challenge.left.example.test 30 TXT "leftover-value_1"
update add _acme-challenge.left.example.test 30 TXT "someone-elses"
send
U
mkdir -p "$CUSTOS_STATE/dns-records"
printf 'add %s _acme-challenge.left.example.test leftover-value_1\n' \
	"$NAMED_ZONE" >"$CUSTOS_STATE/dns-records/pending-1-1"
custos_give_to "$CUSTOS_BROKER_USER" "$CUSTOS_STATE/dns-records"
assert_equal "leftover is in the zone" \
	"$(named_txt _acme-challenge.left.example.test | sort | tr '\n' ' ')" \
	"leftover-value_1 someone-elses "
CUSTOS_CONF=$GOOD_CONF
assert_status "next run succeeds" 0 custos_issue next.example.test
assert_contains "next run removed the leftover" "$TAP_OUTPUT" \
	"removed the TXT record _acme-challenge.left.example.test left by"
assert_equal "only the journalled value was removed" \
	"$(named_txt _acme-challenge.left.example.test)" "someone-elses"
assert_equal "journal is empty" "$(ls "$CUSTOS_STATE/dns-records")" ""

tap_done
