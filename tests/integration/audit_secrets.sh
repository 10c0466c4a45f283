#!/bin/bash
# One issuance that uses all three secrets Custos handles: the token PIN,
# an External Account Binding HMAC key (Pebble requires EAB) and a TSIG
# secret (dns-01 through BIND 9). Afterwards no audit log, store or state
# file, configuration, server log or command output may contain any of
# them, in any of the encodings they could be written in.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/named.sh
source "$(dirname "$0")/../lib/named.sh"

# Usage: encodings HEX
# Prints the bytes given in hex as hex, base64 and base64url, one a line,
# without padding so that a match inside a longer string counts too.
encodings() {
	local b64

	b64=$(xxd -r -p <<<"$1" | base64 -w0 | tr -d '=')
	printf '%s\n%s\n%s\n' "$1" "$b64" "$(tr '+/' '-_' <<<"$b64")"
}

EAB_HEX=$(openssl rand -hex 32)
EAB_B64URL=$(xxd -r -p <<<"$EAB_HEX" | base64 -w0 | tr '+/' '-_' |
	tr -d '=')
PEBBLE_EAB_KEYS="{\"kid-audit\": \"$EAB_B64URL\"}"
named_lab_start custos-audit-secrets

EAB_FILE=$LAB_DIR/eab.key
printf '%s\n' "$EAB_B64URL" >"$EAB_FILE"
chmod 0600 "$EAB_FILE"
CUSTOS_POLICY=$LAB_DIR/policy.conf
cat >"$CUSTOS_POLICY" <<EOF
tenant $CUSTOS_TENANT {
	users $(id -un)
	allow .example.test example.test
	issuers eab
	accounts main
	challenges dns-01
	key-types ec-p256
}
EOF
chmod 0644 "$CUSTOS_POLICY"
CUSTOS_EXTRA_BLOCKS+="
issuer eab {
	directory \"$PEBBLE_DIRECTORY\"
	trust-bundle \"$PEBBLE_TLS_CA\"
	contact mailto:admin@example.org
	agree-tos yes
	account main
	eab-key-id kid-audit
	eab-key-file \"$EAB_FILE\"
}"
custos_write_config "$LAB_DIR" || bail_out "cannot write the configuration"

ALL_OUTPUT=
assert_status "import-eab stores the HMAC key" 0 "$CUSTOS" account \
	import-eab --config "$CUSTOS_CONF" --issuer eab
ALL_OUTPUT+=$TAP_OUTPUT
assert_status "dns-01 issuance through the EAB account" 0 custos_issue \
	--issuer eab secret.example.test
ALL_OUTPUT+=$TAP_OUTPUT
assert_file_exists "the certificate is stored" \
	"$(custos_store_file secret.example.test cert.pem)"
assert_contains "the audit log recorded the issuance" \
	"$(cat "$CUSTOS_AUDIT_LOG")" "secret.example.test"
named_check_no_txt "after the issuance"

TSIG_B64=$(sed -n 's/.*secret "\([^"]*\)".*/\1/p' "$NAMED_SECRET_FILE")
[ -n "$TSIG_B64" ] || bail_out "no secret in $NAMED_SECRET_FILE"
TSIG_HEX=$(base64 -d <<<"$TSIG_B64" | xxd -p | tr -d '\n')
PIN_HEX=$(printf %s "$SOFTHSM_PIN" | xxd -p | tr -d '\n')

# Every file the run wrote, but for the secrets' own files: the token and
# PIN file, named's key and configuration, Pebble's configuration (which
# lists the EAB key) and the EAB key file.
printf '%s' "$ALL_OUTPUT" >"$LAB_DIR/outputs.txt"
mapfile -t FILES < <(find "$LAB_DIR" -type f \
	! -path "$LAB_DIR/softhsm/*" ! -path "$LAB_DIR/named/tsig.key" \
	! -path "$LAB_DIR/named/named.conf" \
	! -path "$LAB_DIR/pebble/*.json" ! -path "$EAB_FILE" | sort)
assert_contains "the search covers the audit log" "${FILES[*]}" \
	"$CUSTOS_AUDIT_LOG"

for secret in pin eab tsig; do
	case $secret in
	pin) values=("$SOFTHSM_PIN" "$PIN_HEX") ;;
	eab) mapfile -t values < <(encodings "$EAB_HEX") ;;
	tsig) mapfile -t values < <(encodings "$TSIG_HEX") ;;
	esac
	found=
	for value in "${values[@]}"; do
		found+=$(grep -lF -- "$value" "${FILES[@]}" 2>/dev/null)
	done
	assert_equal "no file or output holds the $secret" "$found" ""
done

tap_done
