#!/bin/bash
# Wrapped export at the signer: signer_client speaks to the signer as the
# broker would. Tenant alpha's key-export lists wrapped and its nodes
# edge1 and edge2 have recipient keys; edge3 has none. Tenant beta lists
# wrapped too, and tenant gamma has no key-export statement (hsm only).
# The signer must wrap only an extractable key of the request's tenant,
# and only for a node of that tenant with a recipient key: never an
# account key or an imported key, and never for a node name that only
# resembles one. The blob must unwrap with openssl to the key that the
# CSR carries, and only with the node's own private key, and no key
# material reaches the signer's debug log.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

CLIENT=$CUSTOS_BUILD_DIR/tests/signer_client
TOKEN_LABEL=custos-signer-wrap

for program in "$CUSTOS_SIGNER" "$CLIENT"; do
	[ -x "$program" ] || bail_out "$program is missing; run make first"
done
if [ "$(id -u)" -eq 0 ] &&
	! id "$CUSTOS_SIGNER_USER" >/dev/null 2>&1; then
	useradd --system --no-create-home --shell /usr/sbin/nologin \
		"$CUSTOS_SIGNER_USER" || bail_out "useradd failed"
fi
lab_tmpdir custos-signer-wrap || bail_out "cannot make a temporary directory"
softhsm_init "$LAB_DIR" "$TOKEN_LABEL" || bail_out "cannot make a token"

# Node keys: edge1 RSA-2048, edge2 RSA-3072, beta1 RSA-2048.
for node in edge1 edge2 beta1; do
	bits=2048
	[ "$node" = edge2 ] && bits=3072
	if ! openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:$bits" \
		-out "$LAB_DIR/$node.key" 2>/dev/null ||
		! openssl pkey -in "$LAB_DIR/$node.key" -pubout \
			-out "$LAB_DIR/$node.pub"; then
		bail_out "cannot make the key of $node"
	fi
done
chmod 0644 "$LAB_DIR"/*.pub

POLICY=$LAB_DIR/policy.conf
cat >"$POLICY" <<EOF
tenant alpha {
	allow .alpha.test
	key-types ec-p256 rsa-2048
	key-export hsm wrapped
	issuers pebble
	accounts pebble
	node edge1 {
		token sha256:$(printf a1 | sha256sum | cut -c1-64)
		certificates 1
		recipient "edge1.pub"
	}
	node edge2 {
		token sha256:$(printf a2 | sha256sum | cut -c1-64)
		certificates 1
		recipient "$LAB_DIR/edge2.pub"
	}
	node edge3 {
		token sha256:$(printf a3 | sha256sum | cut -c1-64)
		certificates 1
	}
}
tenant beta {
	allow .beta.test
	key-types ec-p256
	key-export wrapped
	node beta1 {
		token sha256:$(printf b1 | sha256sum | cut -c1-64)
		certificates 1
		recipient "beta1.pub"
	}
}
tenant gamma {
	allow .gamma.test
	key-types ec-p256
	node gamma1 {
		token sha256:$(printf g1 | sha256sum | cut -c1-64)
		certificates 1
		recipient "beta1.pub"
	}
}
EOF
chmod 0644 "$POLICY"
CONF=$LAB_DIR/signer.conf
cat >"$CONF" <<EOF
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
	file "$POLICY"
}
EOF

# A key imported with --import-key is created sensitive and not
# extractable, so it is never wrapped.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	-out "$LAB_DIR/imported.key" 2>/dev/null ||
	bail_out "cannot make the imported key"
IMPORTED=$("$CUSTOS_SIGNER" --import-key --config "$CONF" --tenant alpha \
	--key "$LAB_DIR/imported.key" 2>/dev/null | sed -n 's/^key-id: //p')
[ -n "$IMPORTED" ] || bail_out "custos-signer --import-key printed no key id"

STEPS=()
NAMES=()

# Usage: req NAME TYPE JSON
req() {
	NAMES+=("$1")
	STEPS+=(request "$2" "$3")
}

# Usage: keep VARIABLE MEMBER (of the last result)
keep() {
	STEPS+=(keep "$1" "$2")
}

# Usage: wrap TENANT KEY NODE
wrap() {
	printf '{"key_id":"%s","tenant":"%s","node":"%s"}' "$1" "$2" "$3"
}

req gen-wrapped key-generate \
	'{"purpose":"certificate","tenant":"alpha","export":"wrapped"}'
keep WRAPPED key_id
req csr-wrapped csr-build \
	'{"key_id":"@WRAPPED@","tenant":"alpha","names":["a.alpha.test"]}'
keep CSR csr
req gen-rsa-wrapped key-generate '{"purpose":"certificate",'`
	`'"tenant":"alpha","type":"rsa-2048","export":"wrapped"}'
keep RSA_WRAPPED key_id
req gen-hsm key-generate \
	'{"purpose":"certificate","tenant":"alpha","export":"hsm"}'
keep HSM key_id
req gen-default key-generate '{"purpose":"certificate","tenant":"alpha"}'
keep DEFAULT key_id
req gen-beta key-generate \
	'{"purpose":"certificate","tenant":"beta","export":"wrapped"}'
keep BETA key_id
req gen-beta-hsm key-generate \
	'{"purpose":"certificate","tenant":"beta","export":"hsm"}'
req gen-gamma-wrapped key-generate \
	'{"purpose":"certificate","tenant":"gamma","export":"wrapped"}'
req gen-gamma key-generate '{"purpose":"certificate","tenant":"gamma"}'
keep GAMMA key_id
req gen-account key-generate \
	'{"purpose":"account","tenant":"alpha","issuer":"pebble"}'
keep ACCOUNT key_id

req wrap-edge1 key-wrap "$(wrap @WRAPPED@ alpha edge1)"
keep BLOB1 data
req wrap-edge2 key-wrap "$(wrap @WRAPPED@ alpha edge2)"
keep BLOB2 data
req wrap-rsa key-wrap "$(wrap @RSA_WRAPPED@ alpha edge1)"
keep BLOB_RSA data
req wrap-hsm key-wrap "$(wrap @HSM@ alpha edge1)"
req wrap-default key-wrap "$(wrap @DEFAULT@ alpha edge1)"
req wrap-no-recipient key-wrap "$(wrap @WRAPPED@ alpha edge3)"
req wrap-other-node key-wrap "$(wrap @WRAPPED@ alpha beta1)"
req wrap-unknown-node key-wrap "$(wrap @WRAPPED@ alpha nowhere)"
req wrap-other-tenant key-wrap "$(wrap @WRAPPED@ beta beta1)"
req wrap-beta-key key-wrap "$(wrap @BETA@ alpha edge1)"
req wrap-beta key-wrap "$(wrap @BETA@ beta beta1)"
req wrap-gamma key-wrap "$(wrap @GAMMA@ gamma gamma1)"
req wrap-account key-wrap "$(wrap @ACCOUNT@ alpha edge1)"
req wrap-imported key-wrap "$(wrap "$IMPORTED" alpha edge1)"
req wrap-node-case key-wrap "$(wrap @WRAPPED@ alpha EDGE1)"
req wrap-node-space key-wrap "$(wrap @WRAPPED@ alpha 'edge1 ')"
req wrap-node-newline key-wrap "$(wrap @WRAPPED@ alpha 'edge1\n')"
req wrap-node-unicode key-wrap "$(wrap @WRAPPED@ alpha '\u00e9dge1')"
req wrap-tenant-case key-wrap "$(wrap @WRAPPED@ ALPHA edge1)"
req wrap-unknown-key key-wrap \
	"$(wrap 0123456789abcdef0123456789abcdef alpha edge1)"
req last key-public '{"key_id":"@WRAPPED@"}'

OUT=$LAB_DIR/session.out
LOG=$LAB_DIR/session.log
"$CLIENT" --debug "$CUSTOS_SIGNER" "$CONF" "${STEPS[@]}" >"$OUT" 2>"$LOG"

# Usage: reply NAME
reply() {
	local i

	for i in "${!NAMES[@]}"; do
		if [ "${NAMES[$i]}" = "$1" ]; then
			sed -n "$((i + 1))p" "$OUT"
			return
		fi
	done
}

# Usage: member NAME MEMBER (a string member of NAME's result)
member() {
	reply "$1" | sed 's/^result //' | python3 -c \
		'import json,sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' \
		"$2"
}

allowed() {
	assert_contains "$1: allowed" "$(reply "$1")" 'result {'
}

# Usage: denied NAME REASON
denied() {
	local out

	out=$(reply "$1" | sed 's/\\"/"/g')
	assert_contains "$1: policy-denied" "$out" \
		'error {"code":"policy-denied"'
	assert_contains "$1: reason" "$out" "$2"
}

assert_equal "one reply per request" "$(grep -c . "$OUT")" \
	"$((${#NAMES[@]} + 1))"
assert_equal "signer exits 0" "$(tail -n 1 "$OUT")" "exit 0"

allowed gen-wrapped
allowed gen-rsa-wrapped
allowed gen-hsm
allowed gen-default
allowed gen-beta
denied gen-beta-hsm \
	'key export hsm: denied, not in the key-export of tenant beta'
denied gen-gamma-wrapped \
	'key export wrapped: denied, tenant gamma has no key-export statement'
allowed gen-gamma

allowed wrap-edge1
allowed wrap-edge2
allowed wrap-rsa
allowed wrap-beta
denied wrap-hsm 'is not extractable'
denied wrap-default 'is not extractable'
denied wrap-no-recipient 'node edge3: denied, it has no recipient key'
denied wrap-other-node 'node beta1: denied, not a node of tenant alpha'
denied wrap-unknown-node 'node nowhere: denied, not a node of tenant alpha'
denied wrap-other-tenant 'bound to tenant alpha, not beta'
denied wrap-beta-key 'bound to tenant beta, not alpha'
denied wrap-gamma 'key export wrapped: denied, tenant gamma has no key-export'
denied wrap-account 'not a certificate key (label "custos/account/'
denied wrap-imported \
	'is not extractable, because it was generated for hsm export or imported'
denied wrap-node-case 'node EDGE1: denied, not a node of tenant alpha'
denied wrap-node-space 'node edge1 : denied, not a node of tenant alpha'
denied wrap-node-newline 'node edge1?: denied, not a node of tenant alpha'
denied wrap-node-unicode 'not a node of tenant alpha'
denied wrap-tenant-case 'tenant ALPHA: denied, no such tenant'
assert_contains "wrap-unknown-key: unknown-key" "$(reply wrap-unknown-key)" \
	'error {"code":"unknown-key"'
allowed last

# The fixed members of a wrap result.
assert_equal "edge1 blob: oaep_hash" "$(member wrap-edge1 oaep_hash)" sha1
assert_equal "edge1 blob: key_type" "$(member wrap-edge1 key_type)" ec-p256
assert_equal "edge1 blob: node" "$(member wrap-edge1 node)" edge1
assert_equal "rsa blob: key_type" "$(member wrap-rsa key_type)" rsa-2048
fingerprint() {
	printf 'sha256:%s' "$(openssl pkey -pubin -in "$1" -outform DER |
		sha256sum | cut -c1-64)"
}
assert_equal "edge1 blob: recipient" "$(member wrap-edge1 recipient)" \
	"$(fingerprint "$LAB_DIR/edge1.pub")"
assert_equal "edge2 blob: recipient" "$(member wrap-edge2 recipient)" \
	"$(fingerprint "$LAB_DIR/edge2.pub")"

# Usage: unwrap BASE64 NODE-KEY OUT-DER
# Splits the blob at the modulus length, decrypts K with RSA-OAEP
# (SHA-1) and unwraps the PKCS#8 DER with AES-256 key wrap with padding.
unwrap() {
	local dir=$LAB_DIR/unwrap modulus

	rm -rf "$dir" && mkdir -p "$dir" || return 1
	printf '%s' "$1" | base64 -d >"$dir/blob" || return 1
	modulus=$(($(openssl pkey -in "$2" -noout -text 2>/dev/null |
		sed -n 's/.*Private-Key: (\([0-9]*\) bit.*/\1/p') / 8))
	head -c "$modulus" "$dir/blob" >"$dir/k.enc"
	tail -c +"$((modulus + 1))" "$dir/blob" >"$dir/data.enc"
	openssl pkeyutl -decrypt -inkey "$2" -in "$dir/k.enc" \
		-out "$dir/k.bin" -pkeyopt rsa_padding_mode:oaep \
		-pkeyopt rsa_oaep_md:sha1 -pkeyopt rsa_mgf1_md:sha1 \
		2>/dev/null || return 1
	openssl enc -d -id-aes256-wrap-pad -iv A65959A6 \
		-K "$(xxd -p -c 64 "$dir/k.bin")" -in "$dir/data.enc" \
		-out "$3" 2>/dev/null || return 1
}

# Usage: b64url_decode TEXT (base64url without padding, to bytes)
b64url_decode() {
	local text

	text=$(printf '%s' "$1" | tr -- '-_' '+/')
	while [ $((${#text} % 4)) -ne 0 ]; do
		text="$text="
	done
	printf '%s' "$text" | base64 -d
}

CSR_PUB=$(b64url_decode "$(member csr-wrapped csr)" |
	openssl req -inform DER -noout -pubkey)
check "edge1 unwraps its blob" unwrap "$(member wrap-edge1 data)" \
	"$LAB_DIR/edge1.key" "$LAB_DIR/edge1.der"
assert_equal "unwrapped key matches the CSR's public key" \
	"$(openssl pkey -inform DER -in "$LAB_DIR/edge1.der" -pubout)" \
	"$CSR_PUB"
check "edge2 unwraps its blob" unwrap "$(member wrap-edge2 data)" \
	"$LAB_DIR/edge2.key" "$LAB_DIR/edge2.der"
check "both nodes receive the same key" \
	cmp "$LAB_DIR/edge1.der" "$LAB_DIR/edge2.der"
assert_fails "edge2's key cannot unwrap edge1's blob" unwrap \
	"$(member wrap-edge1 data)" "$LAB_DIR/edge2.key" "$LAB_DIR/x.der"
assert_fails "beta1's key cannot unwrap edge1's blob" unwrap \
	"$(member wrap-edge1 data)" "$LAB_DIR/beta1.key" "$LAB_DIR/x.der"
check "edge1 unwraps the RSA key" unwrap "$(member wrap-rsa data)" \
	"$LAB_DIR/edge1.key" "$LAB_DIR/rsa.der"
assert_contains "unwrapped RSA key is RSA-2048" \
	"$(openssl pkey -inform DER -in "$LAB_DIR/rsa.der" -noout -text)" \
	"Private-Key: (2048 bit"

# Usage: ec_scalar DER-FILE (prints the private scalar in hex)
ec_scalar() {
	local hex

	hex=$(openssl pkey -inform DER -in "$1" -noout -text |
		sed -n '/^priv:/,/^pub:/{/^ /p}' | tr -d ' :\n')
	[ ${#hex} -eq 66 ] && hex=${hex#00}
	printf '%s' "$hex"
}

# The blobs carry the key only encrypted: neither the raw EC scalar nor
# the PKCS#8 DER appears in them.
SCALAR=$(ec_scalar "$LAB_DIR/edge1.der")
# Usage: der_length FILE (header plus content of the first DER element)
der_length() {
	openssl asn1parse -inform DER -in "$1" 2>/dev/null | head -n 1 |
		sed -n 's/.*hl= *\([0-9]*\) *l= *\([0-9]*\).*/\1 + \2/p' |
		xargs expr
}

# SoftHSM2 2.6.1 pads the PrivateKeyInfo with zero bytes to a multiple
# of 8 before CKM_AES_KEY_WRAP_PAD, and the padding's length field counts
# them, so the unwrapped bytes are the DER and then 0 to 7 zero bytes.
P8_LEN=$(der_length "$LAB_DIR/edge1.der")
P8_SIZE=$(stat -c %s "$LAB_DIR/edge1.der")
assert_equal "unwrapped size is the DER rounded up to 8 bytes" \
	"$P8_SIZE" "$(((P8_LEN + 7) / 8 * 8))"
assert_equal "bytes after the DER are zero" \
	"$(tail -c +"$((P8_LEN + 1))" "$LAB_DIR/edge1.der" | tr -d '\0' |
		wc -c)" 0
PKCS8=$(head -c "$P8_LEN" "$LAB_DIR/edge1.der" | xxd -p | tr -d '\n')
BLOBS=$(for name in wrap-edge1 wrap-edge2; do
	member "$name" data | base64 -d | xxd -p | tr -d '\n'
done)
assert_equal "scalar is 32 bytes" "${#SCALAR}" 64
assert_not_contains "no EC scalar in the blobs" "$BLOBS" "$SCALAR"
assert_not_contains "no PKCS#8 DER in the blobs" "$BLOBS" "$PKCS8"
assert_not_contains "no EC scalar in the replies" "$(cat "$OUT")" "$SCALAR"
assert_contains "the session ran at debug level" "$(cat "$LOG")" \
	'debug: key-wrap request done'
assert_not_contains "the signer logs no blob" "$(cat "$LOG")" \
	"$(member wrap-edge1 data | cut -c 1-40)"
assert_not_contains "no EC scalar in the debug log" \
	"$(tr 'A-F' 'a-f' <"$LOG")" "$SCALAR"
assert_not_contains "no PKCS#8 in the debug log" "$(cat "$LOG")" \
	"$(head -c "$P8_LEN" "$LAB_DIR/edge1.der" | base64 -w 0 | cut -c 1-40)"
assert_contains "denial logged with the node" "$(cat "$LOG")" \
	'key-wrap request denied: tenant alpha'

# The token's view of the keys: only a key generated for wrapped export
# is extractable, no key's value can be read, and no other key can be
# made extractable.
# Usage: probe KEY-ID
probe() {
	"$CUSTOS_BUILD_DIR/tests/p11probe" "$SOFTHSM_MODULE" "$TOKEN_LABEL" \
		"$SOFTHSM_PIN_FILE" "$1" | tr '\n' ' '
}
PROBE=$(probe "$(member gen-wrapped key_id)")
assert_contains "wrapped key: sensitive, extractable" "$PROBE" \
	"sensitive=1 extractable=1 always_sensitive=1 never_extractable=0"
assert_contains "wrapped key: value unreadable after wraps" "$PROBE" \
	"value=CKR_ATTRIBUTE_SENSITIVE"
PROBE=$(probe "$(member gen-hsm key_id)")
assert_contains "hsm key: never extractable" "$PROBE" \
	"sensitive=1 extractable=0 always_sensitive=1 never_extractable=1"
assert_contains "hsm key: cannot be made extractable" "$PROBE" \
	"set_extractable=CKR_ATTRIBUTE_READ_ONLY"
PROBE=$(probe "$IMPORTED")
assert_contains "imported key: not extractable" "$PROBE" \
	"sensitive=1 extractable=0"
assert_contains "imported key: cannot be made extractable" "$PROBE" \
	"set_extractable=CKR_ATTRIBUTE_READ_ONLY"
PROBE=$(probe "$(member gen-account key_id)")
assert_contains "account key: not extractable" "$PROBE" \
	"sensitive=1 extractable=0"

# A key generated for wrapped export while the policy allowed it is not
# wrapped once the tenant's key-export no longer lists wrapped.
WRAPPED_ID=$(member gen-wrapped key_id)
sed 's/^\tkey-export hsm wrapped$/\tkey-export hsm/' "$POLICY" \
	>"$LAB_DIR/policy-hsm.conf"
chmod 0644 "$LAB_DIR/policy-hsm.conf"
sed "s|$POLICY|$LAB_DIR/policy-hsm.conf|" "$CONF" >"$LAB_DIR/signer-hsm.conf"
out=$("$CLIENT" "$CUSTOS_SIGNER" "$LAB_DIR/signer-hsm.conf" request key-wrap \
	"$(wrap "$WRAPPED_ID" alpha edge1)" 2>/dev/null | head -n 1 |
	sed 's/\\"/"/g')
assert_contains "wrap after key-export lost wrapped: denied" "$out" \
	'error {"code":"policy-denied"'
assert_contains "wrap after key-export lost wrapped: reason" "$out" \
	'key export wrapped: denied, not in the key-export of tenant alpha'

# A malformed key-wrap request ends the connection, with the reason in
# the log, and the signer exits 1 without a reply.
# Usage: malformed NAME JSON REASON [TYPE]
malformed() {
	local out log=$LAB_DIR/malformed.log

	out=$("$CLIENT" "$CUSTOS_SIGNER" "$CONF" request "${4:-key-wrap}" \
		"$2" 2>"$log")
	assert_equal "$1: no reply, signer exits 1" "$out" \
		"$(printf 'eof\nexit 1')"
	assert_contains "$1: reason logged" "$(cat "$log")" "$3"
}

ID=0123456789abcdef0123456789abcdef
malformed "missing node" "{\"key_id\":\"$ID\",\"tenant\":\"alpha\"}" \
	'missing member "node"'
malformed "node not a string" \
	"{\"key_id\":\"$ID\",\"tenant\":\"alpha\",\"node\":7}" \
	'member "node" is not a string'
LONG_NODE=$(printf 'n%.0s' {1..65})
malformed "node too long" \
	"{\"key_id\":\"$ID\",\"tenant\":\"alpha\",\"node\":\"$LONG_NODE\"}" \
	'member "node"'
malformed "unknown member" "{\"key_id\":\"$ID\",\"tenant\":\"alpha\",`
	`\"node\":\"edge1\",\"recipient\":\"x\"}" 'unexpected member "recipient"'
malformed "bad key id" "{\"key_id\":\"XYZ\",\"tenant\":\"alpha\",`
	`\"node\":\"edge1\"}" 'member "key_id"'
malformed "export on an account key" '{"purpose":"account",'`
	`'"tenant":"alpha","issuer":"pebble","export":"wrapped"}' \
	'member "export" is only for certificate keys' key-generate
malformed "unknown export mode" '{"purpose":"certificate",'`
	`'"tenant":"alpha","export":"plain"}' 'member "export"' key-generate
malformed "export in upper case" '{"purpose":"certificate",'`
	`'"tenant":"alpha","export":"WRAPPED"}' \
	'member "export" has unsupported value "WRAPPED"' key-generate
malformed "export null" '{"purpose":"certificate",'`
	`'"tenant":"alpha","export":null}' 'member "export" is not a string' \
	key-generate
malformed "export as a list" '{"purpose":"certificate",'`
	`'"tenant":"alpha","export":["wrapped"]}' \
	'member "export" is not a string' key-generate
malformed "empty node" \
	"{\"key_id\":\"$ID\",\"tenant\":\"alpha\",\"node\":\"\"}" \
	'member "node" is empty'
malformed "node with NUL" "{\"key_id\":\"$ID\",\"tenant\":\"alpha\",`
	`\"node\":\"edge1\\u0000x\"}" 'payload is not one JSON object'
malformed "duplicate node member" "{\"key_id\":\"$ID\",`
	`\"tenant\":\"alpha\",\"node\":\"edge3\",\"node\":\"edge1\"}" \
	'payload is not one JSON object'
malformed "two requests in one frame" "$(wrap "$ID" alpha edge1)`
	`$(wrap "$ID" alpha edge1)" 'payload is not one JSON object'
malformed "request is an array" "[$(wrap "$ID" alpha edge1)]" \
	'payload is not one JSON object'
tap_done
