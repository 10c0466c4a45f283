#!/bin/bash
# Checks the man pages in docs/man: each renders with no groff or man
# warning at 80 columns, and each option, command and subcommand that
# `custos ... --help`, `custos-signer --help` or `custos-agent --help`
# prints appears in the page of that program. A new option without documentation fails here.
set -uo pipefail
# shellcheck source=tests/lib/tap.sh
source "$(dirname "$0")/../lib/tap.sh"

SOURCE_DIR=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$SOURCE_DIR/build}
MAN_DIR=$SOURCE_DIR/docs/man
CUSTOS=$BUILD/custos
SIGNER=$BUILD/custos-signer
AGENT=$BUILD/custos-agent
export LC_ALL=C.UTF-8

# Usage: render PAGE WIDTH
# Prints the page as man shows it; warnings go to standard error.
render() {
	MANWIDTH=$2 man --warnings -l "$1"
}

check_warnings() {
	local page warnings

	for page in "$MAN_DIR"/*.[158]; do
		warnings=$(render "$page" 80 2>&1 >/dev/null)
		assert_equal "$(basename "$page"): renders without warnings" \
			"$warnings" ""
	done
}

# Prints the long options (--name) and the commands of custos, one a line.
custos_words() {
	local command help

	"$CUSTOS" --help | awk '/^commands:/ { on = 1; next }
		on && /^  [a-z]/ { print $1 } /^$/ { on = 0 }' |
		while read -r command; do
			echo "$command"
			help=$("$CUSTOS" "$command" --help)
			# "custos cert show|reissue|remove ID" lists subcommands.
			printf '%s\n' "$help" |
				grep -oE "custos $command [a-z|-]+" |
				cut -d' ' -f3 | tr '|' '\n'
			printf '%s\n' "$help" | grep -oE -- '--[a-z][a-z-]*'
		done
	"$CUSTOS" --help | grep -oE -- '--[a-z][a-z-]*'
}

# Usage: check_covered PAGE WORD...
# Passes for each WORD that the page, rendered without line breaks,
# contains as a whole word.
check_covered() {
	local page=$1 text word

	shift
	text=$(render "$page" 1000 2>/dev/null)
	for word in "$@"; do
		if grep -qE -- "(^|[^a-z-])$word([^a-z-]|\$)" <<<"$text"; then
			ok "$(basename "$page") documents $word"
		else
			not_ok "$(basename "$page") documents $word" \
				"\"$word\" is in the --help output but not" \
				"in $page; describe it there"
		fi
	done
}

main() {
	local -a words
	local program

	for program in "$CUSTOS" "$SIGNER" "$AGENT"; do
		[ -x "$program" ] || bail_out "$program is missing; run make first"
	done
	check_warnings
	mapfile -t words < <(custos_words | sort -u)
	assert_not_equal "custos --help lists options" "${#words[@]}" 0
	check_covered "$MAN_DIR/custos.1" "${words[@]}"
	mapfile -t words < <("$SIGNER" --help | grep -oE -- '--[a-z][a-z-]*' |
		sort -u)
	check_covered "$MAN_DIR/custos-signer.8" "${words[@]}"
	mapfile -t words < <("$AGENT" --help | grep -oE -- '--[a-z][a-z-]*' |
		sort -u)
	check_covered "$MAN_DIR/custos-agent.8" "${words[@]}"
	tap_done
}

main "$@"
