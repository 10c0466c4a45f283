#!/bin/bash
# Preferred chains against a Pebble with two alternate roots and chains
# of three certificates: preferred-chain naming the second root's common
# name stores the chain that ends at that root; an unknown name keeps the
# default chain. A profile that the directory does not advertise fails
# the order with a clear message (Pebble 2.4.0 advertises none).
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

# Usage: root_cn N
# Prints the common name of Pebble's root N.
root_cn() {
	curl -fsS --max-time 5 --cacert "$PEBBLE_TLS_CA" \
		"https://$PEBBLE_MANAGEMENT_ADDRESS/roots/$1" |
		openssl x509 -noout -subject -nameopt multiline |
		sed -n 's/^ *commonName *= //p'
}

# Usage: configure PREFERRED-CHAIN-LINE
configure() {
	CUSTOS_EXTRA_BLOCKS="issuer chosen {
	directory \"$PEBBLE_DIRECTORY\"
	trust-bundle \"$PEBBLE_TLS_CA\"
	contact mailto:admin@example.org
	agree-tos yes
	account pebble
	$1
}"
	custos_write_config "$LAB_DIR" ||
		bail_out "cannot write the configuration"
	cat >"$LAB_DIR/policy.conf" <<EOF
tenant $CUSTOS_TENANT {
	users $(id -un)
	allow .test
	issuers pebble chosen
	accounts pebble
	challenges http-01
	key-types ec-p256
}
EOF
}

# Usage: verifies_against ROOT-FILE NAME
verifies_against() {
	openssl verify -CAfile "$1" \
		-untrusted "$(custos_store_file "$2" chain.pem)" \
		"$(custos_store_file "$2" cert.pem)" >/dev/null 2>&1
}

custos_require_programs
lab_tmpdir custos-chain || bail_out "cannot make a directory under /tmp"
PEBBLE_ENV="PEBBLE_CHAIN_LENGTH=3 PEBBLE_ALTERNATE_ROOTS=2"
pebble_start "$LAB_DIR" ||
	bail_out "Pebble did not start; see $LAB_DIR/pebble/*.log"
softhsm_init "$LAB_DIR" custos-test ||
	bail_out "SoftHSM2 token setup failed in $LAB_DIR/softhsm"
for n in 0 1 2; do
	curl -fsS --max-time 5 --cacert "$PEBBLE_TLS_CA" \
		-o "$LAB_DIR/root$n.pem" \
		"https://$PEBBLE_MANAGEMENT_ADDRESS/roots/$n" ||
		bail_out "Pebble has no root $n"
done
ROOT1=$(root_cn 1)
diag "roots: $(root_cn 0), $ROOT1, $(root_cn 2)"
assert_not_equal "the alternate root has its own name" "$ROOT1" \
	"$(root_cn 0)"

configure "preferred-chain \"$ROOT1\""
assert_status "issuance with a preferred alternate succeeds" 0 \
	custos_issue --issuer chosen preferred.demo.test
assert_contains "the log names the alternate taken" "$TAP_OUTPUT" \
	"ends at \"$ROOT1\""
check "the stored chain ends at the preferred root" verifies_against \
	"$LAB_DIR/root1.pem" preferred.demo.test
assert_fails "the stored chain does not end at the default root" \
	verifies_against "$LAB_DIR/root0.pem" preferred.demo.test
# Pebble 2.4.0 with PEBBLE_CHAIN_LENGTH=3 sends three certificates above
# the leaf, as measured here.
assert_equal "the chain holds three issuers" \
	"$(grep -c 'BEGIN CERTIFICATE' \
	"$(custos_store_file preferred.demo.test chain.pem)")" 3

configure 'preferred-chain "No Such Root"'
assert_status "issuance with an unknown root succeeds" 0 custos_issue \
	--issuer chosen unknown.demo.test
assert_contains "the log says the default chain is kept" "$TAP_OUTPUT" \
	"no chain of the 3 offered ends at \"No Such Root\"; keeping the default chain"
check "the default chain ends at the default root" verifies_against \
	"$LAB_DIR/root0.pem" unknown.demo.test

assert_status "issuance without preferred-chain succeeds" 0 custos_issue \
	--issuer pebble plain.demo.test
check "the plain chain ends at the default root" verifies_against \
	"$LAB_DIR/root0.pem" plain.demo.test

configure 'profile shortlived'
assert_fails "a profile the directory does not list fails" custos_issue \
	--issuer chosen profiled.demo.test
assert_contains "the error names the profile and the fix" "$TAP_OUTPUT" \
	"issuer chosen does not advertise profile \"shortlived\" in its directory's meta.profiles (it lists none; change or remove profile in issuer chosen)"

tap_done
