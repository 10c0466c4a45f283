#!/bin/bash
# Runs `custos issue` against Pebble under a policy with two tenants.
# Allowed names issue. Each denied request exits 1 with the rule in its
# error line before any order reaches Pebble or any key is made: a name
# outside the allowed subtree, a name under a deny rule, a key type, too
# many names, a caller in no tenant (also for `custos account` and
# `custos revoke`) and --tenant for another tenant. The same name issued
# for two tenants lands in two store directories.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

# STRANGER_UID belongs to no tenant, and the user "nobody" only to tenant
# "other". setpriv runs the broker as either without creating accounts.
STRANGER_UID=4243

write_policy() {
	POLICY_FILE=$LAB_DIR/tenants.policy
	cat >"$POLICY_FILE" <<'POLICY'
tenant lab {
	users root
	allow .demo.test shared.test
	deny secret.demo.test
	issuers pebble
	accounts pebble
	challenges http-01
	key-types ec-p256 ec-p384
	max-names 2
}
tenant other {
	users nobody
	allow shared.test
	issuers pebble
	accounts pebble
	challenges http-01
	key-types ec-p256
}
POLICY
	chmod 0644 "$POLICY_FILE"
}

# Usage: expect_denied CASE EXPECTED-LINE COMMAND [ARG ...]
# Runs COMMAND, expects exit 1 with EXPECTED-LINE among its error lines,
# and checks that Pebble saw no new order, the token no new key and the
# store no new file.
expect_denied() {
	local case_name=$1 expected=$2 orders keys store

	shift 2
	orders=$(pebble_order_count)
	keys=$(softhsm_private_key_count)
	store=$(custos_store_snapshot)
	assert_status "$case_name: exit 1" 1 "$@"
	assert_contains "$case_name: error line" \
		"$(grep ': error: ' <<<"$TAP_OUTPUT")" "$expected"
	assert_equal "$case_name: no order reached Pebble" \
		"$(pebble_order_count)" "$orders"
	assert_equal "$case_name: no key generated" \
		"$(softhsm_private_key_count)" "$keys"
	assert_equal "$case_name: store unchanged" \
		"$(custos_store_snapshot)" "$store"
}

# Usage: run_as UID-OR-USER COMMAND [ARG ...]
# Runs COMMAND with that real and effective uid, its own gid and no
# supplementary groups.
run_as() {
	local user=$1 uid gid

	shift
	uid=$(id -u "$user" 2>/dev/null || printf '%s' "$user")
	gid=$(id -g "$user" 2>/dev/null || printf '%s' "$user")
	setpriv --reuid="$uid" --regid="$gid" --clear-groups "$@"
}

check_allowed() {
	assert_status "allowed name: custos issue succeeds" 0 \
		custos_issue a.demo.test
	assert_contains "allowed name: policy line" "$TAP_OUTPUT" \
		"policy: tenant lab may request 1 name from pebble"
	assert_file_exists "allowed name: stored under the tenant" \
		"$(custos_store_file a.demo.test fullchain.pem lab)"
	assert_file_exists "account record under issuer and account" \
		"$CUSTOS_STATE/accounts/pebble/pebble.json"
	assert_equal "allowed name: Pebble created one order" \
		"$(pebble_order_count)" 1
}

check_denied_names() {
	expect_denied "name outside the subtree" \
		"tenant lab: www.example.org: denied, no rule allows it" \
		custos_issue www.example.org
	expect_denied "name under a deny rule" \
		"$(printf '%s' "tenant lab: secret.demo.test: denied by deny " \
			"secret.demo.test at $POLICY_FILE:4:7")" \
		custos_issue secret.demo.test
	expect_denied "wildcard over a denied name" \
		"a name that the wildcard covers" custos_issue '*.demo.test'
	assert_line_count "two denied names: one line each" \
		"$(custos_issue secret.demo.test x.example.org 2>&1 |
			grep ': error: ')" 2
}

check_denied_settings() {
	expect_denied "denied key type" \
		"$(printf '%s' "tenant lab: key type rsa-2048: denied, not " \
			"in the key-types of tenant lab")" \
		custos_issue --key-type rsa-2048 b.demo.test
	expect_denied "too many names" \
		"$(printf '%s' "tenant lab: 3 names: denied by max-names 2 " \
			"at $POLICY_FILE:9:12")" \
		custos_issue c.demo.test d.demo.test e.demo.test
}

# Usage: tenant_denial_count REQUESTED-TENANT
# Prints how many policy.decision records of the audit log deny tenant
# selection for REQUESTED-TENANT.
tenant_denial_count() {
	python3 - "$CUSTOS_AUDIT_LOG" "$1" <<'EOF'
import json, sys

count = 0
for line in open(sys.argv[1]):
    record = json.loads(line)
    detail = record.get("object") or {}
    if (record.get("action") == "policy.decision" and
            record.get("outcome") == "denied" and
            detail.get("subject") == "tenant selection" and
            detail.get("requested_tenant") == sys.argv[2]):
        count += 1
print(count)
EOF
}

check_callers() {
	expect_denied "caller in no tenant" \
		"$(printf '%s' "user uid $STRANGER_UID belongs to no tenant " \
			"in $POLICY_FILE (list the user in a tenant's " \
			"users)")" \
		run_as "$STRANGER_UID" "$CUSTOS" issue --config "$CUSTOS_CONF" \
		f.demo.test
	# account and revoke select the tenant before they open the audit
	# log, so the stranger gets the tenant error, not the log's.
	expect_denied "account register by a caller in no tenant" \
		"user uid $STRANGER_UID belongs to no tenant" \
		run_as "$STRANGER_UID" "$CUSTOS" account register \
		--config "$CUSTOS_CONF"
	expect_denied "revoke by a caller in no tenant" \
		"user uid $STRANGER_UID belongs to no tenant" \
		run_as "$STRANGER_UID" "$CUSTOS" revoke --config "$CUSTOS_CONF" \
		f.demo.test
	expect_denied "--tenant of another tenant" \
		"user nobody may not act for tenant lab" \
		run_as nobody "$CUSTOS" issue --config "$CUSTOS_CONF" \
		--tenant lab g.demo.test
	expect_denied "--tenant that does not exist" \
		"tenant \"nope\" not found in $POLICY_FILE" \
		custos_issue --tenant nope h.demo.test
	assert_equal "root's denied --tenant is in the audit log" \
		"$(tenant_denial_count nope)" 1
	assert_equal "nobody's denial, without audit log access, is not" \
		"$(tenant_denial_count lab)" 0
}

# root acts for tenant "other" with --tenant, and each tenant keeps its
# own copy.
check_store_separation() {
	local lab_cert other_cert

	assert_status "shared name for lab succeeds" 0 \
		custos_issue shared.test
	assert_status "shared name for other (root, --tenant) succeeds" 0 \
		custos_issue --tenant other shared.test
	lab_cert=$(custos_store_file shared.test cert.pem lab)
	other_cert=$(custos_store_file shared.test cert.pem other)
	assert_file_exists "lab has its certificate" "$lab_cert"
	assert_file_exists "other has its certificate" "$other_cert"
	assert_not_equal "the two certificates differ" \
		"$(openssl x509 -in "$lab_cert" -noout -serial 2>&1)" \
		"$(openssl x509 -in "$other_cert" -noout -serial 2>&1)"
	assert_equal "store has exactly the two tenants" \
		"$(ls "$CUSTOS_STORE")" "$(printf 'lab\nother')"
}

custos_require_programs
lab_tmpdir custos-policy-pebble ||
	bail_out "cannot make a directory under /tmp"
write_policy
pebble_start "$LAB_DIR" ||
	bail_out "Pebble did not start; see $LAB_DIR/pebble/*.log"
softhsm_init "$LAB_DIR" custos-test ||
	bail_out "SoftHSM2 token setup failed in $LAB_DIR/softhsm"
CUSTOS_POLICY=$POLICY_FILE custos_write_config "$LAB_DIR" ||
	bail_out "cannot write $LAB_DIR/custos.conf"

check_allowed
check_denied_names
check_denied_settings
check_callers
check_store_separation

tap_done
