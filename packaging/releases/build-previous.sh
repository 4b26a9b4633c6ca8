#!/usr/bin/env bash
# Builds the .deb of the previous release from its source archive in this
# folder, for the upgrade test, and prints the path of the provisiond .deb.
# The archive is `git archive` of the release's commit (source only), so the
# test needs no git history: CI may clone without it. The build is cached by
# the archive's sha256 and this machine's Go version.
#
# usage: build-previous.sh ARCH
#
# Environment:
#   PREVIOUS_CACHE=packaging/.cache/previous   where built .debs are kept
set -euo pipefail

# The previous release: 0.1.0 as first shipped.
release=0.1.0
release_commit=b037c307fd6e1f57e954984aa8823b23806c7d68
release_epoch=1795709646 # its commit time, for the package timestamps

arch=$1
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
archive=$here/provisiond-$release.tar.xz

say() { printf 'previous release: %s\n' "$*" >&2; }
die() { say "FAIL: $*"; exit 1; }

[[ -f $archive ]] || die "$archive is missing: the upgrade test cannot run without the previous release's source"

# With history at hand, the archive must be that commit's tree.
if git -C "$root" cat-file -e "$release_commit^{commit}" 2>/dev/null; then
	want=$(git -C "$root" archive --format=tar --prefix="provisiond-$release/" "$release_commit" | sha256sum | cut -d' ' -f1)
	got=$(xz -dc "$archive" | sha256sum | cut -d' ' -f1)
	[[ $got == "$want" ]] || die "$archive is not git archive of $release_commit (tar sha256 $got, want $want)"
fi

key=$({
	sha256sum <"$archive"
	go version
	echo "$arch"
} | sha256sum | cut -c1-16)
cache=${PREVIOUS_CACHE:-$root/packaging/.cache/previous}/$key
deb=$cache/provisiond_${release}-1_${arch}.deb
if [[ -f $deb ]]; then
	say "cached $deb"
	echo "$deb"
	exit 0
fi

say "building $release ($release_commit) for $arch from $(basename "$archive")"
src=$(mktemp -d /tmp/provisiond-previous.XXXXXX)
trap 'rm -rf "$src"' EXIT
tar -xJf "$archive" -C "$src"
tree=$src/provisiond-$release
# The same nfpm as ours, if the versions agree, saves compiling it again.
nfpm=$root/packaging/.cache/bin/nfpm
if [[ -x $nfpm ]] && grep -q "^NFPM_VERSION=$(sed -n 's/^NFPM_VERSION=//p' "$root/packaging/deb/build.sh")\$" "$tree/packaging/deb/build.sh"; then
	mkdir -p "$tree/packaging/.cache/bin"
	cp "$nfpm" "$tree/packaging/.cache/bin/nfpm"
fi
# Its go.mod's modules come from the module proxy when not cached.
(cd "$tree" && SOURCE_DATE_EPOCH=$release_epoch GOFLAGS=-buildvcs=false ARCHES=$arch LINTIAN=0 QEMU_SMOKE=0 \
	./packaging/deb/build.sh) >"$src/build.log" 2>&1 ||
	{ tail -n 30 "$src/build.log" >&2; die "the $release build failed"; }
mkdir -p "$cache"
cp "$tree/dist/provisiond_${release}-1_${arch}.deb" "$deb.tmp"
mv "$deb.tmp" "$deb"
say "built $deb"
echo "$deb"
