#!/bin/bash
# Benchmarks Custos against certbot, lego and uacme on one local Pebble,
# and prints tables of median figures (docs/benchmarks.md explains them).
#
# Usage: bench/run.sh [throughput] [signer] [scale] [oneshot]
#
# With no argument every section runs. It needs root: it runs inside
# private network, PID and mount namespaces, so every packet stays on
# loopback and every process it starts dies with it. Settings, from the
# environment:
#   BENCH_CERTS       certificates per throughput batch (100)
#   BENCH_SEQ_CERTS   certificates for the peers that run one process at a
#                     time and sleep seconds per certificate: certbot and
#                     sequential lego (20)
#   BENCH_CONCURRENCY the daemon's concurrency settings, one batch each
#                     ("32 64")
#   BENCH_PEERS       peers of the throughput section
#                     ("certbot lego lego-parallel uacme")
#   BENCH_TOKEN_FS    "disk" (tokens under /tmp) or "tmpfs" (each token
#                     on a tmpfs of its own)
#   BENCH_PROFILE     a command attached to the daemon's worker and signer
#                     during each throughput batch (bench/sections.sh)
#   BENCH_RUNS        repetitions of the signer and one-shot figures (3)
#   BENCH_SIGN_EC     signatures per P-256 run (2000)
#   BENCH_SIGN_RSA    signatures per RSA-2048 run (500)
#   BENCH_SCALE       certificate counts of the scale section
#                     ("1000 10000 100000")
#   BENCH_OUT         directory for the figures and logs
#                     (BUILD/bench/results)
#   BENCH_QUIET_LOAD  the 1-minute load average below which a timed run
#                     starts (0.5)
#   BENCH_SETTLE_MAX  seconds a timed run waits for it at most (120)
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
SOURCE_DIR=$(dirname "$BENCH_DIR")
BUILD=${BUILD:-build}
case $BUILD in
/*) ;;
*) BUILD=$SOURCE_DIR/$BUILD ;;
esac
export BUILD

if [ -z "${BENCH_IN_NAMESPACE:-}" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "bench/run.sh: needs root for its namespaces; run it as" \
			"root" >&2
		exit 1
	fi
	"$BENCH_DIR/install-peers.sh" || exit 1
	# shellcheck disable=SC2016 # $0 and $@ expand in the inner bash.
	exec env BENCH_IN_NAMESPACE=1 unshare --net --pid --mount --fork \
		--kill-child --mount-proc bash -c \
		'ip link set lo up && bash "$0" "$@"' "$0" "$@"
fi

# shellcheck source=tests/lib/lab.sh
source "$SOURCE_DIR/tests/lib/lab.sh"
# shellcheck source=tests/lib/daemon.sh
source "$SOURCE_DIR/tests/lib/daemon.sh"
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
# shellcheck source=bench/peers.sh
source "$BENCH_DIR/peers.sh"
# shellcheck source=bench/sections.sh
source "$BENCH_DIR/sections.sh"

BENCH_CERTS=${BENCH_CERTS:-100}
BENCH_SEQ_CERTS=${BENCH_SEQ_CERTS:-20}
BENCH_CONCURRENCY=${BENCH_CONCURRENCY:-32 64}
BENCH_PEERS=${BENCH_PEERS-certbot lego lego-parallel uacme}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_TOKEN_FS=${BENCH_TOKEN_FS:-disk}
BENCH_SIGN_EC=${BENCH_SIGN_EC:-2000}
BENCH_SIGN_RSA=${BENCH_SIGN_RSA:-500}
BENCH_SCALE=${BENCH_SCALE:-1000 10000 100000}
BENCH_OUT=${BENCH_OUT:-$BUILD/bench/results}
BENCH_QUIET_LOAD=${BENCH_QUIET_LOAD:-0.5}
BENCH_SETTLE_MAX=${BENCH_SETTLE_MAX:-120}

main() {
	local sections=("$@") section

	[ "${#sections[@]}" -gt 0 ] ||
		sections=(throughput signer scale oneshot)
	for section in "${sections[@]}"; do
		case $section in
		throughput | signer | scale | oneshot) ;;
		*)
			echo "bench/run.sh: unknown section \"$section\"; use" \
				"throughput, signer, scale or oneshot" >&2
			exit 2
			;;
		esac
	done
	case $BENCH_TOKEN_FS in
	disk | tmpfs) ;;
	*)
		echo "bench/run.sh: BENCH_TOKEN_FS is \"$BENCH_TOKEN_FS\"; use" \
			"disk or tmpfs" >&2
		exit 2
		;;
	esac
	custos_require_programs
	mkdir -p "$BENCH_OUT" || exit 1
	BENCH_RESULTS=$BENCH_OUT/results.txt
	: >"$BENCH_RESULTS"
	bench_machine | tee "$BENCH_OUT/machine.txt"
	CUSTOS_KEEP_TMP=${CUSTOS_KEEP_TMP:-0}
	lab_tmpdir custos-bench || exit 1
	chmod 0755 "$LAB_DIR"
	for section in "${sections[@]}"; do
		echo "== $section (load $(bench_load))"
		"section_$section"
	done
	echo
	bench_table "$BENCH_RESULTS" | tee "$BENCH_OUT/tables.md"
	echo "figures: $BENCH_RESULTS"
}

main "$@"
