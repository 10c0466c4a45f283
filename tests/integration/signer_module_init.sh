#!/bin/bash
# A PKCS#11 module that loads but whose C_Initialize fails (here SoftHSM2
# with a configuration file that does not exist) must end the signer with
# one error line that names the module's initialisation, not hsm.module,
# and exit status 1. libp11 unloads such a module itself, so closing its
# context again used to crash the signer with SIGSEGV. A path that is not
# a loadable library is still blamed on hsm.module.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

CLIENT=$CUSTOS_BUILD_DIR/tests/signer_client
TOKEN_LABEL=custos-signer-init
KEY_PUBLIC='{"key_id":"00000000000000000000000000000000"}'

for program in "$CUSTOS_SIGNER" "$CLIENT"; do
	[ -x "$program" ] || bail_out "$program is missing; run make first"
done
if [ "$(id -u)" -eq 0 ] &&
	! id "$CUSTOS_SIGNER_USER" >/dev/null 2>&1; then
	useradd --system --no-create-home --shell /usr/sbin/nologin \
		"$CUSTOS_SIGNER_USER" || bail_out "useradd failed"
fi
lab_tmpdir custos-signer-init || bail_out "cannot make a directory"
softhsm_init "$LAB_DIR" "$TOKEN_LABEL" || bail_out "cannot make a token"
printf 'tenant alpha {\n\tallow .alpha.test\n}\n' >"$LAB_DIR/policy.conf"

# Usage: write_config FILE MODULE
write_config() {
	cat >"$1" <<EOF2
hsm {
	module "$2"
	token-label "$TOKEN_LABEL"
	pin-file "$SOFTHSM_PIN_FILE"
}
signer {
	user $CUSTOS_SIGNER_USER
}
issuer pebble {
	directory "https://127.0.0.1:14000/dir"
}
policy {
	file "$LAB_DIR/policy.conf"
}
EOF2
}
write_config "$LAB_DIR/signer.conf" "$SOFTHSM_MODULE"
printf 'not a shared library\n' >"$LAB_DIR/not-a-module.so"
write_config "$LAB_DIR/bad-module.conf" "$LAB_DIR/not-a-module.so"
chmod 0644 "$LAB_DIR"/*.conf "$LAB_DIR/not-a-module.so"

# Prints the "custos-signer: error:" lines of OUTPUT.
error_lines() {
	printf '%s\n' "$1" | grep '^custos-signer: error:'
}

OUTPUT=$(SOFTHSM2_CONF=$LAB_DIR/missing.conf "$CLIENT" "$CUSTOS_SIGNER" \
	"$LAB_DIR/signer.conf" request key-public "$KEY_PUBLIC" 2>&1)
diag "$OUTPUT"
assert_equal "failed C_Initialize: signer exits 1, not by a signal" \
	"$(printf '%s\n' "$OUTPUT" | tail -1)" "exit 1"
assert_line_count "failed C_Initialize: one error line" \
	"$(error_lines "$OUTPUT")" 1
assert_contains "failed C_Initialize: error names the step" \
	"$(error_lines "$OUTPUT")" \
	"initialising PKCS#11 module '$SOFTHSM_MODULE' failed: CKR_"
assert_contains "failed C_Initialize: error points at SOFTHSM2_CONF" \
	"$(error_lines "$OUTPUT")" "SOFTHSM2_CONF"
assert_not_contains "failed C_Initialize: hsm.module is not blamed" \
	"$(error_lines "$OUTPUT")" "hsm.module"

OUTPUT=$("$CLIENT" "$CUSTOS_SIGNER" "$LAB_DIR/bad-module.conf" \
	request key-public "$KEY_PUBLIC" 2>&1)
diag "$OUTPUT"
assert_equal "not a library: signer exits 1" \
	"$(printf '%s\n' "$OUTPUT" | tail -1)" "exit 1"
assert_line_count "not a library: one error line" \
	"$(error_lines "$OUTPUT")" 1
assert_contains "not a library: error names the file and hsm.module" \
	"$(error_lines "$OUTPUT")" \
	"cannot load PKCS#11 module '$LAB_DIR/not-a-module.so'"
assert_contains "not a library: error points at hsm.module" \
	"$(error_lines "$OUTPUT")" "(check hsm.module)"

OUTPUT=$("$CLIENT" "$CUSTOS_SIGNER" "$LAB_DIR/signer.conf" \
	request key-public "$KEY_PUBLIC" 2>&1)
assert_equal "working module: the key id is unknown" \
	"$(printf '%s\n' "$OUTPUT" | grep -c '"code":"unknown-key"')" 1
assert_equal "working module: signer exits 0" \
	"$(printf '%s\n' "$OUTPUT" | tail -1)" "exit 0"

tap_done
