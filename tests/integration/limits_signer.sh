#!/bin/bash
# The signer's input caps at their edges, with a real SoftHSM2 token. A
# frame of exactly IPC_MAX_PAYLOAD (64 KiB) is read and one byte more is
# not. JSON nesting of 2048 levels parses and 2049 does not, which is
# JSON_PARSER_MAX_DEPTH of jansson 2.14. A CSR takes 100 names but not
# 101, and a newOrder payload takes 1000 identifiers but not 1001. Every
# rejection names its reason, and the signer exits normally, not by signal.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

CLIENT=$CUSTOS_BUILD_DIR/tests/signer_client
TOKEN_LABEL=custos-limits-signer
ZERO_ID=00000000000000000000000000000000

for program in "$CUSTOS_SIGNER" "$CLIENT"; do
	[ -x "$program" ] || bail_out "$program is missing; run make first"
done
command -v python3 >/dev/null || bail_out "python3 is missing"
if [ "$(id -u)" -eq 0 ] &&
	! id "$CUSTOS_SIGNER_USER" >/dev/null 2>&1; then
	useradd --system --no-create-home --shell /usr/sbin/nologin \
		"$CUSTOS_SIGNER_USER" || bail_out "useradd failed"
fi
lab_tmpdir custos-limits-signer || bail_out "cannot make a directory"
softhsm_init "$LAB_DIR" "$TOKEN_LABEL" || bail_out "cannot make a token"

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
	file "$LAB_DIR/policy.conf"
}
EOF
cat >"$LAB_DIR/policy.conf" <<EOF
tenant lab {
	allow .test
	issuers pebble
	accounts pebble
	key-types ec-p256
}
EOF
chmod 0644 "$CONF" "$LAB_DIR/policy.conf"

client() {
	"$CLIENT" "$CUSTOS_SIGNER" "$CONF" "$@" 2>&1
}

# Usage: python_print EXPRESSION ARG ...
# Prints a Python expression over sys.argv, without a newline.
python_print() {
	python3 -c "import sys; print($1, end='')" "${@:2}"
}

# Usage: expect_closed NAME OUTPUT REASON
expect_closed() {
	assert_contains "$1: reason logged" "$2" \
		"warning: closing the connection: $3"
	assert_equal "$1: exit status 1" "$(tail -n 1 <<<"$2")" "exit 1"
}

# --- Frame length ---------------------------------------------------------

# A key-public request padded with an unknown member to the frame cap: it
# is read and parsed, so the member check is what rejects it.
prefix="{\"key_id\":\"$ZERO_ID\",\"pad\":\""
body=$(python_print \
	'sys.argv[1] + "a" * (65536 - len(sys.argv[1]) - 2) + "\"}"' "$prefix")
assert_equal "frame at the cap is 65536 bytes" "${#body}" 65536
out=$(client request key-public "$body")
expect_closed "frame at the cap is parsed" "$out" \
	'key-public request: unexpected member "pad"'
out=$(client oversized 65537)
expect_closed "frame one byte over the cap" "$out" \
	"frame length over the limit"

# --- JSON depth -----------------------------------------------------------

# Usage: nested DEPTH
# Prints a key-public request whose member "x" brings the nesting, the
# request object included, to DEPTH levels.
nested() {
	python_print '"{\"key_id\":\"%s\",\"x\":%s%s}" % (sys.argv[1],
"[" * (int(sys.argv[2]) - 1), "]" * (int(sys.argv[2]) - 1))' \
		"$ZERO_ID" "$1"
}

out=$(client request key-public "$(nested 2048)")
expect_closed "2048 levels parse" "$out" \
	'key-public request: unexpected member "x"'
out=$(client request key-public "$(nested 2049)")
expect_closed "2049 levels are rejected" "$out" \
	"key-public request: payload is not one JSON object"
deep=$(nested 32000)
assert_equal "32000 levels fit in one frame" "$((${#deep} <= 65536))" 1
out=$(client request key-public "$deep")
expect_closed "32000 levels are rejected" "$out" \
	"key-public request: payload is not one JSON object"

# --- Names in a CSR and identifiers in a newOrder -------------------------

# Usage: names_json COUNT
# Prints a JSON array of COUNT names n0.test, n1.test, ...
names_json() {
	python_print '"[" + ",".join("\"n%d.test\"" % i
for i in range(int(sys.argv[1]))) + "]"' "$1"
}

# Usage: order_json COUNT
# Prints a jws-sign request for a newOrder with COUNT identifiers.
order_json() {
	python_print '"{\"key_id\":\"@account@\",\"tenant\":\"lab\",\
\"url\":\"https://127.0.0.1:14000/new-order\",\"nonce\":\"abc\",\
\"kid\":\"https://127.0.0.1:14000/acct/1\",\
\"payload\":\"{\\\"identifiers\\\":[" +
",".join("{\\\"type\\\":\\\"dns\\\",\\\"value\\\":\\\"n%d.test\\\"}" % i
for i in range(int(sys.argv[1]))) + "]}\"}"' "$1"
}

csr_request() {
	printf '{"key_id":"@certificate@","tenant":"lab","names":%s}' \
		"$(names_json "$1")"
}

order_1000=$(order_json 1000)
assert_equal "1000 identifiers fit in one frame" \
	"$((${#order_1000} <= 65536))" 1
out=$(client \
	request key-generate '{"purpose":"certificate","tenant":"lab"}' \
	keep certificate key_id \
	request key-generate \
	'{"purpose":"account","tenant":"lab","issuer":"pebble"}' \
	keep account key_id \
	request csr-build "$(csr_request 100)" \
	request jws-sign "$order_1000" \
	request jws-sign "$(order_json 1001)" \
	request csr-build "$(csr_request 101)")
replies=$(grep -E '^(result|error|eof)' <<<"$out" | cut -c 1-60)
assert_contains "100 names: CSR built" "$(sed -n 3p <<<"$replies")" \
	'result {"csr":"'
assert_contains "1000 identifiers: signed" "$(sed -n 4p <<<"$replies")" \
	'result {"protected":"'
assert_contains "1001 identifiers: rejected" "$out" \
	'member \"identifiers\" has 1001 entries, expected 1 to 1000'
expect_closed "101 names" "$out" \
	'csr-build request: member "names" has 101 entries, expected 1 to 100'

tap_done
