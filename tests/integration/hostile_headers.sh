#!/bin/bash
# The cap on response header fields (HTTP_MAX_HEADERS, 128) at its edge:
# a CA whose every response carries exactly 128 fields issues, and one
# whose every response carries 129 fails on the directory with an error
# that names the cap. Pebble 2.4.0 sends a handful of fields, so the
# hostile server pads its responses with X-Filler-N fields.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/hostile.sh
source "$(dirname "$0")/../lib/hostile.sh"

hostile_lab_start custos-hostile-headers

hostile_run many-headers 128
hostile_expect_success "128 header fields"

hostile_run many-headers 129
hostile_expect_failure "129 header fields" "/dir: more than 128 header fields"
assert_equal "129 header fields: no order sent" \
	"$(hostile_request_count POST /new-order)" 0

tap_done
