#!/bin/bash
# Issues a certificate in webroot mode: custos writes the HTTP-01 key
# authorization under WEBROOT/.well-known/acme-challenge/ and busybox
# httpd serves it to Pebble on 127.0.0.1:5002. Afterwards the challenge
# files are gone.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

# Usage: start_web_server DIR
start_web_server() {
	local deadline=$((SECONDS + 10))
	local url=http://$CUSTOS_HTTP01_ADDRESS:$CUSTOS_HTTP01_PORT/probe.txt

	busybox httpd -f -vv -p "$CUSTOS_HTTP01_ADDRESS:$CUSTOS_HTTP01_PORT" \
		-h "$1" >"$LAB_DIR/httpd.log" 2>&1 &
	at_exit kill "$!"
	printf 'probe\n' >"$1/probe.txt"
	while [ "$SECONDS" -lt "$deadline" ]; do
		if curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null
		then
			rm -f "$1/probe.txt"
			return 0
		fi
		sleep 0.2
	done
	return 1
}

command -v busybox >/dev/null ||
	bail_out "busybox is missing; run packaging/install-deps.sh"
lab_tmpdir custos-issue-webroot || bail_out "cannot make a directory"
CUSTOS_WEBROOT=$LAB_DIR/webroot
mkdir -p "$CUSTOS_WEBROOT" && chmod 0755 "$CUSTOS_WEBROOT"
custos_give_to "$CUSTOS_BROKER_USER" "$CUSTOS_WEBROOT"
start_web_server "$CUSTOS_WEBROOT" ||
	bail_out "busybox httpd did not start; see $LAB_DIR/httpd.log"
custos_require_programs
pebble_start "$LAB_DIR" || bail_out "Pebble did not start"
softhsm_init "$LAB_DIR" custos-test || bail_out "SoftHSM2 setup failed"
custos_write_config "$LAB_DIR" || bail_out "cannot write the configuration"

assert_contains "configuration selects webroot mode" \
	"$(cat "$CUSTOS_CONF")" "http-01 webroot"
assert_status "custos issue succeeds" 0 custos_issue a.demo.test
check "chain verifies against Pebble's root" openssl verify \
	-CAfile "$PEBBLE_ROOT" \
	-untrusted "$(custos_store_file a.demo.test chain.pem)" \
	"$(custos_store_file a.demo.test fullchain.pem)"
assert_contains "web server served a challenge file" \
	"$(grep -A1 'url:/.well-known/acme-challenge/' "$LAB_DIR/httpd.log")" \
	"response:200"
assert_equal "challenge files are removed" \
	"$(find "$CUSTOS_WEBROOT/.well-known/acme-challenge" -type f \
	2>/dev/null)" ""

tap_done
