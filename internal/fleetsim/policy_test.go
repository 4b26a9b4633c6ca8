package fleetsim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

func TestTokenExpiryDeletesTheUnusedCertificate(t *testing.T) {
	clock := fakeClock()
	dir := newDir(t)
	s := start(t, dir, func(o *Options) {
		o.Clock = clock
		o.TokenTTL = time.Minute
	})
	c := dial(t, s.Addr(), claimTLS(t, dir), "claim")
	key, csr := newCSR(t)
	var iss issued
	wantAccepted(t, "json", call(t, c, "$aws/certificates/create-from-csr/json",
		marshal(t, "json", map[string]string{"certificateSigningRequest": csr})), &iss)

	clock.Advance(59 * time.Second)
	if got, ok := findCert(s.Snapshot(), iss.CertificateID); !ok || got.Status != StatusPendingActivation {
		t.Fatalf("before expiry: %+v %v", got, ok)
	}
	clock.Advance(time.Second)
	snap := s.Snapshot()
	if _, ok := findCert(snap, iss.CertificateID); ok {
		t.Fatal("certificate still registered after its token expired")
	}
	if len(snap.Orphans) != 1 || snap.Orphans[0].CertificateID != iss.CertificateID || snap.Orphans[0].Status != StatusDeleted {
		t.Fatalf("orphans: %+v", snap.Orphans)
	}
	wantRejected(t, "json", call(t, c, "$aws/provisioning-templates/GatewayTemplate/provision/json",
		marshal(t, "json", map[string]any{"certificateOwnershipToken": iss.CertificateOwnershipToken,
			"parameters": map[string]string{"SerialNumber": "1"}})), 400, codeInvalidToken)
	// A deleted certificate cannot connect.
	if d, err := tryDial(s.Addr(), deviceTLS(t, dir, key, iss.CertificatePEM), "deleted", nil); err == nil {
		d.Disconnect(0)
		t.Fatal("a deleted certificate connected")
	}
	// The same CSR again gives a new certificate.
	var again issued
	wantAccepted(t, "json", call(t, c, "$aws/certificates/create-from-csr/json",
		marshal(t, "json", map[string]string{"certificateSigningRequest": csr})), &again)
	if again.CertificateID == iss.CertificateID || again.CertificateOwnershipToken == iss.CertificateOwnershipToken {
		t.Fatal("the same CSR gave the same certificate again")
	}
}

func TestTokenExpiryWithSmallTTL(t *testing.T) {
	// The real clock, as `fleetsim serve --token-ttl 1ms` runs.
	dir := newDir(t)
	logger, msgs := logged(t)
	s := start(t, dir, func(o *Options) { o.TokenTTL = time.Millisecond; o.Logger = logger })
	c := dial(t, s.Addr(), claimTLS(t, dir), "claim")
	_, csr := newCSR(t)
	var iss issued
	wantAccepted(t, "json", call(t, c, "$aws/certificates/create-from-csr/json",
		marshal(t, "json", map[string]string{"certificateSigningRequest": csr})), &iss)
	// The sweep, not the snapshot (which sweeps too), deletes it.
	waitLogged(t, msgs, sweptMessage)
	if _, ok := findCert(s.Snapshot(), iss.CertificateID); ok {
		t.Fatal("certificate not deleted after its token expired")
	}
	wantRejected(t, "json", call(t, c, "$aws/provisioning-templates/GatewayTemplate/provision/json",
		marshal(t, "json", map[string]any{"certificateOwnershipToken": iss.CertificateOwnershipToken,
			"parameters": map[string]string{"SerialNumber": "1"}})), 400, codeInvalidToken)
}

// A claim whose attached policy does not allow the template's topics gets
// SUBACK 0x80 for them, as AWS IoT answers, and keeps the topics it allows.
func TestClaimPolicyDocumentIsEnforcedForSubscriptions(t *testing.T) {
	dir := newDir(t)
	const certificatesOnly = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"},` +
		`{"Effect":"Allow","Action":["iot:Publish","iot:Receive","iot:Subscribe"],` +
		`"Resource":["arn:aws:iot:us-east-1:123456789012:topicfilter/$aws/certificates/create-from-csr/*"]}]}`
	if err := SetClaimPolicy(dir, certificatesOnly); err != nil {
		t.Fatal(err)
	}
	s := start(t, dir, nil)
	c := dial(t, s.Addr(), claimTLS(t, dir), "claim")
	for filter, want := range map[string]byte{
		"$aws/certificates/create-from-csr/json/accepted":              0,
		"$aws/provisioning-templates/GatewayTemplate/provision/json/+": 0x80,
		"$aws/certificates/create/json/accepted":                       0x80,
		"$aws/provisioning-templates/GatewayTemplate/provision/json/#": 0x80,
		"$aws/certificates/create-from-csr/json/rejected":              0,
	} {
		tok := c.Subscribe(filter, 1, func(paho.Client, paho.Message) {})
		if !tok.WaitTimeout(waitFor) {
			t.Fatalf("%s: no SUBACK", filter)
		}
		if code := tok.(*paho.SubscribeToken).Result()[filter]; code != want && !(want == 0 && code == 1) {
			t.Errorf("%s: SUBACK code %#x, want %#x", filter, code, want)
		}
	}
	if err := SetClaimPolicy(dir, "{not json"); err == nil {
		t.Error("a malformed policy document was stored")
	}
}

func TestClaimPolicy(t *testing.T) {
	dir := newDir(t)
	s := start(t, dir, nil)

	t.Run("subscribe outside the provisioning topics is refused", func(t *testing.T) {
		c := dial(t, s.Addr(), claimTLS(t, dir), "claim-sub")
		tok := c.Subscribe("devices/gw-0001/commands", 1, func(paho.Client, paho.Message) {})
		if !tok.WaitTimeout(waitFor) {
			t.Fatal("no SUBACK")
		}
		if code := tok.(*paho.SubscribeToken).Result()["devices/gw-0001/commands"]; code != 0x80 {
			t.Fatalf("SUBACK code %#x, want 0x80 (failure)", code)
		}
	})
	t.Run("publish outside the provisioning topics drops the connection", func(t *testing.T) {
		c, lost := dialWatched(t, s.Addr(), claimTLS(t, dir), "claim-pub")
		c.Publish("devices/gw-0001/telemetry", 1, false, []byte("{}"))
		wantLost(t, lost, "the claim published outside its policy and kept its connection")
	})
	for _, tt := range []struct {
		name    string
		version byte
		qos     byte
	}{{"QoS 0", 4, 0}, {"QoS 1", 4, 1}, {"MQTT 5, QoS 0", 5, 0}, {"MQTT 5, QoS 1", 5, 1}} {
		t.Run("publish outside the provisioning topics drops the connection, "+tt.name, func(t *testing.T) {
			c := rawDial(t, s.Addr(), claimTLS(t, dir))
			c.connect(tt.version, "claim-raw-pub", 60)
			c.publish("devices/gw-0001/telemetry", tt.qos, []byte("{}"))
			c.closedByServer()
		})
	}
	t.Run("service topics of a template are allowed", func(t *testing.T) {
		for _, f := range []string{"$aws/provisioning-templates/GatewayTemplate/provision/json/+", "$aws/certificates/create/cbor/accepted"} {
			if !claimMayUse(f) {
				t.Errorf("claimMayUse(%q) = false", f)
			}
		}
		for _, f := range []string{"#", "$aws/things/x/shadow/update", "$aws/provisioning-templates/+/provision/json", "$aws/certificates/#"} {
			if claimMayUse(f) {
				t.Errorf("claimMayUse(%q) = true", f)
			}
		}
	})
}

func TestDeviceCertificatesConnectOnlyWhileActive(t *testing.T) {
	dir := newDir(t)
	writeTemplate(t, dir, "Inactive", inactiveTemplate, "")
	s := start(t, dir, nil)
	c := dial(t, s.Addr(), claimTLS(t, dir), "claim")

	refused := func(t *testing.T, cfg *tls.Config, what string) {
		t.Helper()
		d, err := tryDial(s.Addr(), cfg, "device-"+strings.ReplaceAll(what, " ", "-"), nil)
		if err == nil {
			d.Disconnect(0)
			t.Fatalf("a %s certificate connected", what)
		}
	}
	t.Run("pending activation", func(t *testing.T) {
		key, csr := newCSR(t)
		var iss issued
		wantAccepted(t, "json", call(t, c, "$aws/certificates/create-from-csr/json",
			marshal(t, "json", map[string]string{"certificateSigningRequest": csr})), &iss)
		refused(t, deviceTLS(t, dir, key, iss.CertificatePEM), "pending")
	})
	t.Run("inactive", func(t *testing.T) {
		key, csr := newCSR(t)
		var iss issued
		wantAccepted(t, "json", call(t, c, "$aws/certificates/create-from-csr/json",
			marshal(t, "json", map[string]string{"certificateSigningRequest": csr})), &iss)
		var reg registered
		wantAccepted(t, "json", call(t, c, "$aws/provisioning-templates/Inactive/provision/json",
			marshal(t, "json", map[string]any{"certificateOwnershipToken": iss.CertificateOwnershipToken,
				"parameters": map[string]string{"SerialNumber": "9"}})), &reg)
		if got, _ := findCert(s.Snapshot(), iss.CertificateID); got.Status != StatusInactive || got.ThingName != "off-9" {
			t.Fatalf("registry: %+v", got)
		}
		refused(t, deviceTLS(t, dir, key, iss.CertificatePEM), "inactive")
	})
	t.Run("unknown, signed by the CA", func(t *testing.T) {
		ca, err := loadAuthority(dir)
		if err != nil {
			t.Fatal(err)
		}
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, err := ca.issueDevice(key.Public(), nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		refused(t, deviceTLS(t, dir, key, string(pemBlock("CERTIFICATE", der))), "unregistered")
	})
	t.Run("no client certificate", func(t *testing.T) {
		cfg := claimTLS(t, dir)
		cfg.Certificates = nil
		refused(t, cfg, "missing")
	})
}
