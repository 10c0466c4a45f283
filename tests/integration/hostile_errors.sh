#!/bin/bash
# Error responses that real CAs send and Pebble 2.4.0 does not: 429 and 503
# with bodies that are not JSON, problem documents of every shape,
# badNonce past bad-nonce-retries, an order stuck in processing, and
# redirects. Each run must fail with one error line naming the problem and
# leave the store untouched, except where the broker can recover.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"
# shellcheck source=tests/lib/hostile.sh
source "$(dirname "$0")/../lib/hostile.sh"

# Usage: cooldown_count
# Prints how many issuers and accounts in the state directory are cooling
# down now.
cooldown_count() {
	python3 - "$CUSTOS_STATE/accounts" <<'EOF'
import json, os, sys, time

count = 0
for directory, _, names in os.walk(sys.argv[1]):
    for name in names:
        if name.endswith(".json"):
            with open(os.path.join(directory, name)) as f:
                record = json.load(f)
            if record.get("cooldown_until", 0) > time.time():
                count += 1
print(count)
EOF
}

# Usage: clear_cooldowns
# Ends every cooldown in the state directory, so that the next case does
# not start with the issuer or account that the last one cooled down.
clear_cooldowns() {
	python3 - "$CUSTOS_STATE/accounts" <<'EOF'
import json, os, sys

for directory, _, names in os.walk(sys.argv[1]):
    for name in names:
        path = os.path.join(directory, name)
        if name == ".cooldown.json":
            os.remove(path)
        elif name.endswith(".json"):
            with open(path) as f:
                record = json.load(f)
            if record.get("cooldown_until", 0) != 0:
                record["cooldown_until"] = 0
                record.pop("cooldown_reason", None)
                with open(path, "w") as f:
                    json.dump(record, f)
EOF
}

hostile_lab_start custos-hostile-errors
hostile_set_acme poll-timeout 4 || bail_out "cannot set poll-timeout"
hostile_set_acme bad-nonce-retries 3 ||
	bail_out "cannot set bad-nonce-retries"

hostile_run normal
hostile_expect_success "normal issuance"

for value in 503:html 429:empty 503:binary; do
	hostile_run status-order "$value"
	hostile_expect_failure "HTTP $value" "/new-order returned HTTP" \
		"HTTP ${value%%:*} without a problem document" \
		"Retry-After \"120\""
	assert_not_contains "HTTP $value: no body in output" \
		"$HOSTILE_OUTPUT" "Service Unavailable"
	assert_equal "HTTP $value: one cooldown recorded" \
		"$(cooldown_count)" 1
	clear_cooldowns
	assert_equal "HTTP $value: cooldown cleared for the next case" \
		"$(cooldown_count)" 0
done

SUBPROBLEM_1="dns:bad.hostile.test: rejectedIdentifier: bad.hostile.test is"
SUBPROBLEM_2="dns:caa.hostile.test: caa: CAA forbids issuance"
hostile_run problem-order subproblems
hostile_expect_failure "problem with subproblems" \
	"rejectedIdentifier: 2 identifiers were rejected (HTTP 400)" \
	"$SUBPROBLEM_1" "$SUBPROBLEM_2"
hostile_run problem-order plain
hostile_expect_failure "plain problem" \
	"rejectedIdentifier: the name is on a blocklist (HTTP 400)"
hostile_run problem-order extra-members
hostile_expect_failure "problem with extra members" \
	"rejectedIdentifier: extra members follow (HTTP 400)"
hostile_run problem-order wrong-types
hostile_expect_failure "problem with wrong types" \
	"new-order: rejectedIdentifier (HTTP 400)"
hostile_run problem-order status-string
hostile_expect_failure "problem status a string" \
	"rejectedIdentifier: status is a string (HTTP 400)"
hostile_run problem-order missing-type
hostile_expect_failure "problem without type" \
	"unknown problem: no type member (HTTP 400)"
hostile_run problem-order json-content-type
hostile_expect_failure "problem as application/json" \
	"rejectedIdentifier: sent as application/json (HTTP 400)" \
	"$SUBPROBLEM_1"

# With bad-nonce-retries 3, three rejections in a row are recovered from
# and four are not.
hostile_run bad-nonce 3
hostile_expect_success "3 badNonce in a row"
assert_equal "3 badNonce in a row: newOrder sent 4 times" \
	"$(hostile_request_count POST /new-order)" 4
hostile_run bad-nonce 4
hostile_expect_failure "4 badNonce in a row" "badNonce" \
	"nonce 4 of the test was rejected" \
	"gave up after 3 badNonce retries (raise acme bad-nonce-retries)"
assert_equal "4 badNonce in a row: newOrder sent 4 times" \
	"$(hostile_request_count POST /new-order)" 4

hostile_run order-stuck
hostile_expect_failure "order stuck in processing" \
	"timed out after 4 seconds waiting for order" \
	"https://localhost:$HOSTILE_PORT/order/1 to leave status" \
	"(raise acme poll-timeout)"
if [ "$HOSTILE_ELAPSED" -le 10 ]; then
	ok "order stuck in processing: gave up in ${HOSTILE_ELAPSED}s"
else
	not_ok "order stuck in processing: gave up in ${HOSTILE_ELAPSED}s" \
		"expected at most 10s with poll-timeout 4"
fi

# Each row: the scenario value, the method and path redirected, and the
# path it points to, which must never be requested.
REDIRECTS=(
	"directory-301|GET /dir|/moved-dir"
	"directory-loop|GET /dir|/dir"
	"order-307|POST /new-order|/elsewhere/new-order"
	"authz-302-loop|POST /authz/2|/authz/2"
	"cert-301|POST /cert/1|/elsewhere/cert"
)
for row in "${REDIRECTS[@]}"; do
	IFS='|' read -r value request target <<<"$row"
	hostile_run redirect "$value"
	hostile_expect_failure "redirect $value" "returned HTTP" \
		"a redirect to \"https://localhost:$HOSTILE_PORT$target\"" \
		"which custos does not follow"
	assert_equal "redirect $value: one request" \
		"$(hostile_request_count "${request% *}" "${request#* }")" 1
	if [ "$target" != "${request#* }" ]; then
		assert_equal "redirect $value: target not requested" \
			"$(grep -c " $target\$" "$HOSTILE_LOG")" 0
	fi
done

tap_done
