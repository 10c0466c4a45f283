#!/bin/bash
# max-certificates 1 in custos daemon, with a place freed by hand: the
# held certificate is removed with custos cert remove and its current
# version folder is deleted, so the denied certificate is issued on its
# next retry. This is done twice: once within 2 s of the daemon's last
# reading of that folder, and once after the daemon has reused readings
# more than 2 s old, which its count keeps between orders.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/daemon.sh
source "$(dirname "$0")/../lib/daemon.sh"

DENIAL="denied by max-certificates 1"
CUSTOS_EXTRA_BLOCKS=$(printf '%s\n' 'daemon {' '	poll-interval 1s' \
	'	renew-jitter 0' '	retry-base 1s' '	retry-max 2s' '}')
lab_tmpdir custos-daemon-limits-freed || bail_out "cannot make a directory"
CUSTOS_POLICY=$LAB_DIR/limits.policy
custos_write_limits_policy "$CUSTOS_POLICY" "max-certificates 1"
export CUSTOS_POLICY CUSTOS_EXTRA_BLOCKS
custos_require_programs
pebble_start "$LAB_DIR" || bail_out "Pebble did not start"
softhsm_init "$LAB_DIR" custos-test || bail_out "SoftHSM2 setup failed"
custos_write_config "$LAB_DIR" || bail_out "cannot write the configuration"
at_exit daemon_stop

# Prints how many times the daemon has denied a request so far.
denial_count() {
	grep -cF -- "$DENIAL" "$DAEMON_LOG" 2>/dev/null
}

# Usage: wait_for_denials SECONDS MINIMUM
# Waits until the daemon has denied at least MINIMUM requests.
wait_for_denials() {
	local deadline=$((SECONDS + $1))

	while [ "$SECONDS" -lt "$deadline" ]; do
		if [ "$(denial_count)" -ge "$2" ]; then
			return 0
		fi
		sleep 0.2
	done
	diag "daemon log:" "$(cat "$DAEMON_LOG")"
	return 1
}

# Usage: free_place LABEL
# Stops managing LABEL's certificate and deletes its current version.
free_place() {
	local id label_dir=$CUSTOS_STORE/$CUSTOS_TENANT/$1 version

	id=$(state_query "SELECT id FROM certificates WHERE label = '$1'")
	assert_status "cert remove $1 succeeds" 0 "$CUSTOS" cert remove \
		--config "$CUSTOS_CONF" "$id"
	version=$(readlink "$label_dir/current")
	check "$1 has a current version" test -n "$version"
	rm -rf "${label_dir:?}/${version:?}"
}

# Usage: versions_of LABEL
# Prints how many versions of LABEL's certificate the database records.
versions_of() {
	state_query "SELECT count(*) FROM versions v JOIN certificates c
		ON v.cert_id = c.id WHERE c.label = '$1'"
}

for name in one.test two.test; do
	assert_status "cert add $name succeeds" 0 "$CUSTOS" cert add \
		--config "$CUSTOS_CONF" --tenant "$CUSTOS_TENANT" "$name"
done
daemon_start
wait_for 90 "SELECT count(*) FROM versions" 1 ||
	diag "daemon log:" "$(cat "$DAEMON_LOG")"
wait_for_denials 60 1
HELD=$(state_query "SELECT c.label FROM certificates c JOIN versions v
	ON v.cert_id = c.id")
DENIED=$(state_query "SELECT label FROM certificates WHERE
	label != '$HELD'")
assert_equal "the denied certificate has no version" \
	"$(versions_of "$DENIED")" 0

# Within 2 s of the denial's count, whose readings are not yet trusted.
FREED_AT=$SECONDS
free_place "$HELD"
check "the place is freed within 2 s of the denial" \
	test "$((SECONDS - FREED_AT))" -le 1
wait_for 30 "SELECT count(*) FROM versions v JOIN certificates c
	ON v.cert_id = c.id WHERE c.label = '$DENIED'" 1
assert_equal "the denied certificate is issued" \
	"$(versions_of "$DENIED")" 1

# A third certificate is denied while the second is held. The counts
# after the 3 s sleep read a store unchanged for more than 2 s, so the
# daemon keeps and reuses those readings.
assert_status "cert add three.test succeeds" 0 "$CUSTOS" cert add \
	--config "$CUSTOS_CONF" --tenant "$CUSTOS_TENANT" three.test
DENIALS=$(denial_count)
wait_for_denials 30 "$((DENIALS + 1))"
sleep 3
DENIALS=$(denial_count)
wait_for_denials 30 "$((DENIALS + 2))"
assert_equal "three.test has no version while two.test is held" \
	"$(versions_of three.test)" 0
free_place "$DENIED"
wait_for 30 "SELECT count(*) FROM versions v JOIN certificates c
	ON v.cert_id = c.id WHERE c.label = 'three.test'" 1
assert_equal "three.test is issued after a settled reading" \
	"$(versions_of three.test)" 1
daemon_stop
assert_equal "Pebble issued three certificates" "$(pebble_issued_count)" 3

tap_done
