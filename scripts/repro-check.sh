#!/usr/bin/env bash
# Checks that the .debs are reproducible: builds them again from a copy of
# the source in another folder and compares the sha256 of every package, for
# amd64, arm64 and armhf. The first build is dist/ as `make deb` left it (CI
# reuses the boot test's); without one, it is built from a copy too.
#
# Both builds share the Go build cache: what is compared is everything the
# packaging adds (paths, timestamps, nfpm, the SBOM, the commit stamp); Go's
# compiler gives the same output for the same input with or without a cache.
# REPRO_COLD=1 gives the second build an empty cache, as a new user has.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
say() { printf 'repro: %s\n' "$*" >&2; }
die() { say "FAIL: $*"; exit 1; }

version=$(tr -d ' \n' <packaging/VERSION)
arches="amd64 arm64 armhf"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
export COMMIT=${COMMIT:-$(git rev-parse --short=12 HEAD)}

tmp=$(mktemp -d /tmp/provisiond-repro.XXXXXX)
trap '[[ ${KEEP:-0} == 1 ]] && say "kept $tmp" || rm -rf "$tmp"' EXIT

# build_copy NAME: the tracked files copied to $tmp/NAME/src and built there;
# prints the copy's dist folder.
build_copy() {
	local src=$tmp/$1/src
	mkdir -p "$src"
	git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$src"
	if [[ -x packaging/.cache/bin/nfpm ]]; then
		mkdir -p "$src/packaging/.cache/bin"
		cp packaging/.cache/bin/nfpm "$src/packaging/.cache/bin/"
	fi
	local cache=()
	[[ ${REPRO_COLD:-0} == 1 && $1 == second ]] && cache=(GOCACHE="$tmp/gocache")
	(cd "$src" && env "${cache[@]}" ARCHES="$arches" LINTIAN=0 QEMU_SMOKE=0 ./packaging/deb/build.sh) \
		>"$tmp/$1.log" 2>&1 || { tail -n 30 "$tmp/$1.log" >&2; die "the $1 build failed"; }
	echo "$src/dist"
}

# dist/ counts as the first build only if it is complete and of this commit.
first=dist
for a in $arches; do
	for p in provisiond fleetsim; do
		[[ -f dist/${p}_${version}-1_$a.deb ]] || first=
	done
done
if [[ -n $first ]]; then
	dpkg-deb --fsys-tarfile "dist/provisiond_${version}-1_amd64.deb" | tar -xOf - ./usr/bin/provisiond >"$tmp/provisiond"
	chmod +x "$tmp/provisiond"
	stamped=$("$tmp/provisiond" version 2>/dev/null | sed -n 's/.*(commit \(.*\))$/\1/p')
	[[ $stamped == "$COMMIT" ]] || { say "dist/ is of commit ${stamped:-unknown}, not $COMMIT"; first=; }
fi
if [[ -z $first ]]; then
	say "building the first copy"
	first=$(build_copy first)
fi
t0=$SECONDS
second=$(build_copy second)
say "second build in $((SECONDS - t0))s"

differ=0
for a in $arches; do
	for p in provisiond fleetsim; do
		f=${p}_${version}-1_$a.deb
		x=$(sha256sum <"$first/$f" | cut -d' ' -f1)
		y=$(sha256sum <"$second/$f" | cut -d' ' -f1)
		if [[ $x == "$y" ]]; then
			say "$f $x identical"
		else
			say "$f differs: $x vs $y"
			differ=1
		fi
	done
done
if ((differ)); then
	command -v diffoscope >/dev/null && say "diffoscope $first/FILE $second/FILE shows where"
	die "the packages are not reproducible"
fi
say "PASS: 6 packages for $arches identical across two builds"
