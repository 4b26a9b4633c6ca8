#!/usr/bin/env bash
# make bench: build the daemon, the emulator and the bench programs (stripped,
# static) into a temp folder, measure, and print one table: each figure with
# the command that produced it. Everything runs on 127.0.0.1; every process
# started here is stopped on exit. Details (per-device times, the step
# breakdown, histograms) go to stderr as they come; the table comes last.
set -euo pipefail
cd "$(dirname "$0")/.."

export CGO_ENABLED=0
GO=${GO:-go}
BIN=$(mktemp -d -t provisiond-bench.XXXXXX)
export BIN
ROWS=$BIN/rows.md
: >"$ROWS"
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$BIN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "== $*" >&2; }
row() { printf '| %s | %s | `%s` |\n' "$1" "$2" "$3" >>"$ROWS"; }
began=$(date +%s)

say "building into $BIN"
$GO build -trimpath -ldflags "-s -w" -o "$BIN/" ./cmd/provisiond ./cmd/fleetsim ./bench/timeto ./bench/steps

# Idle cost needs 60 s of a registered daemon doing nothing: it runs while
# the rest is measured (its figures are the daemon's own counters).
say "idle: one daemon registered, then 60 s idle (in the background)"
"$BIN/timeto" -idle 60s >"$BIN/idle.md" 2>"$BIN/idle.err" &
idle_pid=$!
pids+=("$idle_pid")

say "footprint: binary"
size=$(stat -c %s "$BIN/provisiond")
row "Stripped static binary, provisiond (CGO_ENABLED=0 -trimpath -s -w)" \
	"$(awk -v b="$size" 'BEGIN { printf "%.2f MiB (%d bytes)", b/1048576, b }')" \
	'go build -trimpath -ldflags "-s -w" ./cmd/provisiond && stat -c %s provisiond'
mochi=$($GO list -deps ./cmd/provisiond | grep -c mochi || true)
fsim=$($GO list -deps ./cmd/provisiond | grep -c 'internal/fleetsim' || true)
row "Emulator packages linked into provisiond (mochi broker / internal/fleetsim)" "$mochi / $fsim" \
	'go list -deps ./cmd/provisiond | grep -c mochi'

say "time to provisioned: 20 fresh devices for each method and format"
for method in csr create-keys; do
	for format in json cbor; do
		"$BIN/timeto" -method "$method" -format "$format" -devices 20 >>"$ROWS"
	done
done
say "time to provisioned with an RSA-2048 key generated on the device"
"$BIN/timeto" -method csr -format json -key rsa-2048 -devices 10 >>"$ROWS"
say "process start"
"$BIN/timeto" -start 20 >>"$ROWS"
say "where the time goes: the state machine in-process, step by step"
"$BIN/steps" -devices 20 >>"$ROWS"

say "waiting for the idle measurement"
if ! wait "$idle_pid"; then
	cat "$BIN/idle.err" >&2
	exit 1
fi
cat "$BIN/idle.md" >>"$ROWS"

echo
echo "provisiond benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(awk '/MemTotal/ { printf "%.1f GiB", $2/1048576 }' /proc/meminfo), $($GO env GOVERSION), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "\$BIN is the folder of binaries built above (go build -trimpath -ldflags \"-s -w\", CGO_ENABLED=0); run took $(($(date +%s) - began)) s"
echo
echo "| Figure | Value | Command |"
echo "|---|---|---|"
cat "$ROWS"
