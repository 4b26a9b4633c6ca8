#!/usr/bin/env bash
# make demo: build both programs, start the emulator in a temp folder, run the
# daemon until the device is registered, show what happened, stop everything.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/fleetsim-listening.sh

go build -o bin/ ./cmd/provisiond ./cmd/fleetsim
dir=$(mktemp -d -t provisiond-demo.XXXXXX)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ -n "${KEEP:-}" ] && echo "kept $dir" || rm -rf "$dir"
}
trap cleanup EXIT

bin/fleetsim init --dir "$dir" --listen 127.0.0.1:8883 >/dev/null
# Serve on a free loopback port, then point the daemon's config at it.
# LINK_RTT=300ms make demo: every connection as if across a link of that RTT.
link=()
[ -n "${LINK_RTT:-}" ] && link=(--link-rtt "$LINK_RTT")
bin/fleetsim serve --dir "$dir" --listen 127.0.0.1:0 "${link[@]}" >"$dir/fleetsim.log" 2>&1 &
pids+=($!)
if ! addr=$(fleetsim_listening "$dir/fleetsim.log" "$!"); then
	echo "demo: fleetsim did not start:" >&2
	cat "$dir/fleetsim.log" >&2
	exit 1
fi
sed -i "s|^endpoint:.*|endpoint: $addr|" "$dir/provisiond.yaml"
echo "== fleetsim listening on $addr (folder $dir)${LINK_RTT:+, link RTT $LINK_RTT}"

bin/provisiond check --config "$dir/provisiond.yaml"
began=$(date +%s%N)
bin/provisiond run --config "$dir/provisiond.yaml" >"$dir/provisiond.log" 2>&1 &
pids+=($!)
if ! bin/provisiond wait --config "$dir/provisiond.yaml" --timeout 45s; then
	echo "demo: the device did not provision; daemon log:" >&2
	cat "$dir/provisiond.log" >&2
	exit 1
fi
echo "== provisioned $((($(date +%s%N) - began) / 1000000)) ms after the daemon started${LINK_RTT:+ (link RTT $LINK_RTT)}"

echo "== states the daemon went through"
grep -E 'state (loaded|changed)' "$dir/provisiond.log" | sed -E 's/.*"state": "([a-z-]+)".*/\1/' | paste -sd' ' | sed 's/ / → /g'
echo "== daemon log"
cat "$dir/provisiond.log"
echo "== provisiond status --json"
bin/provisiond status --json --config "$dir/provisiond.yaml"
echo "== credentials.json"
cat "$dir/state/credentials.json"
echo
echo "== fleetsim registry (certificates)"
bin/fleetsim registry --dir "$dir" | grep -E '"(certificateId|status|thingName)"' || true
state=$(bin/provisiond status --config "$dir/provisiond.yaml")
echo "== $state"
case "$state" in registered*) ;; *) exit 1 ;; esac
