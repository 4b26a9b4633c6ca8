#!/usr/bin/env bash
# Builds dist/provisiond_<version>_<arch>.deb and dist/fleetsim_<version>_<arch>.deb
# for amd64, arm64 and armhf with nfpm (a pinned tool, not a module of ours),
# checks them with lintian, and smoke-tests the ARM binaries under qemu-user.
#
# Environment:
#   ARCHES="amd64 arm64 armhf"   Debian architectures to build
#   LINTIAN=0                    skip lintian
#   QEMU_SMOKE=0                 skip the qemu-user smoke test
#   SOURCE_DATE_EPOCH, COMMIT    timestamps and commit when not from git
set -euo pipefail

NFPM_VERSION=v2.45.2
# The CycloneDX SBOM generator, run with `go run` (a tool, not a module of ours).
CYCLONEDX_GOMOD=github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@v1.10.0
# The Debian revision of this packaging of the upstream VERSION.
REVISION=1

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
pkg=packaging
cache=$pkg/.cache
build=$cache/build
arches=${ARCHES:-amd64 arm64 armhf}

say() { printf 'deb: %s\n' "$*" >&2; }
die() { say "FAIL: $*"; exit 1; }
# apt_install PKG...: quietly, refreshing the package lists once if needed.
apt_install() {
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq "$@" >/dev/null 2>&1 ||
		{ apt-get update -qq && apt-get install -y -qq "$@" >/dev/null; }
}

version=$(tr -d ' \n' <"$pkg/VERSION")
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "$pkg/VERSION: want MAJOR.MINOR.PATCH, got '$version'"
debversion=$version-$REVISION
changelog_version=$(sed -n 's/^- semver: *//p' "$pkg/deb/changelog.yaml" | head -n1)
[[ $changelog_version == "$debversion" ]] ||
	die "$pkg/deb/changelog.yaml: newest entry is $changelog_version, want $debversion; add an entry"

# Reproducible timestamps in the packages: the last commit's time, and the
# commit `provisiond version` names. A build from a source archive (no .git)
# takes both from the environment.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH
commit=${COMMIT:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}

# nfpm, compiled once into the git-ignored cache.
nfpm=$cache/bin/nfpm
if ! go version -m "$nfpm" 2>/dev/null | grep -q "nfpm/v2[[:space:]]*${NFPM_VERSION}[[:space:]]"; then
	say "installing nfpm $NFPM_VERSION into $cache/bin (first run only)"
	GOFLAGS='' GOBIN="$root/$cache/bin" go install "github.com/goreleaser/nfpm/v2/cmd/nfpm@$NFPM_VERSION"
fi

# goenv ARCH: the Go target of a Debian architecture, and the dynamic
# loader its provisiond names (PT_INTERP: purego, which loads PKCS#11
# modules without cgo, makes the binary dynamic). Go's default loader for
# arm, /lib/ld-linux.so.3, does not exist on Debian armhf, hence the -I.
goenv() {
	case $1 in
	amd64) goenv=(GOARCH=amd64) interp=/lib64/ld-linux-x86-64.so.2 ;;
	arm64) goenv=(GOARCH=arm64) interp=/lib/ld-linux-aarch64.so.1 ;;
	armhf) goenv=(GOARCH=arm GOARM=7) interp=/lib/ld-linux-armhf.so.3 ;;
	*) die "unknown architecture $1" ;;
	esac
}

# sbom BINARY: BINARY.cdx.json, the CycloneDX SBOM of the Go modules linked
# into it (read from its build info). No timestamp, and a serial number
# derived from the binary, so that the same binary gives the same SBOM.
sbom() {
	local sum serial
	sum=$(sha256sum <"$1" | cut -c1-32)
	serial=urn:uuid:${sum:0:8}-${sum:8:4}-5${sum:13:3}-8${sum:17:3}-${sum:20:12}
	# The SBOM names the tool by its own hashes: build it the same way
	# whatever the caller's environment (make exports CGO_ENABLED=0).
	env CGO_ENABLED=0 GOFLAGS=-buildvcs=false go run -trimpath "$CYCLONEDX_GOMOD" bin -json -std -notimestamp -serial "$serial" \
		-version "v$version" -output "$1.cdx.json" "$1" 2>"$1.cdx.log" ||
		{ cat "$1.cdx.log" >&2; die "cyclonedx-gomod failed on $1"; }
}

mkdir -p dist
rm -rf "$build"
mkdir -p "$build/doc"

# Architecture-independent files: compressed man pages and the copyright.
gzip -9n -c "$pkg/man/provisiond.8" >"$build/doc/provisiond.8.gz"
gzip -9n -c "$pkg/man/fleetsim.1" >"$build/doc/fleetsim.1.gz"

ldflags="-s -w -X main.version=$version -X main.commit=$commit"
for arch in $arches; do
	out=$build/$arch
	mkdir -p "$out"
	say "building $arch binaries"
	goenv "$arch"
	env CGO_ENABLED=0 GOOS=linux "${goenv[@]}" \
		go build -trimpath -ldflags "$ldflags -I $interp" -o "$out/provisiond" ./cmd/provisiond
	# fleetsim loads no modules: it stays a static executable.
	env CGO_ENABLED=0 GOOS=linux "${goenv[@]}" \
		go build -trimpath -ldflags "$ldflags" -o "$out/fleetsim" ./cmd/fleetsim
	"$pkg/deb/interp-check.sh" "$out/provisiond" "$interp" || die "$arch: provisiond names the wrong dynamic loader"
	for cmd in provisiond fleetsim; do
		sbom "$out/$cmd"
	done
	for name in provisiond fleetsim; do
		target=dist/${name}_${debversion}_${arch}.deb
		rm -f "$target"
		BUILD=$build ARCH=$arch VERSION=$version REVISION=$REVISION \
			"$nfpm" package --packager deb --config "$pkg/deb/$name.nfpm.yaml" --target "$target" >/dev/null
		say "wrote $target"
	done
done

# The daemon's package must not carry the emulator.
for arch in $arches; do
	if dpkg-deb -c "dist/provisiond_${debversion}_${arch}.deb" | grep -q fleetsim; then
		die "dist/provisiond_${debversion}_${arch}.deb contains fleetsim"
	fi
done

if [[ ${LINTIAN:-1} != 0 ]]; then
	if ! command -v lintian >/dev/null; then
		say "installing lintian"
		apt_install lintian
	fi
	say "lintian"
	debs=()
	for arch in $arches; do
		debs+=("dist/provisiond_${debversion}_${arch}.deb" "dist/fleetsim_${debversion}_${arch}.deb")
	done
	# --fail-on warning also fails on errors; info and pedantic tags are shown.
	lintian --fail-on error,warning --display-info "${debs[@]}" || die "lintian"
fi

# The units' hardening, as systemd itself scores it: exposure 2.0 at most.
if command -v systemd-analyze >/dev/null; then
	for unit in provisiond.service provisiond-wait-online.service; do
		systemd-analyze security --offline=yes --threshold=20 "$pkg/systemd/$unit" >"$build/security-$unit.txt" 2>&1 ||
			{ cat "$build/security-$unit.txt" >&2; die "$unit: exposure above 2.0"; }
		say "$(tail -n1 "$build/security-$unit.txt")"
	done
fi

if [[ ${QEMU_SMOKE:-1} != 0 ]]; then
	# shellcheck disable=SC2086 # a list of architectures
	"$pkg/deb/qemu-smoke.sh" "$build" $arches
fi

say "done: $(cd dist && ls ./*_"${debversion}"_*.deb | tr '\n' ' ')"
