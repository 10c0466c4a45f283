#!/bin/bash
# Wrapped export of certificate keys through the real programs: the
# daemon issues a certificate from Pebble with "key_export": "wrapped".
# Its worker requests from the signer a wrap of the SoftHSM2 key for each
# granted node with a recipient key. GET /v1/distribution/REF returns the
# blob, which openssl unwraps with the node's private key to the key of
# the certificate. Also: another node's key cannot unwrap it, a node
# without a recipient gets 409, an ungranted node 404, a node of another
# tenant with the same name and recipient 404, an hsm certificate is
# never wrapped, a node added by a reload gets its blob when the worker
# restarts, a node whose recipient changed gets a blob for its new key
# after the restart, and the private key appears in none of the daemon's
# log, the database, the audit log, the API responses or a core dump of
# the worker.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/daemon.sh
source "$(dirname "$0")/../lib/daemon.sh"

# Usage: request METHOD PATH [CURL-ARG ...]
# Sends one request as root and sets API_STATUS, API_HEADERS and API_BODY.
# Every response is appended to LAB_DIR/responses for the leak checks.
request() {
	local method=$1 path=$2 response

	shift 2
	response=$(curl -sS -i --unix-socket "$API_SOCKET" -X "$method" "$@" \
		"http://localhost$path")
	API_HEADERS=$(sed -n '1,/^\r$/p' <<<"$response" | tr -d '\r')
	API_BODY=$(sed '1,/^\r$/d' <<<"$response")
	API_STATUS=$(sed -n '1s/^HTTP\/1.1 \([0-9]*\).*/\1/p' <<<"$response")
	printf '%s\n' "$response" >>"$LAB_DIR/responses"
}

# Usage: fetch TOKEN PATH [CURL-ARG ...]
fetch() {
	local token=$1 path=$2

	shift 2
	request GET "$path" -H "Authorization: Bearer $token" "$@"
}

# Usage: add BODY (POST /v1/certificates)
add() {
	request POST /v1/certificates -H 'Content-Type: application/json' \
		-d "$1"
}

field() {
	jq -r "$1" <<<"$API_BODY"
}

header() {
	sed -n "s/^$1: //Ip" <<<"$API_HEADERS"
}

token_hash() {
	printf %s "$1" | sha256sum | cut -d' ' -f1
}

# Usage: fingerprint PUBLIC-PEM (prints sha256:HEX of the DER SPKI)
fingerprint() {
	printf 'sha256:%s' "$(openssl pkey -pubin -in "$1" -outform DER |
		sha256sum | cut -c1-64)"
}

# Usage: unwrap BASE64 NODE-KEY OUT-DER
# Splits the blob at the modulus length, decrypts K with RSA-OAEP SHA-1
# and unwraps the PKCS#8 DER with AES-256 key wrap with padding.
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

# Usage: ec_scalar DER-FILE (prints the private scalar in hex)
ec_scalar() {
	local hex

	hex=$(openssl pkey -inform DER -in "$1" -noout -text |
		sed -n '/^priv:/,/^pub:/{/^ /p}' | tr -d ' :\n')
	[ ${#hex} -eq 66 ] && hex=${hex#00}
	printf '%s' "$hex"
}

# Usage: der_length FILE (header plus content of the first DER element)
der_length() {
	openssl asn1parse -inform DER -in "$1" 2>/dev/null | head -n 1 |
		sed -n 's/.*hl= *\([0-9]*\) *l= *\([0-9]*\).*/\1 + \2/p' |
		xargs expr
}

# Usage: file_contains_hex HEX FILE
# Exits 0 when the byte string is in FILE, 1 when it is not, and 2 when
# FILE cannot be read.
file_contains_hex() {
	python3 -c 'import mmap, os, sys
try:
    with open(sys.argv[2], "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            sys.exit(1)
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            found = data.find(bytes.fromhex(sys.argv[1])) >= 0
except (OSError, ValueError) as e:
    print(e)
    sys.exit(2)
sys.exit(0 if found else 1)' "$1" "$2"
}

# Usage: assert_lacks NAME HEX FILE
# Passes only when FILE was searched and the byte string is not in it.
assert_lacks() {
	local output status

	output=$(file_contains_hex "$2" "$3" 2>&1)
	status=$?
	assert_equal "$1" "$status${output:+: $output}" 1
}

# Usage: write_policy [with-edge5]
# with-edge5 also gives edge2 the recipient key edge6.pub.
write_policy() {
	local edge5='' edge2_recipient=$LAB_DIR/edge2.pub

	if [ "${1:-}" = with-edge5 ]; then
		edge2_recipient=$LAB_DIR/edge6.pub
		edge5="node edge5 {
		token sha256:$(token_hash "$EDGE5_TOKEN")
		certificates a.alpha.test
		recipient \"edge5.pub\"
	}"
	fi
	cat >"$LAB_DIR/policy.conf" <<POLICY
tenant alpha {
	users root
	allow .alpha.test
	issuers pebble
	accounts pebble
	challenges http-01
	key-types ec-p256
	key-export ${KEY_EXPORT:-hsm wrapped}
	node edge1 {
		token sha256:$(token_hash "$EDGE1_TOKEN")
		certificates 1 2
		recipient "edge1.pub"
	}
	node edge2 {
		token sha256:$(token_hash "$EDGE2_TOKEN")
		certificates 1
		recipient "$edge2_recipient"
	}
	node edge3 {
		token sha256:$(token_hash "$EDGE3_TOKEN")
		certificates 1
	}
	node edge4 {
		token sha256:$(token_hash "$EDGE4_TOKEN")
		certificates 2
		recipient "edge4.pub"
	}
	$edge5
}
tenant beta {
	users 5002
	allow .beta.test
	issuers pebble
	accounts pebble
	challenges http-01
	key-types ec-p256
	node edge1 {
		token sha256:$(token_hash "$BETA_EDGE1_TOKEN")
		certificates 1 a.alpha.test
		recipient "edge1.pub"
	}
}
POLICY
	chmod 0644 "$LAB_DIR/policy.conf"
}

custos_lab_start custos-wrap
API_SOCKET=$LAB_DIR/run/api.sock
for node in edge1 edge2 edge4 edge5 edge6; do
	if ! openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
		-out "$LAB_DIR/$node.key" 2>/dev/null ||
		! openssl pkey -in "$LAB_DIR/$node.key" -pubout \
			-out "$LAB_DIR/$node.pub"; then
		bail_out "cannot make the key of $node"
	fi
	chmod 0644 "$LAB_DIR/$node.pub"
done
EDGE1_TOKEN=$(openssl rand -hex 24)
EDGE2_TOKEN=$(openssl rand -hex 24)
EDGE3_TOKEN=$(openssl rand -hex 24)
EDGE4_TOKEN=$(openssl rand -hex 24)
EDGE5_TOKEN=$(openssl rand -hex 24)
BETA_EDGE1_TOKEN=$(openssl rand -hex 24)
write_policy
cat >>"$CUSTOS_CONF" <<CONF
daemon {
	poll-interval 2s
	renew-jitter 0
	retry-base 2s
	retry-max 5s
}
api {
	socket "$API_SOCKET"
}
CONF
at_exit daemon_stop
daemon_start
wait_for_log 30 "api: listening on $API_SOCKET" ||
	bail_out "the API process did not start: $(tail -n 20 "$DAEMON_LOG")"

# 1. Requests: a wrapped certificate, an hsm one, and the refusals.
add '{"names":["a.alpha.test"],"tenant":"alpha","key_export":"wrapped"}'
assert_equal "wrapped request answers 201" "$API_STATUS" 201
assert_equal "the certificate records key_export" "$(field .key_export)" \
	wrapped
add '{"names":["b.alpha.test"],"tenant":"alpha"}'
assert_equal "hsm request answers 201" "$API_STATUS" 201
assert_equal "key_export defaults to hsm" "$(field .key_export)" hsm
add '{"names":["c.alpha.test"],"tenant":"alpha","key_export":"plain"}'
assert_equal "unknown key_export answers 400" "$API_STATUS" 400
assert_equal "400 names the value and the choices" "$(field .detail)" \
	'invalid key_export "plain" (use hsm or wrapped)'
add '{"names":["a.beta.test"],"tenant":"beta","key_export":"wrapped"}'
assert_equal "wrapped without key-export answers 403" "$API_STATUS" 403
assert_contains "403 names the missing statement" "$(field .detail)" \
	"key export wrapped: denied, tenant beta has no key-export statement"
# custos cert add sends the request through the API while it runs.
out=$("$CUSTOS" cert add --config "$CUSTOS_CONF" --tenant alpha \
	--key-export plain c.alpha.test 2>&1)
assert_not_equal "cert add --key-export plain fails" "$?" 0
assert_contains "cert add names the mode and the choices" "$out" \
	'invalid key_export "plain" (use hsm or wrapped)'
out=$("$CUSTOS" cert add --config "$CUSTOS_CONF" --tenant beta \
	--key-export wrapped a.beta.test 2>&1)
assert_not_equal "cert add --key-export wrapped fails for beta" "$?" 0
assert_contains "cert add prints the denial" "$out" \
	"tenant beta has no key-export statement"

wait_for 120 "SELECT count(*) FROM versions WHERE status = 'current'" 2 ||
	bail_out "no two certificates: $(tail -n 30 "$DAEMON_LOG")"
wait_for 30 "SELECT count(*) FROM wrapped_keys" 2 ||
	bail_out "no wrapped keys: $(tail -n 30 "$DAEMON_LOG")"

# 2. edge1 fetches certificate 1 with its key wrapped to edge1.pub.
v1=$(state_query "SELECT name FROM versions WHERE cert_id = 1 AND
	status = 'current'")
fetch "$EDGE1_TOKEN" /v1/distribution/1
assert_equal "edge1 fetches certificate 1" "$API_STATUS" 200
assert_equal "the ETag stays the version's name" "$(header ETag)" "\"$v1\""
assert_equal "key export is wrapped" "$(field .key.export)" wrapped
assert_equal "the wrapped key has no URI" "$(field '.key.uri')" null
assert_equal "format" "$(field .key.wrapped.format)" rsa-oaep-aes-kwp
assert_equal "oaep_hash" "$(field .key.wrapped.oaep_hash)" sha1
assert_equal "key_type" "$(field .key.wrapped.key_type)" ec-p256
assert_equal "recipient is edge1's fingerprint" \
	"$(field .key.wrapped.recipient)" "$(fingerprint "$LAB_DIR/edge1.pub")"
assert_equal "the wrapped member has five members" \
	"$(field '.key.wrapped | keys | join(" ")')" \
	"data format key_type oaep_hash recipient"
BLOB1=$(field .key.wrapped.data)
CERT1=$(field .certificate)
check "data is one line of padded base64" \
	grep -qxE '([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?' \
	<<<"$BLOB1"
check "edge1 unwraps its key" unwrap "$BLOB1" "$LAB_DIR/edge1.key" \
	"$LAB_DIR/key1.der"
assert_equal "the unwrapped key is the certificate's key" \
	"$(openssl pkey -inform DER -in "$LAB_DIR/key1.der" -pubout)" \
	"$(openssl x509 -noout -pubkey <<<"$CERT1")"
P8_LEN=$(der_length "$LAB_DIR/key1.der")
KEY_DER=$(head -c "$P8_LEN" "$LAB_DIR/key1.der" | xxd -p | tr -d '\n')
KEY_B64=$(head -c "$P8_LEN" "$LAB_DIR/key1.der" | base64 -w 0)
SCALAR=$(ec_scalar "$LAB_DIR/key1.der")
assert_equal "the unwrapped key has a 32-byte scalar" "${#SCALAR}" 64
fetch "$EDGE1_TOKEN" /v1/distribution/1 -H "If-None-Match: \"$v1\""
assert_equal "the current tag answers 304" "$API_STATUS" 304

# 3. Another node: its own blob works, and its key cannot open edge1's.
fetch "$EDGE2_TOKEN" /v1/distribution/a.alpha.test
assert_equal "edge2 fetches by label" "$API_STATUS" 200
assert_equal "edge2's recipient" "$(field .key.wrapped.recipient)" \
	"$(fingerprint "$LAB_DIR/edge2.pub")"
BLOB2=$(field .key.wrapped.data)
assert_not_equal "edge2's blob differs from edge1's" "$BLOB2" "$BLOB1"
check "edge2 unwraps its key" unwrap "$BLOB2" "$LAB_DIR/edge2.key" \
	"$LAB_DIR/key2.der"
check "edge2 receives the same key" cmp "$LAB_DIR/key1.der" \
	"$LAB_DIR/key2.der"
assert_fails "edge2's key cannot unwrap edge1's blob" unwrap "$BLOB1" \
	"$LAB_DIR/edge2.key" "$LAB_DIR/x.der"
assert_fails "edge4's key cannot unwrap edge1's blob" unwrap "$BLOB1" \
	"$LAB_DIR/edge4.key" "$LAB_DIR/x.der"

# 4. A granted node without a recipient: 409; an ungranted node: 404.
fetch "$EDGE3_TOKEN" /v1/distribution/1
assert_equal "node without recipient answers 409" "$API_STATUS" 409
assert_contains "409 is no-recipient" "$(field .type)" "no-recipient"
assert_equal "409 names the node and the fix" "$(field .detail)" \
	"certificate 1 exports its key wrapped, and node edge3 has no \
recipient key (add recipient \"PATH\" with the node's RSA public key to \
node edge3 in the policy, then reload)"
fetch "$EDGE4_TOKEN" /v1/distribution/1
assert_equal "node without the grant answers 404" "$API_STATUS" 404
assert_equal "ungranted 404 reads like an unknown certificate" \
	"$(field .detail)" "no certificate \"1\" for this node (check the id \
or label, and the node's certificates in the policy)"
# Beta's node edge1 has alpha's node name, recipient key and grants.
fetch "$BETA_EDGE1_TOKEN" /v1/distribution/1
assert_equal "other tenant's node answers 404 by id" "$API_STATUS" 404
assert_not_contains "other tenant's node gets no blob" "$API_BODY" \
	"$(cut -c 1-40 <<<"$BLOB1")"
fetch "$BETA_EDGE1_TOKEN" /v1/distribution/a.alpha.test
assert_equal "other tenant's node answers 404 by label" "$API_STATUS" 404

# 5. The hsm certificate is never offered wrapped.
fetch "$EDGE1_TOKEN" /v1/distribution/2
assert_equal "edge1 fetches the hsm certificate" "$API_STATUS" 200
assert_equal "hsm key export" "$(field .key.export)" hsm
assert_equal "hsm has no wrapped member" "$(field '.key.wrapped')" null
assert_contains "hsm has the key URI" "$(field .key.uri)" "pkcs11:token="
fetch "$EDGE4_TOKEN" /v1/distribution/2
assert_equal "a node with a recipient still gets the URI" \
	"$(field '.key | keys | join(" ")')" "export uri"
assert_equal "no wrapped key of the hsm certificate is stored" \
	"$(state_query "SELECT count(*) FROM wrapped_keys w JOIN versions v
		ON v.id = w.version_id WHERE v.cert_id = 2")" 0
assert_equal "wrapped keys: edge1 and edge2 only" \
	"$(state_query "SELECT group_concat(node, ' ') FROM (SELECT node
		FROM wrapped_keys ORDER BY node)")" "edge1 edge2"

# 6. The audit log records each wrap without the blob.
audit=$(cat "$CUSTOS_AUDIT_LOG")
assert_equal "two key.wrap records" \
	"$(grep -c '"action":"key.wrap"' <<<"$audit")" 2
assert_contains "the record names node and recipient" \
	"$(grep '"action":"key.wrap"' <<<"$audit" | grep '"node":"edge1"')" \
	"\"recipient\":\"$(fingerprint "$LAB_DIR/edge1.pub")\""
assert_not_contains "the audit log has no blob" "$audit" \
	"$(cut -c 1-40 <<<"$BLOB1")"
assert_status "audit verify accepts the key.wrap records" 0 "$CUSTOS" \
	audit verify --config "$CUSTOS_CONF"

# 7. A node added by a reload gets its blob when the worker restarts, and
# edge2, whose recipient changes to edge6.pub, then gets a blob that only
# edge6.key opens.
fetch "$EDGE5_TOKEN" /v1/distribution/1
assert_equal "edge5 is unknown before the reload" "$API_STATUS" 401
write_policy with-edge5
starts=$(grep -c "api: listening on" "$DAEMON_LOG")
kill -HUP "$DAEMON_PID"
wait_for_log 30 "reloaded $CUSTOS_CONF" ||
	bail_out "no reload: $(tail -n 20 "$DAEMON_LOG")"
wait_for 30 "SELECT count(*) FROM wrapped_keys WHERE node = 'edge5'" 1 ||
	bail_out "no blob for edge5: $(tail -n 30 "$DAEMON_LOG")"
wait_for 30 "SELECT count(*) FROM wrapped_keys WHERE node = 'edge2'" 2 ||
	bail_out "no new blob for edge2: $(tail -n 30 "$DAEMON_LOG")"
deadline=$((SECONDS + 30))
while [ "$(grep -c "api: listening on" "$DAEMON_LOG")" -le "$starts" ] &&
	[ "$SECONDS" -lt "$deadline" ]; do
	sleep 0.2
done
fetch "$EDGE5_TOKEN" /v1/distribution/1
assert_equal "edge5 fetches after the restart" "$API_STATUS" 200
check "edge5 unwraps the same key" unwrap "$(field .key.wrapped.data)" \
	"$LAB_DIR/edge5.key" "$LAB_DIR/key5.der"
check "edge5's key is the certificate's key" cmp "$LAB_DIR/key1.der" \
	"$LAB_DIR/key5.der"
fetch "$EDGE2_TOKEN" /v1/distribution/1
assert_equal "edge2 fetches after the restart" "$API_STATUS" 200
assert_equal "edge2's blob is for its new recipient" \
	"$(field .key.wrapped.recipient)" "$(fingerprint "$LAB_DIR/edge6.pub")"
check "edge2 unwraps with its new key" unwrap \
	"$(field .key.wrapped.data)" "$LAB_DIR/edge6.key" "$LAB_DIR/key6.der"
check "edge2's new blob holds the certificate's key" cmp \
	"$LAB_DIR/key1.der" "$LAB_DIR/key6.der"
assert_fails "edge2's old key cannot unwrap the new blob" unwrap \
	"$(field .key.wrapped.data)" "$LAB_DIR/edge2.key" "$LAB_DIR/x.der"
assert_equal "the restart wrapped no key twice" \
	"$(state_query "SELECT count(*) FROM wrapped_keys")" 4

# 8. The plaintext key is nowhere on the broker's side.
# A worker built with AddressSanitizer maps terabytes of shadow memory,
# which gcore would write out, so a sanitizer run restarts the daemon
# from build/ for the dump. That worker reads the stored blobs at start.
# The file size limit stops gcore before it can fill the disk.
DUMPED=$CUSTOS
case $(nm -D "$CUSTOS" 2>/dev/null) in
*__asan_init*) DUMPED=$CUSTOS_SOURCE_DIR/build/custos ;;
esac
[ -x "$DUMPED" ] || bail_out "$DUMPED is missing; run make first"
if [ "$DUMPED" != "$CUSTOS" ]; then
	ready=$(grep -c "worker ready" "$DAEMON_LOG")
	daemon_stop
	CUSTOS=$DUMPED daemon_start
	deadline=$((SECONDS + 30))
	while [ "$(grep -c "worker ready" "$DAEMON_LOG")" -le "$ready" ] &&
		[ "$SECONDS" -lt "$deadline" ]; do
		sleep 0.2
	done
fi
WORKER=$(daemon_worker_pid)
(ulimit -f $((2 * 1024 * 1024)) &&
	gcore -o "$LAB_DIR/worker.core" "$WORKER") >"$LAB_DIR/gcore.out" 2>&1
CORE=$LAB_DIR/worker.core.$WORKER
assert_file_exists "the worker's core dump was written" "$CORE"
check "the core search finds the blob the worker stored" \
	file_contains_hex "$(printf '%s' "${BLOB1:0:64}" | xxd -p |
		tr -d '\n')" "$CORE"
assert_lacks "the worker's core holds no EC scalar" "$SCALAR" "$CORE"
assert_lacks "the worker's core holds no PKCS#8 DER" "$KEY_DER" "$CORE"
rm -f "$CORE"
for file in "$CUSTOS_STATE"/custos.db*; do
	assert_lacks "$(basename "$file") holds no EC scalar" "$SCALAR" \
		"$file"
	assert_lacks "$(basename "$file") holds no PKCS#8 DER" "$KEY_DER" \
		"$file"
done
for file in "$DAEMON_LOG" "$CUSTOS_AUDIT_LOG" "$LAB_DIR/responses"; do
	text=$(cat "$file")
	assert_not_contains "$(basename "$file") has no scalar in hex" \
		"$text" "$SCALAR"
	assert_not_contains "$(basename "$file") has no PKCS#8 in base64" \
		"$text" "${KEY_B64:48:40}"
	assert_not_contains "$(basename "$file") has no PRIVATE KEY block" \
		"$text" "PRIVATE KEY"
done
assert_contains "the daemon logged each wrap" "$(cat "$DAEMON_LOG")" \
	"certificate 1: wrapped the key of version $v1 for node edge1"

# 9. Once key-export no longer lists wrapped, no stored blob is sent.
KEY_EXPORT=hsm write_policy with-edge5
starts=$(grep -c "api: listening on" "$DAEMON_LOG")
kill -HUP "$DAEMON_PID"
deadline=$((SECONDS + 30))
while [ "$(grep -c "api: listening on" "$DAEMON_LOG")" -le "$starts" ] &&
	[ "$SECONDS" -lt "$deadline" ]; do
	sleep 0.2
done
fetch "$EDGE1_TOKEN" /v1/distribution/1
assert_equal "wrapped certificate without key-export wrapped: 403" \
	"$API_STATUS" 403
assert_contains "403 names the key-export rule" "$(field .detail)" \
	"key export wrapped: denied, not in the key-export of tenant alpha"
assert_not_contains "403 carries no blob" "$API_BODY" "${BLOB1:0:40}"
fetch "$EDGE1_TOKEN" /v1/distribution/2
assert_equal "the hsm certificate is still sent" "$API_STATUS" 200
tap_done
