#!/bin/bash
# Runs `custos policy check` and `custos policy lint` on policy files
# written here and checks every output line and exit status. No server,
# signer or token is involved.
set -uo pipefail
# shellcheck source=tests/lib/lab.sh
source "$(dirname "$0")/../lib/lab.sh"

write_policy() {
	cat >"$LAB_DIR/web.policy" <<'POLICY'
tenant web {
	users root
	allow www.example.com .example.com xn--bcher-kva.example
	allow 192.0.2.0/24
	deny secret.example.com .internal.example.com
	issuers pebble
	accounts pebble
	challenges http-01
	key-types ec-p256
}
POLICY
	cat >"$LAB_DIR/warnings.policy" <<'POLICY'
tenant web {
	allow .example.com
	allow .a.example.com
	deny .example.net
}
POLICY
	cat >"$LAB_DIR/error.policy" <<'POLICY'
tenant web {
	allow .example.com
	allow 192.0.2.1/24
	issuers pebble
}
POLICY
	printf 'tenant web {\n\tallow "%s"\n\tissuers pebble\n}\n' \
		bücher.example >"$LAB_DIR/unicode.policy"
}

# Usage: assert_joined NAME GOT EXPECTED-PART ...
# Compares GOT with the parts joined without separators, so that long
# expected lines can be written within 80 columns.
assert_joined() {
	assert_equal "$1" "$2" "$(printf '%s' "${@:3}")"
}

# Usage: policy_check NAME ...
policy_check() {
	"$CUSTOS" policy check --policy "$LAB_DIR/web.policy" --tenant web "$@"
}

check_decisions() {
	local file=$LAB_DIR/web.policy

	assert_status "allowed name: exit 0" 0 policy_check www.example.com
	assert_equal "allowed name: line" "$TAP_OUTPUT" \
		"www.example.com: allowed by allow www.example.com at $file:3:8"

	assert_status "deny rule: exit 1" 1 policy_check secret.example.com
	assert_joined "deny rule: line" "$TAP_OUTPUT" \
		"secret.example.com: denied by deny secret.example.com " \
		"at $file:5:7"

	assert_status "no rule: exit 1" 1 policy_check example.org
	assert_joined "no rule: line" "$TAP_OUTPUT" \
		"example.org: denied, no rule allows it " \
		"(tenant web is at $file:1:8)"

	assert_status "Unicode name: exit 0" 0 policy_check 'Bücher.example.'
	assert_joined "Unicode name: line shows the A-label" "$TAP_OUTPUT" \
		"Bücher.example. (xn--bcher-kva.example): allowed by " \
		"allow xn--bcher-kva.example at $file:3:37"

	assert_status "invalid name: exit 1" 1 policy_check 'a..example.com'
	assert_joined "invalid name: line" "$TAP_OUTPUT" \
		'a..example.com: denied, invalid name "a..example.com": ' \
		'empty label; remove the extra dot'

	assert_status "address in range: exit 0" 0 policy_check 192.0.2.7
	assert_equal "address in range: line" "$TAP_OUTPUT" \
		"192.0.2.7: allowed by allow 192.0.2.0/24 at $file:4:8"
}

check_several_names() {
	local file=$LAB_DIR/web.policy

	assert_status "one denied of two: exit 1" 1 policy_check \
		a.example.com db.internal.example.com
	assert_line_count "one denied of two: two lines" "$TAP_OUTPUT" 2
	assert_equal "one denied of two: first line" \
		"$(sed -n 1p <<<"$TAP_OUTPUT")" \
		"a.example.com: allowed by allow .example.com at $file:3:24"
	assert_equal "one denied of two: second line" \
		"$(sed -n 2p <<<"$TAP_OUTPUT")" \
		"$(printf '%s' "db.internal.example.com: denied by deny " \
			".internal.example.com at $file:5:26")"
}

check_errors() {
	local file=$LAB_DIR/web.policy

	assert_status "unknown tenant: exit 2" 2 "$CUSTOS" policy check \
		--policy "$file" --tenant nope www.example.com
	assert_joined "unknown tenant: line" "$TAP_OUTPUT" \
		"custos: error: tenant \"nope\" not found in $file " \
		"(check --tenant)"

	assert_status "missing policy file: exit 2" 2 "$CUSTOS" policy check \
		--policy "$LAB_DIR/none.policy" --tenant web www.example.com
	assert_contains "missing policy file: names the file" "$TAP_OUTPUT" \
		"$LAB_DIR/none.policy: cannot open"

	assert_status "--config and --policy: exit 2" 2 "$CUSTOS" policy \
		check --config "$LAB_DIR/custos.conf" --policy "$file" \
		--tenant web www.example.com
	assert_contains "--config and --policy: message" "$TAP_OUTPUT" \
		"give --config or --policy, not both"

	assert_status "missing --tenant: exit 2" 2 "$CUSTOS" policy check \
		--policy "$file" www.example.com
	assert_contains "missing --tenant: message" "$TAP_OUTPUT" \
		"missing --tenant"
}

# The configuration's policy block names the file to read.
check_config_option() {
	# The configuration must name a token, which this test never opens.
	SOFTHSM_LABEL=unused SOFTHSM_PIN_FILE=$LAB_DIR/unused.pin \
		PEBBLE_DIRECTORY=https://localhost:14000/dir \
		PEBBLE_TLS_CA=$LAB_DIR/unused.pem \
		CUSTOS_POLICY=$LAB_DIR/web.policy \
		custos_write_config "$LAB_DIR" ||
		bail_out "cannot write $LAB_DIR/custos.conf"
	assert_status "--config reads its policy: exit 0" 0 "$CUSTOS" policy \
		check --config "$CUSTOS_CONF" --tenant web www.example.com
	assert_contains "--config reads its policy: line" "$TAP_OUTPUT" \
		"at $LAB_DIR/web.policy:3:8"
}

check_lint() {
	local file=$LAB_DIR/warnings.policy

	assert_status "lint clean file: exit 0" 0 "$CUSTOS" policy lint \
		"$LAB_DIR/web.policy"
	assert_equal "lint clean file: no output" "$TAP_OUTPUT" ""

	assert_status "lint warnings: exit 0" 0 "$CUSTOS" policy lint "$file"
	assert_line_count "lint warnings: three lines" "$TAP_OUTPUT" 3
	assert_equal "lint warnings: redundant subtree" \
		"$(sed -n 1p <<<"$TAP_OUTPUT")" \
		"$(printf '%s' "$file:3:8: warning: allow .a.example.com " \
			"is redundant: allow .example.com at line 2 already " \
			"allows every name in it")"
	assert_equal "lint warnings: deny without effect" \
		"$(sed -n 2p <<<"$TAP_OUTPUT")" \
		"$(printf '%s' "$file:4:7: warning: deny .example.net has " \
			"no effect: no allow rule allows a name it denies")"
	assert_equal "lint warnings: no issuers" \
		"$(sed -n 3p <<<"$TAP_OUTPUT")" \
		"$(printf '%s' "$file:1:8: warning: tenant web has no " \
			"issuers statement, so every order is denied")"

	file=$LAB_DIR/error.policy
	assert_status "lint error: exit 1" 1 "$CUSTOS" policy lint "$file"
	assert_joined "lint error: FILE:LINE:COLUMN line" "$TAP_OUTPUT" \
		"$file:3:8: error: \"192.0.2.1/24\" has host bits set; " \
		"write 192.0.2.0/24"

	file=$LAB_DIR/unicode.policy
	assert_status "lint non-ASCII name: exit 1" 1 "$CUSTOS" policy lint \
		"$file"
	assert_joined "lint non-ASCII name: line" "$TAP_OUTPUT" \
		"$file:2:8: error: non-ASCII name \"bücher.example\"; " \
		"write its A-label xn--bcher-kva.example, because the " \
		"signer reads policy files without IDNA"

	assert_status "lint without FILE: exit 2" 2 "$CUSTOS" policy lint
}

check_help() {
	assert_status "policy --help: exit 0" 0 "$CUSTOS" policy --help
	assert_contains "policy --help: lists lint" "$TAP_OUTPUT" \
		"custos policy lint FILE"
	assert_status "policy check --help: exit 0" 0 "$CUSTOS" policy check \
		--help
	assert_contains "policy check --help: names --tenant" "$TAP_OUTPUT" \
		"--tenant T"
	assert_status "policy lint --help: exit 0" 0 "$CUSTOS" policy lint \
		--help
	assert_status "custos --help: lists policy" 0 "$CUSTOS" --help
	assert_contains "custos --help: policy line" "$TAP_OUTPUT" \
		"  policy    "
}

[ -x "$CUSTOS" ] || bail_out "$CUSTOS is missing; run make first"
lab_tmpdir custos-policy-cli || bail_out "cannot make a directory under /tmp"
write_policy
check_decisions
check_several_names
check_errors
check_config_option
check_lint
check_help

tap_done
