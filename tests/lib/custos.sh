# shellcheck shell=bash
# Custos configuration and commands for tests, sourced by bash after
# tap.sh, pebble.sh and softhsm.sh.
#
# lab_tmpdir makes the test's temporary directory, custos_write_config
# writes DIR/custos.conf for the Pebble and SoftHSM2 token that the other
# helpers set up, and custos_issue runs `custos issue` with it.

CUSTOS_SOURCE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in
/*) CUSTOS_BUILD_DIR=$BUILD ;;
*) CUSTOS_BUILD_DIR=$CUSTOS_SOURCE_DIR/$BUILD ;;
esac
CUSTOS=$CUSTOS_BUILD_DIR/custos
CUSTOS_SIGNER=$CUSTOS_BUILD_DIR/custos-signer
CUSTOS_BROKER_USER=custos
CUSTOS_SIGNER_USER=custos-signer
CUSTOS_HTTP01_ADDRESS=127.0.0.1
CUSTOS_HTTP01_PORT=5002
# The tenant that custos_write_policy writes and custos_store_file reads.
CUSTOS_TENANT=lab

# Usage: lab_tmpdir [PREFIX]
# Makes a directory under /tmp, sets LAB_DIR to its path and removes it
# when the test exits unless CUSTOS_KEEP_TMP=1. mktemp makes it 0700, and it
# becomes 0711 so that the broker and signer users can reach the files
# inside. Call it directly, not in $(...), or the cleanup is lost.
lab_tmpdir() {
	LAB_DIR=$(mktemp -d "/tmp/${1:-custos-test}.XXXXXX") || return 1
	chmod 0711 "$LAB_DIR" || return 1
	if [ "${CUSTOS_KEEP_TMP:-0}" != 1 ]; then
		at_exit rm -rf "$LAB_DIR"
	fi
}

# Usage: custos_require_programs
# Ends the test with one failure unless the broker and signer are built.
custos_require_programs() {
	local program

	for program in "$CUSTOS" "$CUSTOS_SIGNER"; do
		if [ ! -x "$program" ]; then
			bail_out "$program is missing; run make first"
		fi
	done
}

# Usage: custos_give_to USER PATH ...
# Hands the paths to USER when running as root, and does nothing
# otherwise.
custos_give_to() {
	local user=$1

	shift
	if [ "$(id -u)" -eq 0 ]; then
		chown -R "$user:" "$@"
	fi
}

custos_write_http01() {
	if [ -n "${CUSTOS_WEBROOT:-}" ]; then
		printf '\thttp-01 webroot "%s"\n' "$CUSTOS_WEBROOT"
	else
		printf '\thttp-01 listen %s %s\n' "$CUSTOS_HTTP01_ADDRESS" \
			"$CUSTOS_HTTP01_PORT"
	fi
	if [ -n "${CUSTOS_CHALLENGE_TYPES:-}" ]; then
		printf '\ttypes %s\n' "$CUSTOS_CHALLENGE_TYPES"
	fi
	if [ -n "${CUSTOS_CHALLENGE_LINES:-}" ]; then
		printf '%s\n' "$CUSTOS_CHALLENGE_LINES"
	fi
}

# Usage: custos_write_config DIR [FILE-NAME]
# Writes DIR/custos.conf (or DIR/FILE-NAME, for a variant of the same
# setup) and sets CUSTOS_CONF, CUSTOS_STORE (issued
# certificates) and CUSTOS_STATE (account records). These variables change
# what is written:
#   CUSTOS_DIRECTORY_URL  ACME directory URL (default PEBBLE_DIRECTORY)
#   CUSTOS_TRUST_BUNDLE   issuer trust bundle (default PEBBLE_TLS_CA)
#   CUSTOS_MODULE         PKCS#11 module (default SOFTHSM_MODULE)
#   CUSTOS_PIN_FILE       PIN file (default SOFTHSM_PIN_FILE)
#   CUSTOS_TOKEN_LABEL    token label (default SOFTHSM_LABEL)
#   CUSTOS_WEBROOT        serve HTTP-01 from this web root, not a listener
#   CUSTOS_BAD_NONCE_RETRIES  retries of one request after badNonce
#   CUSTOS_CHALLENGE_TYPES    challenge types, most preferred first
#   CUSTOS_CHALLENGE_LINES    more lines for the challenge block
#   CUSTOS_EXTRA_BLOCKS       more blocks at the end, such as dns-zone
#   CUSTOS_AUDIT_LINES        more lines for the audit block, such as
#                             rotate-size
#   CUSTOS_POLICY_CHALLENGES  the policy's challenges (default http-01)
# It also sets CUSTOS_AUDIT_LOG, the audit log in DIR/audit.
custos_write_config() {
	local dir=$1

	CUSTOS_CONF=$dir/${2:-custos.conf}
	CUSTOS_STORE=$dir/store
	CUSTOS_STATE=$dir/state
	CUSTOS_AUDIT_LOG=$dir/audit/audit.log
	mkdir -p "$CUSTOS_STORE" "$CUSTOS_STATE" "$dir/audit" || return 1
	chmod 0750 "$CUSTOS_STORE" "$CUSTOS_STATE" "$dir/audit"
	custos_give_to "$CUSTOS_BROKER_USER" "$CUSTOS_STORE" "$CUSTOS_STATE" \
		"$dir/audit" || return 1
	{
		printf '# Written by tests/lib/custos.sh for one test run.\n'
		printf 'hsm {\n'
		printf '\tmodule "%s"\n' "${CUSTOS_MODULE:-$SOFTHSM_MODULE}"
		printf '\ttoken-label "%s"\n' \
			"${CUSTOS_TOKEN_LABEL:-$SOFTHSM_LABEL}"
		printf '\tpin-file "%s"\n' \
			"${CUSTOS_PIN_FILE:-$SOFTHSM_PIN_FILE}"
		printf '}\n'
		printf 'signer {\n'
		printf '\tuser %s\n' "$CUSTOS_SIGNER_USER"
		printf '\tprogram "%s"\n' "$CUSTOS_SIGNER"
		printf '}\n'
		printf 'broker {\n'
		printf '\tuser %s\n' "$CUSTOS_BROKER_USER"
		printf '\tstate-dir "%s"\n' "$CUSTOS_STATE"
		printf '}\n'
		printf 'challenge {\n'
		custos_write_http01
		printf '}\n'
		printf 'store {\n'
		printf '\tdirectory "%s"\n' "$CUSTOS_STORE"
		printf '}\n'
		printf 'acme {\n'
		printf '\tpoll-interval 1\n'
		printf '\tpoll-timeout 60\n'
		printf '\thttp-timeout 10\n'
		printf '\tbad-nonce-retries %s\n' \
			"${CUSTOS_BAD_NONCE_RETRIES:-5}"
		printf '}\n'
		printf 'issuer pebble {\n'
		printf '\tdirectory "%s"\n' \
			"${CUSTOS_DIRECTORY_URL:-$PEBBLE_DIRECTORY}"
		printf '\ttrust-bundle "%s"\n' \
			"${CUSTOS_TRUST_BUNDLE:-$PEBBLE_TLS_CA}"
		printf '\tcontact "mailto:admin@example.org"\n'
		printf '\tagree-tos yes\n'
		printf '}\n'
		printf 'policy {\n'
		printf '\tfile "%s"\n' "${CUSTOS_POLICY:-$dir/policy.conf}"
		printf '}\n'
		printf 'audit {\n'
		printf '\tfile "%s"\n' "$CUSTOS_AUDIT_LOG"
		if [ -n "${CUSTOS_AUDIT_LINES:-}" ]; then
			printf '%s\n' "$CUSTOS_AUDIT_LINES"
		fi
		printf '}\n'
		if [ -n "${CUSTOS_EXTRA_BLOCKS:-}" ]; then
			printf '%s\n' "$CUSTOS_EXTRA_BLOCKS"
		fi
	} >"$CUSTOS_CONF" || return 1
	chmod 0644 "$CUSTOS_CONF"
	[ -n "${CUSTOS_POLICY:-}" ] || custos_write_policy "$dir/policy.conf"
}

# Usage: custos_write_policy FILE
# Writes a policy with one tenant, CUSTOS_TENANT ("lab"), for the user
# running the tests: any name below .test, the Pebble issuer and its
# account, every key type.
custos_write_policy() {
	{
		printf '# Written by tests/lib/custos.sh for one test run.\n'
		printf 'tenant %s {\n' "$CUSTOS_TENANT"
		printf '\tusers %s\n' "$(id -un)"
		printf '\tallow .test\n'
		printf '\tissuers pebble\n'
		printf '\taccounts pebble\n'
		printf '\tchallenges %s\n' "${CUSTOS_POLICY_CHALLENGES:-http-01}"
		printf '\tkey-types ec-p256 ec-p384 rsa-2048 rsa-3072 rsa-4096\n'
		printf '}\n'
	} >"$1" || return 1
	chmod 0644 "$1"
}

# Usage: custos_write_limits_policy FILE LIMIT-LINE ...
# Writes a policy with tenant CUSTOS_TENANT for root (any name below
# .test, Pebble, http-01, ec-p256) and each LIMIT-LINE in its block, the
# first on line 8.
custos_write_limits_policy() {
	local file=$1 line

	shift
	{
		printf 'tenant %s {\n' "$CUSTOS_TENANT"
		printf '\tusers root\n'
		printf '\tallow .test\n'
		printf '\tissuers pebble\n'
		printf '\taccounts pebble\n'
		printf '\tchallenges http-01\n'
		printf '\tkey-types ec-p256\n'
		for line in "$@"; do
			printf '\t%s\n' "$line"
		done
		printf '}\n'
	} >"$file"
	chmod 0644 "$file"
}

# Usage: custos_cert_seconds FILE FIELD
# Prints the certificate's startdate or enddate as a Unix time.
custos_cert_seconds() {
	date -d "$(openssl x509 -in "$1" -noout "-$2" | cut -d= -f2)" +%s
}

# Usage: custos_issue NAME ...
# Runs `custos issue` with the test configuration.
custos_issue() {
	"$CUSTOS" issue --config "$CUSTOS_CONF" "$@"
}

# Prints one line per file in the store with its SHA-256, so
# that two snapshots compare equal only when nothing was written.
custos_store_snapshot() {
	(cd "$CUSTOS_STORE" && find . -type f -print0 | sort -z |
		xargs -0 -r sha256sum)
}

# Usage: custos_store_file NAME FILE [TENANT]
# Prints STORE/TENANT/NAME/current/FILE, the path of FILE (cert.pem,
# chain.pem, fullchain.pem or key.uri) in the newest version stored for
# the tenant's certificate whose first name is NAME. TENANT defaults to
# CUSTOS_TENANT. The file may not exist.
custos_store_file() {
	local label=${1/#\*/_wildcard}

	printf '%s\n' "$CUSTOS_STORE/${3:-$CUSTOS_TENANT}/$label/current/$2"
}

# Usage: custos_lab_start PREFIX
# Makes LAB_DIR, starts Pebble, creates the token custos-test and writes
# the configuration. Ends the test with one failure when a step fails.
custos_lab_start() {
	custos_require_programs
	lab_tmpdir "$1" || bail_out "cannot make a directory under /tmp"
	pebble_start "$LAB_DIR" ||
		bail_out "Pebble did not start; see $LAB_DIR/pebble/*.log"
	softhsm_init "$LAB_DIR" custos-test ||
		bail_out "SoftHSM2 token setup failed in $LAB_DIR/softhsm"
	custos_write_config "$LAB_DIR" ||
		bail_out "cannot write $LAB_DIR/custos.conf"
}

# Usage: custos_uri_id PKCS11-URI
# Prints the id attribute of a PKCS#11 URI (RFC 7512) as lowercase hex,
# for example "0a1b" for "pkcs11:token=t;id=%0A%1B;type=private".
custos_uri_id() {
	local attribute
	local -a attributes

	IFS=';' read -ra attributes <<<"${1#pkcs11:}"
	for attribute in "${attributes[@]}"; do
		if [ "${attribute%%=*}" = id ]; then
			printf '%s\n' "${attribute#id=}" | tr -d '%' |
				tr 'A-F' 'a-f'
			return 0
		fi
	done
	return 1
}
