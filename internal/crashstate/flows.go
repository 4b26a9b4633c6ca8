package crashstate

// Flow is one recorded provisioning: how the daemon is configured, whether
// the device is provisioned first (outside the recording), and the script
// recorded under strace. The script runs in sh with $P the provisiond
// binary, $C its config and $S the state directory. A new flow (rotation,
// a TPM key store) is one more line in Flows.
type Flow struct {
	Name    string
	Method  string // certificate_method
	KeyType string // key_type, CSR only; ec-p256 when empty
	Setup   bool   // provision before recording
	Script  string
}

const (
	startDaemon = `"$P" run --config "$C" 2>/dev/null & d=$!; "$P" wait --config "$C" --timeout 60s >/dev/null; `
	stopDaemon  = `kill -TERM $d; wait $d`
)

// Flows are the recorded flows.
var Flows = []Flow{
	{Name: "csr", Method: "csr", Script: startDaemon + stopDaemon},
	{Name: "create-keys", Method: "create-keys", Script: startDaemon + stopDaemon},
	// Larger keys span more blocks: more ways for un-synced data to be cut.
	{Name: "csr-ec-p384", Method: "csr", KeyType: "ec-p384", Script: startDaemon + stopDaemon},
	{Name: "csr-rsa-2048", Method: "csr", KeyType: "rsa-2048", Script: startDaemon + stopDaemon},
	{Name: "csr-rsa-3072", Method: "csr", KeyType: "rsa-3072", Script: startDaemon + stopDaemon},
	{Name: "reprovision", Method: "csr", Setup: true,
		Script: startDaemon + `"$P" reprovision --config "$C" --wait 60s >/dev/null; ` + stopDaemon},
	{Name: "reprovision-create-keys", Method: "create-keys", Setup: true,
		Script: startDaemon + `"$P" reprovision --config "$C" --wait 60s >/dev/null; ` + stopDaemon},
	// The second new identity removes the first: the one before the
	// previous, which no consumer may still hold.
	{Name: "reprovision-twice", Method: "csr", Setup: true,
		Script: startDaemon + `"$P" reprovision --config "$C" --wait 60s >/dev/null; "$P" reprovision --config "$C" --wait 60s >/dev/null; ` + stopDaemon},
	{Name: "restore", Method: "csr", Setup: true,
		Script: startDaemon + `rm "$S/credentials.json"; sleep 0.3; "$P" wait --config "$C" --timeout 60s >/dev/null; ` + stopDaemon},
}

// FlowByName returns the named flow.
func FlowByName(name string) (Flow, bool) {
	for _, f := range Flows {
		if f.Name == name {
			return f, true
		}
	}
	return Flow{}, false
}
