#!/bin/bash
# The signer's test build under valgrind's leak checker, one session per
# key type (EC P-256, EC P-384 and RSA-2048): key-generate (certificate and account key),
# key-public, jws-sign, csr-build, then end of file. A last session uses
# P-256 keys made by an earlier process, one account key with another
# key's CKA_PUBLIC_KEY_INFO. valgrind cannot run under the
# seccomp filter (it maps translated code with PROT_EXEC), so the test
# build's --test-no-sandbox-filter skips Landlock and the filter, and
# the rlimits, which valgrind refuses to set; the privilege drop stays.
# The installed signer must reject that option. No suppressions are
# needed with libp11 0.4.12 and SoftHSM2 2.6.1.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

# valgrind cannot run a program built with AddressSanitizer, so a
# sanitizer run of the suite checks the plain build's signer, which `make`
# builds into build/ before (as .ci/run does).
VALGRIND_BUILD_DIR=$CUSTOS_BUILD_DIR
case $(nm -D "$CUSTOS_BUILD_DIR/tests/custos-signer-testbuild" 2>/dev/null) in
*__asan_init*) VALGRIND_BUILD_DIR=$CUSTOS_SOURCE_DIR/build ;;
esac
CLIENT=$VALGRIND_BUILD_DIR/tests/signer_client
TESTBUILD=$VALGRIND_BUILD_DIR/tests/custos-signer-testbuild
TOKEN_LABEL=custos-signer-valgrind
CLIENT_TIMEOUT=400

command -v valgrind >/dev/null ||
	bail_out "valgrind is missing; run packaging/install-deps.sh"
for program in "$CUSTOS_SIGNER" "$TESTBUILD" "$CLIENT"; do
	[ -x "$program" ] || bail_out "$program is missing; run make first"
done
if [ "$(id -u)" -eq 0 ] &&
	! id "$CUSTOS_SIGNER_USER" >/dev/null 2>&1; then
	useradd --system --no-create-home --shell /usr/sbin/nologin \
		"$CUSTOS_SIGNER_USER" || bail_out "useradd failed"
fi
lab_tmpdir custos-signer-valgrind ||
	bail_out "cannot make a temporary directory"
softhsm_init "$LAB_DIR" "$TOKEN_LABEL" || bail_out "cannot make a token"

CONF=$LAB_DIR/signer.conf
cat >"$CONF" <<CONF
hsm {
	module "$SOFTHSM_MODULE"
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
CONF
cat >"$LAB_DIR/policy.conf" <<POLICY
tenant lab {
	allow .test 127.0.0.1
	issuers pebble
	accounts pebble
	key-types ec-p256 ec-p384 rsa-2048 rsa-3072 rsa-4096
}
POLICY
chmod 0644 "$LAB_DIR/policy.conf"
# The signer drops to its own user after valgrind has opened the log,
# but the directory must stay readable for the token and the policy.
chmod 0755 "$LAB_DIR"

# signer_client starts its SIGNER argument with --config FILE --fd 3;
# this wrapper puts valgrind in front of the test build. The log name
# comes from VALGRIND_LOG, set per session.
WRAPPER=$LAB_DIR/signer-under-valgrind
cat >"$WRAPPER" <<WRAPPER
#!/bin/sh
exec valgrind --leak-check=full \\
	--errors-for-leak-kinds=definite --error-exitcode=99 \\
	--log-file="\$VALGRIND_LOG" \\
	"$TESTBUILD" --test-no-sandbox-filter "\$@"
WRAPPER
chmod 0755 "$WRAPPER"

check "installed signer rejects --test-no-sandbox-filter" \
	sh -c "'$CUSTOS_SIGNER' --test-no-sandbox-filter --config '$CONF' \
		--fd 3 3</dev/null 2>&1 | grep -q \"unrecognized option\""

# Usage: run_session TYPE
# Runs one full session for key type TYPE under valgrind.
run_session() {
	local type=$1 log=$LAB_DIR/valgrind-$1.log out lost

	out=$(VALGRIND_LOG=$log SIGNER_CLIENT_TIMEOUT=$CLIENT_TIMEOUT \
		"$CLIENT" "$WRAPPER" "$CONF" \
		request key-generate \
		"{\"purpose\":\"certificate\",\"tenant\":\"lab\",\"type\":\"$type\"}" \
		keep cert key_id \
		request key-generate \
		"{\"purpose\":\"account\",\"tenant\":\"lab\",\"issuer\":\"pebble\",\"type\":\"$type\"}" \
		keep account key_id \
		request key-public '{"key_id":"@cert@"}' \
		request jws-sign \
		'{"key_id":"@account@","tenant":"lab","url":"https://127.0.0.1:14000/new-order","nonce":"abc-_1","kid":"https://127.0.0.1:14000/acct/1","payload":"{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}]}"}' \
		request csr-build \
		'{"key_id":"@cert@","tenant":"lab","names":["a.test","*.a.test","127.0.0.1"]}' \
		2>&1)
	assert_equal "$type: five requests succeed" \
		"$(printf '%s\n' "$out" | grep -c '^result ')" 5
	assert_equal "$type: no request fails" \
		"$(printf '%s\n' "$out" | grep -c '^error \|^failed')" 0
	assert_equal "$type: valgrind exit status is 0, not 99" \
		"$(printf '%s\n' "$out" | tail -n 1)" "exit 0"
	lost=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' \
		"$log" | tr -d ,)
	assert_equal "$type: definitely lost is 0 bytes" "$lost" 0
	assert_equal "$type: no valgrind error in the log" \
		"$(grep -c 'Invalid \|uninitialised\|definitely lost in' "$log")" 0
	if [ "$lost" != 0 ] || grep -q 'Invalid ' "$log"; then
		sed 's/^/# /' "$log"
	fi
}

# RSA-3072 and RSA-4096 are left out because they run the same code as
# RSA-2048. Generating two RSA keys under valgrind took over 120 seconds
# on a loaded 2-core machine, so the client waits up to CLIENT_TIMEOUT.
for type in ec-p256 ec-p384 rsa-2048; do
	run_session "$type"
done

# Usage: member JSON-LINE NAME
member() {
	printf '%s\n' "${1#result }" |
		sed -n "s/.*\"$2\":\"\\([^\"]*\\)\".*/\\1/p"
}

# Usage: generate PURPOSE-MEMBERS
# Generates a P-256 key outside valgrind and prints its id.
generate() {
	member "$("$CLIENT" "$CUSTOS_SIGNER" "$CONF" request key-generate \
		"{$1,\"tenant\":\"lab\",\"type\":\"ec-p256\"}" 2>&1 |
		grep '^result ')" key_id
}

# A later process finds P-256 keys through libp11 and checks each public
# key with one signature. Account keys take theirs from
# CKA_PUBLIC_KEY_INFO, which for the key "wrong" is another key's.
cert=$(generate '"purpose":"certificate"')
account=$(generate '"purpose":"account","issuer":"pebble"')
wrong=$(generate '"purpose":"account","issuer":"pebble"')
softhsm_public_key_der "$cert" "$LAB_DIR/cert.der" ||
	bail_out "cannot read the public key of $cert"
"$VALGRIND_BUILD_DIR/tests/p11probe" "$SOFTHSM_MODULE" "$TOKEN_LABEL" \
	"$SOFTHSM_PIN_FILE" "$wrong" --set-info "$LAB_DIR/cert.der" ||
	bail_out "cannot set CKA_PUBLIC_KEY_INFO of $wrong"
log=$LAB_DIR/valgrind-later.log
out=$(VALGRIND_LOG=$log SIGNER_CLIENT_TIMEOUT=$CLIENT_TIMEOUT \
	"$CLIENT" "$WRAPPER" "$CONF" \
	request key-public "{\"key_id\":\"$cert\"}" \
	request jws-sign \
	'{"key_id":"'"$account"'","tenant":"lab","url":"https://127.0.0.1:14000/new-order","nonce":"abc-_1","kid":"https://127.0.0.1:14000/acct/1","payload":"{}"}' \
	request csr-build \
	"{\"key_id\":\"$cert\",\"tenant\":\"lab\",\"names\":[\"a.test\"]}" \
	request key-public "{\"key_id\":\"$wrong\"}" \
	2>&1)
assert_equal "later process: three requests succeed" \
	"$(printf '%s\n' "$out" | grep -c '^result ')" 3
assert_contains "later process: another key's info is rejected" \
	"$(printf '%s\n' "$out" | grep '^error ')" '"code":"hsm-failure"'
assert_equal "later process: valgrind exit status is 0, not 99" \
	"$(printf '%s\n' "$out" | tail -n 1)" "exit 0"
assert_equal "later process: definitely lost is 0 bytes" \
	"$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$log" |
		tr -d ,)" 0
assert_equal "later process: no valgrind error in the log" \
	"$(grep -c 'Invalid \|uninitialised\|definitely lost in' "$log")" 0

tap_done
