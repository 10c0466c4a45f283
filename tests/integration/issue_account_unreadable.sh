#!/bin/bash
# An account record that the broker user cannot read is reported as
# unreadable, with the users custos issue must run as, and not as an
# invalid record to remove (removing it would register a new account).
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

custos_lab_start custos-account-unreadable
assert_status "first run registers the account" 0 custos_issue a.test
RECORD=$(find "$CUSTOS_STATE" -type f -name '*.json' | head -n 1)
assert_not_equal "account record exists" "$RECORD" ""
[ -n "$RECORD" ] || bail_out "no account record under $CUSTOS_STATE"

chown root: "$RECORD" && chmod 0600 "$RECORD"
assert_fails "unreadable record fails the run" custos_issue b.test
assert_contains "error says the record cannot be read" "$TAP_OUTPUT" \
	"cannot read account record $RECORD: Permission denied"
assert_contains "error names who may run custos issue" "$TAP_OUTPUT" \
	"run custos issue as root or as the broker user"
assert_not_contains "error does not advise removing it" "$TAP_OUTPUT" \
	"remove it"
assert_file_exists "record is still there" "$RECORD"

tap_done
