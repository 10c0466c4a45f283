#!/bin/bash
# Downloads certificate chains formatted the ways real CAs format them
# (CRLF line endings, no final newline, blank lines, `openssl x509 -text`
# output around the blocks, one to three certificates, no or a
# parameterised Content-Type) and checks that each is stored with clean
# PEM, and that a damaged block or a block that is not a certificate fails
# with the store untouched.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/hostile.sh
source "$(dirname "$0")/../lib/hostile.sh"

hostile_lab_start custos-hostile-chain

# Each row: the chain variant and the certificates fullchain.pem holds.
STORED=(
	"chain-2|2"
	"crlf|2"
	"no-final-newline|2"
	"blank-lines|2"
	"text|2"
	"chain-1|1"
	"chain-3|3"
	"no-content-type|2"
	"content-type-params|2"
)
for row in "${STORED[@]}"; do
	IFS='|' read -r value count <<<"$row"
	hostile_run chain "$value"
	hostile_expect_success "chain $value" "$count"
	case $value in
	no-content-type)
		assert_contains "chain $value: warning" "$HOSTILE_OUTPUT" \
			"has no Content-Type; reading it as"
		;;
	chain-1)
		assert_equal "chain $value: chain.pem is empty" "$(wc -c \
			<"$(custos_store_file "$HOSTILE_NAME" chain.pem)")" 0
		;;
	esac
done

hostile_run chain garbage
hostile_expect_failure "chain garbage" \
	"invalid certificate chain from the CA: PEM block 2 is damaged"
hostile_run chain non-certificate
hostile_expect_failure "chain non-certificate" \
	"PEM block 2 is a \"PRIVATE KEY\", not a CERTIFICATE" \
	"nothing was stored"

tap_done
