#!/bin/bash
# Import of certificates issued outside Custos. A test CA made with
# openssl issues an RSA and an EC leaf. custos-signer --import-key puts
# their keys into the SoftHSM2 token, and custos cert import stores them
# beside an ACME certificate of the same name. Each bad upload is rejected
# with a clear error and changes neither the store nor the database:
# garbage, text outside the PEM blocks, leaf only, a chain that does not
# link, an expired leaf, a key that does not match, another tenant's key,
# a name outside the policy, and a leaf over max-lifetime or
# max-certificates. The daemon then issues the ACME certificate from
# Pebble and never renews the imported ones.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/daemon.sh
source "$(dirname "$0")/../lib/daemon.sh"

NAME=www.import.test

# Usage: probe_field NAME
# Prints the value of NAME in p11probe's "name=value" lines in PROBE.
probe_field() {
	sed -n "s/^$1=//p" <<<"$PROBE"
}

# Writes a CA for openssl ca into CA_DIR.
make_ca() {
	CA_DIR=$LAB_DIR/ca
	mkdir -p "$CA_DIR/new" || return 1
	: >"$CA_DIR/index.txt"
	echo 1000 >"$CA_DIR/serial"
	cat >"$CA_DIR/ca.cnf" <<CNF
[ca]
default_ca = test
[test]
database = $CA_DIR/index.txt
new_certs_dir = $CA_DIR/new
serial = $CA_DIR/serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = copy
[any]
commonName = supplied
CNF
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-nodes -keyout "$CA_DIR/ca.key" -out "$CA_DIR/ca.pem" \
		-days 30 -subj "/CN=Custos import test CA" \
		-addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign 2>/dev/null
}

# Usage: make_leaf KEY NAME OUT [START END]
# Issues a leaf for NAME with KEY from the test CA, valid for 30 days or
# from START to END (YYYYMMDDHHMMSSZ).
make_leaf() {
	local -a dates=(-days 30)

	[ "$#" -lt 5 ] || dates=(-startdate "$4" -enddate "$5")
	openssl req -new -key "$1" -subj "/CN=$2" \
		-addext "subjectAltName=DNS:$2" -out "$LAB_DIR/leaf.csr" &&
		openssl ca -batch -notext -config "$CA_DIR/ca.cnf" \
			-cert "$CA_DIR/ca.pem" -keyfile "$CA_DIR/ca.key" \
			"${dates[@]}" -in "$LAB_DIR/leaf.csr" -out "$3" \
			2>/dev/null
}

# Usage: import_key TENANT KEY
# Runs custos-signer --import-key and sets KEY_ID from its output.
import_key() {
	assert_status "--import-key stores $2 for tenant $1" 0 \
		"$CUSTOS_SIGNER" --import-key --config "$CUSTOS_CONF" \
		--tenant "$1" --key "$2"
	KEY_ID=$(sed -n 's/^key-id: //p' <<<"$TAP_OUTPUT")
}

# Usage: rsa_thumbprint KEY
# Prints the RFC 7638 thumbprint of an RSA key with exponent 65537.
rsa_thumbprint() {
	local modulus n

	modulus=$(openssl rsa -in "$1" -noout -modulus | sed 's/^Modulus=//')
	n=$(perl -e 'print pack("H*", $ARGV[0])' "$modulus" | basenc \
		--base64url -w0 | tr -d '=')
	printf '{"e":"AQAB","kty":"RSA","n":"%s"}' "$n" |
		openssl dgst -sha256 -binary | basenc --base64url -w0 |
		tr -d '='
}

# Usage: cert_import CHAIN KEY-ID [TENANT]
cert_import() {
	"$CUSTOS" cert import --config "$CUSTOS_CONF" \
		--tenant "${3:-$CUSTOS_TENANT}" --chain "$1" --key-id "$2"
}

# Prints the rows of every table that an import writes.
state_rows() {
	state_query "SELECT count(*) FROM certificates;
		SELECT count(*) FROM versions; SELECT count(*) FROM tasks;"
}

# Usage: expect_rejected DESCRIPTION ERROR CHAIN KEY-ID [TENANT]
# Checks that an import fails with ERROR and writes nothing.
expect_rejected() {
	local what=$1 error=$2 store_before rows_before

	shift 2
	store_before=$(custos_store_snapshot)
	rows_before=$(state_rows)
	assert_fails "import of $what fails" cert_import "$@"
	assert_contains "the error for $what names the cause" \
		"$TAP_OUTPUT" "$error"
	assert_equal "the store is unchanged after $what" \
		"$(custos_store_snapshot)" "$store_before"
	assert_equal "the database is unchanged after $what" \
		"$(state_rows)" "$rows_before"
}

custos_lab_start custos-import
cat >"$LAB_DIR/policy.conf" <<POLICY
tenant $CUSTOS_TENANT {
	users $(id -un)
	allow .test
	deny secret.import.test
	issuers pebble
	accounts pebble
	challenges http-01
	key-types ec-p256 ec-p384 rsa-2048 rsa-3072 rsa-4096
}
tenant other {
	users 5002
	allow .other.test
	issuers pebble
	accounts pebble
	challenges http-01
	key-types ec-p256 rsa-2048
}
POLICY
daemon_hook_install "$LAB_DIR/hook" || bail_out "cannot write the hook"
cat >>"$CUSTOS_CONF" <<CONF
daemon {
	deploy-hook "$DAEMON_HOOK_DIR/hook"
	poll-interval 1s
	renew-jitter 0
	retry-base 2s
	retry-max 5s
}
CONF
make_ca || bail_out "cannot make the test CA in $LAB_DIR/ca"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
	-out "$LAB_DIR/rsa.key" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 \
	-out "$LAB_DIR/ec.key" 2>/dev/null
openssl genpkey -algorithm ED25519 -out "$LAB_DIR/ed25519.key" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
	-aes-128-cbc -pass pass:secret -out "$LAB_DIR/encrypted.key" \
	2>/dev/null
if ! make_leaf "$LAB_DIR/rsa.key" "$NAME" "$LAB_DIR/rsa.pem" ||
	! make_leaf "$LAB_DIR/ec.key" "$NAME" "$LAB_DIR/ec.pem" ||
	! make_leaf "$LAB_DIR/rsa.key" secret.import.test \
		"$LAB_DIR/secret.pem" ||
	! make_leaf "$LAB_DIR/rsa.key" old.import.test "$LAB_DIR/old.pem" \
		20200101000000Z 20200201000000Z ||
	! make_leaf "$LAB_DIR/rsa.key" limits.import.test \
		"$LAB_DIR/limits.pem"; then
	bail_out "cannot issue the test leaves"
fi
for leaf in rsa ec secret old limits; do
	cat "$LAB_DIR/$leaf.pem" "$CA_DIR/ca.pem" >"$LAB_DIR/$leaf-chain.pem"
done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$LAB_DIR/stranger.key" -out "$LAB_DIR/stranger.pem" \
	-days 30 -subj "/CN=Unrelated CA" 2>/dev/null
cat "$LAB_DIR/rsa.pem" "$LAB_DIR/stranger.pem" >"$LAB_DIR/unlinked.pem"
printf 'not a certificate\n' >"$LAB_DIR/garbage.pem"
# The key's base64 lines without their markers, before a valid chain.
grep -v -- '-----' "$LAB_DIR/rsa.key" | cat - "$LAB_DIR/rsa-chain.pem" \
	>"$LAB_DIR/smuggled.pem"
cat "$LAB_DIR/rsa-chain.pem" - >"$LAB_DIR/trailing.pem" <<<"trailing text"

# 1. Keys into the token: the supported types, and clear errors for
# the others.
import_key "$CUSTOS_TENANT" "$LAB_DIR/rsa.key"
RSA_KEY_ID=$KEY_ID
assert_equal "the RSA key id is 32 hex digits" \
	"$(grep -cE '^[0-9a-f]{32}$' <<<"$RSA_KEY_ID")" 1
assert_contains "the output names the key type" "$TAP_OUTPUT" \
	"type: rsa-2048"
assert_contains "the output gives the RFC 7638 thumbprint" "$TAP_OUTPUT" \
	"thumbprint: $(rsa_thumbprint "$LAB_DIR/rsa.key")"
assert_not_contains "the output holds no private key" "$TAP_OUTPUT" \
	"PRIVATE KEY"
import_key "$CUSTOS_TENANT" "$LAB_DIR/ec.key"
EC_KEY_ID=$KEY_ID
assert_contains "the EC key is P-384" "$TAP_OUTPUT" "type: ec-p384"
import_key other "$LAB_DIR/rsa.key"
OTHER_KEY_ID=$KEY_ID
assert_not_equal "a second import makes a new key id" "$OTHER_KEY_ID" \
	"$RSA_KEY_ID"

assert_fails "an Ed25519 key is rejected" "$CUSTOS_SIGNER" --import-key \
	--config "$CUSTOS_CONF" --tenant "$CUSTOS_TENANT" \
	--key "$LAB_DIR/ed25519.key"
assert_contains "the Ed25519 error names the supported types" \
	"$TAP_OUTPUT" "which Custos does not support (use EC P-256"
assert_fails "an encrypted key is rejected" "$CUSTOS_SIGNER" --import-key \
	--config "$CUSTOS_CONF" --tenant "$CUSTOS_TENANT" \
	--key "$LAB_DIR/encrypted.key"
assert_contains "the encrypted key error says to decrypt it" \
	"$TAP_OUTPUT" "holds no unencrypted PEM private key"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	-aes-128-cbc -pass pass: -out "$LAB_DIR/empty-pass.key" 2>/dev/null
assert_fails "a key with an empty passphrase is rejected" \
	"$CUSTOS_SIGNER" --import-key --config "$CUSTOS_CONF" \
	--tenant "$CUSTOS_TENANT" --key "$LAB_DIR/empty-pass.key"
assert_contains "the empty passphrase error says to decrypt it" \
	"$TAP_OUTPUT" "holds no unencrypted PEM private key"
mkfifo "$LAB_DIR/key.fifo"
assert_fails "a FIFO as key file is rejected at once" timeout 10 \
	"$CUSTOS_SIGNER" --import-key --config "$CUSTOS_CONF" \
	--tenant "$CUSTOS_TENANT" --key "$LAB_DIR/key.fifo"
assert_contains "the FIFO error names a regular file" "$TAP_OUTPUT" \
	"is not a regular file"
assert_fails "an unknown tenant is rejected" "$CUSTOS_SIGNER" --import-key \
	--config "$CUSTOS_CONF" --tenant nobody --key "$LAB_DIR/rsa.key"
assert_contains "the tenant error names the tenant" "$TAP_OUTPUT" \
	"tenant 'nobody' not found"

for id in "$RSA_KEY_ID" "$EC_KEY_ID"; do
	PROBE=$("$CUSTOS_BUILD_DIR/tests/p11probe" "$SOFTHSM_MODULE" \
		"$SOFTHSM_LABEL" "$SOFTHSM_PIN_FILE" "$id" 2>&1)
	diag "p11probe for $id:" "$PROBE"
	assert_equal "key $id: CKA_SENSITIVE is true" \
		"$(probe_field sensitive)" 1
	assert_equal "key $id: CKA_EXTRACTABLE is false" \
		"$(probe_field extractable)" 0
	assert_equal "key $id: the secret cannot be read" \
		"$(probe_field value)" CKR_ATTRIBUTE_SENSITIVE
	assert_equal "key $id: CKA_EXTRACTABLE cannot be set" \
		"$(probe_field set_extractable)" CKR_ATTRIBUTE_READ_ONLY
	assert_equal "key $id: the private key signs" \
		"$(probe_field sign)" 1
	assert_equal "key $id: the private key does not decrypt" \
		"$(probe_field decrypt)" 0
	assert_equal "key $id: the public key does not encrypt" \
		"$(probe_field encrypt)" 0
done

# 2. An ACME certificate for the same name, then the imports beside it.
assert_status "cert add for $NAME succeeds" 0 "$CUSTOS" cert add \
	--config "$CUSTOS_CONF" "$NAME"
assert_status "import of the RSA chain succeeds" 0 cert_import \
	"$LAB_DIR/rsa-chain.pem" "$RSA_KEY_ID"
assert_contains "the import names the certificate" "$TAP_OUTPUT" \
	"imported certificate 2 for tenant $CUSTOS_TENANT"
RSA_SERIAL=$(openssl x509 -in "$LAB_DIR/rsa.pem" -noout -serial |
	sed 's/^serial=//' | tr 'A-F' 'a-f')
assert_status "import of the EC chain succeeds" 0 cert_import \
	"$LAB_DIR/ec-chain.pem" "$EC_KEY_ID"
assert_equal "the deploy hook ran for both imports" \
	"$(cat "$DAEMON_HOOK_DIR/hook.log")" \
	"$(state_query "SELECT name || ' 0' FROM versions
		WHERE cert_id IN (2, 3) ORDER BY cert_id")"
assert_equal "the imports' deploys are recorded" \
	"$(state_query "SELECT count(*) FROM versions
		WHERE cert_id IN (2, 3) AND deploy_pending = 0")" 2
RSA_DIR=$CUSTOS_STORE/$CUSTOS_TENANT/$NAME@$RSA_SERIAL
assert_file_exists "the RSA leaf is stored" "$RSA_DIR/current/cert.pem"
assert_equal "the stored leaf is the upload" \
	"$(cat "$RSA_DIR/current/cert.pem")" "$(cat "$LAB_DIR/rsa.pem")"
assert_contains "key.uri names the token key" \
	"$(cat "$RSA_DIR/current/key.uri")" "type=private"
assert_equal "key.uri has the imported key id" \
	"$(custos_uri_id "$(cat "$RSA_DIR/current/key.uri")")" "$RSA_KEY_ID"
assert_equal "no private key in the store" \
	"$(grep -rl 'PRIVATE KEY' "$CUSTOS_STORE")" ""
assert_status "cert list succeeds" 0 "$CUSTOS" cert list \
	--config "$CUSTOS_CONF"
assert_line_count "cert list shows three certificates" "$TAP_OUTPUT" 3
assert_contains "cert list marks the import" "$TAP_OUTPUT" \
	"2	$CUSTOS_TENANT	imported	"
expires=$(date -u -d "$(openssl x509 -in "$LAB_DIR/rsa.pem" -noout \
	-enddate | sed 's/^notAfter=//')" +%Y-%m-%dT%H:%M:%SZ)
assert_contains "cert list shows the expiry" "$TAP_OUTPUT" \
	"imported	$expires	$NAME"
assert_status "cert show of the import succeeds" 0 "$CUSTOS" cert show \
	--config "$CUSTOS_CONF" 2
assert_contains "cert show says imported" "$TAP_OUTPUT" "imported: yes"
assert_contains "cert show gives the key type" "$TAP_OUTPUT" \
	"key-type: rsa-2048"
assert_equal "imported certificates have no task" \
	"$(state_query "SELECT count(*) FROM tasks WHERE cert_id IN (2, 3)")" 0
assert_fails "cert reissue of an import fails" "$CUSTOS" cert reissue \
	--config "$CUSTOS_CONF" 2
assert_contains "the reissue error says why" "$TAP_OUTPUT" \
	"certificate 2 was imported, so custos cannot reissue it"

# 3. Bad uploads.
expect_rejected "garbage" "text outside the PEM blocks at byte 0" \
	"$LAB_DIR/garbage.pem" "$RSA_KEY_ID"
expect_rejected "key text before the chain" \
	"text outside the PEM blocks at byte 0" \
	"$LAB_DIR/smuggled.pem" "$RSA_KEY_ID"
expect_rejected "text after the chain" "text outside the PEM blocks" \
	"$LAB_DIR/trailing.pem" "$RSA_KEY_ID"
expect_rejected "a leaf without issuers" "holds only the leaf" \
	"$LAB_DIR/rsa.pem" "$RSA_KEY_ID"
expect_rejected "a chain that does not link" \
	"the certificate chain does not verify" \
	"$LAB_DIR/unlinked.pem" "$RSA_KEY_ID"
expect_rejected "an expired leaf" "expired; upload a certificate" \
	"$LAB_DIR/old-chain.pem" "$RSA_KEY_ID"
expect_rejected "a key that does not match" "public key" \
	"$LAB_DIR/ec-chain.pem" "$RSA_KEY_ID"
expect_rejected "another tenant's key" "bound to tenant other" \
	"$LAB_DIR/rsa-chain.pem" "$OTHER_KEY_ID"
expect_rejected "a name outside the policy" \
	"secret.import.test: denied by deny secret.import.test" \
	"$LAB_DIR/secret-chain.pem" "$RSA_KEY_ID"
expect_rejected "a second upload of one certificate" "imported before" \
	"$LAB_DIR/rsa-chain.pem" "$RSA_KEY_ID"
expect_rejected "a key id that is not hex" "invalid --key-id" \
	"$LAB_DIR/rsa-chain.pem" not-a-key-id
expect_rejected "an unknown key id" "no key with id" \
	"$LAB_DIR/rsa-chain.pem" 00000000000000000000000000000000

# The policy's limits apply to imports too: a 30-day leaf under
# max-lifetime 1d, and one more certificate under max-certificates 1.
cp "$LAB_DIR/policy.conf" "$LAB_DIR/policy.saved"
for row in "max-lifetime 1d|denied by max-lifetime 86400s" \
	"max-certificates 1|denied by max-certificates 1"; do
	IFS='|' read -r limit error <<<"$row"
	cp "$LAB_DIR/policy.saved" "$LAB_DIR/policy.conf"
	sed -i "s/^\tdeny secret.import.test$/&\n\t$limit/" \
		"$LAB_DIR/policy.conf"
	expect_rejected "a leaf over ${limit% *}" "$error" \
		"$LAB_DIR/limits-chain.pem" "$RSA_KEY_ID"
done
cp "$LAB_DIR/policy.saved" "$LAB_DIR/policy.conf"

# 4. The daemon issues the ACME certificate and leaves the imports alone.
at_exit daemon_stop
daemon_start
wait_for 60 "SELECT count(*) FROM versions WHERE cert_id = 1" 1 ||
	bail_out "the daemon issued nothing: $(tail -n 20 "$DAEMON_LOG")"
sleep 3
daemon_stop
assert_equal "the daemon exits 0" "$DAEMON_STATUS" 0
assert_equal "the imports have one version each" \
	"$(state_query "SELECT count(*) FROM versions WHERE cert_id IN (2, 3)")" 2
assert_equal "the daemon never ran an import" \
	"$(state_query "SELECT count(*) FROM attempts WHERE cert_id IN (2, 3)")" 0
assert_equal "the imported RSA version is still current" \
	"$(readlink "$RSA_DIR/current")" \
	"$(state_query "SELECT name FROM versions WHERE cert_id = 2")"
assert_file_exists "the ACME certificate is stored beside them" \
	"$(custos_store_file "$NAME" cert.pem)"
assert_contains "the ACME certificate has an EC key" \
	"$(openssl x509 -in "$(custos_store_file "$NAME" cert.pem)" -noout \
	-text)" "id-ecPublicKey"
assert_contains "the audit log records the import" \
	"$(cat "$CUSTOS_AUDIT_LOG")" "cert import"

tap_done
