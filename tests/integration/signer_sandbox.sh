#!/bin/bash
# The signer's sandbox and protocol checks with a real SoftHSM2 token.
# The filter and no-new-privileges must be active before the first reply,
# and a forbidden system call must kill the test build with SIGSYS. Every
# protocol violation must end the connection with a logged reason. Each
# startup mistake must give one line naming the value and the fix, and
# the PIN must appear in no output.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

CLIENT=$CUSTOS_BUILD_DIR/tests/signer_client
TESTBUILD=$CUSTOS_BUILD_DIR/tests/custos-signer-testbuild
TOKEN_LABEL=custos-signer-sandbox
ALL_OUTPUT=

for program in "$CUSTOS_SIGNER" "$CLIENT" "$TESTBUILD"; do
	[ -x "$program" ] || bail_out "$program is missing; run make first"
done
if [ "$(id -u)" -eq 0 ] &&
	! id "$CUSTOS_SIGNER_USER" >/dev/null 2>&1; then
	useradd --system --no-create-home --shell /usr/sbin/nologin \
		"$CUSTOS_SIGNER_USER" || bail_out "useradd failed"
fi
lab_tmpdir custos-signer-sandbox ||
	bail_out "cannot make a temporary directory"
softhsm_init "$LAB_DIR" "$TOKEN_LABEL" || bail_out "cannot make a token"

# Usage: write_config FILE [MODULE [LABEL [PIN-FILE [USER]]]]
write_config() {
	cat >"$1" <<EOF
hsm {
	module "${2:-$SOFTHSM_MODULE}"
	token-label "${3:-$TOKEN_LABEL}"
	pin-file "${4:-$SOFTHSM_PIN_FILE}"
}
signer {
	user ${5:-$CUSTOS_SIGNER_USER}
}
issuer local {
	directory "https://127.0.0.1:14000/dir"
}
policy {
	file "$LAB_DIR/policy.conf"
}
EOF
custos_write_policy "$LAB_DIR/policy.conf" ||
	bail_out "cannot write $LAB_DIR/policy.conf"
}

CONF=$LAB_DIR/signer.conf
write_config "$CONF"

# Usage: client [--test-build] STEP ...
# Runs signer_client with --debug; output (signer log included) goes to
# stdout and is kept for the PIN check at the end.
client() {
	local signer=$CUSTOS_SIGNER out

	if [ "$1" = --test-build ]; then
		signer=$TESTBUILD
		shift
	fi
	out=$("$CLIENT" --debug "$signer" "$CONF" "$@" 2>&1)
	ALL_OUTPUT+=$out$'\n'
	printf '%s\n' "$out"
}

ZERO_ID=00000000000000000000000000000000

# --- Sandbox state -------------------------------------------------------

out=$(client request key-public "{\"key_id\":\"$ZERO_ID\"}" status)
assert_contains "filter is active before serving" "$out" $'Seccomp:\t2'
assert_contains "no-new-privileges is set" "$out" $'NoNewPrivs:\t1'
if [ "$(id -u)" -eq 0 ]; then
	uid=$(id -u "$CUSTOS_SIGNER_USER")
	assert_contains "root drops to the signer user" "$out" \
		$'Uid:\t'"$uid"$'\t'"$uid"$'\t'"$uid"$'\t'"$uid"
else
	ok "root drops to the signer user # SKIP not running as root"
fi
assert_contains "unknown key gets an error reply" "$out" \
	'error {"code":"unknown-key"'
assert_equal "signer exits 0 at end of file" "$(tail -n 1 <<<"$out")" \
	"exit 0"

out=$(client request key-public "{\"key_id\":\"$ZERO_ID\"}" \
	request key-public "{\"key_id\":\"$ZERO_ID\"}")
assert_equal "an error reply keeps the connection" \
	"$(grep -c '^error ' <<<"$out")" 2

out=$(client --test-build request key-public "{\"key_id\":\"$ZERO_ID\"}" \
	request test-forbidden-syscall '{}')
assert_equal "forbidden system call kills with SIGSYS" \
	"$(tail -n 1 <<<"$out")" "signal 31"

check "test build has the forbidden-call request" \
	grep -q handle_test_forbidden_syscall <(nm "$TESTBUILD")
assert_equal "installed build lacks the forbidden-call request" \
	"$(nm "$CUSTOS_SIGNER" | grep -c handle_test_forbidden_syscall)" 0
assert_equal "installed build lacks its log message" \
	"$(strings "$CUSTOS_SIGNER" | grep -c 'which the filter forbids')" 0

out=$(client request test-forbidden-syscall '{}')
assert_contains "installed build rejects the test request" "$out" \
	"unexpected message type 900"

# --- Protocol violations ------------------------------------------------

# Usage: violation NAME EXPECTED-LOG STEP ...
# The signer must log EXPECTED-LOG, close the connection (the client sees
# end of file) and exit with status 1, not by a signal.
violation() {
	local name=$1 expected=$2 out

	shift 2
	out=$(client "$@")
	assert_contains "$name: reason logged" "$out" \
		"warning: closing the connection: $expected"
	assert_equal "$name: exit status 1" "$(tail -n 1 <<<"$out")" "exit 1"
}

# Usage: jws_json URL NONCE PAYLOAD
jws_json() {
	printf '{"key_id":"%s","tenant":"lab","url":"%s","nonce":"%s",' \
		"$ZERO_ID" "$1" "$2"
	printf '"payload":"%s"}' "$3"
}

# Usage: csr_json NAMES-JSON
csr_json() {
	printf '{"key_id":"%s","tenant":"lab","names":%s}' "$ZERO_ID" "$1"
}

PUBLIC_REQUEST="key-public request:"
violation "malformed JSON" "$PUBLIC_REQUEST payload is not one JSON" \
	request key-public '{"key_id":'
violation "array payload" "$PUBLIC_REQUEST payload is not one JSON" \
	request key-public '[1]'
violation "duplicate member" "$PUBLIC_REQUEST payload is not one JSON" \
	request key-public "{\"key_id\":\"$ZERO_ID\",\"key_id\":\"$ZERO_ID\"}"
violation "empty payload" "$PUBLIC_REQUEST payload is not one JSON" \
	raw 0000000000020000
violation "truncated header" "truncated frame" truncated-header
violation "truncated payload" "truncated frame" truncated-payload
violation "4 GiB length" "frame length over the limit" oversized
violation "length one over the cap" "frame length over the limit" \
	oversized 65537
violation "nonzero flags" "nonzero flags in frame header" flags
violation "unknown type" "unexpected message type 77" request 77 '{}'
violation "reply type as request" "unexpected message type 100" \
	request result '{}'
violation "unknown member" "$PUBLIC_REQUEST unexpected member \"extra\"" \
	request key-public "{\"key_id\":\"$ZERO_ID\",\"extra\":1}"
violation "wrong member type" \
	"$PUBLIC_REQUEST member \"key_id\" is not a string" \
	request key-public '{"key_id":5}'
violation "uppercase key id" \
	"$PUBLIC_REQUEST member \"key_id\" is not 32 lowercase hex digits" \
	request key-public "{\"key_id\":\"${ZERO_ID%0}A\"}"
violation "unknown key type" \
	'key-generate request: member "type" has unsupported value' \
	request key-generate \
	'{"purpose":"account","tenant":"lab","issuer":"local","type":"ec-p521"}'
violation "unknown purpose" \
	'key-generate request: member "purpose" has unsupported value' \
	request key-generate '{"purpose":"backup"}'
violation "non-https URL" \
	"jws-sign request: URL does not start with https:// or http://" \
	request jws-sign "$(jws_json ftp://a n '')"
violation "URL with newline" \
	"jws-sign request: URL contains a control character" \
	request jws-sign "$(jws_json 'https://a/\nb' n '')"
violation "nonce outside base64url" \
	"jws-sign request: nonce contains a character outside" \
	request jws-sign "$(jws_json https://a 'n=' '')"
violation "account key without issuer" \
	'key-generate request: missing member "issuer", which account keys' \
	request key-generate '{"purpose":"account","tenant":"lab"}'
ACCOUNT_ONLY='members "issuer" and "account" are only for account keys'
violation "certificate key with issuer" \
	"key-generate request: $ACCOUNT_ONLY" \
	request key-generate \
	'{"purpose":"certificate","tenant":"lab","issuer":"local"}'
violation "certificate key with account" \
	"key-generate request: $ACCOUNT_ONLY" \
	request key-generate \
	'{"purpose":"certificate","tenant":"lab","account":"main"}'
violation "key without tenant" \
	'key-generate request: missing member "tenant"' \
	request key-generate '{"purpose":"certificate"}'
violation "signature without tenant" \
	'jws-sign request: missing member "tenant"' \
	request jws-sign "{\"key_id\":\"$ZERO_ID\",\"url\":\"https://a\",\"nonce\":\"n\",\"payload\":\"\"}"
violation "tenant of the wrong type" \
	'csr-build request: member "tenant" is not a string' \
	request csr-build "{\"key_id\":\"$ZERO_ID\",\"tenant\":1,\"names\":[\"a.test\"]}"
violation "invalid CSR name" \
	'csr-build request: names[0] "a..b" is neither a valid DNS name' \
	request csr-build "$(csr_json '["a..b"]')"
violation "empty CSR name list" \
	'csr-build request: member "names" has 0 entries' \
	request csr-build "$(csr_json '[]')"

# --- Startup errors -----------------------------------------------------

# Usage: startup_error NAME CONFIG EXPECTED ...
# The signer must print exactly one line, containing each EXPECTED text,
# and exit with status 1.
startup_error() {
	local name=$1 config=$2 out lines expected

	shift 2
	out=$("$CLIENT" "$CUSTOS_SIGNER" "$config" 2>&1)
	ALL_OUTPUT+=$out$'\n'
	lines=$(grep -c '^custos-signer: ' <<<"$out")
	assert_equal "$name: one line" "$lines" 1
	for expected in "$@"; do
		assert_contains "$name: names '$expected'" "$out" "$expected"
	done
	assert_equal "$name: exit status 1" "$(tail -n 1 <<<"$out")" "exit 1"
}

write_config "$LAB_DIR/no-module.conf" /nonexistent/libpkcs11.so
startup_error "missing module" "$LAB_DIR/no-module.conf" \
	"/nonexistent/libpkcs11.so" "check hsm.module"

write_config "$LAB_DIR/no-token.conf" "" no-such-token
startup_error "unknown token label" "$LAB_DIR/no-token.conf" \
	"'no-such-token'" "check hsm.token-label"

(umask 077 && printf 'wrong-pin\n' >"$LAB_DIR/wrong.pin")
write_config "$LAB_DIR/wrong-pin.conf" "" "" "$LAB_DIR/wrong.pin"
startup_error "wrong PIN" "$LAB_DIR/wrong-pin.conf" \
	"login to token '$TOKEN_LABEL' failed: CKR_PIN_INCORRECT" \
	"check hsm.pin-file"

cp "$SOFTHSM_PIN_FILE" "$LAB_DIR/open.pin" && chmod 0644 "$LAB_DIR/open.pin"
write_config "$LAB_DIR/open-pin.conf" "" "" "$LAB_DIR/open.pin"
startup_error "PIN file mode 0644" "$LAB_DIR/open-pin.conf" \
	"'$LAB_DIR/open.pin'" "mode 0644" "chmod 600"

if [ "$(id -u)" -eq 0 ]; then
	write_config "$LAB_DIR/no-user.conf" "" "" "" custos-no-such-user
	startup_error "missing signer user" "$LAB_DIR/no-user.conf" \
		"'custos-no-such-user'" "useradd --system --no-create-home" \
		"signer.user"
else
	ok "missing signer user # SKIP not running as root"
fi

out=$("$CUSTOS_SIGNER" --config "$CONF" --fd 0 </dev/null 2>&1)
assert_contains "descriptor that is not a socket" "$out" \
	"--fd 0 is not an open socket"
out=$("$CUSTOS_SIGNER" --config "$CONF" --fd 3 --fd 4 2>&1)
assert_equal "a second --fd is rejected" "$out" \
	"custos-signer: error: --fd is given twice: the signer serves one"\
" connection, on the descriptor of a single --fd"
out=$("$CUSTOS_SIGNER" --config "$CONF" --fd 3 --audit-fd 4 --audit-fd 5 \
	2>&1)
assert_contains "a second --audit-fd is rejected" "$out" \
	"error: --audit-fd is given twice"
out=$("$CUSTOS_SIGNER" --fd 3 2>&1)
assert_equal "missing --config" "$out" \
	"custos-signer: error: missing --config FILE or --fd N (see --help)"
assert_status "--help exits 0" 0 "$CUSTOS_SIGNER" --help
assert_contains "--help shows usage" "$TAP_OUTPUT" \
	"usage: custos-signer --config FILE --fd N"
assert_status "--version exits 0" 0 "$CUSTOS_SIGNER" --version
assert_contains "--version names the program" "$TAP_OUTPUT" \
	"custos-signer "

# --- Secrets ------------------------------------------------------------

pin=$(head -n 1 "$SOFTHSM_PIN_FILE")
assert_not_equal "PIN was read for the check" "$pin" ""
assert_not_contains "PIN appears in no output" "$ALL_OUTPUT" "$pin"

tap_done
