# shellcheck shell=bash
# The hostile ACME server (tests/hostile/acme_hostile.py) for tests,
# sourced by bash after lab.sh.
#
# hostile_lab_start PREFIX makes LAB_DIR, a SoftHSM2 token, the server's
# TLS and issuing CAs and a configuration whose only issuer is the hostile
# server. hostile_start SCENARIO [VALUE] then runs the server with one
# scenario until hostile_stop or the end of the test. The server listens on
# a fixed port, so run the test in a private network namespace (tests/run.sh
# does).
#
# After hostile_lab_start these are set:
#   HOSTILE_DIRECTORY  the directory URL
#   HOSTILE_CA_DIR     root.pem and intermediate.pem of the issuing CA
#   HOSTILE_LOG        the event log of the server running now

HOSTILE_PORT=14100
HOSTILE_PYTHON=${HOSTILE_PYTHON:-/usr/bin/python3}
HOSTILE_SERVER=$CUSTOS_SOURCE_DIR/tests/hostile/acme_hostile.py
HOSTILE_PID=

# Usage: hostile_make_issuing_ca DIR
# Writes root.pem and intermediate.pem (with their keys) into DIR.
hostile_make_issuing_ca() {
	local dir=$1

	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-nodes -days 7 -subj "/CN=Hostile test root" \
		-keyout "$dir/root.key" -out "$dir/root.pem" \
		-addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign \
		2>>"$dir/openssl.log" || return 1
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-nodes -subj "/CN=Hostile test intermediate" \
		-keyout "$dir/intermediate.key" -out "$dir/intermediate.csr" \
		2>>"$dir/openssl.log" || return 1
	printf '%s\n' "basicConstraints=critical,CA:TRUE,pathlen:0" \
		"keyUsage=critical,keyCertSign,cRLSign" \
		"subjectKeyIdentifier=hash" \
		"authorityKeyIdentifier=keyid" >"$dir/intermediate.ext"
	openssl x509 -req -in "$dir/intermediate.csr" -CA "$dir/root.pem" \
		-CAkey "$dir/root.key" -set_serial 2 -days 7 \
		-extfile "$dir/intermediate.ext" -out "$dir/intermediate.pem" \
		2>>"$dir/openssl.log" || return 1
}

# Usage: hostile_set_acme NAME VALUE
# Changes one setting of the acme block in CUSTOS_CONF, for example
# "hostile_set_acme poll-timeout 6".
hostile_set_acme() {
	sed -i "s/^\t$1 .*/\t$1 $2/" "$CUSTOS_CONF"
	grep -q "^	$1 $2\$" "$CUSTOS_CONF"
}

# Usage: hostile_lab_start PREFIX
# Ends the test with one failure when a step fails.
hostile_lab_start() {
	local tls_dir

	custos_require_programs
	[ -x "$HOSTILE_PYTHON" ] ||
		bail_out "$HOSTILE_PYTHON is missing; run make deps"
	lab_tmpdir "$1" || bail_out "cannot make a directory under /tmp"
	tls_dir=$LAB_DIR/hostile/tls
	HOSTILE_CA_DIR=$LAB_DIR/hostile/ca
	mkdir -p "$tls_dir" "$HOSTILE_CA_DIR" ||
		bail_out "cannot make $LAB_DIR/hostile"
	pebble_make_tls "$tls_dir" ||
		bail_out "TLS setup failed; see $tls_dir/openssl.log"
	hostile_make_issuing_ca "$HOSTILE_CA_DIR" ||
		bail_out "CA setup failed; see $HOSTILE_CA_DIR/openssl.log"
	softhsm_init "$LAB_DIR" custos-test ||
		bail_out "SoftHSM2 token setup failed in $LAB_DIR/softhsm"
	HOSTILE_DIRECTORY=https://localhost:$HOSTILE_PORT/dir
	CUSTOS_DIRECTORY_URL=$HOSTILE_DIRECTORY \
		CUSTOS_TRUST_BUNDLE=$tls_dir/tls-ca.pem \
		custos_write_config "$LAB_DIR" ||
		bail_out "cannot write $LAB_DIR/custos.conf"
	at_exit hostile_stop
}

# Usage: hostile_start SCENARIO [VALUE]
# Starts the server with a fresh event log and waits until it listens.
hostile_start() {
	local deadline=$((SECONDS + 10)) tls_dir=$LAB_DIR/hostile/tls

	hostile_stop
	HOSTILE_LOG=$LAB_DIR/hostile/server.log
	: >"$HOSTILE_LOG"
	"$HOSTILE_PYTHON" "$HOSTILE_SERVER" --port "$HOSTILE_PORT" \
		--cert "$tls_dir/cert.pem" --key "$tls_dir/key.pem" \
		--ca-dir "$HOSTILE_CA_DIR" --scenario "$1" --value="${2:-}" \
		--log "$HOSTILE_LOG" 2>>"$LAB_DIR/hostile/stderr.log" &
	HOSTILE_PID=$!
	while [ "$SECONDS" -lt "$deadline" ]; do
		if ss -Hltn "sport = :$HOSTILE_PORT" | grep -q LISTEN; then
			return 0
		fi
		sleep 0.1
	done
	echo "hostile.sh: the server did not listen on port $HOSTILE_PORT;" \
		"see $LAB_DIR/hostile/stderr.log" >&2
	return 1
}

hostile_stop() {
	if [ -n "$HOSTILE_PID" ]; then
		kill "$HOSTILE_PID" 2>/dev/null
		wait "$HOSTILE_PID" 2>/dev/null
		HOSTILE_PID=
	fi
}

# Usage: hostile_wait_ms KIND
# Prints the milliseconds between the poll of KIND (authz or order) that
# carried a Retry-After and the broker's next poll of it, or nothing when
# no such wait was measured.
hostile_wait_ms() {
	awk -v kind="$1" '$1 == "wait" && $2 == kind {
		printf "%d\n", $3 * 1000 }' "$HOSTILE_LOG"
}

# Usage: hostile_request_count METHOD PATH
# Prints how many requests for PATH the server received.
hostile_request_count() {
	grep -c -x "$1 $2" "$HOSTILE_LOG"
}

# Usage: hostile_issued_count
hostile_issued_count() {
	grep -c '^issued serial' "$HOSTILE_LOG"
}

HOSTILE_CASE_COUNT=0

# Usage: hostile_run SCENARIO [VALUE]
# Starts the server with the scenario and runs `custos issue` for a name
# that no earlier case used, under /usr/bin/time -v. Sets HOSTILE_NAME,
# HOSTILE_STATUS (the exit status), HOSTILE_OUTPUT (stdout and stderr),
# HOSTILE_ELAPSED (whole seconds), HOSTILE_MAX_RSS_KB and
# HOSTILE_STORE_BEFORE (the store snapshot taken before the run).
hostile_run() {
	local start asan time_file=$LAB_DIR/hostile/time.out

	HOSTILE_CASE_COUNT=$((HOSTILE_CASE_COUNT + 1))
	HOSTILE_NAME=case$HOSTILE_CASE_COUNT.hostile.test
	hostile_start "$1" "${2:-}" ||
		bail_out "the hostile server did not start for scenario $1"
	HOSTILE_STORE_BEFORE=$(custos_store_snapshot)
	start=$SECONDS
	# ASan keeps freed blocks in a 256 MiB quarantine, which a growing
	# response buffer fills. Without the quarantine, the sanitizer
	# build's resident size follows the broker's live memory.
	asan=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0
	HOSTILE_OUTPUT=$(ASAN_OPTIONS=$asan /usr/bin/time -v \
		-o "$time_file" "$CUSTOS" issue --config "$CUSTOS_CONF" \
		"$HOSTILE_NAME" 2>&1)
	HOSTILE_STATUS=$?
	# shellcheck disable=SC2034 # Read by the tests that source this file.
	HOSTILE_ELAPSED=$((SECONDS - start))
	# shellcheck disable=SC2034 # Read by the tests that source this file.
	HOSTILE_MAX_RSS_KB=$(awk -F': ' '/Maximum resident set size/ {
		print $2 }' "$time_file")
	hostile_stop
}

# Usage: hostile_error_lines
# Prints the error lines of the last run.
hostile_error_lines() {
	grep ': error: ' <<<"$HOSTILE_OUTPUT"
}

# Usage: hostile_expect_failure CASE EXPECTED-TEXT ...
# Checks that the last run failed without a crash, printed one error line
# containing every EXPECTED-TEXT, no PIN, and left the store unchanged.
hostile_expect_failure() {
	local case_name=$1 errors text

	shift
	if [ "$HOSTILE_STATUS" -ne 0 ] && [ "$HOSTILE_STATUS" -lt 128 ]; then
		ok "$case_name: custos issue fails"
	else
		not_ok "$case_name: custos issue fails" \
			"exit status: $HOSTILE_STATUS" \
			"expected: a non-zero status below 128" \
			"output: $HOSTILE_OUTPUT"
	fi
	errors=$(hostile_error_lines)
	assert_line_count "$case_name: one error line" "$errors" 1
	for text in "$@"; do
		assert_contains "$case_name: error names $text" "$errors" \
			"$text"
	done
	assert_not_contains "$case_name: output has no PIN" \
		"$HOSTILE_OUTPUT" "$SOFTHSM_PIN"
	assert_equal "$case_name: store unchanged" \
		"$(custos_store_snapshot)" "$HOSTILE_STORE_BEFORE"
}

# Prints the number of certificates in a PEM file.
hostile_pem_count() {
	grep -c -- '-----BEGIN CERTIFICATE-----' "$1"
}

# Usage: hostile_expect_success CASE [CERTIFICATE-COUNT]
# Checks that the last run succeeded and stored a leaf for HOSTILE_NAME
# that verifies against the issuing root, in a fullchain.pem of
# CERTIFICATE-COUNT certificates (default 2) with LF line endings.
hostile_expect_success() {
	local case_name=$1 count=${2:-2} cert fullchain

	cert=$(custos_store_file "$HOSTILE_NAME" cert.pem)
	fullchain=$(custos_store_file "$HOSTILE_NAME" fullchain.pem)
	assert_equal "$case_name: custos issue succeeds" "$HOSTILE_STATUS" 0
	if [ "$HOSTILE_STATUS" -ne 0 ]; then
		diag "$HOSTILE_OUTPUT"
	fi
	assert_equal "$case_name: no error line" "$(hostile_error_lines)" ""
	assert_file_exists "$case_name: cert.pem stored" "$cert"
	check "$case_name: leaf verifies against the root" openssl verify \
		-CAfile "$HOSTILE_CA_DIR/root.pem" \
		-untrusted "$HOSTILE_CA_DIR/intermediate.pem" "$cert"
	assert_contains "$case_name: leaf names the request" \
		"$(openssl x509 -in "$cert" -noout -ext subjectAltName \
		2>&1)" "DNS:$HOSTILE_NAME"
	assert_equal "$case_name: fullchain has $count certificates" \
		"$(hostile_pem_count "$fullchain")" "$count"
	assert_equal "$case_name: fullchain has no CR" \
		"$(tr -dc '\r' <"$fullchain" | wc -c)" 0
}
