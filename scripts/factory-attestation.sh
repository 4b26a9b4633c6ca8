#!/usr/bin/env bash
# factory-attestation.sh: what a manufacturer does once per unit so that the
# unit can attest its provisioning (docs/ATTESTATION.md).
#
#   tpm2-certify: create the attestation key (AK) in the unit's TPM, a
#     restricted signing key under the endorsement key, at a persistent
#     handle; have the OEM CA certify its public key; write the certificate.
#   signature: create an EC P-256 key file and have the OEM CA certify it.
#
# The certificate's subject carries the unit's serial number (serialNumber),
# from which the hook names the thing. The OEM CA's key stays in the factory:
# this script reads it only to sign, and writes nothing of it.
#
# Usage:
#   factory-attestation.sh --format tpm2-certify|signature --serial SERIAL
#       --ca-cert OEM.crt --ca-key OEM.key --out DIR
#       [--tcti TCTI] [--handle 0x81020000] [--days 7300] [--chain FILE]
# --tcti is the tpm2-tools TCTI (default: the tools' own, /dev/tpmrm0 through
# the kernel's resource manager; swtpm:host=127.0.0.1,port=P for swtpm).
# --chain appends the OEM's intermediate certificates to the unit's.
# It prints the attestation settings for the unit's config.yaml.
set -euo pipefail

usage() {
	sed -n 's/^# \{0,1\}//;/^Usage:/,/^It prints/p' "$0" >&2
	exit 64
}

format="" serial="" ca_cert="" ca_key="" out="" tcti="" handle=0x81020000 days=7300 chain=""
while (($#)); do
	case $1 in
	--format) format=$2 ;;
	--serial) serial=$2 ;;
	--ca-cert) ca_cert=$2 ;;
	--ca-key) ca_key=$2 ;;
	--out) out=$2 ;;
	--tcti) tcti=$2 ;;
	--handle) handle=$2 ;;
	--days) days=$2 ;;
	--chain) chain=$2 ;;
	*) echo "factory-attestation.sh: unknown argument $1" >&2; usage ;;
	esac
	shift 2 || usage
done
[[ -n $format && -n $serial && -n $ca_cert && -n $ca_key && -n $out ]] || usage
if ! [[ $serial =~ ^[A-Za-z0-9:_-]{1,128}$ ]]; then
	echo "factory-attestation.sh: --serial $serial is not a thing name (1-128 of A-Z a-z 0-9 : _ -)" >&2
	exit 64
fi
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# certify PUBLIC_PEM: the OEM CA issues the unit's certificate for the key.
certify() {
	openssl x509 -new -force_pubkey "$1" -subj "/CN=provisiond attestation/serialNumber=$serial" \
		-CA "$ca_cert" -CAkey "$ca_key" -days "$days" \
		-extfile <(printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n') \
		-out "$work/unit.crt"
	cat "$work/unit.crt" ${chain:+"$chain"} >"$out/attestation.crt"
}

case $format in
tpm2-certify)
	[[ -n $tcti ]] && export TPM2TOOLS_TCTI=$tcti
	if tpm2_readpublic -c "$handle" >/dev/null 2>&1; then
		echo "factory-attestation.sh: $handle already holds a key; this unit has its attestation key, or choose another --handle" >&2
		exit 1
	fi
	# Without a resource manager (swtpm, or a TPM opened directly) each tool
	# leaves its objects loaded, and a TPM has few slots: flush between steps.
	flush() { tpm2_flushcontext -t && tpm2_flushcontext -s; }
	tpm2_createek -c "$work/ek.ctx" -G ecc -u "$work/ek.pub"
	flush
	tpm2_createak -C "$work/ek.ctx" -c "$work/ak.ctx" -G ecc -g sha256 -s ecdsa \
		-u "$work/ak.pem" -f pem -n "$work/ak.name" >/dev/null
	flush
	tpm2_evictcontrol -C o -c "$work/ak.ctx" "$handle" >/dev/null
	flush
	certify "$work/ak.pem"
	echo "attestation: {format: tpm2-certify, key: \"handle:$handle\", certificate: $out/attestation.crt}"
	;;
signature)
	(umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out/attestation.key")
	openssl pkey -in "$out/attestation.key" -pubout -out "$work/key.pub"
	certify "$work/key.pub"
	echo "attestation: {format: signature, key: $out/attestation.key, certificate: $out/attestation.crt}"
	;;
*)
	echo "factory-attestation.sh: --format must be tpm2-certify or signature, got $format" >&2
	exit 64
	;;
esac
