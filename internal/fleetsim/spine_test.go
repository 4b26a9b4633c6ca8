package fleetsim

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestProvisionWithCSRThenConnectAsDevice(t *testing.T) {
	for _, format := range []string{"json", "cbor"} {
		t.Run(format, func(t *testing.T) {
			dir := newDir(t)
			s := start(t, dir, nil)
			c := dial(t, s.Addr(), claimTLS(t, dir), "claim-"+format)
			key, iss, reg := provisionCSR(t, c, format, "0001")

			cert, err := parseCertPEM([]byte(iss.CertificatePEM))
			if err != nil {
				t.Fatalf("certificatePem: %v", err)
			}
			sum := sha256.Sum256(cert.Raw)
			if iss.CertificateID != hex.EncodeToString(sum[:]) {
				t.Errorf("certificateId %s is not the SHA-256 of the DER", iss.CertificateID)
			}
			if cert.Subject.CommonName != "AWS IoT Certificate" || cert.IsCA ||
				!cert.NotAfter.Equal(time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC)) {
				t.Errorf("issued certificate: subject %q, CA %v, NotAfter %v", cert.Subject, cert.IsCA, cert.NotAfter)
			}
			if reg.ThingName != "gw-0001" || reg.DeviceConfiguration["FallbackUrl"] == "" {
				t.Errorf("RegisterThing answered %+v", reg)
			}
			snap := s.Snapshot()
			rc, ok := findCert(snap, iss.CertificateID)
			if !ok || rc.Status != StatusActive || rc.ThingName != "gw-0001" || rc.Kind != KindDevice {
				t.Errorf("registry certificate %+v (found %v)", rc, ok)
			}
			th, ok := findThing(snap, "gw-0001")
			if !ok || !slices.Contains(th.Certificates, iss.CertificateID) || th.Attributes["serialNumber"] != "0001" {
				t.Errorf("registry thing %+v (found %v)", th, ok)
			}
			c.Disconnect(0)
			// The device connects with its new identity.
			d := dial(t, s.Addr(), deviceTLS(t, dir, key, iss.CertificatePEM), "gw-0001")
			d.Disconnect(0)
		})
	}
}

func TestRegistrySurvivesRestart(t *testing.T) {
	dir := newDir(t)
	s := start(t, dir, nil)
	c := dial(t, s.Addr(), claimTLS(t, dir), "claim")
	key, iss, _ := provisionCSR(t, c, "json", "0042")
	c.Disconnect(0)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	onDisk, err := ReadRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := findCert(onDisk, iss.CertificateID); !ok || got.Status != StatusActive {
		t.Fatalf("registry.json after Close: certificate %+v found %v", got, ok)
	}
	s2 := start(t, dir, nil)
	if _, ok := findThing(s2.Snapshot(), "gw-0042"); !ok {
		t.Fatal("thing gw-0042 lost across restart")
	}
	d := dial(t, s2.Addr(), deviceTLS(t, dir, key, iss.CertificatePEM), "gw-0042")
	d.Disconnect(0)
}

func TestKeepCSRSubject(t *testing.T) {
	dir := newDir(t)
	s := start(t, dir, func(o *Options) { o.KeepCSRSubject = true })
	c := dial(t, s.Addr(), claimTLS(t, dir), "keep")
	_, csr := newCSR(t) // subject CN=device
	var iss issued
	wantAccepted(t, "json", call(t, c, "$aws/certificates/create-from-csr/json",
		marshal(t, "json", map[string]string{"certificateSigningRequest": csr})), &iss)
	cert, err := parseCertPEM([]byte(iss.CertificatePEM))
	if err != nil || cert.Subject.CommonName != "device" {
		t.Fatalf("subject %v, %v", cert.Subject, err)
	}
}

func TestInitEndpoint(t *testing.T) {
	for listen, want := range map[string]string{
		"127.0.0.1:8883":  "endpoint: 127.0.0.1:8883\n",
		"0.0.0.0:9000":    "endpoint: 127.0.0.1:9000\n",
		":8883":           "endpoint: 127.0.0.1:8883\n",
		"gw.example:8883": "endpoint: gw.example:8883\n",
	} {
		dir := t.TempDir()
		if err := Init(dir, InitOptions{Listen: listen}); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, "provisiond.yaml"))
		if err != nil || !strings.Contains(string(b), want) {
			t.Errorf("listen %s: provisiond.yaml %q lacks %q (%v)", listen, b, want, err)
		}
	}
	dir := newDir(t)
	if err := Init(dir, InitOptions{}); err == nil || !strings.Contains(err.Error(), "ca.pem") {
		t.Errorf("second Init: %v", err)
	}
	if err := Init(t.TempDir(), InitOptions{Listen: "no-port"}); err == nil {
		t.Error("Init accepted a listen address without a port")
	}
}
