#!/usr/bin/env bash
# The registry at scale: one emulator folder, a storm to FIRST things and a
# SAMPLE-device storm measured; then the registry filled to SCALE things by the
# bulk import (bench/registryfill, serve stopped), and at that size: a
# SAMPLE-device storm measured against the first, serve's peak RSS (VmHWM),
# `fleetsim registry --thing` and describe-thing (the API, and the aws CLI when
# installed), list-things walked over every page, and the registry's size.
# Prints Markdown table rows on stdout, progress on stderr.
#
#   bench/registry.sh BIN            (BIN holds fleetsim and registryfill, as bench/run.sh builds them)
#   SCALE=20000 FIRST=200 SAMPLE=200 bench/registry.sh BIN   (a quick check)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/fleetsim-listening.sh
BIN=${1:?usage: bench/registry.sh BIN}
SCALE=${SCALE:-1000000}
FIRST=${FIRST:-1000}
SAMPLE=${SAMPLE:-2000}
CONC=${CONC:-100}
dir=$BIN/registry-scale
rm -rf "$dir" "$dir".*
spid=
trap '[ -n "$spid" ] && kill "$spid" 2>/dev/null; wait 2>/dev/null || true' EXIT
row() { printf '| %s | %s | `%s` |\n' "${1//|/\\|}" "${2//|/\\|}" "${3//|/\\|}"; }
say() { echo "== $*" >&2; }

# serve: start fleetsim serve on the folder, with the API; sets spid, addr, api.
serve() {
	"$BIN/fleetsim" serve --dir "$dir" --listen 127.0.0.1:0 --api-listen 127.0.0.1:0 --log-level error >"$dir.out" 2>"$dir.err" &
	spid=$!
	addr=$(fleetsim_listening "$dir.out" "$spid") || { cat "$dir.err" >&2; exit 1; }
	api=$(sed -n 's/^api listening on //p' "$dir.out")
}
stop() { kill "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true; spid=; }

# storm N NAME: a storm of N more devices; its output goes to $dir.NAME, its summary
# to stderr. Failures do not stop the bench: they are a figure.
have=0
storm() {
	say "registry scale: $1 devices on top of $have things"
	"$BIN/fleetsim" storm --dir "$dir" --endpoint "$addr" --devices "$1" --concurrency "$CONC" >"$dir.$2" 2>&1 || true
	tail -n1 "$dir.$2" >&2
	have=$((have + $1))
}
summary() { tail -n1 "$dir.$1"; }
rate() { sed -nE 's/.* ([0-9.]+) devices\/s.*/\1/p' <<<"$(summary "$1")"; }
cpu() { sed -nE 's/^emulator CPU: ([0-9.]+) ms per provisioned device.*/\1 ms/p' "$dir.$1"; }
stage() { sed -nE "s/^stage $2: //p" "$dir.$1"; }
# ms CMD...: wall-clock milliseconds of a command, the median of 5 runs.
ms() {
	for _ in 1 2 3 4 5; do
		local t0=$(date +%s%N)
		"$@" >/dev/null
		echo $((($(date +%s%N) - t0) / 1000000))
	done | sort -n | sed -n 3p
}

"$BIN/fleetsim" init --dir "$dir" >/dev/null
serve
storm "$FIRST" first
storm "$SAMPLE" small
small_at=$((have - SAMPLE))
stop

fill=$((SCALE - have))
say "registry scale: bulk import of $fill things (registryfill)"
t0=$(date +%s)
"$BIN/registryfill" -dir "$dir" -things "$fill" 2> >(tail -n1 >&2)
filled=$(($(date +%s) - t0))
have=$((have + fill))

serve
storm "$SAMPLE" large
large_at=$((have - SAMPLE))
hwm=$(awk '/VmHWM/ { printf "%.0f MiB", $2/1024 }' "/proc/$spid/status")
thing=bulk-$(printf '%07d' $((fill / 2)))
reg_ms=$(ms "$BIN/fleetsim" registry --dir "$dir" --thing "$thing")
api_ms=$(for _ in 1 2 3 4 5; do curl -sS -o /dev/null -w '%{time_total}\n' "$api/things/$thing"; done |
	sort -n | sed -n 3p | awk '{ printf "%.1f", $1 * 1000 }')
cli=""
if command -v aws >/dev/null; then
	cli_ms=$(AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null \
		AWS_SHARED_CREDENTIALS_FILE=/dev/null ms aws --endpoint-url "$api" iot describe-thing --thing-name "$thing")
	cli="; \`aws iot describe-thing\` $cli_ms ms, the CLI's own start included"
fi
say "registry scale: list-things over all $have things"
walked=$("$BIN/registryfill" -api "$api" -things "$have" 2>&1) || walked="FAILED: $walked"
stop
size=$(du -cm "$dir"/registry.db* | awk 'END { print $1 " MiB" }')

cmd="fleetsim serve --dir D & fleetsim storm --dir D --endpoint ADDR --devices $SAMPLE --concurrency $CONC"
row "Registration rate with $small_at things registered" "$(rate small) devices/s ($(summary small)); emulator CPU $(cpu small) per device" "$cmd"
row "Registration rate with $large_at things registered (target: at least 90% of the above)" \
	"$(rate large) devices/s ($(summary large)); emulator CPU $(cpu large) per device; $(awk -v a="$(rate large)" -v b="$(rate small)" 'BEGIN { printf "%.0f%%", 100*a/b }')" "$cmd"
row "… RegisterThing p50/p95/p99 at $small_at and at $large_at things" "$(stage small RegisterThing) / $(stage large RegisterThing)" "$cmd"
row "Bulk import to $have things (bench/registryfill, 10,000 a commit)" "$fill things in $filled s" "registryfill -dir D -things $fill"
row "fleetsim serve peak RSS serving $have things, through the storm above (target: at most 250 MiB)" "$hwm" "grep VmHWM /proc/PID/status"
row "Describe one thing at $have things (target: at most 10 ms; medians of 5)" \
	"\`fleetsim registry --thing\` $reg_ms ms; API DescribeThing $api_ms ms (curl)$cli" "time fleetsim registry --dir D --thing NAME; curl API/things/NAME"
row "list-things over every page at $have things (250 a page)" "$walked" "registryfill -api API -things $have"
row "Registry file at $have things (registry.db with its WAL)" "$size" "du -cm D/registry.db*"
