#!/bin/bash
# Builds the Debian packages custos, custos-signer and custos-agent from
# this source tree, with the files git tracks plus untracked ones that
# .gitignore does not exclude, so that uncommitted work is packaged too.
#
# dpkg-buildpackage needs debian/ at the top of the source tree, so the
# tree is copied to build-package/custos-VERSION/ and packaging/debian is
# copied to debian/ inside it. The .deb files land in build-package/,
# outside build/: the Makefile includes every *.d below build/, and
# debhelper creates directories named tmpfiles.d and sysusers.d.
#
# Usage: packaging/build-package.sh
set -euo pipefail

cd "$(dirname "$0")/.."
OUT=$PWD/build-package

version=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
tree=$OUT/custos-$version

rm -rf "$OUT"
mkdir -p "$tree"
git ls-files -z --cached --others --exclude-standard |
	while IFS= read -r -d '' path; do
		# A tracked file deleted in the working tree is left out.
		[ -e "$path" ] && printf '%s\0' "$path"
	done | tar --null -T - -cf - | tar -C "$tree" -xf -
cp -a packaging/debian "$tree/debian"

echo "build-package: building custos $version in $tree"
(cd "$tree" && dpkg-buildpackage -b -us -uc) >"$OUT/build.log" 2>&1 || {
	tail -n 40 "$OUT/build.log" >&2
	echo "build-package: dpkg-buildpackage failed; see $OUT/build.log" >&2
	exit 1
}
ls "$OUT"/*.deb
