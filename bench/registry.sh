#!/usr/bin/env bash
# The registry at scale (issue 12): one `fleetsim serve`, filled by storms to
# FIRST existing things then to SCALE; a SAMPLE-device storm measured at each;
# serve's peak RSS (VmHWM) over it all; `fleetsim registry --thing` at SCALE.
# Prints Markdown table rows on stdout, progress on stderr.
#
#   bench/registry.sh BIN            (BIN holds fleetsim, as bench/run.sh builds it)
#   SCALE=2000 FIRST=200 SAMPLE=200 bench/registry.sh BIN   (a quick check)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/fleetsim-listening.sh
BIN=${1:?usage: bench/registry.sh BIN}
SCALE=${SCALE:-100000}
FIRST=${FIRST:-1000}
SAMPLE=${SAMPLE:-2000}
CONC=${CONC:-100}
dir=$BIN/registry-scale
rm -rf "$dir"
spid=
trap '[ -n "$spid" ] && kill "$spid" 2>/dev/null; wait 2>/dev/null || true' EXIT
row() { printf '| %s | %s | `%s` |\n' "${1//|/\\|}" "${2//|/\\|}" "${3//|/\\|}"; }
say() { echo "== $*" >&2; }

"$BIN/fleetsim" init --dir "$dir" >/dev/null
"$BIN/fleetsim" serve --dir "$dir" --listen 127.0.0.1:0 --log-level error >"$dir.out" 2>"$dir.err" &
spid=$!
addr=$(fleetsim_listening "$dir.out" "$spid") || { cat "$dir.err" >&2; exit 1; }

# fill N: storm until the registry holds N things (devices are named uniquely per storm).
have=0
fill() {
	local want=$1
	if [ "$want" -gt "$have" ]; then
		say "registry scale: filling to $want things"
		"$BIN/fleetsim" storm --dir "$dir" --endpoint "$addr" --devices $((want - have)) --concurrency "$CONC" >"$dir.fill" 2>&1 ||
			{ cat "$dir.fill" >&2; exit 1; }
		tail -n1 "$dir.fill" >&2
		have=$want
	fi
}
# sample AT: a SAMPLE-device storm with AT things registered; prints its summary.
sample() {
	say "registry scale: $SAMPLE devices with $1 existing things"
	"$BIN/fleetsim" storm --dir "$dir" --endpoint "$addr" --devices "$SAMPLE" --concurrency "$CONC" >"$dir.sample" 2>&1 ||
		{ cat "$dir.sample" >&2; exit 1; }
	have=$((have + SAMPLE))
	tail -n1 "$dir.sample"
}
rate() { sed -nE 's/.* ([0-9.]+) devices\/s.*/\1/p' <<<"$1"; }

fill "$FIRST"
small=$(sample "$FIRST")
fill "$SCALE"
large=$(sample "$SCALE")
hwm=$(awk '/VmHWM/ { printf "%.0f MiB", $2/1024 }' "/proc/$spid/status")
api=$(sed -n "s/^api listening on //p" "$dir.out")
thing=$(curl -sS "$api/things?maxResults=1" | sed -n 's/.*"thingName":"\([^"]*\)".*/\1/p')
start=$(date +%s%N)
"$BIN/fleetsim" registry --dir "$dir" --thing "$thing" >/dev/null
took=$((($(date +%s%N) - start) / 1000000))

cmd="fleetsim serve --dir D & fleetsim storm --dir D --endpoint ADDR --devices $SAMPLE --concurrency $CONC"
row "Registration rate with $FIRST things registered" "$(rate "$small") devices/s ($small)" "$cmd"
row "Registration rate with $SCALE things registered (target: at least 80% of the above)" \
	"$(rate "$large") devices/s ($large); $(awk -v a="$(rate "$large")" -v b="$(rate "$small")" 'BEGIN { printf "%.0f%%", 100*a/b }')" "$cmd"
row "fleetsim serve peak RSS after $((have)) registrations (target: at most 300 MiB)" "$hwm" "grep VmHWM /proc/PID/status"
row "fleetsim registry --thing NAME at $have things (target: under 50 ms)" "$took ms" "time fleetsim registry --dir D --thing NAME"
