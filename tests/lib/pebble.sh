# shellcheck shell=bash
# Pebble (the Debian package's /usr/bin/pebble) as a local ACME server for
# tests, sourced by bash after tap.sh.
#
# pebble_start DIR serves ACME on https://localhost:14000/dir and its
# management interface on https://127.0.0.1:15000, with a TLS certificate
# from a CA generated in DIR/pebble. pebble-challtestsrv runs only as the
# DNS server on 127.0.0.1:8053 and answers every A query with 127.0.0.1,
# so Pebble validates HTTP-01 challenges against 127.0.0.1:5002. Run the
# test inside a private network namespace (tests/run.sh does) because the
# ports are fixed.
#
# After pebble_start these are set:
#   PEBBLE_DIRECTORY   the ACME directory URL
#   PEBBLE_TLS_CA      PEM file of the CA that signed Pebble's TLS
#                      certificate (the issuer's trust bundle)
#   PEBBLE_ROOT        PEM file of Pebble's issuing root, fetched from
#                      /roots/0 after each start because Pebble makes a new
#                      one every time
#   PEBBLE_LOG         Pebble's log, CHALLTESTSRV_LOG the DNS server's
#
# Set before pebble_start:
#   PEBBLE_DNS_SERVER  ADDRESS:PORT of a DNS server that Pebble validates
#                      against (named.sh's for dns-01), in place of
#                      pebble-challtestsrv, which then does not start
#   PEBBLE_TLS_PORT    port where Pebble connects for tls-alpn-01 (5001)
#   PEBBLE_EAB_KEYS    JSON object of External Account Binding key ids
#                      and their HMAC keys (base64url without padding),
#                      such as {"kid-1": "..."}; when set, Pebble requires
#                      EAB for every new account
#   PEBBLE_ENV         more VAR=VALUE words for Pebble's environment, such
#                      as "PEBBLE_CHAIN_LENGTH=3 PEBBLE_ALTERNATE_ROOTS=2"
#
# pebble2_start DIR starts a second, independent Pebble on ports 14001
# (ACME) and 15001 (management), sharing the first one's TLS certificate
# and DNS server, and sets PEBBLE2_DIRECTORY, PEBBLE2_ROOT and PEBBLE2_LOG.
# Call it after pebble_start.

PEBBLE_ACME_ADDRESS=127.0.0.1:14000
PEBBLE_MANAGEMENT_ADDRESS=127.0.0.1:15000
PEBBLE_DNS_ADDRESS=127.0.0.1:8053
CHALLTESTSRV_MANAGEMENT_ADDRESS=127.0.0.1:8055
PEBBLE_HTTP_PORT=5002
PEBBLE_TLS_PORT=${PEBBLE_TLS_PORT:-5001}
# A name for which Pebble rejects orders with a rejectedIdentifier problem.
PEBBLE_BLOCKED_NAME=blocked.demo.test
PEBBLE_START_TIMEOUT=${PEBBLE_START_TIMEOUT:-20}
PEBBLE_PID=
CHALLTESTSRV_PID=

# Writes a CA and a leaf for localhost and 127.0.0.1 into DIR.
pebble_make_tls() {
	local dir=$1

	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-nodes -days 2 -subj "/CN=Custos test TLS CA" \
		-keyout "$dir/tls-ca.key" -out "$dir/tls-ca.pem" \
		-addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign \
		2>>"$dir/openssl.log" || return 1
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-nodes -subj "/CN=localhost" -keyout "$dir/key.pem" \
		-out "$dir/leaf.csr" 2>>"$dir/openssl.log" || return 1
	printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" \
		"basicConstraints=critical,CA:FALSE" \
		"keyUsage=critical,digitalSignature" \
		"extendedKeyUsage=serverAuth" >"$dir/leaf.ext"
	openssl x509 -req -in "$dir/leaf.csr" -CA "$dir/tls-ca.pem" \
		-CAkey "$dir/tls-ca.key" -CAcreateserial -days 2 \
		-extfile "$dir/leaf.ext" -out "$dir/cert.pem" \
		2>>"$dir/openssl.log" || return 1
}

# Usage: pebble_write_config DIR [ACME-ADDRESS MANAGEMENT-ADDRESS]
pebble_write_config() {
	local eab=false keys='{}'

	if [ -n "${PEBBLE_EAB_KEYS:-}" ]; then
		eab=true
		keys=$PEBBLE_EAB_KEYS
	fi
	cat >"$1/pebble-config.json" <<JSON
{
  "pebble": {
    "listenAddress": "${2:-$PEBBLE_ACME_ADDRESS}",
    "managementListenAddress": "${3:-$PEBBLE_MANAGEMENT_ADDRESS}",
    "certificate": "cert.pem",
    "privateKey": "key.pem",
    "httpPort": $PEBBLE_HTTP_PORT,
    "tlsPort": $PEBBLE_TLS_PORT,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": $eab,
    "externalAccountMACKeys": $keys,
    "domainBlocklist": ["$PEBBLE_BLOCKED_NAME"]
  }
}
JSON
}

# Usage: pebble_wait_url URL
# Waits up to PEBBLE_START_TIMEOUT seconds for URL to respond over TLS
# trusted through PEBBLE_TLS_CA.
pebble_wait_url() {
	local deadline=$((SECONDS + PEBBLE_START_TIMEOUT))

	while [ "$SECONDS" -lt "$deadline" ]; do
		if curl -fsS --max-time 2 --cacert "$PEBBLE_TLS_CA" \
			-o /dev/null "$1" 2>/dev/null; then
			return 0
		fi
		sleep 0.2
	done
	echo "pebble.sh: $1 did not answer within" \
		"${PEBBLE_START_TIMEOUT}s" >&2
	return 1
}

pebble_wait_dns() {
	local deadline=$((SECONDS + PEBBLE_START_TIMEOUT))

	while [ "$SECONDS" -lt "$deadline" ]; do
		if dig +short +time=1 +tries=1 -p "${PEBBLE_DNS_ADDRESS##*:}" \
			"@${PEBBLE_DNS_ADDRESS%:*}" probe.test A 2>/dev/null |
			grep -qx 127.0.0.1; then
			return 0
		fi
		sleep 0.2
	done
	echo "pebble.sh: pebble-challtestsrv did not answer on" \
		"$PEBBLE_DNS_ADDRESS within ${PEBBLE_START_TIMEOUT}s" >&2
	return 1
}

pebble_start_dns() {
	pebble-challtestsrv -dns01 "$PEBBLE_DNS_ADDRESS" -http01 "" \
		-https01 "" -tlsalpn01 "" -defaultIPv6 "" \
		-management "$CHALLTESTSRV_MANAGEMENT_ADDRESS" \
		>>"$CHALLTESTSRV_LOG" 2>&1 &
	CHALLTESTSRV_PID=$!
	pebble_wait_dns
}

# Usage: pebble_start DIR
# Starts pebble-challtestsrv and Pebble with their files in DIR/pebble.
# PEBBLE_WFE_NONCEREJECT (default 0) sets the percentage of nonces Pebble
# rejects. Both servers stop when the test exits.
pebble_start() {
	local dir=$1/pebble

	mkdir -p "$dir" || return 1
	PEBBLE_TLS_CA=$dir/tls-ca.pem
	PEBBLE_ROOT=$dir/root.pem
	PEBBLE_LOG=$dir/pebble.log
	CHALLTESTSRV_LOG=$dir/challtestsrv.log
	PEBBLE_DIRECTORY=https://localhost:${PEBBLE_ACME_ADDRESS##*:}/dir
	if [ ! -f "$dir/cert.pem" ]; then
		pebble_make_tls "$dir" || return 1
		pebble_write_config "$dir"
	fi
	if [ -z "${PEBBLE_STOP_REGISTERED:-}" ]; then
		at_exit pebble_stop
		PEBBLE_STOP_REGISTERED=1
	fi
	if [ -z "${PEBBLE_DNS_SERVER:-}" ] && [ -z "$CHALLTESTSRV_PID" ]; then
		pebble_start_dns || return 1
	fi

	# shellcheck disable=SC2086 # PEBBLE_ENV holds several words.
	(cd "$dir" && exec env PEBBLE_VA_NOSLEEP=1 \
		PEBBLE_WFE_NONCEREJECT=${PEBBLE_WFE_NONCEREJECT:-0} \
		PEBBLE_AUTHZREUSE=0 ${PEBBLE_ENV:-} \
		pebble -config pebble-config.json \
		-dnsserver "${PEBBLE_DNS_SERVER:-$PEBBLE_DNS_ADDRESS}") \
		>>"$PEBBLE_LOG" 2>&1 &
	PEBBLE_PID=$!
	pebble_wait_url "$PEBBLE_DIRECTORY" || return 1
	curl -fsS --max-time 5 --cacert "$PEBBLE_TLS_CA" -o "$PEBBLE_ROOT" \
		"https://$PEBBLE_MANAGEMENT_ADDRESS/roots/0" || return 1
}

PEBBLE2_ACME_ADDRESS=127.0.0.1:14001
PEBBLE2_MANAGEMENT_ADDRESS=127.0.0.1:15001
PEBBLE2_PID=

# Usage: pebble2_start DIR
pebble2_start() {
	local dir=$1/pebble2

	mkdir -p "$dir" || return 1
	cp "$1/pebble/cert.pem" "$1/pebble/key.pem" "$dir/" || return 1
	pebble_write_config "$dir" "$PEBBLE2_ACME_ADDRESS" \
		"$PEBBLE2_MANAGEMENT_ADDRESS"
	PEBBLE2_ROOT=$dir/root.pem
	PEBBLE2_LOG=$dir/pebble.log
	PEBBLE2_DIRECTORY=https://localhost:${PEBBLE2_ACME_ADDRESS##*:}/dir
	if [ -z "${PEBBLE2_STOP_REGISTERED:-}" ]; then
		at_exit pebble2_stop
		PEBBLE2_STOP_REGISTERED=1
	fi
	# shellcheck disable=SC2086 # PEBBLE_ENV holds several words.
	(cd "$dir" && exec env PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 \
		PEBBLE_AUTHZREUSE=0 ${PEBBLE_ENV:-} \
		pebble -config pebble-config.json \
		-dnsserver "${PEBBLE_DNS_SERVER:-$PEBBLE_DNS_ADDRESS}") \
		>>"$PEBBLE2_LOG" 2>&1 &
	PEBBLE2_PID=$!
	pebble_wait_url "$PEBBLE2_DIRECTORY" || return 1
	curl -fsS --max-time 5 --cacert "$PEBBLE_TLS_CA" -o "$PEBBLE2_ROOT" \
		"https://$PEBBLE2_MANAGEMENT_ADDRESS/roots/0" || return 1
}

pebble2_stop() {
	if [ -n "$PEBBLE2_PID" ]; then
		kill "$PEBBLE2_PID" 2>/dev/null
		wait "$PEBBLE2_PID" 2>/dev/null
		PEBBLE2_PID=
	fi
}

# Stops Pebble only, so that pebble_start can run it again with other
# settings while the DNS server keeps running.
pebble_stop_acme() {
	if [ -n "$PEBBLE_PID" ]; then
		kill "$PEBBLE_PID" 2>/dev/null
		wait "$PEBBLE_PID" 2>/dev/null
		PEBBLE_PID=
	fi
}

pebble_stop() {
	pebble_stop_acme
	if [ -n "$CHALLTESTSRV_PID" ]; then
		kill "$CHALLTESTSRV_PID" 2>/dev/null
		wait "$CHALLTESTSRV_PID" 2>/dev/null
		CHALLTESTSRV_PID=
	fi
}

# Usage: pebble_restart DIR
# Restarts Pebble, for example after changing PEBBLE_WFE_NONCEREJECT. The
# issuing root changes, and PEBBLE_ROOT is fetched again.
pebble_restart() {
	pebble_stop_acme
	pebble_start "$1"
}

# Prints the number of orders Pebble has created since its log began.
pebble_order_count() {
	grep -c 'Added order' "$PEBBLE_LOG" 2>/dev/null || true
}

# Prints the number of certificates Pebble has issued since its log began.
pebble_issued_count() {
	grep -c 'Issued certificate serial' "$PEBBLE_LOG" 2>/dev/null || true
}
