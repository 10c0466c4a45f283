#!/bin/bash
# Runs the Custos test suites and prints one closing line,
# "N passed, N failed" (", N skipped" when a test skipped something).
#
# Usage: tests/run.sh [unit | integration | TEST-NAME]
#
# Unit tests are the programs $BUILD/tests/test_*; integration tests are
# the scripts tests/integration/*.sh, except those that
# tests/integration/pending.list names, which run only when named. Both
# print TAP, and every "ok" and "not ok" line counts once. A program that
# exits non-zero, crashes or times out without a "not ok" line, or prints
# no result at all, counts as one failure. Each integration test runs as
# root in private network, PID and mount namespaces: its packets stay on
# loopback, its fixed ports cannot clash, and every process it started
# dies with it. With CI=true a skipped check counts as a failure, because
# CI must exercise every component. The exit status is 1 when anything
# failed.
set -uo pipefail

SOURCE_DIR=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in
/*) ;;
*) BUILD=$SOURCE_DIR/$BUILD ;;
esac
export BUILD
UNIT_TIMEOUT=${UNIT_TIMEOUT:-120}
INTEGRATION_TIMEOUT=${INTEGRATION_TIMEOUT:-600}

PASSED=0
FAILED=0
SKIPPED=0
FAILED_TESTS=()
LOG_DIR=

usage() {
	echo "usage: tests/run.sh [unit | integration | TEST-NAME]" >&2
	exit 2
}

# Usage: count_results NAME STATUS OUTPUT-FILE
# Adds the TAP results of one finished test to the totals.
count_results() {
	local name=$1 status=$2 file=$3 passed failed skipped

	skipped=$(grep -cE '^ok [0-9]+.*# *(SKIP|skip)' "$file")
	passed=$(grep -cE '^ok [0-9]+' "$file")
	passed=$((passed - skipped))
	failed=$(grep -cE '^not ok [0-9]+' "$file")
	if [ "${CI:-}" = true ] && [ "$skipped" -gt 0 ]; then
		echo "# $name: $skipped skipped checks count as failures in CI"
		failed=$((failed + skipped))
		skipped=0
	fi

	if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
		echo "# $name: exited with status $status" \
			"$(describe_status "$status") and reported no failure"
		failed=1
	elif [ "$((passed + failed + skipped))" -eq 0 ]; then
		echo "# $name: printed no TAP result (\"ok N\" or \"not ok N\")"
		failed=1
	fi

	PASSED=$((PASSED + passed))
	FAILED=$((FAILED + failed))
	SKIPPED=$((SKIPPED + skipped))
	if [ "$failed" -gt 0 ]; then
		FAILED_TESTS+=("$name")
	fi
}

describe_status() {
	if [ "$1" -eq 124 ]; then
		echo "(timed out)"
	elif [ "$1" -gt 128 ]; then
		echo "(killed by signal $(($1 - 128)))"
	fi
}

# Usage: run_one NAME TIMEOUT COMMAND [ARG ...]
# Shows the test's output as it runs and counts its results.
run_one() {
	local name=$1 timeout=$2 file status

	shift 2
	file=$LOG_DIR/$name.out
	echo "=== $name"
	timeout -k 10 "$timeout" "$@" </dev/null 2>&1 | tee "$file"
	status=${PIPESTATUS[0]}
	count_results "$name" "$status" "$file"
}

run_unit() {
	local program name

	for program in "$BUILD"/tests/test_*; do
		[ -x "$program" ] || continue
		name=$(basename "$program")
		if selected "$name"; then
			run_one "$name" "$UNIT_TIMEOUT" "$program"
		fi
	done
}

run_integration() {
	local script name

	for script in "$SOURCE_DIR"/tests/integration/*.sh; do
		[ -f "$script" ] || continue
		name=$(basename "$script" .sh)
		selected "$name" || continue
		if [ "$SELECTION" != "$name" ] &&
			[ "$SELECTION" != "$name.sh" ] && pending "$name"; then
			echo "# $name: listed in" \
				"tests/integration/pending.list; run it by name"
			continue
		fi
		if [ "$(id -u)" -ne 0 ]; then
			echo "=== $name"
			echo "not ok 1 - $name needs root for its network" \
				"namespace; run tests/run.sh as root"
			FAILED=$((FAILED + 1))
			FAILED_TESTS+=("$name")
			continue
		fi
		# shellcheck disable=SC2016 # $0 expands in the inner bash.
		run_one "$name" "$INTEGRATION_TIMEOUT" \
			unshare --net --pid --fork --kill-child --mount-proc \
			bash -c 'ip link set lo up && bash "$0"' "$script"
	done
}

# Tells whether tests/integration/pending.list names the test, which then
# runs only when selected by name.
pending() {
	grep -qxF "$1" "$SOURCE_DIR/tests/integration/pending.list" \
		2>/dev/null
}

# Tells whether a test runs under the current selection.
selected() {
	case $SELECTION in
	all | unit | integration) return 0 ;;
	*) [ "$1" = "$SELECTION" ] || [ "$1.sh" = "$SELECTION" ] ;;
	esac
}

main() {
	SELECTION=${1:-all}
	[ "$#" -le 1 ] || usage
	LOG_DIR=$(mktemp -d /tmp/custos-run.XXXXXX) || exit 1
	trap 'rm -rf "$LOG_DIR"' EXIT

	case $SELECTION in
	unit) run_unit ;;
	integration) run_integration ;;
	*)
		run_unit
		run_integration
		;;
	esac

	if [ "$((PASSED + FAILED + SKIPPED))" -eq 0 ]; then
		echo "# no test matched \"$SELECTION\" in $BUILD/tests or" \
			"tests/integration; run make first"
		FAILED=1
	fi
	echo
	if [ "${#FAILED_TESTS[@]}" -gt 0 ]; then
		echo "failed: ${FAILED_TESTS[*]}"
	fi
	if [ "$SKIPPED" -gt 0 ]; then
		echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
	else
		echo "$PASSED passed, $FAILED failed"
	fi
	[ "$FAILED" -eq 0 ]
}

main "$@"
