#!/usr/bin/env bash
# The registry at scale (issue 12): one `fleetsim serve`, filled by a storm to
# FIRST things, a SAMPLE-device storm measured, then one storm of SCALE devices
# (its failures are a figure) and another SAMPLE-device storm measured; serve's
# peak RSS (VmHWM) over it all; `fleetsim registry --thing` at the end.
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

# storm N NAME: a storm of N more devices (named uniquely per storm); its summary
# line goes to $dir.NAME. Failures do not stop the bench: they are a figure.
have=0
storm() {
	say "registry scale: $1 devices on top of $have things"
	"$BIN/fleetsim" storm --dir "$dir" --endpoint "$addr" --devices "$1" --concurrency "$CONC" >"$dir.out.$2" 2>&1 || true
	tail -n1 "$dir.out.$2" | tee "$dir.$2" >&2
	have=$((have + $1))
}
rate() { sed -nE 's/.* ([0-9.]+) devices\/s.*/\1/p' <<<"$1"; }

storm "$FIRST" first
storm "$SAMPLE" small
storm "$SCALE" big
at=$have
storm "$SAMPLE" large
small=$(cat "$dir.small") big=$(cat "$dir.big") large=$(cat "$dir.large")
hwm=$(awk '/VmHWM/ { printf "%.0f MiB", $2/1024 }' "/proc/$spid/status")
api=$(sed -n "s/^api listening on //p" "$dir.out")
thing=$(curl -sS "$api/things?maxResults=1" | sed -n 's/.*"thingName":"\([^"]*\)".*/\1/p')
start=$(date +%s%N)
"$BIN/fleetsim" registry --dir "$dir" --thing "$thing" >/dev/null
took=$((($(date +%s%N) - start) / 1000000))

cmd="fleetsim serve --dir D & fleetsim storm --dir D --endpoint ADDR --devices $SAMPLE --concurrency $CONC"
row "Fleet storm, $SCALE devices against one serve already holding $((at - SCALE)) things (target: 0 failures)" "$big" \
	"fleetsim storm --dir D --endpoint ADDR --devices $SCALE --concurrency $CONC"
row "Registration rate with $FIRST things registered" "$(rate "$small") devices/s ($small)" "$cmd"
row "Registration rate with $at things registered (target: at least 80% of the above)" \
	"$(rate "$large") devices/s ($large); $(awk -v a="$(rate "$large")" -v b="$(rate "$small")" 'BEGIN { printf "%.0f%%", 100*a/b }')" "$cmd"
row "fleetsim serve peak RSS after $((have)) registrations (target: at most 300 MiB)" "$hwm" "grep VmHWM /proc/PID/status"
row "fleetsim registry --thing NAME at $have things (target: under 50 ms)" "$took ms" "time fleetsim registry --dir D --thing NAME"
