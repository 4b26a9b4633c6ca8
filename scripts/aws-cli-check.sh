#!/usr/bin/env bash
# The unmodified aws CLI against fleetsim's control-plane API: start an emulator in a
# temp folder (with API credentials, so signatures are verified), run the commands a
# user would, check their answers, then run README.md's aws CLI block as it is written
# (the fenced block after its "aws-cli-check" marker) with every aws CLI on PATH, and
# stop the emulator by its PID.
#
#   FLEETSIM=path/to/fleetsim scripts/aws-cli-check.sh   (default: builds bin/fleetsim)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/fleetsim-listening.sh

if [ -z "${FLEETSIM:-}" ]; then
	go build -o bin/ ./cmd/fleetsim
	FLEETSIM=bin/fleetsim
fi
command -v aws >/dev/null || { echo "aws-cli-check: the aws CLI is not installed (apt-get install awscli)" >&2; exit 1; }
dir=$(mktemp -d -t fleetsim-aws.XXXXXX)
pid=
stop_emulator() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
		pid=
	fi
}
cleanup() {
	stop_emulator
	rm -rf "$dir"
}
trap cleanup EXIT

# The emulator accepts only README's key (signatures verified); the checks below use it too.
export AWS_ACCESS_KEY_ID=fleetsim AWS_SECRET_ACCESS_KEY=fleetsim
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER=

# readme_block prints the fenced block that follows README.md's aws-cli-check marker.
readme_block() {
	awk '/^<!-- aws-cli-check:/ { marked = 1; next }
		marked && /^```/ { if (inside) exit; inside = 1; next }
		inside { print }' README.md
}
block=$(readme_block)
[ -n "$block" ] || { echo "aws-cli-check: README.md has no fenced block after its <!-- aws-cli-check: --> marker" >&2; exit 1; }
# The aws CLI 1.x reads the region from AWS_DEFAULT_REGION only; where no 1.x is
# installed to run the block below, this still holds README to it.
grep -q '^export .*AWS_DEFAULT_REGION=' <<<"$block" ||
	{ echo "aws-cli-check: README.md's aws CLI block does not export AWS_DEFAULT_REGION, which the aws CLI 1.x needs" >&2; exit 1; }

# start_emulator NAME: a new fleetsim folder $dir/NAME, served; sets pid, mqtt and api.
start_emulator() {
	local sim=$dir/$1
	"$FLEETSIM" init --dir "$sim" --listen 127.0.0.1:0 >/dev/null
	"$FLEETSIM" serve --dir "$sim" --listen 127.0.0.1:0 --api-listen 127.0.0.1:0 \
		--api-credentials "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" >"$sim.out" 2>"$sim.err" &
	pid=$!
	if ! mqtt=$(fleetsim_listening "$sim.out" "$pid"); then
		echo "aws-cli-check: fleetsim did not start:" >&2
		cat "$sim.err" >&2
		exit 1
	fi
	api=
	for _ in $(seq 1 100); do # the api line follows the listening line
		api=$(sed -n 's/^api listening on //p' "$sim.out")
		[ -n "$api" ] && return 0
		sleep 0.05
	done
	echo "aws-cli-check: fleetsim printed no \"api listening on\" line" >&2
	exit 1
}

start_emulator sim
iot() { aws --endpoint-url "$api" --output text iot "$@"; }
fail() { echo "aws-cli-check: $*" >&2; exit 1; }

got=$(iot describe-endpoint --endpoint-type iot:Data-ATS --query endpointAddress)
[ "$got" = "$mqtt" ] || fail "describe-endpoint answered $got, want $mqtt"
echo "describe-endpoint: $got"

got=$(iot list-things --query 'length(things)')
[ "$got" = 0 ] || fail "list-things on a new folder: $got things"
echo "list-things: $got things"

claim=$(iot list-certificates --query 'certificates[0].certificateId')
got=$(iot describe-certificate --certificate-id "$claim" --query certificateDescription.status)
[ "$got" = ACTIVE ] || fail "describe-certificate: claim is $got"
echo "describe-certificate: claim $claim is $got"

iot update-certificate --certificate-id "$claim" --new-status INACTIVE
got=$(iot describe-certificate --certificate-id "$claim" --query certificateDescription.status)
[ "$got" = INACTIVE ] || fail "update-certificate INACTIVE: claim is $got"
iot update-certificate --certificate-id "$claim" --new-status ACTIVE
echo "update-certificate: INACTIVE then ACTIVE"

iot create-provisioning-template --template-name CliTemplate --enabled \
	--provisioning-role-arn arn:aws:iam::123456789012:role/FleetProvisioning \
	--template-body "file://$dir/sim/templates/GatewayTemplate.json" --query templateName >/dev/null
got=$(iot describe-provisioning-template --template-name CliTemplate --query '[templateName, enabled]')
[ "$got" = "CliTemplate	True" ] || fail "describe-provisioning-template: $got"
echo "create/describe-provisioning-template: $got"
iot delete-provisioning-template --template-name CliTemplate
if iot describe-provisioning-template --template-name CliTemplate 2>"$dir/err"; then
	fail "the deleted template is still described"
fi
grep -q ResourceNotFoundException "$dir/err" || fail "describe of a deleted template: $(cat "$dir/err")"
echo "delete-provisioning-template: gone (ResourceNotFoundException)"

# create-provisioning-claim with each aws CLI found: AWS's shape (a PKCS #1 key, an
# expiration 5 minutes ahead, printed as an ISO time by the aws CLI 2 and as epoch
# seconds by 1.x), and the claim is not listed.
for cli in $(type -ap aws | xargs -n1 readlink -f | awk '!seen[$0]++'); do
	got=$("$cli" --endpoint-url "$api" --output json iot create-provisioning-claim --template-name GatewayTemplate)
	id=$(python3 - "$got" <<'EOF'
import datetime, json, re, sys
r = json.loads(sys.argv[1])
e = r["expiration"]
t = datetime.datetime.fromtimestamp(e, datetime.timezone.utc) if isinstance(e, (int, float)) else datetime.datetime.fromisoformat(e)
left = (t - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
assert 200 < left <= 300, f"expiration {e} is {left:.0f}s ahead, want 5 minutes"
assert re.fullmatch("[0-9a-f]{64}", r["certificateId"]), r["certificateId"]
assert r["certificatePem"].startswith("-----BEGIN CERTIFICATE-----"), "certificatePem"
assert r["keyPair"]["PrivateKey"].startswith("-----BEGIN RSA PRIVATE KEY-----"), "keyPair.PrivateKey is not PKCS #1"
print(r["certificateId"], type(e).__name__)
EOF
	) || fail "create-provisioning-claim with $cli: $got"
	listed=$(iot list-certificates --query "length(certificates[?certificateId=='${id% *}'])")
	[ "$listed" = 0 ] || fail "list-certificates lists the provisioning claim ${id% *}"
	echo "create-provisioning-claim with $cli: ${id% *} (expiration as ${id#* }), not listed"
done

# A wrong secret is refused.
if AWS_SECRET_ACCESS_KEY=wrong iot list-things 2>"$dir/err"; then
	fail "a wrong secret was accepted"
fi
grep -q InvalidSignatureException "$dir/err" || fail "wrong secret: $(cat "$dir/err")"
echo "wrong secret: InvalidSignatureException"

# README's lines, as written, with each aws CLI found (a pip-installed 1.x may stand
# before Debian's on PATH), each against a new emulator (they revoke the claim, for
# good), in a clean environment but for API, PATH and HOME: they must set the
# credentials and the region themselves.
n=0
for cli in $(type -ap aws | xargs -n1 readlink -f | awk '!seen[$0]++'); do
	n=$((n + 1))
	stop_emulator
	start_emulator "readme$n"
	bin=$dir/cli$n
	mkdir "$bin"
	ln -s "$cli" "$bin/aws"
	version=$("$cli" --version 2>&1 | cut -d' ' -f1)
	if ! env -i API="$api" HOME="$dir" PATH="$bin:/usr/bin:/bin" AWS_CONFIG_FILE=/dev/null \
		AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER= bash -euo pipefail -c "$block" >"$dir/readme.out" 2>&1; then
		fail "README.md's aws CLI block with $cli ($version):
$(cat "$dir/readme.out")"
	fi
	grep -q '"things"' "$dir/readme.out" || fail "README.md's block with $cli: no list-things answer: $(cat "$dir/readme.out")"
	claim=$(iot list-certificates --query 'certificates[0].certificateId')
	got=$(iot describe-certificate --certificate-id "$claim" --query certificateDescription.status)
	[ "$got" = REVOKED ] || fail "README.md's block with $cli left the claim $got, want REVOKED"
	echo "README.md's aws CLI block: ran with $cli ($version); the claim is REVOKED"
done
echo "aws-cli-check: ok"
