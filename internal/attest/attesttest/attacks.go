package attesttest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"

	"github.com/provisiond/provisiond/internal/attest"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
)

// Template and ClientID are those of the scenarios' provisionings.
const (
	Template = "GatewayTemplate"
	ClientID = "gateway-0001"
)

// Attack is a provisioning that a hook must deny, and the check that
// denies it.
type Attack struct {
	Name  string
	Event attest.Event
	Check attest.Check
}

// Scenario is one format's good provisioning and the attacks on it.
type Scenario struct {
	OEM, Service, Rogue *CA
	Unit                *Unit
	// Good is an event the hook allows, naming the thing Unit.Serial.
	Good    attest.Event
	Attacks []Attack
}

func newKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// flipped is sig with one bit changed.
func flipped(s attest.Statement) attest.Statement {
	s.Signature = bytes.Clone(s.Signature)
	s.Signature[len(s.Signature)-1] ^= 1
	return s
}

// expiredChain is the unit's manufacturer certificate issued again by the
// OEM, for the same key, expired yesterday.
func expiredChain(tb testing.TB, oem *CA, u *Unit) [][]byte {
	tb.Helper()
	cert, err := x509.ParseCertificate(u.Chain[0])
	if err != nil {
		tb.Fatal(err)
	}
	return [][]byte{oem.Issue(tb, cert.PublicKey, cert.Subject, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))}
}

// SignatureScenario makes a signature-format unit with the factory script
// and the attacks of the threat model on it.
func SignatureScenario(tb testing.TB) *Scenario {
	tb.Helper()
	sc := &Scenario{OEM: NewCA(tb, "Test OEM Root"), Service: NewCA(tb, "AWS IoT stand-in"), Rogue: NewCA(tb, "Rogue CA")}
	u := SignatureUnit(tb, sc.OEM, "SN-SIG-0001")
	sc.Unit = u
	deviceKey := newKey(tb)
	first := NewProvisioning(tb, sc.Service, deviceKey.Public(), Template, ClientID)
	stmt := u.Sign(tb, first.Message)
	sc.Good = first.With(tb, stmt)

	again := NewProvisioning(tb, sc.Service, deviceKey.Public(), Template, ClientID)
	other := NewProvisioning(tb, sc.Service, newKey(tb).Public(), Template, "gateway-0002")
	rogueKey := newKey(tb)
	uncertified, err := attest.SignStatement(rogueKey, u.Chain, first.Message)
	if err != nil {
		tb.Fatal(err)
	}
	rogueUnit := SignatureUnit(tb, sc.Rogue, "SN-SIG-0001")
	expired := *u
	expired.Chain = expiredChain(tb, sc.OEM, u)
	sc.Attacks = []Attack{
		{"claim used without attestation", first.Event, attest.CheckFormat},
		{"statement replayed from an earlier provisioning", again.With(tb, stmt), attest.CheckMessage},
		{"statement for another device's key", other.With(tb, stmt), attest.CheckCertifiedKey},
		{"signed by a key the OEM did not certify", first.With(tb, uncertified), attest.CheckSignature},
		{"forged signature", first.With(tb, flipped(stmt)), attest.CheckSignature},
		{"manufacturer certificate from another CA", first.With(tb, rogueUnit.Sign(tb, first.Message)), attest.CheckChain},
		{"expired manufacturer certificate", first.With(tb, expired.Sign(tb, first.Message)), attest.CheckChain},
	}
	return sc
}

// TPMScenario makes a tpm2-certify unit with the factory script on the TPM
// at device (tcti for tpm2-tools) and the attacks of the threat model on it.
// It opens the TPM itself, and closes it before returning.
func TPMScenario(tb testing.TB, device, tcti string) *Scenario {
	tb.Helper()
	sc := &Scenario{OEM: NewCA(tb, "Test OEM Root"), Service: NewCA(tb, "AWS IoT stand-in"), Rogue: NewCA(tb, "Rogue CA")}
	u := TPMUnit(tb, sc.OEM, "SN-TPM-0001", device, tcti, 0x81020000)
	sc.Unit = u
	// An AK in the same TPM that the OEM never certified; the rogue CA
	// certified it instead.
	rogueUnit := TPMUnit(tb, sc.Rogue, "SN-TPM-0001", device, tcti, 0x81020001)

	t, err := tpmkey.Open(tpmkey.Settings{Device: device})
	if err != nil {
		tb.Fatal(err)
	}
	defer t.Close()
	deviceKey, err := t.CreateKey("ec-p256")
	if err != nil {
		tb.Fatal(err)
	}
	otherKey, err := t.CreateKey("ec-p256")
	if err != nil {
		tb.Fatal(err)
	}
	first := NewProvisioning(tb, sc.Service, deviceKey.Public(), Template, ClientID)
	stmt := u.Certify(tb, t, deviceKey, first.Message)
	sc.Good = first.With(tb, stmt)

	again := NewProvisioning(tb, sc.Service, deviceKey.Public(), Template, ClientID)
	other := NewProvisioning(tb, sc.Service, otherKey.Public(), Template, "gateway-0002")
	uncertified := rogueUnit.Certify(tb, t, deviceKey, first.Message)
	uncertified.Chain = u.Chain
	expired := *u
	expired.Chain = expiredChain(tb, sc.OEM, u)

	outside := newKey(tb)
	imported := NewProvisioning(tb, sc.Service, outside.Public(), Template, ClientID)
	att, sig, pub := certifyExternal(tb, t, outside, u.AK, imported.Message.Digest())
	importedStmt := attest.Statement{Format: attest.FormatTPM2Certify, Chain: u.Chain, Statement: att, Signature: sig, Key: pub}

	sc.Attacks = []Attack{
		{"claim used without attestation", first.Event, attest.CheckFormat},
		{"statement replayed from an earlier provisioning", again.With(tb, stmt), attest.CheckMessage},
		{"statement for another device's key", other.With(tb, stmt), attest.CheckCertifiedKey},
		{"key certified by a TPM whose AK the OEM did not certify", first.With(tb, uncertified), attest.CheckSignature},
		{"device key made outside the TPM and imported (not fixedTPM)", imported.With(tb, importedStmt), attest.CheckAttributes},
		{"forged signature", first.With(tb, flipped(stmt)), attest.CheckSignature},
		{"manufacturer certificate from another CA", first.With(tb, rogueUnit.Certify(tb, t, deviceKey, first.Message)), attest.CheckChain},
		{"expired manufacturer certificate", first.With(tb, expired.Certify(tb, t, deviceKey, first.Message)), attest.CheckChain},
	}
	return sc
}

// certifyExternal is the attacker's move: load a key made outside into the
// TPM (TPM2_LoadExternal, which leaves fixedTPM and fixedParent clear) and
// have the genuine AK certify it.
func certifyExternal(tb testing.TB, t *tpmkey.TPM, key *ecdsa.PrivateKey, ak tpm2.TPMHandle, qualifyingData []byte) (att, sig, pub []byte) {
	tb.Helper()
	conn := t.Raw()
	ecdhKey, err := key.ECDH()
	if err != nil {
		tb.Fatal(err)
	}
	x, y, err := tpm2.ECCPoint(ecdhKey.PublicKey())
	if err != nil {
		tb.Fatal(err)
	}
	public := tpm2.TPMTPublic{
		Type:             tpm2.TPMAlgECC,
		NameAlg:          tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{UserWithAuth: true, SignEncrypt: true},
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
			CurveID: tpm2.TPMECCNistP256,
			Scheme:  tpm2.TPMTECCScheme{Scheme: tpm2.TPMAlgNull},
			KDF:     tpm2.TPMTKDFScheme{Scheme: tpm2.TPMAlgNull},
		}),
		Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{
			X: tpm2.TPM2BECCParameter{Buffer: x.FillBytes(make([]byte, 32))},
			Y: tpm2.TPM2BECCParameter{Buffer: y.FillBytes(make([]byte, 32))},
		}),
	}
	d, err := key.Bytes()
	if err != nil {
		tb.Fatal(err)
	}
	sensitive := tpm2.TPMTSensitive{
		SensitiveType: tpm2.TPMAlgECC,
		Sensitive: tpm2.NewTPMUSensitiveComposite(tpm2.TPMAlgECC,
			&tpm2.TPM2BECCParameter{Buffer: d}),
	}
	loaded, err := tpm2.LoadExternal{
		InPrivate: tpm2.New2B(sensitive),
		InPublic:  tpm2.New2B(public),
		Hierarchy: tpm2.TPMRHNull,
	}.Execute(conn)
	if err != nil {
		tb.Fatalf("load the outside key: %v", err)
	}
	defer tpm2.FlushContext{FlushHandle: loaded.ObjectHandle}.Execute(conn) //nolint:errcheck // cleanup
	akPub, err := tpm2.ReadPublic{ObjectHandle: ak}.Execute(conn)
	if err != nil {
		tb.Fatal(err)
	}
	rsp, err := tpm2.Certify{
		ObjectHandle:   tpm2.AuthHandle{Handle: loaded.ObjectHandle, Name: loaded.Name, Auth: tpm2.PasswordAuth(nil)},
		SignHandle:     tpm2.AuthHandle{Handle: ak, Name: akPub.Name, Auth: tpm2.PasswordAuth(nil)},
		QualifyingData: tpm2.TPM2BData{Buffer: qualifyingData},
		InScheme:       tpm2.TPMTSigScheme{Scheme: tpm2.TPMAlgNull},
	}.Execute(conn)
	if err != nil {
		tb.Fatalf("certify the outside key: %v", err)
	}
	return rsp.CertifyInfo.Bytes(), tpm2.Marshal(rsp.Signature), tpm2.Marshal(public)
}
