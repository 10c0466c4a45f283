#!/bin/bash
# The checks on the PIN file. The signer must reject each of these at
# once, with one error line that names the file and the fix: a FIFO, a
# symbolic link, a directory, a file that grants group or others access,
# and a file owned by another user even with mode 0600, because that user
# could read or replace the PIN. A FIFO used to block the signer in
# open(2) until a writer came. The root-owned 0600 file that softhsm.sh
# writes is accepted.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

CLIENT=$CUSTOS_BUILD_DIR/tests/signer_client
TOKEN_LABEL=custos-signer-pin
KEY_PUBLIC='{"key_id":"00000000000000000000000000000000"}'

for program in "$CUSTOS_SIGNER" "$CLIENT"; do
	[ -x "$program" ] || bail_out "$program is missing; run make first"
done
[ "$(id -u)" -eq 0 ] || bail_out "this test needs root to chown files"
id "$CUSTOS_SIGNER_USER" >/dev/null 2>&1 ||
	useradd --system --no-create-home --shell /usr/sbin/nologin \
		"$CUSTOS_SIGNER_USER" || bail_out "useradd failed"
lab_tmpdir custos-signer-pin || bail_out "cannot make a directory"
softhsm_init "$LAB_DIR" "$TOKEN_LABEL" || bail_out "cannot make a token"
printf 'tenant alpha {\n\tallow .alpha.test\n}\n' >"$LAB_DIR/policy.conf"
chmod 0644 "$LAB_DIR/policy.conf"

# Usage: run_signer PIN-FILE
# Runs the signer with PIN-FILE as hsm.pin-file and one key-public
# request, within 10 seconds, and sets OUTPUT.
run_signer() {
	cat >"$LAB_DIR/signer.conf" <<EOF2
hsm {
	module "$SOFTHSM_MODULE"
	token-label "$TOKEN_LABEL"
	pin-file "$1"
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
	chmod 0644 "$LAB_DIR/signer.conf"
	OUTPUT=$(timeout 10 "$CLIENT" "$CUSTOS_SIGNER" "$LAB_DIR/signer.conf" \
		request key-public "$KEY_PUBLIC" 2>&1)
}

# Prints the "custos-signer: error:" lines of OUTPUT.
error_lines() {
	printf '%s\n' "$OUTPUT" | grep '^custos-signer: error:'
}

# Usage: check_rejected CASE EXPECTED-TEXT
# Checks the OUTPUT of a run that must fail on the PIN file.
check_rejected() {
	diag "$OUTPUT"
	assert_equal "$1: signer exits 1 within 10 s" \
		"$(printf '%s\n' "$OUTPUT" | tail -1)" "exit 1"
	assert_line_count "$1: one error line" "$(error_lines)" 1
	assert_contains "$1: error names the problem" "$(error_lines)" "$2"
}

mkfifo -m 0600 "$LAB_DIR/pin.fifo"
run_signer "$LAB_DIR/pin.fifo"
check_rejected FIFO "PIN file '$LAB_DIR/pin.fifo' is not a regular file"

ln -s "$SOFTHSM_PIN_FILE" "$LAB_DIR/pin.link"
run_signer "$LAB_DIR/pin.link"
check_rejected "symbolic link" \
	"PIN file '$LAB_DIR/pin.link' is a symbolic link (set hsm.pin-file"

cp "$SOFTHSM_PIN_FILE" "$LAB_DIR/pin.nobody"
chown nobody "$LAB_DIR/pin.nobody" && chmod 0600 "$LAB_DIR/pin.nobody"
run_signer "$LAB_DIR/pin.nobody"
check_rejected "other owner" \
	"PIN file '$LAB_DIR/pin.nobody' is owned by uid $(id -u nobody)"
assert_contains "other owner: error gives the fix" "$(error_lines)" \
	"(run chown root '$LAB_DIR/pin.nobody')"

cp "$SOFTHSM_PIN_FILE" "$LAB_DIR/pin.group"
chmod 0640 "$LAB_DIR/pin.group"
run_signer "$LAB_DIR/pin.group"
check_rejected "group-readable" \
	"PIN file '$LAB_DIR/pin.group' has mode 0640"
assert_contains "group-readable: error gives the fix" "$(error_lines)" \
	"(run chmod 600 '$LAB_DIR/pin.group')"

mkdir -m 0700 "$LAB_DIR/pin.dir"
run_signer "$LAB_DIR/pin.dir"
check_rejected directory "PIN file '$LAB_DIR/pin.dir' is not a regular file"

assert_equal "PIN file is root's, mode 0600" \
	"$(stat -c '%U %a' "$SOFTHSM_PIN_FILE")" "root 600"
run_signer "$SOFTHSM_PIN_FILE"
assert_equal "root's 0600 file: the key id is unknown" \
	"$(printf '%s\n' "$OUTPUT" | grep -c '"code":"unknown-key"')" 1
assert_equal "root's 0600 file: signer exits 0" \
	"$(printf '%s\n' "$OUTPUT" | tail -1)" "exit 0"
assert_not_contains "PIN never appears in the output" "$OUTPUT" \
	"$SOFTHSM_PIN"

tap_done
