# shellcheck shell=bash
# BIND 9 (named) as the authoritative DNS server of dns-01 tests, sourced
# by bash after tap.sh. Run the test inside a private network namespace
# (tests/run.sh does) because the port is fixed.
#
# named_start DIR serves two dynamic zones on 127.0.0.1:$NAMED_PORT:
#   example.test     A records for the apex and "*" to 127.0.0.1, and
#                    _acme-challenge CNAME records for delegated.example.test
#                    (one hop) and chain.example.test (two hops) into the
#                    second zone
#   validation.test  the zone those CNAME records point into
# Both zones let the TSIG key $NAMED_KEY_NAME (hmac-sha256) update TXT
# records. After named_start these are set:
#   NAMED_SECRET_FILE  the key as tsig-keygen writes it, mode 0600
#   NAMED_LOG          named's output
#
# named_txt NAME prints the TXT values of NAME, one per line, and
# named_txt_records prints every TXT record of both zones, read by zone
# transfer, which tests expect to be empty after a run.

NAMED_ADDRESS=127.0.0.1
NAMED_PORT=5353
NAMED_ZONE=example.test
NAMED_DELEGATED_ZONE=validation.test
NAMED_KEY_NAME=custos-test
NAMED_START_TIMEOUT=${NAMED_START_TIMEOUT:-20}
NAMED_PID=

named_write_zones() {
	local dir=$1

	cat >"$dir/$NAMED_ZONE.zone" <<ZONE
\$TTL 60
@	SOA	ns1.$NAMED_ZONE. hostmaster.$NAMED_ZONE. 1 60 60 3600 60
@	NS	ns1.$NAMED_ZONE.
@	A	127.0.0.1
*	A	127.0.0.1
ns1	A	127.0.0.1
_acme-challenge.delegated	CNAME	delegated.$NAMED_ZONE.$NAMED_DELEGATED_ZONE.
_acme-challenge.chain	CNAME	chain-hop.$NAMED_DELEGATED_ZONE.
ZONE
	cat >"$dir/$NAMED_DELEGATED_ZONE.zone" <<ZONE
\$TTL 60
@	SOA	ns1.$NAMED_ZONE. hostmaster.$NAMED_ZONE. 1 60 60 3600 60
@	NS	ns1.$NAMED_ZONE.
chain-hop	CNAME	chain.$NAMED_ZONE.$NAMED_DELEGATED_ZONE.
ZONE
}

named_write_config() {
	local dir=$1 zone

	{
		printf 'include "%s/tsig.key";\n' "$dir"
		printf 'options {\n'
		printf '\tdirectory "%s";\n' "$dir"
		printf '\tpid-file none;\n'
		printf '\tlisten-on port %s { %s; };\n' "$NAMED_PORT" \
			"$NAMED_ADDRESS"
		printf '\tlisten-on-v6 { none; };\n'
		# Recursion makes named follow CNAME records from one of its
		# zones into the other, as Pebble's resolver expects. Names
		# outside the zones fail because the namespace has no route.
		printf '\trecursion yes;\n'
		printf '\tallow-recursion { %s; };\n' "$NAMED_ADDRESS"
		printf '\tallow-transfer { %s; };\n' "$NAMED_ADDRESS"
		printf '};\n'
		printf 'controls { };\n'
		for zone in "$NAMED_ZONE" "$NAMED_DELEGATED_ZONE"; do
			printf 'zone "%s" {\n' "$zone"
			printf '\ttype primary;\n'
			printf '\tfile "%s/%s.zone";\n' "$dir" "$zone"
			printf '\tupdate-policy { grant %s zonesub TXT; };\n' \
				"$NAMED_KEY_NAME"
			printf '};\n'
		done
	} >"$dir/named.conf"
}

named_wait() {
	local deadline=$((SECONDS + NAMED_START_TIMEOUT))

	while [ "$SECONDS" -lt "$deadline" ]; do
		if dig +short +time=1 +tries=1 -p "$NAMED_PORT" \
			"@$NAMED_ADDRESS" "$NAMED_ZONE" SOA 2>/dev/null |
			grep -q "ns1.$NAMED_ZONE"; then
			return 0
		fi
		sleep 0.2
	done
	echo "named.sh: named did not answer on" \
		"$NAMED_ADDRESS:$NAMED_PORT within ${NAMED_START_TIMEOUT}s;" \
		"see $NAMED_LOG" >&2
	return 1
}

# Usage: named_start DIR
# Writes the key, zones and configuration into DIR/named and starts named,
# which stops when the test exits.
named_start() {
	local dir=$1/named

	mkdir -p "$dir" || return 1
	NAMED_LOG=$dir/named.log
	NAMED_SECRET_FILE=$dir/tsig.key
	tsig-keygen -a hmac-sha256 "$NAMED_KEY_NAME" >"$NAMED_SECRET_FILE" ||
		return 1
	chmod 0600 "$NAMED_SECRET_FILE"
	named_write_zones "$dir"
	named_write_config "$dir"
	named -g -4 -c "$dir/named.conf" >>"$NAMED_LOG" 2>&1 &
	NAMED_PID=$!
	at_exit named_stop
	named_wait
}

named_stop() {
	if [ -n "$NAMED_PID" ]; then
		kill "$NAMED_PID" 2>/dev/null
		wait "$NAMED_PID" 2>/dev/null
		NAMED_PID=
	fi
}

# Usage: named_txt NAME
named_txt() {
	dig +short +time=2 +tries=1 -p "$NAMED_PORT" "@$NAMED_ADDRESS" "$1" \
		TXT 2>/dev/null | grep -v '^[a-z0-9.-]*\.$' | tr -d '"'
}

# Prints "NAME TXT VALUE" for every TXT record of both zones.
named_txt_records() {
	local zone

	for zone in "$NAMED_ZONE" "$NAMED_DELEGATED_ZONE"; do
		dig +noall +answer +time=2 +tries=1 -p "$NAMED_PORT" \
			"@$NAMED_ADDRESS" "$zone" AXFR 2>/dev/null |
			awk '$4 == "TXT" { print $1, $4, $5 }'
	done
}

# Usage: named_lab_start PREFIX
# Like custos_lab_start, with named as Pebble's DNS server and a
# configuration that answers dns-01 through it: challenge types from
# CUSTOS_CHALLENGE_TYPES (default dns-01), a dns-zone block for each zone
# with the server and key, and a policy that allows every challenge type.
# The broker's user owns the key file, which it must read.
named_lab_start() {
	custos_require_programs
	lab_tmpdir "$1" || bail_out "cannot make a directory under /tmp"
	named_start "$LAB_DIR" ||
		bail_out "named did not start; see $LAB_DIR/named/named.log"
	custos_give_to "$CUSTOS_BROKER_USER" "$NAMED_SECRET_FILE" ||
		bail_out "cannot hand $NAMED_SECRET_FILE to the broker"
	PEBBLE_DNS_SERVER=$NAMED_ADDRESS:$NAMED_PORT
	pebble_start "$LAB_DIR" ||
		bail_out "Pebble did not start; see $LAB_DIR/pebble/*.log"
	softhsm_init "$LAB_DIR" custos-test ||
		bail_out "SoftHSM2 token setup failed in $LAB_DIR/softhsm"
	CUSTOS_CHALLENGE_TYPES=${CUSTOS_CHALLENGE_TYPES:-dns-01}
	CUSTOS_POLICY_CHALLENGES="http-01 dns-01 tls-alpn-01"
	CUSTOS_CHALLENGE_LINES=$(printf '\tdns-resolver %s %s' \
		"$NAMED_ADDRESS" "$NAMED_PORT")
	CUSTOS_EXTRA_BLOCKS=$(named_zone_block "$NAMED_ZONE" &&
		named_zone_block "$NAMED_DELEGATED_ZONE")
	custos_write_config "$LAB_DIR" ||
		bail_out "cannot write $LAB_DIR/custos.conf"
}

# Usage: named_zone_block ZONE [SECRET-FILE [SERVER-PORT]]
# Prints a dns-zone block for ZONE that updates named with the test key.
named_zone_block() {
	printf 'dns-zone %s {\n' "$1"
	printf '\tserver %s %s\n' "$NAMED_ADDRESS" "${3:-$NAMED_PORT}"
	printf '\ttsig-key %s hmac-sha256 "%s"\n' "$NAMED_KEY_NAME" \
		"${2:-$NAMED_SECRET_FILE}"
	printf '\tttl 30\n'
	printf '\tnameserver %s %s\n' "$NAMED_ADDRESS" "$NAMED_PORT"
	printf '\tpropagation-timeout 20s\n'
	printf '\tpropagation-interval 1s\n'
	printf '}\n'
}

# Usage: named_check_no_txt NAME
# Passes when neither zone contains a TXT record.
named_check_no_txt() {
	assert_equal "$1: no TXT records left" "$(named_txt_records)" ""
}
