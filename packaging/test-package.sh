#!/bin/bash
# Tests the Debian packages that packaging/build-package.sh built into
# build-package/: lintian reports no error, the custos-signer and
# custos-agent packages depend on none of the broker's libraries, the
# files in /etc are conffiles, the systemd units pass `systemd-analyze
# verify`, and the default configuration issues nothing. Then it unpacks
# the three packages
# into a directory, applies their sysusers.d and tmpfiles.d files there,
# and checks the owner and mode of every path against a table. Last,
# packaging/dpkg-cycle.sh installs, upgrades, removes and purges the
# packages with dpkg in a throwaway overlay root.
#
# Prints TAP and ends with "N passed, N failed". Needs root, for the
# owners that systemd-tmpfiles sets and for a private mount namespace.
#
# Usage: packaging/test-package.sh
set -uo pipefail

SOURCE_DIR=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tests/lib/tap.sh
source "$SOURCE_DIR/tests/lib/tap.sh"
# shellcheck source=packaging/dpkg-cycle.sh
source "$SOURCE_DIR/packaging/dpkg-cycle.sh"
OUT=$SOURCE_DIR/build-package
UNITS="custos.service custos-audit-rotate.service custos-audit-rotate.timer"

# Expected paths: path, type (d, f or l), mode, owner, group. Any path
# of the unpacked packages that is not listed must be a root-owned
# directory (0755) or file (0644) under usr/share/doc or usr/share/man.
PATH_TABLE='
/etc/custos                           d 0755 root          root
/etc/custos/custos.conf               f 0644 root          root
/etc/custos/policy.conf               f 0644 root          root
/etc/custos/softhsm2.conf             f 0644 root          root
/usr/bin/custos                       f 0755 root          root
/usr/bin/custos-agent                 f 0755 root          root
/usr/libexec/custos                   d 0755 root          root
/usr/libexec/custos/custos-signer     f 0755 root          root
/lib/systemd/system/custos.service    f 0644 root          root
/lib/systemd/system/custos-audit-rotate.service f 0644 root root
/lib/systemd/system/custos-audit-rotate.timer   f 0644 root root
/usr/lib/sysusers.d/custos.conf       f 0644 root          root
/usr/lib/sysusers.d/custos-signer.conf f 0644 root         root
/usr/lib/tmpfiles.d/custos.conf       f 0644 root          root
/usr/lib/tmpfiles.d/custos-signer.conf f 0644 root         root
/var/lib/custos                       d 0750 custos        custos
/var/lib/custos/store                 d 0750 custos        custos
/var/log/custos                       d 0750 custos        custos
/var/lib/custos-signer                d 0700 custos-signer custos-signer
/var/lib/custos-signer/tokens         d 0700 custos-signer custos-signer
'

# Usage: deb_file PACKAGE
# Prints the path of the .deb file of PACKAGE.
deb_file() {
	local files=("$OUT/$1"_*_*.deb)

	printf '%s\n' "${files[0]}"
}

check_lintian() {
	local output errors

	output=$(lintian --fail-on none --tag-display-limit 0 \
		"$OUT"/*.changes 2>&1)
	errors=$(grep -E '^E: ' <<<"$output")
	assert_equal "lintian reports no error" "$errors" ""
	diag "lintian tags (warnings are listed in docs/packaging.md):" \
		"${output:-none}"
}

check_signer_depends() {
	local depends lib

	depends=$(dpkg-deb -f "$(deb_file custos-signer)" Depends)
	for lib in libcurl libmicrohttpd libsqlite3 libldns libidn2; do
		assert_not_contains "custos-signer does not depend on $lib" \
			"$depends" "$lib"
	done
	assert_contains "custos-signer depends on libp11" "$depends" \
		"libp11-3"
	depends=$(dpkg-deb -f "$(deb_file custos-agent)" Depends)
	for lib in libp11 libseccomp libmicrohttpd libsqlite3 libldns; do
		assert_not_contains "custos-agent does not depend on $lib" \
			"$depends" "$lib"
	done
}

check_conffiles() {
	local conffiles

	conffiles=$(dpkg-deb -I "$(deb_file custos)" conffiles)
	assert_equal "/etc files of custos are conffiles" "$conffiles" \
		"$(printf '%s\n' /etc/custos/custos.conf \
			/etc/custos/policy.conf /etc/custos/softhsm2.conf)"
}

# Usage: unpack ROOT
# Unpacks both packages into ROOT, then creates their users in
# ROOT/etc/passwd and their directories below ROOT, as postinst does.
unpack() {
	local root=$1 pkg

	for pkg in custos custos-signer custos-agent; do
		dpkg-deb -x "$(deb_file "$pkg")" "$root" || return 1
	done
	mkdir -p "$root/etc" &&
		printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd" &&
		printf 'root:x:0:\n' >"$root/etc/group" &&
		systemd-sysusers --root="$root" >/dev/null 2>&1 &&
		systemd-tmpfiles --root="$root" --create \
			"$root"/usr/lib/tmpfiles.d/custos.conf \
			"$root"/usr/lib/tmpfiles.d/custos-signer.conf
}

# Usage: name_of ROOT FILE ID
# Prints the name of the numeric ID in ROOT/etc/FILE (passwd or group).
name_of() {
	awk -F: -v id="$3" '$3 == id { print $1; exit }' "$1/etc/$2"
}

# Usage: path_attributes ROOT PATH
# Prints "TYPE MODE OWNER GROUP" of ROOT/PATH, with names from ROOT.
path_attributes() {
	local type mode uid gid

	read -r type mode uid gid < <(stat -c '%F %a %u %g' "$1$2" |
		sed 's/^regular empty file/f/; s/^regular file/f/;
			s/^directory/d/; s/^symbolic link/l/')
	printf '%s %04d %s %s\n' "$type" "$mode" "$(name_of "$1" passwd "$uid")" \
		"$(name_of "$1" group "$gid")"
}

# Usage: check_table ROOT [NAME-PREFIX]
check_table() {
	local root=$1 prefix=${2:-} path type mode owner group

	while read -r path type mode owner group; do
		[ -n "$path" ] || continue
		assert_equal "$prefix$path: type, mode and owner" \
			"$(path_attributes "$root" "$path")" \
			"$type $mode $owner $group"
	done <<<"$PATH_TABLE"
}

# Checks that each path missing from the table is a standard directory
# or a documentation file.
check_other_paths() {
	local root=$1 path unexpected=()

	while IFS= read -r path; do
		path=${path#"$root"}
		[ -n "$path" ] || continue
		grep -qE "^$path +" <<<"$PATH_TABLE" && continue
		case $path:$(path_attributes "$root" "$path") in
		/etc:d\ 0755\ root\ root | /lib*:d\ 0755\ root\ root | \
		/usr:d\ 0755\ root\ root | /usr/*:d\ 0755\ root\ root | \
		/var:d\ 0755\ root\ root | /var/lib:d\ 0755\ root\ root | \
		/var/log:d\ 0755\ root\ root) ;;
		/usr/share/doc/*:f\ 0644\ root\ root) ;;
		/usr/share/man/*:f\ 0644\ root\ root) ;;
		# systemd-sysusers writes these, as it would on a system.
		/etc/passwd*:* | /etc/group*:* | /etc/shadow*:* | \
		/etc/gshadow*:* | /etc/.pwd.lock:*) ;;
		*) unexpected+=("$path $(path_attributes "$root" "$path")") ;;
		esac
	done < <(find "$root" | sort)
	assert_equal "no path outside the table" \
		"$(printf '%s\n' "${unexpected[@]}")" ""
}

# Usage: can_enter ROOT USER DIR
# Tells whether USER may search DIR by its mode bits (root excluded).
can_enter() {
	local uid gid mode owner group

	uid=$(awk -F: -v u="$2" '$1 == u { print $3 }' "$1/etc/passwd")
	gid=$(awk -F: -v u="$2" '$1 == u { print $4 }' "$1/etc/passwd")
	read -r mode owner group < <(stat -c '%a %u %g' "$1$3")
	mode=$((8#$mode))
	if [ "$owner" = "$uid" ]; then
		[ $((mode & 8#100)) -ne 0 ]
	elif [ "$group" = "$gid" ]; then
		[ $((mode & 8#010)) -ne 0 ]
	else
		[ $((mode & 8#001)) -ne 0 ]
	fi
}

check_separation() {
	local root=$1 dir

	for dir in /var/lib/custos-signer /var/lib/custos-signer/tokens; do
		assert_fails "custos cannot enter $dir" \
			can_enter "$root" custos "$dir"
	done
	for dir in /var/lib/custos /var/lib/custos/store /var/log/custos; do
		assert_fails "custos-signer cannot enter $dir" \
			can_enter "$root" custos-signer "$dir"
	done
	check "custos can enter /var/lib/custos/store" \
		can_enter "$root" custos /var/lib/custos/store
	check "custos-signer can enter its token directory" \
		can_enter "$root" custos-signer /var/lib/custos-signer/tokens
}

# Usage: check_exposure ROOT UNIT MAX
# Checks that the offline `systemd-analyze security` exposure of UNIT
# in ROOT is at most MAX, the score that docs/packaging.md reports.
check_exposure() {
	local score

	score=$(systemd-analyze security --offline=true --no-pager \
		--root="$1" "$2" 2>&1 | sed -n \
		's/^.*Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p')
	check "$2: exposure ${score:-missing}, at most $3" \
		awk -v s="${score:-99}" -v m="$3" 'BEGIN { exit !(s <= m) }'
}

# The units need /usr/bin/custos and their man pages: a private mount
# namespace lays the unpacked /usr/bin over the host's.
check_units() {
	local root=$1 unit output

	for unit in $UNITS; do
		output=$(unshare -m bash -c 'mount -t overlay overlay \
			-o "lowerdir=$1/usr/bin:/usr/bin" /usr/bin &&
			MANPATH=$1/usr/share/man systemd-analyze verify "$2"' \
			verify "$root" "$root/lib/systemd/system/$unit" 2>&1)
		assert_equal "systemd-analyze verify $unit" "$output" ""
	done
	check_exposure "$root" custos.service 2.5
	check_exposure "$root" custos-audit-rotate.service 1.7
}

# Uses ROOT's custos on ROOT's configuration, with the paths moved below
# ROOT. Usage: root_custos ROOT CONFIG ARG...
root_custos() {
	local root=$1 config=$2

	shift 2
	sed "s#/etc/custos/#$root/etc/custos/#" "$root/etc/custos/custos.conf" \
		>"$config"
	"$root/usr/bin/custos" "$@"
}

check_default_config() {
	local root=$1 config=$1/test.conf

	assert_status "default configuration: no issuer, exit 2" 2 \
		root_custos "$root" "$config" policy check --config "$config" \
		--tenant web www.example.org
	assert_contains "default configuration: error names the issuer" \
		"$TAP_OUTPUT" "missing block 'issuer'"
	# With the example issuer uncommented the file loads, and the
	# empty policy still has no tenant to issue for.
	sed -i 's/^#\(issuer\|\t\|}\)/\1/' "$root/etc/custos/custos.conf"
	assert_status "example issuer: the policy has no tenant, exit 2" 2 \
		root_custos "$root" "$config" policy check --config "$config" \
		--tenant web www.example.org
	assert_contains "example issuer: error names the tenant" \
		"$TAP_OUTPUT" 'tenant "web" not found'
	assert_status "default policy: lint passes" 0 \
		"$root/usr/bin/custos" policy lint "$root/etc/custos/policy.conf"
}

main() {
	local root passed pkg

	[ "$(id -u)" -eq 0 ] || bail_out "run as root (owners, namespace)"
	for pkg in custos custos-signer custos-agent; do
		[ -f "$(deb_file "$pkg")" ] ||
			bail_out "no packages in $OUT; run make package first"
	done
	root=$(mktemp -d /tmp/custos-package.XXXXXX) || bail_out "mktemp"
	at_exit rm -rf "$root"

	check_lintian
	check_signer_depends
	check_conffiles
	unpack "$root" || bail_out "unpacking into $root failed"
	check_table "$root"
	check_other_paths "$root"
	check_separation "$root"
	check_units "$root"
	check_default_config "$root"
	check_dpkg_cycle
	tap_done
	passed=$((TAP_COUNT - TAP_FAILED))
	echo "$passed passed, $TAP_FAILED failed"
	[ "$TAP_FAILED" -eq 0 ]
}

# The dpkg cycle mounts its root and starts maintainer scripts: private
# mount and PID namespaces undo both when the test exits.
if [ "${CUSTOS_PACKAGE_NAMESPACE:-}" != 1 ] && [ "$(id -u)" -eq 0 ]; then
	exec env CUSTOS_PACKAGE_NAMESPACE=1 unshare --mount --pid --fork \
		--propagation private "$0" "$@"
fi
main "$@"
