#!/bin/bash
# The audit records of the actions that change state after issuance, run
# against Pebble and SoftHSM2: a revocation (reason, serial and signing
# key), an account key rollover (old and new key, and the signer's
# key.destroy record), a certificate added, reissued and rolled back
# through the daemon's API (written by the API process itself), and the
# admin.command record of each command. The chain and its checkpoints
# still verify after all of them.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/daemon.sh
source "$(dirname "$0")/../lib/daemon.sh"

# Usage: audit_field FIELD [KEY=VALUE ...]
# Prints FIELD (dotted, such as object.serial; a list is joined with
# commas) of the last record whose fields equal every KEY=VALUE, or
# nothing when none does.
audit_field() {
	python3 - "$CUSTOS_AUDIT_LOG" "$@" <<'EOF'
import json, sys

def get(record, dotted):
    value = record
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)

path, field, filters = sys.argv[1], sys.argv[2], sys.argv[3:]
found = ""
for line in open(path):
    record = json.loads(line)
    if all(get(record, f.split("=", 1)[0]) == f.split("=", 1)[1]
           for f in filters):
        found = get(record, field)
print(found)
EOF
}

account_key() {
	jq -r .key_id "$CUSTOS_STATE/accounts/pebble/pebble.json"
}

custos_lab_start custos-audit-actions
API_SOCKET=$LAB_DIR/run/api.sock

# 1. Revocation with the account key, reason superseded.
assert_status "issue succeeds" 0 custos_issue revoked.demo.test
# openssl prints the serial's whole bytes, as the audit record does, so
# a serial with a leading zero nibble keeps it in both.
serial=$(openssl x509 -noout -serial -in \
	"$(custos_store_file revoked.demo.test cert.pem)" | cut -d= -f2 |
	tr 'A-F' 'a-f')
key=$(account_key)
assert_status "revoke succeeds" 0 "$CUSTOS" revoke --config \
	"$CUSTOS_CONF" --reason superseded revoked.demo.test
R="action=certificate.revoke"
assert_equal "revoke record: outcome" \
	"$(audit_field outcome $R)" success
assert_equal "revoke record: serial" \
	"$(audit_field object.serial $R)" "$serial"
assert_equal "revoke record: reason code" \
	"$(audit_field object.revocation_reason $R)" 4
assert_equal "revoke record: signed by" \
	"$(audit_field object.signed_by $R)" account-key
assert_equal "revoke record: signing key" \
	"$(audit_field object.key_id $R)" "$key"
assert_equal "revoke record: issuer" \
	"$(audit_field object.issuer $R)" pebble
assert_contains "revoke record: account" \
	"$(audit_field object.account $R)" "https://localhost:14000/my-account/"
assert_equal "revoke record: tenant" \
	"$(audit_field actor.tenant $R)" lab
assert_equal "revoke command record: outcome" \
	"$(audit_field outcome action=admin.command object.command=revoke)" \
	success
assert_equal "revoke run ends with a checkpoint" \
	"$(tail -n 1 "$CUSTOS_AUDIT_LOG" | jq -r .action)" audit.checkpoint

# 2. Account key rollover; the signer reports the destroyed key.
old_key=$(account_key)
assert_status "account rollover succeeds" 0 "$CUSTOS" account rollover \
	--config "$CUSTOS_CONF"
new_key=$(account_key)
R="action=account.rollover"
assert_equal "rollover record: outcome" \
	"$(audit_field outcome $R)" success
assert_equal "rollover record: old key" \
	"$(audit_field object.old_key_id $R)" "$old_key"
assert_equal "rollover record: new key" \
	"$(audit_field object.key_id $R)" "$new_key"
assert_equal "rollover record: issuer" \
	"$(audit_field object.issuer $R)" pebble
R="action=key.destroy"
assert_equal "key.destroy comes from the signer" \
	"$(audit_field source $R)" signer
assert_equal "key.destroy: outcome" "$(audit_field outcome $R)" success
assert_equal "key.destroy: key id" \
	"$(audit_field object.key_id $R)" "$old_key"
assert_equal "key.destroy: purpose" \
	"$(audit_field object.purpose $R)" account
assert_equal "key.destroy: tenant" "$(audit_field object.tenant $R)" lab
assert_equal "key.generate of the new key is recorded" \
	"$(audit_field object.account action=key.generate \
	object.key_id="$new_key")" pebble
assert_equal "rollover command record" \
	"$(audit_field object.account_name action=admin.command \
	'object.command=account rollover')" pebble

# 3. Add, reissue and roll back through the API.
cat >>"$CUSTOS_CONF" <<CONF
daemon {
	poll-interval 1s
	renew-jitter 0
	retry-base 2s
	retry-max 5s
}
api {
	socket "$API_SOCKET"
}
CONF
at_exit daemon_stop
daemon_start
wait_for_log 30 "api: listening on $API_SOCKET" ||
	bail_out "the API process did not start: $(tail -n 20 "$DAEMON_LOG")"
api_post() {
	curl -sS --unix-socket "$API_SOCKET" -X POST \
		-H "Content-Type: application/json" ${2:+--data-binary "$2"} \
		"http://localhost$1"
}
body=$(api_post /v1/certificates '{"names":["api.demo.test"]}')
assert_equal "API add answers with id 1" "$(jq -r .id <<<"$body")" 1
R="action=admin.command object.method=POST object.path=/v1/certificates"
assert_equal "API add record: interface" \
	"$(audit_field object.interface $R)" api
assert_equal "API add record: status" "$(audit_field object.status $R)" 201
assert_equal "API add record: certificate" \
	"$(audit_field object.certificate_id $R)" 1
assert_equal "API add record: names" \
	"$(audit_field object.names $R)" api.demo.test
assert_equal "API add record: tenant" "$(audit_field object.tenant $R)" lab
assert_equal "API add record: user" "$(audit_field actor.user $R)" root
assert_equal "API add record: policy decision first" \
	"$(audit_field outcome action=policy.decision \
	object.subject=api.demo.test)" allowed

wait_for 90 "SELECT count(*) FROM versions WHERE status = 'current'" 1 ||
	diag "daemon log:" "$(tail -n 30 "$DAEMON_LOG")"
v1=$(state_query "SELECT name FROM versions WHERE status = 'current'")
api_post /v1/certificates/1/reissue >/dev/null
wait_for 90 "SELECT count(*) FROM versions WHERE status = 'previous'" 1 ||
	diag "daemon log:" "$(tail -n 30 "$DAEMON_LOG")"
v2=$(state_query "SELECT name FROM versions WHERE status = 'current'")
assert_equal "API reissue record: status" \
	"$(audit_field object.status action=admin.command \
	object.path=/v1/certificates/1/reissue)" 202
body=$(api_post /v1/certificates/1/rollback)
assert_equal "API rollback restores the first version" \
	"$(jq -r .current <<<"$body")" "$v1"
R="action=certificate.rollback"
assert_equal "rollback record: outcome" "$(audit_field outcome $R)" success
assert_equal "rollback record: from" \
	"$(audit_field object.from_version $R)" "$v2"
assert_equal "rollback record: to" "$(audit_field object.to_version $R)" \
	"$v1"
assert_equal "rollback record: trigger" \
	"$(audit_field object.trigger $R)" command
assert_equal "rollback record: certificate" \
	"$(audit_field object.certificate_id $R)" 1
body=$(api_post /v1/certificates/1/rollback)
assert_equal "a second rollback record fails" \
	"$(audit_field outcome action=admin.command \
	object.path=/v1/certificates/1/rollback object.status=409)" failure
assert_contains "the failed command gives the reason" \
	"$(audit_field reason action=admin.command \
	object.path=/v1/certificates/1/rollback object.status=409)" \
	"no earlier version to roll back to"
daemon_stop

# 4. The whole chain, checkpoints included, still verifies.
"$CUSTOS" audit export-key --config "$CUSTOS_CONF" \
	--output "$LAB_DIR/audit.pub" >/dev/null
assert_status "audit verify succeeds" 0 "$CUSTOS" audit verify \
	--config "$CUSTOS_CONF" --key "$LAB_DIR/audit.pub"
assert_contains "verify reports every signature verified" \
	"$TAP_OUTPUT" "every signature verified"

tap_done
