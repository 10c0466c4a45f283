# shellcheck shell=bash
# Sources every test helper, in order. An integration test starts with
#
#	set -uo pipefail
#	source "$(dirname "$0")/../lib/lab.sh"
#
# and ends with tap_done.

CUSTOS_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/tap.sh
source "$CUSTOS_LIB_DIR/tap.sh"
# shellcheck source=tests/lib/pebble.sh
source "$CUSTOS_LIB_DIR/pebble.sh"
# shellcheck source=tests/lib/softhsm.sh
source "$CUSTOS_LIB_DIR/softhsm.sh"
# shellcheck source=tests/lib/custos.sh
source "$CUSTOS_LIB_DIR/custos.sh"
