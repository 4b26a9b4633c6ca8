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
api=$(sed -n 's/^api listening on //p' "$dir/fleetsim.log" | head -n1)
echo "== fleetsim listening on $addr${LINK_RTT:+ (link RTT $LINK_RTT)}, its AWS IoT API on $api (folder $dir)"

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
# Read right after `provisiond wait`: the registry never lags behind the answers.
status_json=$(bin/provisiond status --json --config "$dir/provisiond.yaml")
thing=$(echo "$status_json" | sed -n 's/.*"thingName": *"\([^"]*\)".*/\1/p' | head -n1)
cert=$(echo "$status_json" | sed -n 's/.*"certificateId": *"\([^"]*\)".*/\1/p' | head -n1)
echo "== fleetsim registry --certificate (the device certificate)"
bin/fleetsim registry --dir "$dir" --certificate "$cert" | grep -E '"(certificateId|status|thingName)"'
bin/fleetsim registry --dir "$dir" --certificate "$cert" | grep -q '"status": "ACTIVE"' || {
	echo "demo: the device certificate is not ACTIVE" >&2
	exit 1
}
if command -v aws >/dev/null; then
	echo "== aws --endpoint-url $api iot describe-thing --thing-name $thing"
	AWS_ACCESS_KEY_ID=fleetsim AWS_SECRET_ACCESS_KEY=fleetsim AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 \
		AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER= \
		aws --endpoint-url "$api" iot describe-thing --thing-name "$thing"
else
	echo "== curl $api/things/$thing (DescribeThing; with the aws CLI: aws --endpoint-url $api iot describe-thing --thing-name $thing)"
	curl -sS "$api/things/$thing"
	echo
fi
state=$(bin/provisiond status --config "$dir/provisiond.yaml")
echo "== $state"
case "$state" in registered*) ;; *) exit 1 ;; esac
