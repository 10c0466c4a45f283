# shellcheck shell=bash
# TAP output and assertions for the integration tests, sourced by bash.
#
# Each assertion prints "ok N - NAME" or "not ok N - NAME" followed by "# "
# lines that show what it got and what it expected. tap_done prints the
# closing "1..N" and returns 1 when any assertion failed. Tests run with
# "set -uo pipefail" but without "set -e", so that a failed check does not
# end the test. at_exit registers cleanup commands (servers, temporary
# files) that run in reverse order when the shell exits.

TAP_COUNT=0
TAP_FAILED=0
TAP_CLEANUPS=()

# Prints each argument as one "# " diagnostic line (multi-line text too).
diag() {
	local line

	printf '%s\n' "$@" | while IFS= read -r line; do
		printf '# %s\n' "$line"
	done
}

ok() {
	TAP_COUNT=$((TAP_COUNT + 1))
	printf 'ok %d - %s\n' "$TAP_COUNT" "$1"
}

# Usage: not_ok NAME [DIAGNOSTIC ...]
not_ok() {
	TAP_COUNT=$((TAP_COUNT + 1))
	TAP_FAILED=$((TAP_FAILED + 1))
	printf 'not ok %d - %s\n' "$TAP_COUNT" "$1"
	shift
	if [ "$#" -gt 0 ]; then
		diag "$@"
	fi
}

# Usage: check NAME COMMAND [ARG ...]
# Passes when COMMAND exits 0; on failure shows its status and output.
check() {
	local name=$1 output status

	shift
	output=$("$@" 2>&1)
	status=$?
	if [ "$status" -eq 0 ]; then
		ok "$name"
	else
		not_ok "$name" "command: $*" "exit status: $status" \
			"output: $output"
	fi
}

# Usage: assert_equal NAME GOT EXPECTED
assert_equal() {
	if [ "$2" == "$3" ]; then
		ok "$1"
	else
		not_ok "$1" "got:      '$2'" "expected: '$3'"
	fi
}

# Usage: assert_not_equal NAME GOT UNEXPECTED
assert_not_equal() {
	if [ "$2" != "$3" ]; then
		ok "$1"
	else
		not_ok "$1" "got:      '$2'" "expected anything else"
	fi
}

# Usage: assert_contains NAME TEXT SUBSTRING
assert_contains() {
	if [[ "$2" == *"$3"* ]]; then
		ok "$1"
	else
		not_ok "$1" "got:      '$2'" "expected to contain: '$3'"
	fi
}

# Usage: assert_not_contains NAME TEXT SUBSTRING
assert_not_contains() {
	if [[ "$2" != *"$3"* ]]; then
		ok "$1"
	else
		not_ok "$1" "got:      '$2'" \
			"expected not to contain: '$3'"
	fi
}

# Usage: assert_line_count NAME TEXT EXPECTED
# Counts the non-empty lines of TEXT.
assert_line_count() {
	local count

	count=$(printf '%s\n' "$2" | grep -c .)
	if [ "$count" -eq "$3" ]; then
		ok "$1"
	else
		not_ok "$1" "got $count lines: '$2'" "expected $3 lines"
	fi
}

# Usage: assert_file_exists NAME PATH
assert_file_exists() {
	if [ -f "$2" ]; then
		ok "$1"
	else
		not_ok "$1" "got:      no regular file at $2" \
			"expected: $2 exists"
	fi
}

# Usage: assert_file_missing NAME PATH
assert_file_missing() {
	if [ ! -e "$2" ]; then
		ok "$1"
	else
		not_ok "$1" "got:      $2 exists" "expected: no $2"
	fi
}

# Usage: assert_status NAME EXPECTED-STATUS COMMAND [ARG ...]
# Runs COMMAND and compares its exit status. The command's combined
# output follows as diagnostics and stays in TAP_OUTPUT for later
# assertions.
assert_status() {
	local name=$1 expected=$2 status

	shift 2
	TAP_OUTPUT=$("$@" 2>&1)
	status=$?
	if [ "$status" -eq "$expected" ]; then
		ok "$name"
		diag "$TAP_OUTPUT"
	else
		not_ok "$name" "command: $*" "got exit status:      $status" \
			"expected exit status: $expected" "output: $TAP_OUTPUT"
	fi
}

# Usage: assert_fails NAME COMMAND [ARG ...]
# Passes when COMMAND exits with any non-zero status below 128 (a crash
# by signal fails). The output follows as diagnostics and stays in
# TAP_OUTPUT.
assert_fails() {
	local name=$1 status

	shift
	TAP_OUTPUT=$("$@" 2>&1)
	status=$?
	if [ "$status" -ne 0 ] && [ "$status" -lt 128 ]; then
		ok "$name"
		diag "$TAP_OUTPUT"
	else
		not_ok "$name" "command: $*" "got exit status: $status" \
			"expected: a non-zero status below 128" \
			"output: $TAP_OUTPUT"
	fi
}

# Usage: bail_out REASON
# Records a failed setup step as one failure and exits, for a test that
# cannot go on (a server did not start, a tool is missing).
bail_out() {
	not_ok "setup: $1"
	exit 1
}

# Usage: at_exit COMMAND [ARG ...]
# The commands run in reverse order of registration when the test exits.
at_exit() {
	local quoted

	printf -v quoted '%q ' "$@"
	TAP_CLEANUPS+=("$quoted")
}

tap_run_cleanups() {
	local i

	for ((i = ${#TAP_CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${TAP_CLEANUPS[i]}" || true
	done
	TAP_CLEANUPS=()
}

# Prints the plan line and returns 1 when any assertion failed.
tap_done() {
	printf '1..%d\n' "$TAP_COUNT"
	[ "$TAP_FAILED" -eq 0 ]
}

trap tap_run_cleanups EXIT
