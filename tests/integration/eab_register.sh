#!/bin/bash
# External Account Binding against a Pebble that requires it: the HMAC
# key is imported into the token from files in three encodings (base64url
# without padding, with padding, and standard base64), and an account is
# registered with each. An issuer without eab-key-id fails with a clear
# message, and no output, log or core dump of the broker contains the key
# in any encoding.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

# Prints 32 random bytes as hex whose standard base64 has '+' or '/', so
# that the three encodings differ in their alphabet as well as padding.
make_key_hex() {
	local hex

	while :; do
		hex=$(openssl rand -hex 32)
		if xxd -r -p <<<"$hex" | base64 -w0 | grep -q '[+/]'; then
			printf '%s\n' "$hex"
			return
		fi
	done
}

# Usage: encode HEX FORM
# FORM is url (base64url, no padding), url-padded or standard.
encode() {
	local b64

	b64=$(xxd -r -p <<<"$1" | base64 -w0)
	case $2 in
	url) tr '+/' '-_' <<<"$b64" | tr -d '=' ;;
	url-padded) tr '+/' '-_' <<<"$b64" ;;
	standard) printf '%s\n' "$b64" ;;
	esac
}

custos_require_programs
lab_tmpdir custos-eab || bail_out "cannot make a directory under /tmp"

FORMS=(url url-padded standard)
declare -A KEY_HEX
keys=
for form in "${FORMS[@]}"; do
	KEY_HEX[$form]=$(make_key_hex)
	keys="$keys${keys:+, }\"kid-$form\": \"$(encode "${KEY_HEX[$form]}" url)\""
done
PEBBLE_EAB_KEYS="{$keys}"
pebble_start "$LAB_DIR" ||
	bail_out "Pebble did not start; see $LAB_DIR/pebble/*.log"
softhsm_init "$LAB_DIR" custos-test ||
	bail_out "SoftHSM2 token setup failed in $LAB_DIR/softhsm"

CUSTOS_POLICY=$LAB_DIR/policy.conf
cat >"$CUSTOS_POLICY" <<EOF
tenant $CUSTOS_TENANT {
	users $(id -un)
	allow .test
	issuers pebble eab-url eab-url-padded eab-standard
	accounts pebble main
	challenges http-01
	key-types ec-p256
}
EOF
chmod 0644 "$CUSTOS_POLICY"
CUSTOS_EXTRA_BLOCKS=
for form in "${FORMS[@]}"; do
	encode "${KEY_HEX[$form]}" "$form" >"$LAB_DIR/eab-$form.key"
	chmod 0600 "$LAB_DIR/eab-$form.key"
	CUSTOS_EXTRA_BLOCKS+="issuer eab-$form {
	directory \"$PEBBLE_DIRECTORY\"
	trust-bundle \"$PEBBLE_TLS_CA\"
	contact mailto:admin@example.org
	agree-tos yes
	account main
	eab-key-id kid-$form
	eab-key-file \"$LAB_DIR/eab-$form.key\"
}
"
done
custos_write_config "$LAB_DIR" || bail_out "cannot write the configuration"

ALL_OUTPUT=
for form in "${FORMS[@]}"; do
	assert_status "import-eab reads a $form key" 0 "$CUSTOS" account \
		import-eab --config "$CUSTOS_CONF" --issuer "eab-$form"
	ALL_OUTPUT+=$TAP_OUTPUT
	assert_contains "import-eab names the label for $form" \
		"$TAP_OUTPUT" "custos/eab/eab-$form/kid-$form"
done

objects=$(softhsm_list_objects)
ALL_OUTPUT+=$objects
for form in "${FORMS[@]}"; do
	assert_contains "token has the $form EAB key" "$objects" \
		"custos/eab/eab-$form/kid-$form"
done
assert_equal "three secret keys on the token" \
	"$(grep -c '^Secret Key Object' <<<"$objects")" 3
assert_contains "secret keys are sensitive" "$objects" "sensitive"

for form in "${FORMS[@]}"; do
	assert_status "account with a $form EAB key registers" 0 \
		"$CUSTOS" account register --config "$CUSTOS_CONF" \
		--issuer "eab-$form"
	ALL_OUTPUT+=$TAP_OUTPUT
	assert_contains "the $form account is new" "$TAP_OUTPUT" \
		"account: registered https://localhost:14000/my-account/"
	assert_contains "the $form registration binds kid-$form" \
		"$TAP_OUTPUT" "binding the key to external account kid-$form"
done

assert_status "a second register finds the account" 0 "$CUSTOS" account \
	register --config "$CUSTOS_CONF" --issuer eab-url
ALL_OUTPUT+=$TAP_OUTPUT
assert_contains "the account is reused" "$TAP_OUTPUT" \
	"account: using eab-url/main https://localhost:14000/my-account/"

assert_status "issuance through an EAB account succeeds" 0 custos_issue \
	--issuer eab-standard eab.demo.test
ALL_OUTPUT+=$TAP_OUTPUT
assert_file_exists "the certificate is stored" \
	"$(custos_store_file eab.demo.test cert.pem)"

assert_fails "an issuer without eab-key-id fails" "$CUSTOS" account \
	register --config "$CUSTOS_CONF" --issuer pebble
ALL_OUTPUT+=$TAP_OUTPUT
assert_contains "the error names the missing binding" "$TAP_OUTPUT" \
	"issuer pebble requires External Account Binding (set eab-key-id"

assert_fails "import-eab rejects an unknown key id" "$CUSTOS" account \
	import-eab --config "$CUSTOS_CONF" --issuer eab-url --key-id kid-x
assert_contains "the key id error names both ids" "$TAP_OUTPUT" \
	"--key-id 'kid-x' is not eab-key-id 'kid-url' of issuer eab-url"
printf 'not base64 at all!\n' >"$LAB_DIR/bad.key"
assert_fails "import-eab rejects a file that is not base64" "$CUSTOS" \
	account import-eab --config "$CUSTOS_CONF" --issuer eab-url \
	--key-file "$LAB_DIR/bad.key"
assert_contains "the decoding error names the file" "$TAP_OUTPUT" \
	"EAB key file $LAB_DIR/bad.key is not base64url or base64 text"

# No output of custos or its signer may contain a key: in hex, or in
# any of the three encodings (compared without padding).
leaks=0
for form in "${FORMS[@]}"; do
	for shown in "${KEY_HEX[$form]}" "$(encode "${KEY_HEX[$form]}" url)" \
		"$(encode "${KEY_HEX[$form]}" standard)"; do
		if grep -qiF -- "${shown%%=*}" <<<"$ALL_OUTPUT"; then
			leaks=$((leaks + 1))
		fi
	done
done
assert_equal "no output contains an HMAC key" "$leaks" 0

# Usage: core_contains_hex HEX
# Succeeds when the broker's core dump contains the bytes given in hex.
core_contains_hex() {
	python3 -c 'import sys
data = open(sys.argv[2], "rb").read()
sys.exit(0 if data.find(bytes.fromhex(sys.argv[1])) >= 0 else 1)' \
		"$1" "$LAB_DIR/broker.core"
}

# A core dump of the broker taken at its exit, after it registered an
# account with EAB, must not hold the key either: only the signer ever
# reads the key file. gdb stops the broker at exit_group and dumps it.
# A broker built with AddressSanitizer maps terabytes of shadow memory,
# which gcore would write out, so a sanitizer run dumps build/'s broker.
DUMPED=$CUSTOS
case $(nm -D "$CUSTOS" 2>/dev/null) in
*__asan_init*) DUMPED=$CUSTOS_SOURCE_DIR/build/custos ;;
esac
[ -x "$DUMPED" ] || bail_out "$DUMPED is missing; run make first"
rm -rf "$CUSTOS_STATE/accounts/eab-url"
gdb -q -batch -ex 'set follow-fork-mode parent' \
	-ex 'set detach-on-fork on' -ex 'catch syscall exit_group' \
	-ex run -ex "gcore $LAB_DIR/broker.core" -ex kill \
	--args "$DUMPED" account register --config "$CUSTOS_CONF" \
	--issuer eab-url >"$LAB_DIR/gdb.out" 2>&1
assert_file_exists "the broker's core dump was written" \
	"$LAB_DIR/broker.core"
assert_contains "the dumped run registered an account" \
	"$(cat "$LAB_DIR/gdb.out")" "binding the key to external account"
leaks=0
if grep -qaF -f <(printf '%s\n' "${KEY_HEX[url]}" \
	"$(encode "${KEY_HEX[url]}" url)" \
	"$(encode "${KEY_HEX[url]}" standard | tr -d '=')") \
	"$LAB_DIR/broker.core"; then
	leaks=$((leaks + 1))
fi
# The raw key bytes, searched as a byte string.
if core_contains_hex "${KEY_HEX[url]}"; then
	leaks=$((leaks + 1))
fi
assert_equal "the broker's core holds no HMAC key" "$leaks" 0
# The same search finds what the broker did hold: the directory URL,
# which the configuration gives to four issuers and keeps until the exit.
# A member of Pebble's directory response is not enough: the buffer that
# contained it is freed and may be reused before the exit.
check "the core search finds the CA's directory URL" core_contains_hex \
	"$(printf %s "$PEBBLE_DIRECTORY" | xxd -p | tr -d '\n')"
rm -f "$LAB_DIR/broker.core"

tap_done
