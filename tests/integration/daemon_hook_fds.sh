#!/bin/bash
# Deploy hooks run through fork and exec from a worker whose order
# threads hold connections to the CA and pipes. With 8 orders in flight
# on 8 order threads, each hook lists its open descriptors: none may be a
# socket or a pipe. The shell's own descriptors (its script, and copies
# of the standard ones that it saves for a redirection) are files.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/daemon.sh
source "$(dirname "$0")/../lib/daemon.sh"

CERT_COUNT=8

PEBBLE_ENV=PEBBLE_VA_NOSLEEP=0
lab_tmpdir custos-daemon-hook-fds || bail_out "cannot make a directory"
HOOK_DIR=$LAB_DIR/hooks
mkdir -p "$HOOK_DIR"
# $$ is the shell that runs the hook, so its descriptors are the hook's.
# ls writes to a file, because for a pipeline the shell itself would hold
# the pipe while ls lists its descriptors.
cat >"$HOOK_DIR/hook" <<HOOK
#!/bin/sh
ls -l /proc/\$\$/fd >"$HOOK_DIR/fds.\$\$"
awk -v version="\$CUSTOS_VERSION" 'NR > 1 { print version, \$9, \$11 }' \
	"$HOOK_DIR/fds.\$\$" >>"$HOOK_DIR/fds.log"
HOOK
chmod 0755 "$HOOK_DIR/hook"
: >"$HOOK_DIR/fds.log"
CUSTOS_EXTRA_BLOCKS=$(printf '%s\n' 'daemon {' '	poll-interval 1s' \
	'	renew-jitter 0' '	retry-base 1s' '	retry-max 2s' \
	"	concurrency $CERT_COUNT" "	deploy-hook \"$HOOK_DIR/hook\"" '}')
custos_require_programs
pebble_start "$LAB_DIR" || bail_out "Pebble did not start"
softhsm_init "$LAB_DIR" custos-test || bail_out "SoftHSM2 setup failed"
custos_write_config "$LAB_DIR" || bail_out "cannot write the configuration"
custos_give_to "$CUSTOS_BROKER_USER" "$HOOK_DIR"
at_exit daemon_stop

for ((i = 1; i <= CERT_COUNT; i++)); do
	"$CUSTOS" cert add --config "$CUSTOS_CONF" --tenant "$CUSTOS_TENANT" \
		"c$i.demo.test" >/dev/null || bail_out "cert add c$i failed"
done

daemon_start
if ! wait_for 90 "SELECT count(*) FROM versions WHERE deploy_pending = 0" \
	"$CERT_COUNT"; then
	diag "daemon log (tail):" "$(tail -n 30 "$DAEMON_LOG")"
fi
daemon_stop
assert_equal "daemon exits 0 on SIGTERM" "$DAEMON_STATUS" 0
assert_equal "every hook ran" \
	"$(awk '{ print $1 }' "$HOOK_DIR/fds.log" | sort -u | wc -l)" \
	"$CERT_COUNT"
assert_equal "hooks inherited no socket" \
	"$(grep ' socket:' "$HOOK_DIR/fds.log" | head -n 3)" ""
assert_equal "hooks inherited no pipe" \
	"$(grep ' pipe:' "$HOOK_DIR/fds.log" | head -n 3)" ""

tap_done
