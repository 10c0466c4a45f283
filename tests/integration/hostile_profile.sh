#!/bin/bash
# ACME profiles: a CA that advertises profiles in its directory's
# meta.profiles (Pebble 2.4.0 advertises none). An issuer configured with
# an advertised profile sends it in newOrder and gets its certificate; a
# profile the CA does not advertise fails before any order is sent.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/hostile.sh
source "$(dirname "$0")/../lib/hostile.sh"

# Usage: set_profile NAME
# Sets the profile of the only issuer in CUSTOS_CONF.
set_profile() {
	sed -i '/^\tprofile /d' "$CUSTOS_CONF"
	sed -i "s/^\tagree-tos yes\$/\tagree-tos yes\n\tprofile $1/" \
		"$CUSTOS_CONF"
	grep -q "^	profile $1\$" "$CUSTOS_CONF"
}

hostile_lab_start custos-hostile-profile

set_profile shortlived || bail_out "cannot set the profile in $CUSTOS_CONF"
hostile_run profiles
hostile_expect_success "advertised profile"
assert_contains "newOrder carried the profile" "$(cat "$HOSTILE_LOG")" \
	"new-order profile shortlived"

set_profile longlived || bail_out "cannot set the profile in $CUSTOS_CONF"
hostile_run profiles
hostile_expect_failure "profile not advertised" \
	"does not advertise profile \"longlived\"" "it lists others"
assert_not_contains "no order sent for it" "$(cat "$HOSTILE_LOG")" \
	"new-order profile longlived"

tap_done
