#!/bin/bash
# Issues a certificate through tls-alpn-01: custos serves Pebble's
# validation on 127.0.0.1:5001 with an RFC 8737 certificate. A wildcard
# name, which only dns-01 can validate, fails with a clear error.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/named.sh
source "$(dirname "$0")/../lib/named.sh"

CUSTOS_CHALLENGE_TYPES=tls-alpn-01
named_lab_start custos-tlsalpn
# named.sh wrote the dns-01 lines; tls-alpn-01 needs only its listener.
CUSTOS_CHALLENGE_LINES=$(printf '\ttls-alpn-01 listen 127.0.0.1 %s' \
	"$PEBBLE_TLS_PORT")
CUSTOS_EXTRA_BLOCKS=
custos_write_config "$LAB_DIR" || bail_out "cannot write the configuration"

assert_status "custos issue through tls-alpn-01" 0 custos_issue \
	tls.example.test
assert_contains "tls-alpn-01 response published" "$TAP_OUTPUT" \
	"published the tls-alpn-01 response"
cert=$(custos_store_file tls.example.test cert.pem)
check "chain verifies against Pebble's root" openssl verify \
	-CAfile "$PEBBLE_ROOT" \
	-untrusted "$(custos_store_file tls.example.test chain.pem)" "$cert"
assert_equal "certificate names" "$(openssl x509 -in "$cert" -noout \
	-ext subjectAltName | grep -oE 'DNS:[^, ]+')" "DNS:tls.example.test"

assert_status "wildcard without dns-01 fails" 1 custos_issue \
	'*.example.test'
assert_contains "wildcard error names dns-01" "$TAP_OUTPUT" \
	"a wildcard name needs dns-01"

tap_done
