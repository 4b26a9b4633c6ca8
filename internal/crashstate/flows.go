package crashstate

// Flow is one recorded provisioning: how the daemon is configured, whether
// the device is provisioned first (outside the recording), and the script
// recorded under strace. The script runs in sh with $P the provisiond
// binary, $C its config, $S the state directory, $A the base URL of
// fleetsim's control-plane API and $F fleetsim's folder (the claim pair). A new flow (rotation,
// a TPM key store) is one more line in Flows.
type Flow struct {
	Name    string `json:"name"`
	Method  string `json:"method"`            // certificate_method
	KeyType string `json:"keyType,omitempty"` // key_type; ec-p256 when empty
	Setup   bool   `json:"setup,omitempty"`   // provision before recording
	Script  string `json:"script"`
	// Config is more daemon config (YAML, top-level keys), e.g. rotation.
	Config string `json:"config,omitempty"`
	// ServeArgs are more `fleetsim serve` flags, for the recording and
	// every check (--certificate-validity).
	ServeArgs []string `json:"serveArgs,omitempty"`
	// TPM runs the flow with key_store: tpm on a swtpm of its own, at the
	// persistent handle TPMHandle when set. The TPM's state lies outside
	// the state directory: every check starts from it as the recording
	// left it, as it does from the fleetsim folder.
	TPM       bool   `json:"tpm,omitempty"`
	TPMHandle string `json:"tpmHandle,omitempty"`
	// Attest (a TPM flow) attests with tpm2-certify: the factory script
	// puts an AK in the TPM before the recording, attest-hook --listen is
	// the template's hook, and every check also asks that the AK is still
	// at its handle.
	Attest bool `json:"attest,omitempty"`
	// ClaimImport configures claim: {source: import}: the daemon awaits a
	// temporary claim, which the script imports (the fleet's claim pair
	// stands in for one). A state cut before the import's drop was durable
	// is one whose installer never saw success: the check imports again.
	ClaimImport bool `json:"claimImport,omitempty"`
	// PKCS11 runs the flow with key_store: pkcs11 on a softhsm2 token
	// whose token folder is in the state directory (see tokenFolder): the
	// token's files are cut with the daemon's, and every check also asks
	// that the token holds the identity's pair and no other key.
	PKCS11 bool `json:"pkcs11,omitempty"`
}

// revokeHandedOver revokes the certificate credentials.json names, as an
// operator would with aws iot update-certificate.
const revokeHandedOver = `id=$(sed -n 's/.*"certificateId": *"\([0-9a-f]*\)".*/\1/p' "$S/credentials.json"); ` +
	`curl -sf -X PUT "$A/certificates/$id?newStatus=REVOKED" >/dev/null; `

const (
	startDaemon = `"$P" run --config "$C" 2>/dev/null & d=$!; "$P" wait --config "$C" --timeout 60s >/dev/null; `
	stopDaemon  = `kill -TERM $d; wait $d`
	reprovision = `"$P" reprovision --config "$C" --wait 60s >/dev/null; `
	// restoreDuringReprovision removes credentials.json once the
	// reprovision request is in the folder, while the daemon serves it:
	// the restore and the new identity race for the handoff.
	restoreDuringReprovision = `"$P" reprovision --config "$C" --wait 60s >/dev/null & r=$!; ` +
		`while [ ! -e "$S/reprovision.request" ]; do sleep 0.005; done; rm -f "$S/credentials.json"; wait $r; ` +
		`"$P" wait --config "$C" --timeout 60s >/dev/null; `
)

// The temporary claim: the daemon is started idle (awaiting a claim), and
// the installer's import waits for the outcome; or the claim is imported
// while the daemon is stopped.
const (
	startAwaitingClaim = `"$P" run --config "$C" 2>/dev/null & d=$!; ` +
		`until "$P" status --config "$C" 2>/dev/null | grep -q "awaiting a temporary claim"; do sleep 0.01; done; `
	importPair = `cat "$F/claim.pem.crt" "$F/claim.pem.key" | "$P" claim import - --config "$C"`
)

// tpmHandle is the persistent handle of the TPM flows that set one.
const tpmHandle = "0x81000101"

// Flows are the recorded flows.
var Flows = []Flow{
	{Name: "csr", Method: "csr", Script: startDaemon + stopDaemon},
	{Name: "create-keys", Method: "create-keys", Script: startDaemon + stopDaemon},
	// Larger keys span more blocks: more ways for un-synced data to be cut.
	{Name: "csr-ec-p384", Method: "csr", KeyType: "ec-p384", Script: startDaemon + stopDaemon},
	{Name: "csr-rsa-2048", Method: "csr", KeyType: "rsa-2048", Script: startDaemon + stopDaemon},
	{Name: "csr-rsa-3072", Method: "csr", KeyType: "rsa-3072", Script: startDaemon + stopDaemon},
	{Name: "reprovision", Method: "csr", Setup: true, Script: startDaemon + reprovision + stopDaemon},
	{Name: "reprovision-create-keys", Method: "create-keys", Setup: true, Script: startDaemon + reprovision + stopDaemon},
	// The second new identity removes the first: the one before the
	// previous, which no consumer may still hold.
	{Name: "reprovision-twice", Method: "csr", Setup: true, Script: startDaemon + reprovision + reprovision + stopDaemon},
	// create-keys identities hold the key the service sent; their removal
	// is recorded too.
	{Name: "reprovision-create-keys-thrice", Method: "create-keys", Setup: true,
		Script: startDaemon + reprovision + reprovision + reprovision + stopDaemon},
	{Name: "restore", Method: "csr", Setup: true,
		Script: startDaemon + `rm "$S/credentials.json"; sleep 0.3; "$P" wait --config "$C" --timeout 60s >/dev/null; ` + stopDaemon},
	{Name: "restore-during-reprovision", Method: "csr", Setup: true, Script: startDaemon + restoreDuringReprovision + stopDaemon},
	// TPM keys: the key file is a TSS2 PEM; with a handle the key is made
	// persistent before the handoff names it, and a retired identity's
	// key is evicted from it.
	{Name: "csr-tpm", Method: "csr", TPM: true, Script: startDaemon + stopDaemon},
	{Name: "csr-tpm-handle", Method: "csr", TPM: true, TPMHandle: tpmHandle, Script: startDaemon + stopDaemon},
	// Device attestation: the daemon certifies its new key with the AK
	// between CreateCertificateFromCsr and RegisterThing; it must never
	// remove or replace the AK, whatever the cut.
	{Name: "csr-tpm-attest", Method: "csr", TPM: true, Attest: true, Script: startDaemon + stopDaemon},
	{Name: "reprovision-tpm-attest", Method: "csr", TPM: true, Attest: true, Setup: true, Script: startDaemon + reprovision + stopDaemon},
	{Name: "reprovision-tpm-handle-twice", Method: "csr", TPM: true, TPMHandle: tpmHandle, Setup: true,
		Script: startDaemon + reprovision + reprovision + stopDaemon},
	// The daemon rotates by itself: certificates valid for 5 s, a new one
	// 2 s before expiry, no jitter (fleetsim backdates notBefore, so a
	// share of the lifetime would make every new certificate due at once).
	{Name: "rotation", Method: "csr", Setup: true,
		Config:    "rotation: {before_expiry: 2s, jitter: \"0\"}\n",
		ServeArgs: []string{"--certificate-validity", "5s"},
		Script:    startDaemon + `sleep 3; ` + stopDaemon},
	// Rotation with the service making the key, and with the key in the
	// TPM at a handle: each rotation's new key takes the handle.
	{Name: "rotation-create-keys", Method: "create-keys", Setup: true,
		Config:    "rotation: {before_expiry: 2s, jitter: \"0\"}\n",
		ServeArgs: []string{"--certificate-validity", "5s"},
		Script:    startDaemon + `sleep 3; ` + stopDaemon},
	{Name: "rotation-tpm-handle", Method: "csr", TPM: true, TPMHandle: tpmHandle, Setup: true,
		Config:    "rotation: {before_expiry: 2s, jitter: \"0\"}\n",
		ServeArgs: []string{"--certificate-validity", "5s"},
		Script:    startDaemon + `sleep 3; ` + stopDaemon},
	// The service revokes the identity (over its API) and a consumer asks
	// for a check: the refused identity is replaced, make-before-break.
	{Name: "revoked-if-refused", Method: "csr", Setup: true,
		Script: startDaemon + revokeHandedOver + `"$P" reprovision --if-refused --config "$C" --wait 60s >/dev/null; ` + stopDaemon},
	// Certificates that expire before the checks start: a cut in
	// cert-pending leaves a new certificate that expires before it is
	// proven, which the daemon must give up for a new one.
	{Name: "csr-short-lived", Method: "csr", ServeArgs: []string{"--certificate-validity", "3s"},
		Script: startDaemon + `sleep 4; ` + stopDaemon},
	// A temporary claim from a trusted user: imported while the daemon
	// awaits one, or before it starts. Once the import's drop is durable the
	// claim must never be lost before it is used, and once used it goes.
	{Name: "claim-import", Method: "csr", ClaimImport: true,
		Script: startAwaitingClaim + importPair + ` --wait 60s >/dev/null 2>&1; ` + stopDaemon},
	{Name: "claim-import-stopped", Method: "csr", ClaimImport: true,
		Script: importPair + ` 2>/dev/null; ` + startDaemon + stopDaemon},
}

// NamedOnlyFlows run only when named (-flows). The PKCS#11 flow alone has
// more states than all the others (softhsm2 rewrites an object file for
// each attribute it sets), so a sample of every flow would be mostly its.
var NamedOnlyFlows = []Flow{
	// A key made in a PKCS#11 token: its CKA_ID is saved before the
	// token makes the pair, and the token's folder is part of the disk.
	{Name: "csr-pkcs11", Method: "csr", PKCS11: true, Script: startDaemon + stopDaemon},
	// A reprovision with the key in the token: the new pair is made while
	// the handed-over one is in use, which is kept once retired, and the
	// identity before it is destroyed in the token.
	{Name: "reprovision-pkcs11", Method: "csr", PKCS11: true, Setup: true, Script: startDaemon + reprovision + reprovision + stopDaemon},
}

// FlowByName returns the named flow.
func FlowByName(name string) (Flow, bool) {
	for _, f := range append(Flows, NamedOnlyFlows...) {
		if f.Name == name {
			return f, true
		}
	}
	return Flow{}, false
}
