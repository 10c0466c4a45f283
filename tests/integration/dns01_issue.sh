#!/bin/bash
# Issues certificates through dns-01 with BIND 9 as the zones' server:
# an apex and its wildcard in one order (two TXT values on one name), names
# whose _acme-challenge is a CNAME into a second zone (one and two hops),
# and names written in upper case, with a trailing dot and as a U-label,
# which must reach the CA as lower-case A-labels. After every run the
# zones hold no TXT record.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/named.sh
source "$(dirname "$0")/../lib/named.sh"

# Usage: check_certificate FIRST-NAME EXPECTED-SANS
check_certificate() {
	local cert chain names

	cert=$(custos_store_file "$1" cert.pem)
	chain=$(custos_store_file "$1" chain.pem)
	check "$1: chain verifies against Pebble's root" openssl verify \
		-CAfile "$PEBBLE_ROOT" -untrusted "$chain" "$cert"
	names=$(openssl x509 -in "$cert" -noout -ext subjectAltName |
		grep -oE 'DNS:[^, ]+' | sort | tr '\n' ' ')
	assert_equal "$1: certificate names" "$names" "$2"
}

named_lab_start custos-dns01-issue

assert_status "apex and wildcard in one order" 0 custos_issue \
	example.test '*.example.test'
assert_contains "both values were added" "$TAP_OUTPUT" \
	"published the dns-01 response"
check_certificate example.test "DNS:*.example.test DNS:example.test "
named_check_no_txt "apex and wildcard"

assert_status "CNAME into the second zone" 0 custos_issue \
	delegated.example.test chain.example.test
assert_contains "one-hop CNAME was followed" "$TAP_OUTPUT" \
	"added TXT delegated.example.test.validation.test in zone validation.test"
assert_contains "two-hop CNAME was followed" "$TAP_OUTPUT" \
	"added TXT chain.example.test.validation.test in zone validation.test"
check_certificate delegated.example.test \
	"DNS:chain.example.test DNS:delegated.example.test "
named_check_no_txt "CNAME"

assert_status "upper case, trailing dot and U-label" 0 custos_issue \
	Mixed.Example.TEST. "bücher.example.test"
check_certificate mixed.example.test \
	"DNS:mixed.example.test DNS:xn--bcher-kva.example.test "
assert_contains "Pebble got the A-label" "$(cat "$PEBBLE_LOG")" \
	"xn--bcher-kva.example.test"
assert_not_contains "Pebble got no upper case" "$(cat "$PEBBLE_LOG")" \
	"Mixed.Example"
named_check_no_txt "normalised names"

assert_equal "journal holds no record" \
	"$(ls "$CUSTOS_STATE/dns-records" 2>/dev/null)" ""

tap_done
