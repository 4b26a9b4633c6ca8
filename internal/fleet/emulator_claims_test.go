package fleet_test

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/clock"
	"github.com/provisiond/provisiond/internal/fleet"
	"github.com/provisiond/provisiond/internal/fleetsim"
)

// apiCall sends one request to the emulator's API (no credentials asked) and decodes
// the answer into out (nil: none), failing the test unless it is a 200.
func apiCall(t *testing.T, e *emulator, method, path string, out any) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+e.srv.APIAddr()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s", method, path, resp.Status)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
}

// The daemon's client reads a claim the service no longer accepts as a refusal (so
// that it moves to its next claim): a provisioning claim past its expiration (a TLS
// alert) and a claim made INACTIVE (CONNACK not authorized).
func TestEmulatorClaimsRefused(t *testing.T) {
	clk := clock.NewFake(false)
	clk.Jump(time.Since(clk.Now()))
	e := startEmulatorEdit(t, func(o *fleetsim.Options) {
		o.Clock = clk
		o.APIListen = "127.0.0.1:0"
	})
	var pc struct {
		CertificateID  string `json:"certificateId"`
		CertificatePem string `json:"certificatePem"`
		KeyPair        struct{ PrivateKey string }
	}
	apiCall(t, e, http.MethodPost, "/provisioning-templates/"+fleetsim.DemoTemplate+"/provisioning-claim", &pc)
	temporary, err := tls.X509KeyPair([]byte(pc.CertificatePem), []byte(pc.KeyPair.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	o := e.options(t, fleet.JSON)
	o.Certificate = temporary
	c := e.dial(t, o)
	_ = c.Close()

	clk.Advance(fleetsim.DefaultProvisioningClaimValidity + time.Second)
	_, err = fleet.Dial(ctxFor(t), o)
	if reason, refused := fleet.Refused(err); !refused {
		t.Fatalf("an expired provisioning claim: %v; Refused = false, want the service's refusal", err)
	} else {
		t.Logf("expired provisioning claim: %s", reason)
	}

	sum := sha256.Sum256(e.claim.Certificate[0])
	claimID := hex.EncodeToString(sum[:])
	apiCall(t, e, http.MethodPut, "/certificates/"+claimID+"?newStatus=INACTIVE", nil)
	_, err = fleet.Dial(ctxFor(t), e.options(t, fleet.JSON))
	if reason, refused := fleet.Refused(err); !refused {
		t.Fatalf("an INACTIVE claim: %v; Refused = false, want the service's refusal", err)
	} else {
		t.Logf("INACTIVE claim: %s", reason)
	}
}
