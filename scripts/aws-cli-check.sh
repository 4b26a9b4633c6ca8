#!/usr/bin/env bash
# The unmodified aws CLI against fleetsim's control-plane API: start an emulator in a
# temp folder (with API credentials, so signatures are verified), run the commands a
# user would, check their answers, stop the emulator by its PID.
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
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

export AWS_ACCESS_KEY_ID=AKIDFLEETSIMCHECK
export AWS_SECRET_ACCESS_KEY=fleetsim-check-secret
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER=

"$FLEETSIM" init --dir "$dir" --listen 127.0.0.1:0 >/dev/null
"$FLEETSIM" serve --dir "$dir" --listen 127.0.0.1:0 --api-listen 127.0.0.1:0 \
	--api-credentials "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" >"$dir/serve.out" 2>"$dir/serve.err" &
pid=$!
if ! mqtt=$(fleetsim_listening "$dir/serve.out" "$pid"); then
	echo "aws-cli-check: fleetsim did not start:" >&2
	cat "$dir/serve.err" >&2
	exit 1
fi
api=$(sed -n 's/^api listening on //p' "$dir/serve.out")
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
	--template-body "file://$dir/templates/GatewayTemplate.json" --query templateName >/dev/null
got=$(iot describe-provisioning-template --template-name CliTemplate --query '[templateName, enabled]')
[ "$got" = "CliTemplate	True" ] || fail "describe-provisioning-template: $got"
echo "create/describe-provisioning-template: $got"
iot delete-provisioning-template --template-name CliTemplate
if iot describe-provisioning-template --template-name CliTemplate 2>"$dir/err"; then
	fail "the deleted template is still described"
fi
grep -q ResourceNotFoundException "$dir/err" || fail "describe of a deleted template: $(cat "$dir/err")"
echo "delete-provisioning-template: gone (ResourceNotFoundException)"

# A wrong secret is refused.
if AWS_SECRET_ACCESS_KEY=wrong iot list-things 2>"$dir/err"; then
	fail "a wrong secret was accepted"
fi
grep -q InvalidSignatureException "$dir/err" || fail "wrong secret: $(cat "$dir/err")"
echo "aws-cli-check: ok"
