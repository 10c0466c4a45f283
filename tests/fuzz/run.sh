#!/bin/bash
# Runs every libFuzzer harness built into $FUZZ_BUILD (default build-fuzz)
# for SECONDS each, after replaying its saved regression inputs, and
# prints one TAP result line per harness and a closing "N passed, N
# failed". `make fuzz` and `make fuzz-smoke` call it; docs/fuzzing.md
# describes the layout.
#
# Usage: tests/fuzz/run.sh SECONDS [HARNESS ...]
#
# Seeds come from tests/fuzz/corpus/NAME/ and stay unchanged: new inputs
# go to $FUZZ_BUILD/corpus/NAME/, and a crashing input is saved under
# $FUZZ_BUILD/artifacts/NAME/. A dictionary tests/fuzz/NAME.dict is used
# when it exists. The exit status is 1 when any harness failed.
set -uo pipefail

SOURCE_DIR=$(cd "$(dirname "$0")/../.." && pwd)
FUZZ_DIR=$SOURCE_DIR/tests/fuzz
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
case $FUZZ_BUILD in
/*) ;;
*) FUZZ_BUILD=$SOURCE_DIR/$FUZZ_BUILD ;;
esac
# Seconds one input may take before libFuzzer reports it as a hang.
INPUT_TIMEOUT=${FUZZ_INPUT_TIMEOUT:-10}

PASSED=0
FAILED=0
NUMBER=0
LOG_DIR=

usage() {
	echo "usage: tests/fuzz/run.sh SECONDS [HARNESS ...]" >&2
	exit 2
}

# Usage: report ok|not-ok NAME TEXT ...
report() {
	local result=$1 name=$2

	shift 2
	NUMBER=$((NUMBER + 1))
	if [ "$result" = ok ]; then
		PASSED=$((PASSED + 1))
		echo "ok $NUMBER - $name: $*"
	else
		FAILED=$((FAILED + 1))
		echo "not ok $NUMBER - $name: $*"
	fi
}

# Usage: show_log FILE
# Prints the end of a harness's log, where the sanitizer's report is.
show_log() {
	tail -n 40 "$1" | sed 's/^/#   /'
}

# Usage: replay NAME BINARY LOG
# Runs the binary once on each saved regression input of the harness.
replay() {
	local name=$1 binary=$2 log=$3 dir inputs

	dir=$FUZZ_DIR/regressions/$name
	[ -d "$dir" ] || return 0
	mapfile -t inputs < <(find "$dir" -type f | sort)
	[ "${#inputs[@]}" -gt 0 ] || return 0
	"$binary" -timeout="$INPUT_TIMEOUT" "${inputs[@]}" >"$log" 2>&1
}

# Usage: fuzz NAME BINARY SECONDS LOG
fuzz() {
	local name=$1 binary=$2 seconds=$3 log=$4 work artifacts
	local -a options

	work=$FUZZ_BUILD/corpus/$name
	artifacts=$FUZZ_BUILD/artifacts/$name
	mkdir -p "$work" "$artifacts"
	options=(-max_total_time="$seconds" -timeout="$INPUT_TIMEOUT"
		-rss_limit_mb=2048 -print_final_stats=1
		-artifact_prefix="$artifacts/")
	if [ -f "$FUZZ_DIR/$name.dict" ]; then
		options+=(-dict="$FUZZ_DIR/$name.dict")
	fi
	if [ -d "$FUZZ_DIR/corpus/$name" ]; then
		"$binary" "${options[@]}" "$work" "$FUZZ_DIR/corpus/$name" \
			>"$log" 2>&1
	else
		"$binary" "${options[@]}" "$work" >"$log" 2>&1
	fi
}

# Usage: run_harness NAME SECONDS LOG-DIR
run_harness() {
	local name=$1 seconds=$2 log=$3/$1.log binary runs crash

	binary=$FUZZ_BUILD/$name
	if [ ! -x "$binary" ]; then
		report not-ok "$name" "$binary is missing; run make fuzz-build"
		return
	fi
	if ! replay "$name" "$binary" "$log"; then
		report not-ok "$name" "an input saved in" \
			"tests/fuzz/regressions/$name fails again"
		show_log "$log"
		return
	fi
	if ! fuzz "$name" "$binary" "$seconds" "$log"; then
		crash=$(grep -oE 'Test unit written to [^ ]+' "$log" |
			tail -n 1 | cut -d' ' -f5)
		report not-ok "$name" "failed within $seconds s; replay" \
			"with $binary ${crash:-(no input saved)}"
		show_log "$log"
		return
	fi
	runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" |
		grep -oE '[0-9]+$')
	report ok "$name" "${runs:-?} inputs in $seconds s, no failure"
}

main() {
	local seconds=${1:-} name source
	local -a names

	[[ $seconds =~ ^[1-9][0-9]*$ ]] || usage
	shift
	if [ "$#" -gt 0 ]; then
		names=("$@")
	else
		for source in "$FUZZ_DIR"/fuzz_*.c; do
			names+=("$(basename "$source" .c)")
		done
	fi
	LOG_DIR=$(mktemp -d /tmp/custos-fuzz.XXXXXX) || exit 1
	trap 'rm -rf "$LOG_DIR"' EXIT

	for name in "${names[@]}"; do
		run_harness "$name" "$seconds" "$LOG_DIR"
	done
	echo
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
}

main "$@"
