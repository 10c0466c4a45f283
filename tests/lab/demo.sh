#!/bin/bash
# Issues a certificate for a.demo.test and b.demo.test from a local Pebble
# for tenant "lab", with its private key in a private SoftHSM2 token, and
# prints where the result is. Before issuing, it shows what the tenant's
# policy decides for each name. `make demo` runs it after building, as root, because the
# servers run in a private network namespace so that nothing leaves
# loopback.
#
# The working directory, /tmp/custos-demo.XXXXXX, is kept afterwards. The
# last two lines printed are the path of the issued fullchain.pem and the
# path of the Pebble root it chains to. Pebble makes a new root at every
# start, so that root is valid only for this run's certificate.
set -uo pipefail

DEMO_NAMES=(a.demo.test b.demo.test)
SOURCE_DIR=$(cd "$(dirname "$0")/../.." && pwd)

step() {
	printf '\n== %s\n' "$*"
}

fail() {
	echo "demo: $*" >&2
	exit 1
}

# Prints the summary lines of the issued certificate.
print_summary() {
	local fullchain=$1 key_uri_file=$2 chain

	step "Issued certificate"
	openssl x509 -in "$fullchain" -noout -subject -issuer -enddate \
		-ext subjectAltName -nameopt oneline
	if [ -f "$key_uri_file" ]; then
		echo "key URI: $(cat "$key_uri_file")"
	else
		echo "key URI: (no key.uri in the store)"
	fi
	chain=$(dirname "$fullchain")/chain.pem
	[ -f "$chain" ] || chain=$fullchain
	openssl verify -CAfile "$PEBBLE_ROOT" -untrusted "$chain" \
		"$fullchain" || fail "the certificate does not verify against" \
		"Pebble's root $PEBBLE_ROOT"
}

# Runs inside the private namespaces: servers, token, issuance, summary.
run_demo() {
	local dir=$1 fullchain key_uri program

	# shellcheck source=tests/lib/lab.sh
	source "$SOURCE_DIR/tests/lib/lab.sh"
	for program in "$CUSTOS" "$CUSTOS_SIGNER"; do
		[ -x "$program" ] || fail "$program is missing; run make first"
	done

	step "Starting Pebble on $PEBBLE_ACME_ADDRESS (logs in $dir/pebble)"
	pebble_start "$dir" || fail "Pebble did not start; see $PEBBLE_LOG"
	echo "Pebble root: $PEBBLE_ROOT"

	step "Creating SoftHSM2 token custos-demo in $dir/softhsm"
	softhsm_init "$dir" custos-demo || fail "SoftHSM2 token setup failed"
	custos_write_config "$dir" || fail "cannot write $dir/custos.conf"
	echo "configuration: $CUSTOS_CONF"

	step "custos policy check --tenant $CUSTOS_TENANT ${DEMO_NAMES[*]}"
	"$CUSTOS" policy check --config "$CUSTOS_CONF" \
		--tenant "$CUSTOS_TENANT" "${DEMO_NAMES[@]}" ||
		fail "the policy in $dir/policy.conf denies a name"

	step "custos issue --config $CUSTOS_CONF ${DEMO_NAMES[*]}"
	custos_issue "${DEMO_NAMES[@]}" ||
		fail "custos issue failed; Pebble's log is $PEBBLE_LOG"

	fullchain=$(custos_store_file "${DEMO_NAMES[0]}" fullchain.pem)
	[ -f "$fullchain" ] || fail "$fullchain is missing"
	key_uri=$(dirname "$fullchain")/key.uri
	print_summary "$fullchain" "$key_uri"

	echo
	echo "$fullchain"
	echo "$PEBBLE_ROOT"
}

main() {
	local dir

	if [ "${1:-}" = --inside ]; then
		ip link set lo up || fail "cannot bring up loopback"
		run_demo "$2"
		return
	fi
	if [ "$(id -u)" -ne 0 ]; then
		fail "run as root (sudo make demo): the demo needs a" \
			"private network namespace and the custos and" \
			"custos-signer users"
	fi
	dir=$(mktemp -d /tmp/custos-demo.XXXXXX) || fail "mktemp failed"
	chmod 0711 "$dir"
	echo "demo directory (kept afterwards): $dir"
	unshare --net --pid --fork --kill-child --mount-proc \
		bash "$0" --inside "$dir"
}

main "$@"
