package crashstate

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/keypair/p11key/p11test"
	"github.com/provisiond/provisiond/internal/testtool"
)

// The token is judged from pkcs11-tool's listing: the identity's pair
// alone, named as credentials.json names it, the certificate's key.
func TestTokenHoldsTheIdentitysPairAlone(t *testing.T) {
	mine, other := newKey(t), newKey(t)
	dir := t.TempDir()
	certFile := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(certFile, certFor(t, mine), 0o600); err != nil {
		t.Fatal(err)
	}
	h := handoff{CertificateID: "c0ffee", CertificateFile: certFile, PKCS11KeyLabel: "provisiond-1"}
	point := func(k []byte) string { return "0441" + hex.EncodeToString(k) }
	minePoint, _ := mine.PublicKey.Bytes()
	otherPoint, _ := other.PublicKey.Bytes()
	pair := func(label, id, ec string) string {
		return "Private Key Object; EC\n  label:      " + label + "\n  ID:         " + id + "\n  Usage:      sign\n" +
			"Public Key Object; EC  EC_POINT 256 bits\n  EC_POINT:   " + ec + "\n  label:      " + label + "\n  ID:         " + id + "\n"
	}
	retiredPair := pair("provisiond-0", "a1", point(otherPoint))
	for _, tc := range []struct {
		name, listing, retired, fault string
	}{
		{"its pair", pair("provisiond-1", "b720", point(minePoint)), "", ""},
		{"another key as well", pair("provisiond-1", "b720", point(minePoint)) + "Private Key Object; EC\n  Usage: sign\n", "", "2 private and 1 public"},
		{"no key", "", "", "0 private"},
		{"another label", pair("provisiond-2", "b720", point(minePoint)), "", `credentials.json names "provisiond-1"`},
		{"another key", pair("provisiond-1", "b720", point(otherPoint)), "", "not certificate c0ffee's"},
		{"half another pair", strings.Replace(pair("provisiond-1", "b720", point(minePoint)), "ID:         b720\n  Usage", "ID:         01\n  Usage", 1), "", "has id b720"},
		{"its pair and the retired identity's", pair("provisiond-1", "b720", point(minePoint)) + retiredPair, "provisiond-0", ""},
		{"the retired identity's pair, not retired", pair("provisiond-1", "b720", point(minePoint)) + retiredPair, "", "2 private and 2 public"},
		{"the retired identity's key twice", pair("provisiond-1", "b720", point(minePoint)) + retiredPair + retiredPair, "provisiond-0", `2 private keys labelled "provisiond-0"`},
		{"the retired identity's pair alone", retiredPair, "provisiond-0", "0 private"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseObjects(tc.listing).judge(h, tc.retired)
			if tc.fault == "" && got != "" || !strings.Contains(got, tc.fault) {
				t.Errorf("got %q, want %q", got, tc.fault)
			}
		})
	}
}

// A token file is torn when a cut left it as softhsm2 never meant it to
// be read: an object between two of its attribute rewrites, or the
// token's own file emptied. Lock files and other folders are not judged.
func TestTornTokenFileIsSofthsm2sOwnLoss(t *testing.T) {
	obj, tok := tokenFolder+"/t/k.object", tokenFolder+"/t/token.object"
	initial := &Tree{Files: map[string][]byte{tok: []byte("token-v1")}, Dirs: map[string]bool{"": true}}
	final := &Tree{Files: map[string][]byte{tok: []byte("token-v3"), obj: []byte("object-whole")}, Dirs: map[string]bool{"": true}}
	ops := []Op{
		{Kind: Write, Path: tok, Off: 0, Data: []byte("token-v2")},
		{Kind: Write, Path: obj, Off: 0, Data: []byte("object-half")},
		{Kind: Write, Path: tok, Off: 0, Data: []byte("token-v3")},
	}
	whole := wholeTokenFiles(initial, final, ops)
	for _, tc := range []struct {
		files map[string][]byte
		torn  string
	}{
		{map[string][]byte{tok: []byte("token-v2"), obj: []byte("object-whole")}, ""},
		{map[string][]byte{tok: []byte("token-v1")}, ""},
		{map[string][]byte{tok: []byte("token-v3"), obj: []byte("object-half")}, obj},
		{map[string][]byte{tok: nil}, tok},
		{map[string][]byte{tok: []byte("token-v1"), tokenFolder + "/t/k.lock": nil, "state.json": []byte("{")}, ""},
	} {
		if got := tornTokenFile(&Tree{Files: tc.files}, whole); got != tc.torn {
			t.Errorf("%v: torn %q, want %q", tc.files, got, tc.torn)
		}
	}
}

// The daemon with key_store: pkcs11 on softhsm2, the token's folder cut
// with the state directory, for each PKCS#11 flow (a first provisioning,
// and reprovisions that retire a pair in the token and destroy the one
// before it): no sampled state fails, every state not recovered is one
// whose token softhsm2 itself tore, and some state recovers. About two
// states in three are torn, so the last is asked of all the samples
// together: 24 states all torn is a chance of about 1 in 60,000, where 8
// of one flow all torn is 1 in 40.
func TestRealDaemonRecoversFromASampleOfPKCS11CrashStates(t *testing.T) {
	tools := buildTools(t)
	tools.SoftHSM2Util = testtool.Need(t, "softhsm2-util", "softhsm2")
	tools.PKCS11Tool = testtool.Need(t, "pkcs11-tool", "opensc")
	tools.PKCS11Module = p11test.Library(t, "softhsm/libsofthsm2.so", "softhsm2")
	const sample = 12
	recovered := 0
	for _, flow := range NamedOnlyFlows {
		t.Run(flow.Name, func(t *testing.T) {
			var log strings.Builder
			tallies, err := Explore(Options{Tools: tools, Base: t.TempDir(), Flows: []Flow{flow}, Models: Models, Limit: 8,
				Seed: 1, Sample: sample, Parallel: 2, Fixtures: t.TempDir(), Timeout: 30 * time.Second, Out: &log})
			if err != nil {
				t.Fatalf("%v\n%s", err, log.String())
			}
			var sum Tally
			for _, tl := range tallies {
				add(&sum, tl)
				sum.TokenTorn += tl.TokenTorn
			}
			if sum.Checked != sample || sum.Failed != 0 || sum.Recovered+sum.TokenTorn != sum.Checked {
				t.Fatalf("%d checked, %d recovered, %d torn by softhsm2, %d failed:\n%s", sum.Checked, sum.Recovered, sum.TokenTorn, sum.Failed, log.String())
			}
			recovered += sum.Recovered
			t.Log(log.String())
		})
	}
	if recovered == 0 {
		t.Fatalf("none of the %d states of %d flows recovered: every one was torn by softhsm2, so the sample judged nothing", sample*len(NamedOnlyFlows), len(NamedOnlyFlows))
	}
}
