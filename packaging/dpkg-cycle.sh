# shellcheck shell=bash
# The install, upgrade, remove and purge cycle of packaging/test-package.sh,
# sourced by it. dpkg runs with the packages' real maintainer scripts in
# a throwaway root: an overlay whose lower layer is the host's / and whose
# upper layer is a tmpfs, so that every change lands in memory. The caller
# runs in private mount and PID namespaces (unshare --mount --pid), which
# end every mount and every process of the root when it exits.
#
# The upgrade packages are the built ones, repacked as UPGRADE_VERSION
# with one more line in the packaged policy.conf. The test shows the
# database migration on a schema version 1 database, which it builds
# from the first migration in broker/state_db.c.

UPGRADE_VERSION=0.1.1
# Paths whose contents the cycle must keep, apart from the database.
KEPT_PATHS="/etc/custos/custos.conf /etc/custos/pin
/var/lib/custos/store /var/log/custos /var/lib/custos-signer"
TOKEN_LABEL=cycle

# Usage: in_root COMMAND [ARG ...]
# Runs COMMAND in the root with a clean environment and no input, so
# that any question from dpkg or debconf fails instead of waiting.
in_root() {
	chroot "$ROOT" /usr/bin/env -i \
		PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@" </dev/null
}

# Usage: make_root DIR
# Mounts the overlay root at DIR/root and sets ROOT. The root starts
# without the custos users and directories that the host may have from
# earlier test runs, and with a policy-rc.d that lets no service start.
make_root() {
	local dir=$1 file

	mount -t tmpfs -o mode=0755 tmpfs "$dir" &&
		mkdir "$dir/upper" "$dir/work" "$dir/root" &&
		mount -t overlay overlay -o \
			"lowerdir=/,upperdir=$dir/upper,workdir=$dir/work" \
			"$dir/root" || return 1
	ROOT=$dir/root
	# Every write below must land in the tmpfs, never on the host.
	[ "$(stat -f -c %T "$ROOT")" = overlayfs ] || return 1
	mount -t proc proc "$ROOT/proc" &&
		mount --bind /dev "$ROOT/dev" &&
		mount -t tmpfs tmpfs "$ROOT/run" &&
		mount -t tmpfs tmpfs "$ROOT/tmp" || return 1
	for file in passwd group shadow gshadow; do
		sed -i '/^custos\(-signer\)\?:/d' "$ROOT/etc/$file" || return 1
	done
	rm -rf "$ROOT/etc/custos" "$ROOT"/var/lib/custos* "$ROOT/var/log/custos"
	printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d" &&
		chmod 0755 "$ROOT/usr/sbin/policy-rc.d" &&
		mkdir "$ROOT/tmp/debs"
}

# Usage: repack PACKAGE OUTDIR
# Writes PACKAGE's .deb as version UPGRADE_VERSION to
# OUTDIR/PACKAGE-new.deb. custos's dependency on custos-signer follows,
# and policy.conf gains a line, so that the upgrade replaces a conffile
# that the operator left alone.
repack() {
	local pkg=$1 tree=$2/$1 old

	dpkg-deb -R "$(deb_file "$pkg")" "$tree" || return 1
	old=$(sed -n 's/^Version: //p' "$tree/DEBIAN/control")
	sed -i "s/^Version: .*/Version: $UPGRADE_VERSION/;
		s/(= $old)/(= $UPGRADE_VERSION)/" "$tree/DEBIAN/control"
	if [ -f "$tree/etc/custos/policy.conf" ]; then
		printf '# Shipped by custos %s.\n' "$UPGRADE_VERSION" \
			>>"$tree/etc/custos/policy.conf"
		(cd "$tree" &&
			find . -type f ! -path './DEBIAN/*' -printf '%P\0' |
			sort -z | xargs -0 md5sum >DEBIAN/md5sums)
	fi
	dpkg-deb --root-owner-group -b "$tree" "$2/$pkg-new.deb" \
		>/dev/null && rm -rf "$tree"
}

# Copies the built packages to ROOT/tmp/debs as PACKAGE.deb and their
# repacked upgrades as PACKAGE-new.deb.
copy_packages() {
	local pkg

	for pkg in custos custos-signer custos-agent; do
		cp "$(deb_file "$pkg")" "$ROOT/tmp/debs/$pkg.deb" &&
			repack "$pkg" "$ROOT/tmp/debs" || return 1
	done
}

# Prints "STATUS VERSION" of each package in the root, one per line.
package_states() {
	# shellcheck disable=SC2016 # dpkg-query expands the fields.
	in_root dpkg-query -W -f '${db:Status-Abbrev}${Version}\n' \
		custos custos-signer 2>/dev/null
}

# Prints the type, mode, owner and SHA-256 of every path below
# KEPT_PATHS in the root, so that two calls can be compared.
kept_digest() {
	local path

	for path in $KEPT_PATHS; do
		(cd "$ROOT" && find ".$path" -printf '%y %m %u:%g %p\n' | sort |
			while read -r type mode owner name; do
				[ "$type" = f ] && type=$(sha256sum <"$name")
				printf '%s %s %s %s\n' "$name" "$mode" \
					"$owner" "${type%% *}"
			done)
	done
}

# Prints the SQL of the first migration (schema version 1) from
# broker/state_db.c: the string literals up to the first one that ends
# with a comma.
schema_v1_sql() {
	sed -n '/^static const char \*const migrations/,/",$/p' \
		"$SOURCE_DIR/broker/state_db.c" |
		sed -n 's/^\t"\(.*\)",\?$/\1/p'
}

# Installs version 0.1.0 and checks the users and the directories.
cycle_install() {
	local uid

	assert_status "dpkg -i installs both packages" 0 in_root \
		dpkg -i /tmp/debs/custos-signer.deb /tmp/debs/custos.deb
	# The agent's package installs beside them, so that the table of
	# installed paths is complete. It has no maintainer scripts.
	assert_status "dpkg -i installs custos-agent" 0 in_root \
		dpkg -i /tmp/debs/custos-agent.deb
	assert_equal "dpkg: both packages installed as $VERSION" \
		"$(package_states)" "$(printf 'ii %s\n' "$VERSION" "$VERSION")"
	for user in custos custos-signer; do
		assert_equal "postinst created user $user" \
			"$(in_root getent passwd "$user" | cut -d: -f1,6,7)" \
			"$user:/var/lib/$user:/usr/sbin/nologin"
		uid=$(in_root id -u "$user")
		check "$user is a system user (uid $uid below 1000)" \
			test "${uid:-1000}" -lt 1000
	done
	check_table "$ROOT" "installed: "
	USERS_BEFORE=$(in_root getent passwd custos custos-signer)
}

# Writes operator data: an issuer in custos.conf, a PIN file, a
# schema-version-1 database with one certificate, a store file, an
# audit log and a SoftHSM2 token.
cycle_add_data() {
	local db=/var/lib/custos/custos.db

	sed -i 's/^#\(issuer\|\t\|}\)/\1/' "$ROOT/etc/custos/custos.conf"
	printf '123456\n' >"$ROOT/etc/custos/pin"
	chmod 0600 "$ROOT/etc/custos/pin"
	{
		schema_v1_sql
		printf "INSERT INTO certificates (tenant, label, names,"
		printf " key_type, issuer, created) VALUES ('web', 'www',"
		printf " '[\"www.example.org\"]', 'ec-p256',"
		printf " 'letsencrypt-staging', 1764806400);\n"
		printf 'PRAGMA user_version = 1;\n'
	} | in_root_stdin sqlite3 "$db"
	mkdir -p "$ROOT/var/lib/custos/store/web/www"
	printf 'certificate\n' >"$ROOT/var/lib/custos/store/web/www/cert.pem"
	printf 'operator note\n' >"$ROOT/var/lib/custos/store/README.local"
	printf 'audit record\n' >"$ROOT/var/log/custos/audit.log"
	in_root chown -R custos:custos "$db" /var/lib/custos/store \
		/var/log/custos/audit.log
	check "token initialised in /var/lib/custos-signer/tokens" in_root \
		runuser -u custos-signer -- env \
		SOFTHSM2_CONF=/etc/custos/softhsm2.conf softhsm2-util \
		--init-token --free --label "$TOKEN_LABEL" --pin 123456 \
		--so-pin 12345678
	assert_equal "old database: schema version 1" \
		"$(in_root sqlite3 "$db" 'PRAGMA user_version')" 1
	DATA_BEFORE=$(kept_digest)
	CONF_BEFORE=$(sha256sum <"$ROOT/etc/custos/custos.conf")
}

# Usage: in_root_stdin COMMAND [ARG ...]
# in_root with the caller's standard input.
in_root_stdin() {
	chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		LC_ALL=C.UTF-8 "$@"
}

# Usage: check_data_kept STEP
check_data_kept() {
	local diff

	diff=$(diff <(printf '%s\n' "$DATA_BEFORE") <(kept_digest))
	assert_equal "$1: config, PIN, store, audit log and token kept" \
		"$diff" ""
	assert_equal "$1: SoftHSM2 lists token $TOKEN_LABEL once" \
		"$(in_root env SOFTHSM2_CONF=/etc/custos/softhsm2.conf \
			softhsm2-util --show-slots 2>&1 |
			grep -c "Label: *$TOKEN_LABEL *$")" 1
	assert_equal "$1: users unchanged" \
		"$(in_root getent passwd custos custos-signer)" "$USERS_BEFORE"
}

cycle_upgrade() {
	local db=/var/lib/custos/custos.db schema

	assert_status "dpkg -i upgrades both packages" 0 in_root \
		dpkg -i /tmp/debs/custos-signer-new.deb /tmp/debs/custos-new.deb
	assert_equal "dpkg: both packages installed as $UPGRADE_VERSION" \
		"$(package_states)" \
		"$(printf 'ii %s\n' "$UPGRADE_VERSION" "$UPGRADE_VERSION")"
	assert_equal "upgrade: changed custos.conf kept" \
		"$(sha256sum <"$ROOT/etc/custos/custos.conf")" "$CONF_BEFORE"
	assert_contains "upgrade: unchanged policy.conf replaced" \
		"$(tail -n 1 "$ROOT/etc/custos/policy.conf")" \
		"Shipped by custos $UPGRADE_VERSION"
	assert_equal "upgrade: no .dpkg-* files in /etc/custos" \
		"$(find "$ROOT/etc/custos" -name '*.dpkg-*')" ""
	check_data_kept upgrade
	assert_equal "upgrade: postinst leaves the schema at version 1" \
		"$(in_root sqlite3 "$db" 'PRAGMA user_version')" 1

	schema=$(sed -n 's/^#define STATE_SCHEMA_VERSION \([0-9]*\)$/\1/p' \
		"$SOURCE_DIR/broker/state.h")
	assert_status "custos cert list on the old database: exit 0" 0 \
		in_root custos cert list
	assert_contains "cert list shows the certificate of version 1" \
		"$TAP_OUTPUT" "www.example.org"
	assert_equal "custos migrated the database to schema $schema" \
		"$(in_root sqlite3 "$db" 'PRAGMA user_version')" "$schema"
	assert_contains "migration 2 added tasks.last_error" \
		"$(in_root sqlite3 "$db" 'PRAGMA table_info(tasks)')" \
		"|last_error|TEXT|"
	assert_equal "migrated database still owned by custos" \
		"$(in_root stat -c %U "$db")" custos
}

# The packaged custos.conf names no signer program, so custos must start
# /usr/libexec/custos/custos-signer by default. The signer then rejects
# the issuer, which has no EAB key id: the error comes from the signer
# and not from a failed exec.
cycle_default_signer() {
	assert_equal "packaged custos.conf sets no signer program" \
		"$(grep -c '^[[:space:]]*program' \
			"$ROOT/etc/custos/custos.conf")" 0
	assert_status "import-eab starts the default signer: exit 1" 1 \
		in_root custos account import-eab --issuer \
		letsencrypt-staging --key-id kid --key-file /nonexistent
	assert_not_contains "default signer path: no exec error" \
		"$TAP_OUTPUT" "cannot run signer"
	assert_contains "default signer path: the signer's own error" \
		"$TAP_OUTPUT" "custos-signer: error: issuer letsencrypt-staging"
}

cycle_remove() {
	assert_status "dpkg -r removes both packages" 0 in_root \
		dpkg -r custos custos-signer custos-agent
	assert_equal "dpkg: both packages left as config-files" \
		"$(package_states)" \
		"$(printf 'rc %s\n' "$UPGRADE_VERSION" "$UPGRADE_VERSION")"
	assert_file_missing "remove: /usr/bin/custos gone" \
		"$ROOT/usr/bin/custos"
	assert_file_missing "remove: custos-signer gone" \
		"$ROOT/usr/libexec/custos/custos-signer"
	assert_file_missing "remove: custos-agent gone" \
		"$ROOT/usr/bin/custos-agent"
	check_data_kept remove
	assert_equal "remove: database kept" \
		"$(in_root sqlite3 /var/lib/custos/custos.db \
			'SELECT label FROM certificates')" www
}

cycle_purge() {
	local file

	assert_status "dpkg -P purges both packages, no question" 0 in_root \
		dpkg -P custos custos-signer custos-agent
	assert_equal "dpkg: neither package known after purge" \
		"$(package_states)" ""
	for file in custos.conf policy.conf softhsm2.conf; do
		assert_file_missing "purge: conffile $file removed" \
			"$ROOT/etc/custos/$file"
	done
	assert_file_exists "purge: operator's /etc/custos/pin kept" \
		"$ROOT/etc/custos/pin"
	assert_equal "purge: database kept" \
		"$(in_root sqlite3 /var/lib/custos/custos.db \
			'SELECT label FROM certificates')" www
	assert_file_exists "purge: store file kept" \
		"$ROOT/var/lib/custos/store/web/www/cert.pem"
	assert_file_exists "purge: operator's note in the store kept" \
		"$ROOT/var/lib/custos/store/README.local"
	assert_file_exists "purge: audit log kept" \
		"$ROOT/var/log/custos/audit.log"
	assert_equal "purge: token files kept" \
		"$(find "$ROOT/var/lib/custos-signer/tokens" -type f | wc -l)" \
		"$TOKEN_FILES"
	assert_equal "purge: users kept" \
		"$(in_root getent passwd custos custos-signer)" "$USERS_BEFORE"
}

# An installation that was never used: purge removes every directory
# that the packages created, and /etc/custos with them.
cycle_purge_unused() {
	local dir left=()

	rm -rf "$ROOT/etc/custos" "$ROOT"/var/lib/custos* "$ROOT/var/log/custos"
	in_root dpkg -i /tmp/debs/custos-signer.deb /tmp/debs/custos.deb \
		>/dev/null 2>&1
	assert_status "unused install: dpkg -P exit 0" 0 in_root \
		dpkg -P custos custos-signer
	for dir in /etc/custos /var/lib/custos/store /var/lib/custos \
		/var/log/custos /var/lib/custos-signer/tokens \
		/var/lib/custos-signer; do
		[ -e "$ROOT$dir" ] && left+=("$dir")
	done
	assert_equal "unused install: purge leaves no custos directory" \
		"${left[*]}" ""
}

# Prints the SHA-256 of the host files that the cycle must not change.
host_digest() {
	sha256sum /var/lib/dpkg/status /etc/passwd /etc/group /etc/shadow
}

check_dpkg_cycle() {
	local dir host_before

	host_before=$(host_digest)
	dir=$(mktemp -d /tmp/custos-dpkg.XXXXXX) || bail_out "mktemp"
	at_exit rmdir "$dir"
	at_exit umount -R "$dir"
	make_root "$dir" || bail_out "cannot mount the overlay root in $dir"
	copy_packages ||
		bail_out "cannot repack the packages as $UPGRADE_VERSION"
	VERSION=$(dpkg-deb -f "$(deb_file custos)" Version)

	cycle_install
	cycle_add_data
	TOKEN_FILES=$(find "$ROOT/var/lib/custos-signer/tokens" -type f |
		wc -l)
	cycle_upgrade
	cycle_default_signer
	cycle_remove
	cycle_purge
	cycle_purge_unused
	assert_equal "host dpkg database, passwd, group, shadow unchanged" \
		"$(host_digest)" "$host_before"
}
