#!/usr/bin/env bash
# aws-fleet-setup.sh: the cloud side of fleet provisioning by claim, in one
# command, with the aws CLI. From a provisioning template file and a name it
# makes (or finds, when it exists already):
#   - the provisioning role (or takes --role-arn);
#   - the provisioning template, enabled;
#   - the claim policy, limited to the template's own topics;
#   - a claim certificate and key (OUT/claim.pem.crt, OUT/claim.pem.key), ACTIVE,
#     with the claim policy attached;
#   - OUT/config.yaml, a provisiond config ready for the device.
# It is idempotent: a second run with the same arguments changes nothing, in
# the account or in OUT. It runs against AWS IoT, and against fleetsim's API
# (--endpoint-url http://127.0.0.1:PORT), which accepts any role ARN without
# checking it (fleetsim has no IAM).
#
# Usage:
#   scripts/aws-fleet-setup.sh --template-file T.json --name NAME [--out DIR]
#       [--role-arn ARN] [--root-ca FILE] [--parameter KEY=VALUE]...
#       [-- AWS CLI OPTIONS, e.g. --endpoint-url URL --region REGION]
# Environment: the aws CLI's own (AWS_PROFILE, AWS_DEFAULT_REGION, keys).
set -euo pipefail

die() {
	echo "aws-fleet-setup: $*" >&2
	exit 1
}
say() { echo "aws-fleet-setup: $*" >&2; }

template_file= name= out=. role_arn= root_ca= params=() role_created=
while (($#)); do
	case $1 in
	--template-file) template_file=${2:?--template-file needs a file}; shift 2 ;;
	--name) name=${2:?--name needs a template name}; shift 2 ;;
	--out) out=${2:?--out needs a folder}; shift 2 ;;
	--role-arn) role_arn=${2:?--role-arn needs an ARN}; shift 2 ;;
	--root-ca) root_ca=${2:?--root-ca needs a file}; shift 2 ;;
	--parameter) params+=("${2:?--parameter needs KEY=VALUE}"); shift 2 ;;
	--) shift; break ;;
	-h | --help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done
aws_opts=("$@")
for p in ${params[@]+"${params[@]}"}; do
	[[ $p == [A-Za-z0-9_]*=* ]] || die "--parameter $p: want KEY=VALUE"
done
[[ -n $template_file && -n $name ]] || die "--template-file and --name are required (see --help)"
[[ -f $template_file ]] || die "--template-file $template_file: no such file"
[[ $name =~ ^[0-9A-Za-z_-]{1,36}$ ]] || die "--name $name: a template name is 1-36 characters of 0-9 A-Z a-z _ -"
command -v aws >/dev/null || die "the aws CLI is not installed (apt-get install awscli)"
command -v python3 >/dev/null || die "python3 is needed to read the aws CLI's JSON"
command -v openssl >/dev/null || die "openssl is needed to read an existing claim certificate (apt-get install openssl)"
mkdir -p "$out"

awsiot() { aws "${aws_opts[@]}" iot "$@"; }
# json FIELD: a field of the JSON on stdin ("" when absent).
json() { python3 -c 'import json,sys
v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v=v.get(k,"") if isinstance(v,dict) else ""
print(v if isinstance(v,str) else json.dumps(v,sort_keys=True))' "$1"; }
# same A B: the two JSON documents are equal, whatever their layout.
same() { python3 -c 'import json,sys; sys.exit(0 if json.loads(sys.argv[1])==json.loads(sys.argv[2]) else 1)' "$1" "$2"; }
# notfound OUTPUT: the aws CLI said the resource does not exist.
notfound() { grep -q 'ResourceNotFoundException' <<<"$1"; }

body=$(cat "$template_file")
python3 -c 'import json,sys; json.loads(sys.argv[1])' "$body" 2>/dev/null || die "--template-file $template_file: not JSON"

# --- the provisioning role ---------------------------------------------------
if [[ -z $role_arn ]]; then
	role=${name}ProvisioningRole
	if got=$(aws "${aws_opts[@]}" iam get-role --role-name "$role" 2>&1); then
		role_arn=$(json Role.Arn <<<"$got")
		say "role $role exists"
	else
		grep -q NoSuchEntity <<<"$got" || die "iam get-role $role: $got"
		trust='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"iot.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
		role_arn=$(aws "${aws_opts[@]}" iam create-role --role-name "$role" --assume-role-policy-document "$trust" | json Role.Arn)
		aws "${aws_opts[@]}" iam attach-role-policy --role-name "$role" \
			--policy-arn arn:aws:iam::aws:policy/service-role/AWSIoTThingsRegistration
		role_created=1
		say "role $role created"
	fi
fi

# --- the template ------------------------------------------------------------
if got=$(awsiot describe-provisioning-template --template-name "$name" 2>&1); then
	if ! same "$(json templateBody <<<"$got")" "$body"; then
		awsiot create-provisioning-template-version --template-name "$name" --template-body "$body" --set-as-default >/dev/null
		say "template $name: new default version from $template_file"
	fi
	if [[ $(json enabled <<<"$got") != true ]]; then
		awsiot update-provisioning-template --template-name "$name" --enabled >/dev/null
		say "template $name: enabled"
	fi
	if [[ $(json provisioningRoleArn <<<"$got") != "$role_arn" ]]; then
		awsiot update-provisioning-template --template-name "$name" --provisioning-role-arn "$role_arn" >/dev/null
		say "template $name: role set"
	fi
	say "template $name exists"
else
	notfound "$got" || die "describe-provisioning-template $name: $got"
	# A role made a moment ago may not be assumable by AWS IoT yet (IAM is eventually
	# consistent): AWS IoT then refuses the template; try again for up to a minute.
	tries=1
	[[ -z $role_created ]] || tries=12
	for try in $(seq 1 "$tries"); do
		if got=$(awsiot create-provisioning-template --template-name "$name" --template-body "$body" \
			--provisioning-role-arn "$role_arn" --enabled 2>&1); then
			break
		fi
		((try < tries)) && grep -qi role <<<"$got" || die "create-provisioning-template $name: $got"
		sleep 5
	done
	say "template $name created"
fi

# --- the claim policy: the template's topics only ----------------------------
policy=${name}ClaimPolicy
region_account='*:*'
document=$(python3 - "$name" "$region_account" <<'EOF'
import json, sys
name, ra = sys.argv[1], sys.argv[2]
topic = lambda t: f"arn:aws:iot:{ra}:topic/{t}"
flt = lambda t: f"arn:aws:iot:{ra}:topicfilter/{t}"
topics = ["$aws/certificates/create/*", "$aws/certificates/create-from-csr/*", f"$aws/provisioning-templates/{name}/provision/*"]
print(json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"},
    {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"], "Resource": [topic(t) for t in topics]},
    {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": [flt(t) for t in topics]},
]}, sort_keys=True))
EOF
)
if got=$(awsiot get-policy --policy-name "$policy" 2>&1); then
	if ! same "$(json policyDocument <<<"$got")" "$document"; then
		die "policy $policy exists with another document: remove it or pick another --name"
	fi
	say "policy $policy exists"
else
	notfound "$got" || die "get-policy $policy: $got"
	awsiot create-policy --policy-name "$policy" --policy-document "$document" >/dev/null
	say "policy $policy created"
fi

# --- the claim certificate ---------------------------------------------------
cert=$out/claim.pem.crt key=$out/claim.pem.key
cert_id=
if [[ -s $cert && -s $key ]]; then
	cert_id=$(openssl x509 -in "$cert" -outform DER | sha256sum | cut -c1-64)
	if got=$(awsiot describe-certificate --certificate-id "$cert_id" 2>&1); then
		status=$(json certificateDescription.status <<<"$got")
		[[ $status == ACTIVE ]] || die "$cert (certificate $cert_id) is $status in the account: remove $cert and $key to make a new claim"
		say "claim certificate $cert_id exists"
	else
		notfound "$got" || die "describe-certificate $cert_id: $got"
		die "$cert is not a certificate of this account: remove $cert and $key to make a new claim"
	fi
	cert_arn=$(json certificateDescription.certificateArn <<<"$got")
else
	umask 077
	got=$(awsiot create-keys-and-certificate --set-as-active)
	cert_id=$(json certificateId <<<"$got")
	cert_arn=$(json certificateArn <<<"$got")
	json keyPair.PrivateKey <<<"$got" >"$key.tmp" && mv "$key.tmp" "$key"
	json certificatePem <<<"$got" >"$cert.tmp" && mv "$cert.tmp" "$cert"
	umask 022
	say "claim certificate $cert_id created: $cert, $key"
fi
# AttachPolicy is idempotent in AWS IoT.
awsiot attach-policy --policy-name "$policy" --target "$cert_arn"

# --- the device's config -----------------------------------------------------
endpoint=$(awsiot describe-endpoint --endpoint-type iot:Data-ATS | json endpointAddress)
[[ $endpoint == *:* ]] || endpoint=$endpoint:8883
if [[ -n $root_ca ]]; then
	cmp -s "$root_ca" "$out/root-ca.pem" 2>/dev/null || cp "$root_ca" "$out/root-ca.pem"
	root=root-ca.pem
else
	root=AmazonRootCA1.pem
fi
config=$( {
	echo "# Written by aws-fleet-setup.sh for template $name; claim certificate $cert_id."
	echo "endpoint: $endpoint"
	echo "root_ca: $root"
	echo "claim:"
	echo "  certificate: claim.pem.crt"
	echo "  private_key: claim.pem.key"
	echo "template:"
	echo "  name: $name"
	if ((${#params[@]})); then
		echo "  parameters:"
		for p in "${params[@]}"; do
			v=${p#*=} v=${v//\\/\\\\} v=${v//\"/\\\"} # a YAML double-quoted string
			printf '    %s: "%s"\n' "${p%%=*}" "$v"
		done
	fi
})
if [[ $(cat "$out/config.yaml" 2>/dev/null) != "$config" ]]; then
	printf '%s\n' "$config" >"$out/config.yaml"
	say "wrote $out/config.yaml"
else
	say "$out/config.yaml is up to date"
fi
[[ -n $root_ca ]] || say "put AmazonRootCA1.pem (https://www.amazontrust.com/repository/AmazonRootCA1.pem) beside config.yaml"
