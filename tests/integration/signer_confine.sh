#!/bin/bash
# The signer's confinement beyond seccomp, with a real SoftHSM2 token.
# Landlock limits its files to the token directory, even files its user
# owns, and the PIN file. Its environment is cleared before the module
# loads, and its descriptor, core and process limits are set. Keys are
# still generated and used once confined. The broker's user can read
# neither the PIN file nor the token.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

CLIENT=$CUSTOS_BUILD_DIR/tests/signer_client
TESTBUILD=$CUSTOS_BUILD_DIR/tests/custos-signer-testbuild
TOKEN_LABEL=custos-signer-confine

for program in "$CUSTOS_SIGNER" "$CLIENT" "$TESTBUILD"; do
	[ -x "$program" ] || bail_out "$program is missing; run make first"
done
command -v python3 >/dev/null || bail_out "python3 is missing"
if [ "$(id -u)" -eq 0 ]; then
	for user in "$CUSTOS_SIGNER_USER" "$CUSTOS_BROKER_USER"; do
		id "$user" >/dev/null 2>&1 || useradd --system \
			--no-create-home --shell /usr/sbin/nologin "$user" ||
			bail_out "useradd $user failed"
	done
fi
lab_tmpdir custos-signer-confine ||
	bail_out "cannot make a temporary directory"
softhsm_init "$LAB_DIR" "$TOKEN_LABEL" || bail_out "cannot make a token"
TOKEN_SUBDIR=$(find "$SOFTHSM_TOKEN_DIR" -mindepth 1 -maxdepth 1 -type d)
[ -n "$TOKEN_SUBDIR" ] || bail_out "softhsm2-util made no token directory"

# Usage: write_config FILE MODULE
write_config() {
	cat >"$1" <<EOF
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
EOF
	chmod 0644 "$1"
}
CONF=$LAB_DIR/signer.conf
write_config "$CONF" "$SOFTHSM_MODULE"
cat >"$LAB_DIR/policy.conf" <<EOF
tenant lab {
	allow .test
	issuers pebble
	accounts pebble
	key-types ec-p256 rsa-2048
}
EOF
chmod 0644 "$LAB_DIR/policy.conf"

# Usage: client [CONFIG] STEP ...
# Runs the test build through signer_client with every descriptor above
# 2 closed, so that the signer starts with 0 to 2 and its socket (3).
client() {
	local config=$CONF

	if [ -f "${1:-}" ]; then
		config=$1
		shift
	fi
	python3 -c 'import os, sys
os.closerange(3, 65536)
os.execv(sys.argv[1], sys.argv[1:])' \
		"$CLIENT" "$TESTBUILD" "$config" "$@" 2>&1
}

# Usage: open_file PATH MODE
open_file() {
	printf '{"path":"%s","mode":"%s"}' "$1" "$2"
}

# --- Files ----------------------------------------------------------------

OUTSIDE=$LAB_DIR/outside.probe
TMP_PROBE=/tmp/custos-confine-$$.probe
INSIDE=$TOKEN_SUBDIR/confine.probe
# A file that the signer's user owns and may read, outside the token.
OWNED=$LAB_DIR/signer-owned.secret
(umask 077 && printf 'not for the signer\n' >"$OWNED")
if [ "$(id -u)" -eq 0 ]; then
	chown "$CUSTOS_SIGNER_USER:" "$OWNED" || bail_out "chown $OWNED failed"
fi
out=$(client \
	request test-open-file "$(open_file "$TOKEN_SUBDIR/token.object" read)" \
	request test-open-file "$(open_file "$INSIDE" write)" \
	request test-open-file "$(open_file /etc/passwd read)" \
	request test-open-file "$(open_file "$TMP_PROBE" write)" \
	request test-open-file "$(open_file "$OUTSIDE" write)" \
	request test-open-file "$(open_file "$SOFTHSM_PIN_FILE" read)" \
	request test-open-file "$(open_file "$SOFTHSM2_CONF" read)" \
	request test-open-file "$(open_file /dev/urandom read)" \
	request test-open-file "$(open_file "$OWNED" read)")
assert_contains "log names the confinement" "$out" \
	"info: file access confined to '$SOFTHSM_TOKEN_DIR' (Landlock ABI"
mapfile -t replies < <(grep '^result ' <<<"$out")
assert_equal "token object is readable" "${replies[0]:-}" \
	'result {"open":"ok"}'
assert_equal "token directory is writable" "${replies[1]:-}" \
	'result {"open":"ok"}'
assert_equal "/etc/passwd read is EACCES" "${replies[2]:-}" \
	'result {"open":"EACCES"}'
assert_equal "/tmp write is EACCES" "${replies[3]:-}" \
	'result {"open":"EACCES"}'
assert_file_missing "/tmp write created nothing" "$TMP_PROBE"
assert_equal "write beside the token is EACCES" "${replies[4]:-}" \
	'result {"open":"EACCES"}'
assert_file_missing "write beside the token created nothing" "$OUTSIDE"
assert_equal "PIN file read is EACCES" "${replies[5]:-}" \
	'result {"open":"EACCES"}'
assert_equal "SoftHSM2 config read is EACCES" "${replies[6]:-}" \
	'result {"open":"EACCES"}'
assert_equal "/dev/urandom read is EACCES" "${replies[7]:-}" \
	'result {"open":"EACCES"}'
assert_equal "file of the signer's user is EACCES" "${replies[8]:-}" \
	'result {"open":"EACCES"}'
assert_equal "signer exits 0 after the probes" "$(tail -n 1 <<<"$out")" \
	"exit 0"
rm -f "$INSIDE" "$TMP_PROBE" "$OUTSIDE"

# The signer's user can read its own file unconfined, so the EACCES
# above comes from Landlock, not from file modes.
if [ "$(id -u)" -eq 0 ]; then
	check "signer user can read its file unconfined" \
		runuser -u "$CUSTOS_SIGNER_USER" -- cat "$OWNED"
else
	check "signer user can read its file unconfined" cat "$OWNED"
fi

# --- Keys still work once confined ----------------------------------------

JWS='{"key_id":"@account@","tenant":"lab",'
JWS+='"url":"https://127.0.0.1:14000/new-order","nonce":"abc",'
JWS+='"kid":"https://127.0.0.1:14000/acct/1",'
JWS+='"payload":"{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}]}"}'
out=$(client \
	request key-generate \
	'{"purpose":"account","tenant":"lab","issuer":"pebble"}' \
	keep account key_id \
	request key-generate \
	'{"purpose":"certificate","tenant":"lab","type":"rsa-2048"}' \
	keep certificate key_id \
	request jws-sign "$JWS" \
	request csr-build \
	'{"key_id":"@certificate@","tenant":"lab","names":["a.test"]}' \
	request key-public '{"key_id":"@account@"}')
assert_equal "confined signer generates, signs and builds CSRs" \
	"$(grep -o '^result {"[a-z_]*"' <<<"$out" | cut -d '"' -f 2 |
		tr '\n' ' ')" "key_id key_id protected csr key_id "
assert_equal "no request failed" "$(grep -c '^error ' <<<"$out")" 0
# The account key keeps its private key object in the token, and the
# certificate key its private and public key objects.
assert_equal "new objects are on the token" \
	"$(find "$TOKEN_SUBDIR" -name '*.object' ! -name token.object |
		wc -l)" 3
assert_equal "signer exits 0 after the key requests" \
	"$(tail -n 1 <<<"$out")" "exit 0"

# --- Limits and environment -----------------------------------------------

ZERO_ID=00000000000000000000000000000000
out=$(client request key-public "{\"key_id\":\"$ZERO_ID\"}" limits status)
limits=$(grep '^Max ' <<<"$out" | tr -s ' ')
assert_contains "descriptors capped at 4 open plus 8" "$limits" \
	"Max open files 12 12 files"
assert_contains "no core files" "$limits" "Max core file size 0 0 bytes"
assert_contains "no new processes" "$limits" "Max processes 0 0 processes"
assert_contains "filter is active" "$out" $'Seccomp:\t2'

out=$(HIDDEN_TOKEN=x OPENSSL_CONF=/nonexistent CUSTOS_KEPT=yes \
	CUSTOS_SIGNER_KEEP_ENV="CUSTOS_KEPT CUSTOS_UNSET" \
	client request test-environment '{}')
assert_contains "environment keeps only what the module needs" "$out" \
	'result {"environment":["SOFTHSM2_CONF","CUSTOS_KEPT"]}'

out=$(CUSTOS_SIGNER_KEEP_ENV="$(printf 'V%d ' {1..16})" \
	client request test-environment '{}')
assert_contains "too many kept variables is an error" "$out" \
	"error: CUSTOS_SIGNER_KEEP_ENV names more than 15 variables"
assert_equal "too many kept variables: exit 1" "$(tail -n 1 <<<"$out")" \
	"exit 1"

# --- Another module -------------------------------------------------------

cp "$SOFTHSM_MODULE" "$LAB_DIR/libother-pkcs11.so"
write_config "$LAB_DIR/other.conf" "$LAB_DIR/libother-pkcs11.so"
out=$(client "$LAB_DIR/other.conf" \
	request test-open-file "$(open_file /etc/passwd read)")
assert_contains "other module: warning names it" "$out" \
	"warning: file access is not confined: Landlock rules exist only"\
" for SoftHSM2, not for module '$LAB_DIR/libother-pkcs11.so'"
assert_contains "other module: files are not confined" "$out" \
	'result {"open":"ok"}'

# --- The broker's user ----------------------------------------------------

if [ "$(id -u)" -eq 0 ]; then
	as_broker() {
		runuser -u "$CUSTOS_BROKER_USER" -- "$@"
	}
	assert_fails "broker user cannot read the PIN file" \
		as_broker cat "$SOFTHSM_PIN_FILE"
	assert_contains "PIN file: permission denied" "$TAP_OUTPUT" \
		"Permission denied"
	assert_fails "broker user cannot list the token" \
		as_broker ls "$TOKEN_SUBDIR"
	assert_fails "broker user cannot read a token object" \
		as_broker cat "$TOKEN_SUBDIR/token.object"
else
	ok "broker user cannot read the PIN file # SKIP not root"
fi

tap_done
