#!/usr/bin/env bash
# Smoke-tests built provisiond binaries, the ARM ones under qemu-user:
# `version` prints the packaged version, `check` passes on a config made by
# `fleetsim init`, and the packaged example config fails with 78 (EX_CONFIG)
# until the device is configured, as its comments promise. provisiond names
# glibc's dynamic loader (purego loads PKCS#11 modules), so the ARM binaries
# run with Debian's cross libc as their root for libraries (qemu -L, from
# libc6-arm64-cross and libc6-armhf-cross).
#
# usage: qemu-smoke.sh BUILD_DIR ARCH...   (BUILD_DIR/ARCH/provisiond)
set -euo pipefail

build=$1
shift
root=$(cd "$(dirname "$0")/../.." && pwd)
version=$(tr -d ' \n' <"$root/packaging/VERSION")

say() { printf 'qemu-smoke: %s\n' "$*" >&2; }
die() { say "FAIL: $*"; exit 1; }

runner() {
	case $1 in
	amd64) [[ $(uname -m) == x86_64 ]] && return 0; echo qemu-x86_64-static ;;
	arm64) echo qemu-aarch64-static ;;
	armhf) echo qemu-arm-static ;;
	esac
}

# sysroot ARCH: the cross libc's folder and its package, for qemu -L.
sysroot() {
	case $1 in
	arm64) echo /usr/aarch64-linux-gnu libc6-arm64-cross ;;
	armhf) echo /usr/arm-linux-gnueabihf libc6-armhf-cross ;;
	esac
}

need=()
for arch in "$@"; do
	r=$(runner "$arch")
	[[ -n $r ]] && ! command -v "$r" >/dev/null && need+=(qemu-user-static)
	read -r dir package < <(sysroot "$arch"; echo)
	[[ -n ${dir:-} && ! -d $dir/lib ]] && need+=("$package")
done
if ((${#need[@]})); then
	say "installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 ||
		{ apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null; }
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A complete config, from the host's own fleetsim (nothing listens: check
# does not connect).
fleetsim=$build/amd64/fleetsim
if [[ $(uname -m) != x86_64 || ! -x $fleetsim ]]; then
	fleetsim=$work/fleetsim
	(cd "$root" && CGO_ENABLED=0 go build -o "$fleetsim" ./cmd/fleetsim)
fi
"$fleetsim" init --dir "$work/sim" --listen 127.0.0.1:8883 >/dev/null

for arch in "$@"; do
	r=$(runner "$arch")
	bin=$build/$arch/provisiond
	read -r dir _ < <(sysroot "$arch"; echo)
	run() { if [[ -n $r ]]; then "$r" ${dir:+-L "$dir"} "$bin" "$@"; else "$bin" "$@"; fi; }

	got=$(run version)
	[[ $got == "provisiond $version (commit "*")" ]] || die "$arch: version printed '$got', want 'provisiond $version (commit …)'"

	run check --config "$work/sim/provisiond.yaml" >"$work/out" 2>&1 ||
		die "$arch: check failed on a fleetsim config: $(cat "$work/out")"

	rc=0
	run check --config "$root/packaging/deb/config.yaml" >"$work/out" 2>&1 || rc=$?
	[[ $rc == 78 ]] || die "$arch: check of the packaged example config exited $rc, want 78: $(cat "$work/out")"

	say "$arch ok (${r:-native}): version, check passes on a real config, 78 on the example"
done
