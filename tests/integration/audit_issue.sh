#!/bin/bash
# The audit log of real runs against Pebble and SoftHSM2: the records of
# an issuance, of a denial by the broker and of a refusal by the signer,
# each with its fields; signed checkpoints checked by custos and by plain
# openssl and sha256sum; the audit key's attributes in the token; export,
# rotation and show; tampering reported at the right line; and no PIN in
# any audit file or output.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

# Usage: audit_field FIELD [KEY=VALUE ...]
# Prints FIELD (dotted, such as object.serial; a list is joined with
# commas) of the last record of the audit log whose fields equal every
# KEY=VALUE, or nothing when none does.
audit_field() {
	python3 - "$CUSTOS_AUDIT_LOG" "$@" <<'EOF'
import json, sys

def get(record, dotted):
    value = record
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, list):
        return ",".join(value)
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

# Usage: audit_count [KEY=VALUE ...]
# Prints the number of records whose fields equal every KEY=VALUE.
audit_count() {
	python3 - "$CUSTOS_AUDIT_LOG" "$@" <<'EOF'
import json, sys

def get(record, dotted):
    value = record
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)

count = 0
for line in open(sys.argv[1]):
    record = json.loads(line)
    if all(get(record, f.split("=", 1)[0]) == f.split("=", 1)[1]
           for f in sys.argv[2:]):
        count += 1
print(count)
EOF
}

audit() {
	"$CUSTOS" audit "$@"
}

check_issuance_records() {
	local serial order key_id

	serial=$(openssl x509 -noout -serial -in \
		"$(custos_store_file a.audit.test cert.pem)" | cut -d= -f2 |
		tr 'A-F' 'a-f')
	order=$(audit_field object.order action=order.create outcome=success)
	key_id=$(audit_field object.key_id action=certificate.issue \
		outcome=success)

	assert_equal "issue record: tenant" "$(audit_field actor.tenant \
		action=certificate.issue outcome=success)" lab
	assert_equal "issue record: user" "$(audit_field actor.user \
		action=certificate.issue outcome=success)" root
	assert_equal "issue record: uid" "$(audit_field actor.uid \
		action=certificate.issue outcome=success)" 0
	assert_equal "issue record: names" "$(audit_field object.names \
		action=certificate.issue outcome=success)" a.audit.test
	assert_equal "issue record: issuer" "$(audit_field object.issuer \
		action=certificate.issue outcome=success)" pebble
	assert_equal "issue record: serial is the certificate's" \
		"$(audit_field object.serial action=certificate.issue \
		outcome=success)" "$serial"
	assert_contains "order record: order URL" "$order" "https://"
	assert_equal "issue record: order URL is the order's" \
		"$(audit_field object.order action=certificate.issue \
		outcome=success)" "$order"
	assert_contains "issue record: account URL" "$(audit_field \
		object.account action=certificate.issue outcome=success)" \
		"https://"
	assert_equal "issue record: key id is 32 hex digits" \
		"$(grep -cE '^[0-9a-f]{32}$' <<<"$key_id")" 1
	assert_equal "one authorization record" "$(audit_count \
		action=order.authorize outcome=success)" 1
	assert_equal "one account record" "$(audit_count \
		action=account.ensure outcome=success)" 1
	assert_equal "signer recorded the certificate key" \
		"$(audit_field object.tenant source=signer \
		action=key.generate object.key_id="$key_id")" lab
	assert_equal "broker recorded its decision on the name" \
		"$(audit_field outcome source=broker action=policy.decision \
		object.subject=a.audit.test)" allowed
	assert_equal "signer recorded its decision on newOrder" \
		"$(audit_field outcome source=signer action=policy.decision \
		"object.subject=newOrder payload")" allowed
}

# The issuance ends with a checkpoint over its certificate.issue record;
# the audit key's first use adds its own record between the two.
check_checkpoint_record() {
	local last head_seq

	last=$(tail -n 1 "$CUSTOS_AUDIT_LOG")
	head_seq=$(jq_like object.head_seq <<<"$last")
	assert_equal "last record is a checkpoint" \
		"$(jq_like action <<<"$last")" audit.checkpoint
	assert_equal "checkpoint signs the certificate.issue record" \
		"$head_seq" "$(audit_field seq action=certificate.issue \
		outcome=success)"
	assert_equal "checkpoint head is that line's sha256sum" \
		"$(jq_like object.head <<<"$last")" \
		"$(sed -n "${head_seq}p" "$CUSTOS_AUDIT_LOG" | sha256sum |
		cut -d' ' -f1)"
}

# Usage: jq_like FIELD <<<JSON-LINE
jq_like() {
	python3 -c '
import json, sys
value = json.loads(sys.stdin.read())
for part in sys.argv[1].split("."):
    value = value[part]
print(value)' "$1"
}

# Checks a checkpoint with openssl alone, as docs/audit.md shows.
check_with_openssl() {
	local last text

	last=$(grep '"action":"audit.checkpoint"' "$CUSTOS_AUDIT_LOG" |
		tail -n 1)
	text="custos-audit-checkpoint-v1 $(jq_like object.head \
		<<<"$last") $(jq_like object.signed_at <<<"$last")"
	printf '%s' "$text" >"$LAB_DIR/checkpoint.txt"
	jq_like object.signature <<<"$last" | base64 -d \
		>"$LAB_DIR/checkpoint.sig"
	assert_equal "openssl verifies the checkpoint signature" \
		"$(openssl dgst -sha256 -verify "$LAB_DIR/audit.pub" \
		-signature "$LAB_DIR/checkpoint.sig" \
		"$LAB_DIR/checkpoint.txt" 2>&1)" "Verified OK"
}

check_audit_key() {
	local key_id probe

	key_id=$(audit_field object.key_id action=audit.export-key)
	assert_equal "signer recorded the audit key's generation" \
		"$(audit_field object.key_id action=audit.key-generate)" \
		"$key_id"
	probe=$("$CUSTOS_BUILD_DIR/tests/p11probe" "$SOFTHSM_MODULE" \
		"$SOFTHSM_LABEL" "$SOFTHSM_PIN_FILE" "$key_id" 2>&1)
	diag "p11probe for the audit key:" "$probe"
	assert_contains "audit key is sensitive" "$probe" "sensitive=1"
	assert_contains "audit key is not extractable" "$probe" \
		"extractable=0"
	assert_contains "audit key cannot be read" "$probe" \
		"value=CKR_ATTRIBUTE_SENSITIVE"
	assert_contains "audit key can sign" "$probe" "sign=1"
	assert_contains "audit key cannot derive" "$probe" "derive=0"
	assert_contains "audit key has its label" \
		"$(softhsm_list_objects 2>&1)" "custos/audit/$key_id"
}

check_broker_denial() {
	assert_status "broker denies a name outside the policy" 1 \
		custos_issue denied.example.org
	assert_equal "denial record from the broker" \
		"$(audit_field outcome source=broker action=policy.decision \
		object.subject=denied.example.org)" denied
	assert_contains "denial record names the reason" \
		"$(audit_field reason source=broker action=policy.decision \
		object.subject=denied.example.org)" "denied.example.org"
	assert_equal "failed issuance record" \
		"$(audit_field reason action=certificate.issue \
		outcome=failure object.names=denied.example.org)" \
		"the policy of tenant lab denies the request"
}

# A signer whose policy file changes after the broker's check refuses
# the order; the broker records the signer's refusal.
check_signer_refusal() {
	local wrapper=$LAB_DIR/signer-wrapper.sh policy=$LAB_DIR/policy.conf

	cp "$policy" "$LAB_DIR/policy.saved"
	sed 's/allow \.test/allow .other.test/' "$policy" \
		>"$LAB_DIR/policy.strict"
	printf '#!/bin/sh\ncp "%s" "%s"\nexec "%s" "$@"\n' \
		"$LAB_DIR/policy.strict" "$policy" "$CUSTOS_SIGNER" >"$wrapper"
	chmod 0755 "$wrapper"
	sed "s|program \"$CUSTOS_SIGNER\"|program \"$wrapper\"|" \
		"$CUSTOS_CONF" >"$LAB_DIR/refusal.conf"

	assert_status "signer refuses what its policy denies" 1 \
		"$CUSTOS" issue --config "$LAB_DIR/refusal.conf" r.audit.test
	cp "$LAB_DIR/policy.saved" "$policy"
	assert_equal "refusal record from the signer" \
		"$(audit_field object.code source=signer \
		action=signer.refusal)" policy-denied
	assert_equal "refusal record outcome" "$(audit_field outcome \
		source=signer action=signer.refusal)" denied
	assert_equal "refusal record request" "$(audit_field \
		object.request source=signer action=signer.refusal)" jws-sign
	assert_equal "refusal record tenant" "$(audit_field object.tenant \
		source=signer action=signer.refusal)" lab
	assert_contains "refusal record reason names the name" \
		"$(audit_field reason source=signer action=signer.refusal)" \
		"r.audit.test"
	assert_equal "signer's denied decision on the name" \
		"$(audit_field outcome source=signer action=policy.decision \
		object.subject=r.audit.test)" denied
}

check_tampering() {
	local copy=$LAB_DIR/tampered.log line

	sed '3s/"outcome":"allowed"/"outcome":"denied"/' \
		"$CUSTOS_AUDIT_LOG" >"$copy"
	assert_fails "verify rejects a changed record" audit verify "$copy"
	assert_contains "changed record reported at line 4" "$TAP_OUTPUT" \
		"$copy:4: record 4: \"prev\" does not match"

	sed '5d' "$CUSTOS_AUDIT_LOG" >"$copy"
	assert_fails "verify rejects a removed record" audit verify "$copy"
	assert_contains "removed record reported at line 5" "$TAP_OUTPUT" \
		"$copy:5: record 5: found record 6 where record 5 belongs"

	line=$(grep -n '"action":"audit.checkpoint"' "$CUSTOS_AUDIT_LOG" |
		head -n 1 | cut -d: -f1)
	sed -E "${line}s/\"signature\":\"[^\"]*\"/\"signature\":\"$(printf \
		'forged' | base64)\"/" "$CUSTOS_AUDIT_LOG" >"$copy"
	assert_fails "verify rejects a forged checkpoint" audit verify \
		--key "$LAB_DIR/audit.pub" "$copy"
	assert_contains "forged checkpoint reported at its line" \
		"$TAP_OUTPUT" "$copy:$line: record $line: checkpoint signature"
}

check_rotation() {
	local rotated

	assert_status "audit rotate succeeds" 0 audit rotate \
		--config "$CUSTOS_CONF"
	rotated=$(sed -n 's/^rotated: //p' <<<"$TAP_OUTPUT")
	assert_file_exists "rotated file exists" "$rotated"
	assert_equal "rotated file ends with the rotate record" \
		"$(tail -n 1 "$rotated" | jq_like action)" audit.rotate
	assert_equal "new file starts with a checkpoint" \
		"$(head -n 1 "$CUSTOS_AUDIT_LOG" | jq_like action)" \
		audit.checkpoint
	assert_equal "new file links to the rotated file" \
		"$(head -n 1 "$CUSTOS_AUDIT_LOG" | jq_like prev)" \
		"$(tail -n 1 "$rotated" | sha256sum | cut -d' ' -f1)"
	assert_status "verify follows the chain across files" 0 audit \
		verify --key "$LAB_DIR/audit.pub" --config "$CUSTOS_CONF"
	assert_contains "verify counts two files" "$TAP_OUTPUT" \
		"in 2 files"
	assert_fails "the new file alone starts mid-chain" audit verify \
		"$CUSTOS_AUDIT_LOG"
	assert_status "the new file alone passes with --partial" 0 audit \
		verify --partial "$CUSTOS_AUDIT_LOG"
}

check_show() {
	assert_status "show filters by action and outcome" 0 audit show \
		--config "$CUSTOS_CONF" --action certificate --outcome success
	assert_line_count "one successful certificate record" \
		"$TAP_OUTPUT" 1
	assert_contains "show prints the action and tenant" "$TAP_OUTPUT" \
		"certificate.issue success tenant=lab user=root uid=0"
	assert_status "show filters by name, as JSON" 0 audit show \
		--config "$CUSTOS_CONF" --name denied.example.org --json
	assert_equal "JSON lines are the stored records" \
		"$(head -n 1 <<<"$TAP_OUTPUT" | jq_like object.subject)" \
		denied.example.org
	assert_status "show filters by time" 0 audit show \
		--config "$CUSTOS_CONF" --since 2999-01-01
	assert_equal "no record after 2999" "$TAP_OUTPUT" ""
	assert_fails "show rejects an invalid time" audit show \
		--config "$CUSTOS_CONF" --since yesterday
	assert_contains "invalid time message" "$TAP_OUTPUT" \
		"invalid --since \"yesterday\""
}

check_no_secret() {
	local files

	files=$(ls "$LAB_DIR"/audit/*)
	assert_equal "no audit file contains the PIN" \
		"$(grep -l -F "$SOFTHSM_PIN" $files)" ""
	assert_equal "no audit file contains a private key" \
		"$(grep -l 'PRIVATE KEY' $files)" ""
	assert_not_contains "no output contained the PIN" "$ALL_OUTPUT" \
		"$SOFTHSM_PIN"
}

custos_lab_start custos-audit-issue
ALL_OUTPUT=

assert_status "custos issue succeeds" 0 custos_issue a.audit.test
ALL_OUTPUT+=$TAP_OUTPUT
check_issuance_records
check_checkpoint_record

assert_status "audit export-key succeeds" 0 audit export-key \
	--config "$CUSTOS_CONF" --output "$LAB_DIR/audit.pub"
ALL_OUTPUT+=$TAP_OUTPUT
check "exported key is a PEM public key" openssl pkey -pubin \
	-in "$LAB_DIR/audit.pub" -noout
check_audit_key
check_with_openssl

check_broker_denial
ALL_OUTPUT+=$TAP_OUTPUT
check_signer_refusal
ALL_OUTPUT+=$TAP_OUTPUT

assert_status "verify with the key passes" 0 audit verify \
	--key "$LAB_DIR/audit.pub" "$CUSTOS_AUDIT_LOG"
assert_contains "verify checked every signature" "$TAP_OUTPUT" \
	"every signature verified"
check_tampering
check_show
check_rotation
ALL_OUTPUT+=$TAP_OUTPUT
check_no_secret

tap_done
