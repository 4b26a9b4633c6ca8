package fleetsim

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"
)

// Every kind of claim (init's first and second, a provisioning claim) is refused at
// CONNECT once INACTIVE, REVOKED or deleted, and its open connection is closed.
func TestClaimsRefusedOnceInactiveRevokedOrDeleted(t *testing.T) {
	for _, change := range []string{"INACTIVE", "REVOKED", "deleted"} {
		t.Run(change, func(t *testing.T) {
			dir := t.TempDir()
			if err := Init(dir, InitOptions{Claims: 2}); err != nil {
				t.Fatal(err)
			}
			s := startAPI(t, dir, nil)
			api := sdkClient(s, testSecret)
			ctx := context.Background()
			pc, err := api.CreateProvisioningClaim(ctx, &iot.CreateProvisioningClaimInput{TemplateName: aws.String(DemoTemplate)})
			if err != nil {
				t.Fatal(err)
			}
			claims := map[string]*tls.Config{
				"claim.pem.crt":      claimTLS(t, dir),
				"claim2.pem.crt":     clientTLS(t, dir, "claim2.pem.crt", "claim2.pem.key"),
				"provisioning claim": pairTLS(t, dir, aws.ToString(pc.CertificatePem), aws.ToString(pc.KeyPair.PrivateKey)),
			}
			for name, cfg := range claims {
				c, lost := dialWatched(t, s.Addr(), cfg, "before-"+strings.ReplaceAll(name, " ", "-"))
				id := certificateID(cfg.Certificates[0].Certificate[0])
				status := types.CertificateStatus(change)
				if change == "deleted" {
					status = types.CertificateStatusInactive
				}
				if _, err := api.UpdateCertificate(ctx, &iot.UpdateCertificateInput{CertificateId: aws.String(id), NewStatus: status}); err != nil {
					t.Fatalf("%s: UpdateCertificate %s: %v", name, status, err)
				}
				wantLost(t, lost, name+": its connection stayed open once "+string(status))
				c.Disconnect(0)
				if change == "deleted" {
					if _, err := api.DeleteCertificate(ctx, &iot.DeleteCertificateInput{CertificateId: aws.String(id), ForceDelete: true}); err != nil {
						t.Fatalf("%s: DeleteCertificate: %v", name, err)
					}
				}
				if c, err := tryDial(s.Addr(), cfg, "after", nil); err == nil {
					c.Disconnect(0)
					t.Fatalf("%s connected once %s", name, change)
				} else if !strings.Contains(err.Error(), "not Authorized") && !strings.Contains(err.Error(), "bad user name or password") {
					t.Errorf("%s once %s: %v, want a CONNACK refusal", name, change, err)
				}
			}
		})
	}
}

// init --claims 2 --expired-claims 1: the first claim is refused at the TLS handshake,
// the second provisions, and provisiond.yaml lists both in order.
func TestInitExpiredFirstClaim(t *testing.T) {
	dir := t.TempDir()
	if err := Init(dir, InitOptions{Claims: 2, ExpiredClaims: 1}); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join(dir, "provisiond.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := "claim:\n  - certificate: claim.pem.crt\n    private_key: claim.pem.key\n  - certificate: claim2.pem.crt\n    private_key: claim2.pem.key\ntemplate:"
	if !strings.Contains(string(cfg), want) {
		t.Fatalf("provisiond.yaml:\n%s\nwant the list form\n%s", cfg, want)
	}
	s := start(t, dir, nil)
	if c, err := tryDial(s.Addr(), claimTLS(t, dir), "expired", nil); err == nil {
		c.Disconnect(0)
		t.Fatal("the expired claim connected")
	}
	c := dial(t, s.Addr(), clientTLS(t, dir, "claim2.pem.crt", "claim2.pem.key"), "second")
	provisionCSR(t, c, "json", "0002")
	reg := s.Snapshot()
	for i, file := range []string{"claim.pem.crt", "claim2.pem.crt"} {
		id := certificateID(clientTLS(t, dir, file, strings.Replace(file, ".crt", ".key", 1)).Certificates[0].Certificate[0])
		c, _ := findCert(reg, id)
		if c.Kind != KindClaim || c.ThingsRegistered == nil || *c.ThingsRegistered != i {
			t.Errorf("%s: %+v, want a claim that registered %d things", file, c, i)
		}
	}
}

// An empty folder: no claim, no template, no provisiond.yaml.
func TestInitEmpty(t *testing.T) {
	dir := t.TempDir()
	if err := Init(dir, InitOptions{NoClaim: true, NoTemplate: true}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"provisiond.yaml", "claim.pem.crt", filepath.Join("templates", DemoTemplate+".json")} {
		if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Errorf("%s: %v, want none", f, err)
		}
	}
	s := start(t, dir, nil)
	if r := s.Snapshot(); len(r.Certificates) != 0 || len(r.Policies) != 0 || s.templates.len() != 0 {
		t.Errorf("registry %+v and %d templates, want nothing", r, s.templates.len())
	}
}
