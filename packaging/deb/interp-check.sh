#!/usr/bin/env bash
# Checks the dynamic loader a binary names (its PT_INTERP, read with
# readelf -l): it must be exactly the one given, the loader that Debian's
# libc6 installs for the binary's architecture. A binary without one, or
# with another (Go's default /lib/ld-linux.so.3 on arm), fails.
#
# usage: interp-check.sh BINARY LOADER
set -euo pipefail
bin=$1 want=$2
got=$(readelf -l "$bin" | sed -n 's/.*\[Requesting program interpreter: \(.*\)\]/\1/p')
if [[ $got != "$want" ]]; then
	echo "interp-check: $bin names the dynamic loader '${got:-none}', want $want" >&2
	exit 1
fi
echo "interp-check: $bin: $got"
