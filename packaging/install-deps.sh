#!/bin/bash
# Installs the Debian 12 packages that Custos needs to build and test, and
# creates the system users custos (broker) and custos-signer (signer).
# Run as root to install. Otherwise the script prints the commands to run.
# A second run finds everything in place and changes nothing.
set -euo pipefail

PACKAGES=(
	build-essential clang pkg-config make
	libssl-dev libp11-dev libp11-kit-dev libjansson-dev
	libcurl4-openssl-dev libseccomp-dev libmicrohttpd-dev libidn2-dev
	libldns-dev libsqlite3-dev
	softhsm2 opensc libengine-pkcs11-openssl openssl
	bind9 bind9-dnsutils pebble
	iproute2 util-linux strace procps
	# busybox httpd serves the web root in the HTTP-01 webroot test.
	busybox
	# The integration tests call the API with curl, read its JSON with
	# jq and query the state database with sqlite3.
	curl jq sqlite3
	# The hostile ACME server of the tests runs on python3; time
	# (/usr/bin/time) measures the broker's memory in those tests.
	python3 time
	# gdb dumps the broker's memory in the EAB test, which searches the
	# dump for the HMAC key.
	gdb
	# valgrind checks the signer's test build for leaks.
	valgrind
	# nginx serves the files that custos-agent writes in the agent's
	# nginx test, started by the test as an unprivileged user on a
	# loopback port; install_packages keeps the packaged service from
	# starting.
	nginx
	# promtool (from prometheus) checks the API's metrics in the tests.
	# The package also contains the Prometheus server, which
	# install_packages keeps from starting.
	prometheus
	# make package and make package-check: the Debian build tools,
	# lintian, man (man --warnings) and systemd-analyze.
	dpkg-dev debhelper fakeroot lintian man-db groff-base systemd
)
USERS=(custos custos-signer)

# Prints each package that dpkg does not list as installed.
missing_packages() {
	local pkg status

	for pkg in "${PACKAGES[@]}"; do
		status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" \
			2>/dev/null || true)
		if [ "$status" != installed ]; then
			echo "$pkg"
		fi
	done
}

missing_users() {
	local user

	for user in "${USERS[@]}"; do
		if ! getent passwd "$user" >/dev/null; then
			echo "$user"
		fi
	done
}

# Usage: install_packages PACKAGE ...
# Installs the packages with apt-get. A policy-rc.d that exits with 101
# keeps every service they ship from starting, and the Prometheus and
# nginx servers, which only provide promtool and a test's web server
# here, are disabled under systemd, so nothing starts listening on the
# network at boot either.
install_packages() {
	local policy=/usr/sbin/policy-rc.d own_policy=0 rc=0

	echo "install-deps: installing $*"
	export DEBIAN_FRONTEND=noninteractive
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 0755 "$policy"
		own_policy=1
	fi
	apt-get update && apt-get install -y --no-install-recommends "$@" ||
		rc=$?
	if [ "$own_policy" = 1 ]; then
		rm -f "$policy"
	fi
	if [ -d /run/systemd/system ]; then
		systemctl disable --now prometheus.service nginx.service \
			2>/dev/null || true
	fi
	return "$rc"
}

main() {
	local -a missing users
	local user

	mapfile -t missing < <(missing_packages)
	mapfile -t users < <(missing_users)

	if [ "$(id -u)" -ne 0 ]; then
		if [ "${#missing[@]}" -gt 0 ]; then
			echo "install-deps: not root; install the missing" \
				"packages with:"
			echo "  sudo apt-get update &&" \
				"sudo apt-get install -y" \
				"--no-install-recommends ${missing[*]}"
		fi
		for user in "${users[@]}"; do
			echo "install-deps: not root; create user $user with:"
			echo "  sudo useradd --system --no-create-home" \
				"--shell /usr/sbin/nologin $user"
		done
		if [ "${#missing[@]}" -gt 0 ] || [ "${#users[@]}" -gt 0 ]; then
			return 1
		fi
		echo "install-deps: all packages and users are present"
		return 0
	fi

	if [ "${#missing[@]}" -gt 0 ]; then
		install_packages "${missing[@]}"
	fi
	for user in "${users[@]}"; do
		echo "install-deps: creating system user $user"
		useradd --system --no-create-home --shell /usr/sbin/nologin \
			"$user"
	done
	echo "install-deps: all packages and users are present"
}

main "$@"
