#!/bin/sh
# Installs the ACME clients that bench/run.sh compares Custos with
# (certbot, lego and uacme, all Debian 12 packages), and GNU time, which
# reports each process's CPU time and peak memory. Does nothing when they
# are all present. Needs root, as apt-get does.
set -eu

PACKAGES="certbot lego uacme time"

missing=
for package in $PACKAGES; do
	if ! dpkg-query -W -f '${Status}\n' "$package" 2>/dev/null |
		grep -q '^install ok installed$'; then
		missing="$missing $package"
	fi
done
[ -n "$missing" ] || exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "install-peers.sh: missing packages:$missing;" \
		"run as root: apt-get install$missing" >&2
	exit 1
fi
echo "install-peers.sh: installing$missing"
# shellcheck disable=SC2086 # one word per package
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	$missing
