#!/usr/bin/env bash
# make bench: build the daemon, the emulator and the bench programs (stripped,
# static) into a temp folder, measure, and print one table: each figure with
# the command that produced it. Everything runs on 127.0.0.1; every process
# started here is stopped on exit. Details (per-device times, the step
# breakdown, histograms) go to stderr as they come; the table comes last.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/fleetsim-listening.sh

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
# row FIGURE VALUE COMMAND adds a Markdown table row; "|" is escaped.
row() { printf '| %s | %s | `%s` |\n' "${1//|/\\|}" "${2//|/\\|}" "${3//|/\\|}" >>"$ROWS"; }
began=$(date +%s)

say "building into $BIN"
$GO build -trimpath -ldflags "-s -w" -o "$BIN/" ./cmd/provisiond ./cmd/fleetsim ./bench/timeto ./bench/steps ./bench/herd ./bench/registryfill

# Idle cost needs 60 s of a registered daemon doing nothing: it runs while
# the rest is measured (its figures are the daemon's own counters).
say "idle: one daemon registered, then 60 s idle (in the background)"
"$BIN/timeto" -idle 60s >"$BIN/idle.md" 2>"$BIN/idle.err" &
idle_pid=$!
pids+=("$idle_pid")
# The same with the watchdog the packaged unit asks for (WatchdogSec=120:
# a ping every 60 s), to show it is the only thing that wakes the daemon.
WATCHDOG_USEC=120000000 "$BIN/timeto" -idle 60s >"$BIN/idle-watchdog.md" 2>"$BIN/idle-watchdog.err" &
idle_wd_pid=$!
pids+=("$idle_wd_pid")

say "footprint: binary"
size=$(stat -c %s "$BIN/provisiond")
row "Stripped static binary, provisiond (CGO_ENABLED=0 -trimpath -s -w)" \
	"$(awk -v b="$size" 'BEGIN { printf "%.2f MiB (%d bytes)", b/1048576, b }')" \
	'CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" ./cmd/provisiond && stat -c %s provisiond'
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
# --- WAN (issue 17): the same across fleetsim's emulated link ---
# WAN_DEVICES=1 bench/run.sh makes it quick; the round trips per step come
# from the emulator's packet trace.
say "time to provisioned across an emulated link: RTT 50, 100 and 300 ms"
for rtt in 50ms 100ms 300ms; do
	for method in csr create-keys; do
		"$BIN/timeto" -method "$method" -format json -devices "${WAN_DEVICES:-10}" -link-rtt "$rtt" >>"$ROWS"
	done
done
# --- end WAN ---
say "time to provisioned with an RSA-2048 key generated on the device"
"$BIN/timeto" -method csr -format json -key rsa-2048 -devices 10 >>"$ROWS"
"$BIN/timeto" -keygen 10 -key rsa-2048 >>"$ROWS"
"$BIN/timeto" -keygen 10 -key ec-p256 >>"$ROWS"
say "process start"
"$BIN/timeto" -start 20 >>"$ROWS"
say "where the time goes: the state machine in-process, step by step"
"$BIN/steps" -devices 20 >>"$ROWS"
if command -v strace >/dev/null; then
	say "where the time goes: the syscalls that make the writes durable"
	"$BIN/timeto" -syscalls -method csr >>"$ROWS"
	"$BIN/timeto" -syscalls -method create-keys >>"$ROWS"
else
	say "strace is not installed: skipping the count of durability syscalls"
fi

# storm N LABEL [serve flags...]: a fresh emulator folder served by its own
# process, then `fleetsim storm` against it from another process.
storm() {
	local n=$1 label=$2
	shift 2
	# The folder is named after the first word of the label ("on (200/s)" holds a slash).
	local dir=$BIN/storm-$n-${label%% *} addr spid out summary
	"$BIN/fleetsim" init --dir "$dir" >/dev/null
	"$BIN/fleetsim" serve --dir "$dir" --listen 127.0.0.1:0 --log-level error "$@" >"$dir.out" 2>"$dir.err" &
	spid=$!
	pids+=("$spid")
	if ! addr=$(fleetsim_listening "$dir.out" "$spid"); then
		echo "bench: fleetsim serve did not start:" >&2
		cat "$dir.err" >&2
		exit 1
	fi
	# A storm with failures exits non-zero; the failures are a figure here.
	# The CPU each side used (utime+stime, in clock ticks) shows what the
	# emulator would sustain with its two CPUs to itself.
	local ticks0 ticks1 gen
	ticks0=$(cpu_ticks "$spid")
	gen=$(
		TIMEFORMAT='%3U %3S'
		{ time "$BIN/fleetsim" storm --dir "$dir" --endpoint "$addr" --devices "$n" --concurrency 100 >"$dir.storm" 2>&1 || true; } 2>&1
	)
	out=$(cat "$dir.storm")
	ticks1=$(cpu_ticks "$spid")
	kill "$spid" 2>/dev/null || true
	wait "$spid" 2>/dev/null || true
	summary=$(grep '^provisioned ' <<<"$out" | tail -n1)
	if [ -z "$summary" ]; then
		echo "bench: fleetsim storm gave no summary:" >&2
		echo "$out" >&2
		exit 1
	fi
	{ grep -v '^provisioned ' <<<"$out" || true; } | sed -n '1,3p' | sed 's/^/  /' >&2
	echo "  $summary" >&2
	local ok=${summary#provisioned }
	ok=${ok%%/*}
	row "Fleet storm, $n devices, CSR, JSON, 100 at a time, rate limit $label" \
		"${summary#provisioned }; $((n - ok)) failed" \
		"fleetsim serve --dir D --listen 127.0.0.1:0${*:+ $*} & fleetsim storm --dir D --endpoint ADDR --devices $n --concurrency 100"
	if [ "$label" = off ] && [ "$ok" -gt 0 ]; then
		row "… p50 / p95 / p99 of each stage, on the device's side (target at 10,000: RegisterThing p99 at most 2× its p50)" \
			"$(sed -nE 's/^stage (.*): p50 (.*) p95 (.*) p99 (.*)$/\1 \2 \/ \3 \/ \4/p' <<<"$out" | paste -sd ';' | sed 's/;/; /g')" \
			"fleetsim storm --dir D --endpoint ADDR --devices $n --concurrency 100"
		row "… CPU per provisioned device: emulator / load generator; devices/s the emulator's CPU time gives on $(nproc) CPUs of its own" \
			"$(awk -v t="$((ticks1 - ticks0))" -v hz="$(getconf CLK_TCK)" -v g="$gen" -v n="$ok" -v c="$(nproc)" 'BEGIN {
				split(g, a, " "); e = t / hz / n
				printf "%.2f ms / %.2f ms; %.0f devices/s", e * 1000, (a[1] + a[2]) / n * 1000, c / e }')" \
			"utime+stime of fleetsim serve (/proc/PID/stat) and of fleetsim storm (bash time) over the storm above"
	fi
}
# cpu_ticks PID: user plus system CPU time of a process, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
for n in 1000 10000; do
	say "fleet storm: $n devices, rate limit off"
	storm "$n" off
	# Below what the emulator sustains here, so that the limit bites: the
	# storm's devices do not retry, so each 429 is a failed device.
	say "fleet storm: $n devices, rate limit on (200 requests/s for each operation)"
	storm "$n" "on (200/s)" --rate create-from-csr=200 --rate register=200
done

# --- fleetsim registry at scale: rate at FIRST and at SCALE existing things (filled
# by the bulk import), serve's peak RSS, describe-thing, list-things over every page,
# the file's size. REGISTRY_SCALE shrinks it (e.g. REGISTRY_SCALE=20000 for a quick
# check): the million takes a few minutes, most of it the import.
say "fleetsim registry at scale: up to ${REGISTRY_SCALE:-1000000} things"
SCALE=${REGISTRY_SCALE:-1000000} bench/registry.sh "$BIN" >>"$ROWS"
# --- end fleetsim registry at scale

say "thundering herd: 500 state machines, virtual clock"
"$BIN/herd" -devices 500 -down 60s >>"$ROWS"

say "rotation herd: the due times of a fleet provisioned in one second, peak per 10 s against the mean"
$GO run ./bench/rotationherd -devices 500 -after 1h >>"$ROWS"

say "Go benchmarks"
gobench() {
	local pkg=$1 bench=$2 benchtime=$3 out
	out=$($GO test -run '^$' -bench "$bench" -benchtime="$benchtime" "$pkg" 2>&1) || {
		echo "$out" >&2
		exit 1
	}
	grep '^Benchmark' <<<"$out" | while read -r name iters rest; do
		row "$name ($pkg)" "$(sed -E 's/\t+/ /g; s/ +/ /g' <<<"$rest") ($iters iterations)" \
			"go test -run '^\$' -bench '$bench' -benchtime=$benchtime $pkg"
	done
}
gobench ./internal/fleet EncodeDecode 2000x
gobench ./internal/fleetsim 'SignCSR|IssueDevice' 300x
gobench ./internal/store WriteState 100x
gobench ./internal/fleetsim/template 'Evaluate|Parse' 2000x
gobench ./internal/storm 'ProvisionCSR' 300x
gobench ./internal/storm 'ProvisionCreateKeys' 20x

say "waiting for the idle measurements"
if ! wait "$idle_pid"; then
	cat "$BIN/idle.err" >&2
	exit 1
fi
if ! wait "$idle_wd_pid"; then
	cat "$BIN/idle-watchdog.err" >&2
	exit 1
fi
cat "$BIN/idle.md" "$BIN/idle-watchdog.md" >>"$ROWS"

echo
echo "provisiond benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(awk '/MemTotal/ { printf "%.1f GiB", $2/1048576 }' /proc/meminfo), $($GO env GOVERSION), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "\$BIN is the folder of binaries built above (go build -trimpath -ldflags \"-s -w\", CGO_ENABLED=0); run took $(($(date +%s) - began)) s"
echo
echo "| Figure | Value | Command |"
echo "|---|---|---|"
cat "$ROWS"
