package check

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/connect"
)

func TestResponseTopicsAreExactlyWhatTheMethodNeeds(t *testing.T) {
	got, err := responseTopics("create-keys", "cbor", "Gw")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"$aws/certificates/create/cbor/accepted", "$aws/certificates/create/cbor/rejected",
		"$aws/provisioning-templates/Gw/provision/cbor/accepted", "$aws/provisioning-templates/Gw/provision/cbor/rejected",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("create-keys/cbor: %v, want %v", got, want)
	}
	got, _ = responseTopics("csr", "json", "Gw")
	if got[0] != "$aws/certificates/create-from-csr/json/accepted" || len(got) != 4 {
		t.Fatalf("csr/json: %v", got)
	}
}

// policyBroker is a real MQTT broker (mochi, as fleetsim embeds) whose
// policy refuses subscriptions to one template's topics, or closes the
// connection at SUBSCRIBE, as AWS IoT may.
type policyBroker struct {
	mqtt.HookBase
	deny       string // topic prefix refused
	disconnect bool
}

func (h *policyBroker) ID() string { return "policy" }
func (h *policyBroker) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck || b == mqtt.OnSubscribe
}
func (h *policyBroker) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }
func (h *policyBroker) OnACLCheck(_ *mqtt.Client, topic string, write bool) bool {
	return write || !strings.HasPrefix(topic, h.deny)
}
func (h *policyBroker) OnSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if h.disconnect {
		for _, f := range pk.Filters {
			if strings.HasPrefix(f.Filter, h.deny) {
				cl.Stop(packets.ErrNotAuthorized)
			}
		}
	}
	return pk
}

// pki writes a CA, a server certificate for 127.0.0.1 and a claim, and
// returns the config's paths and the server's TLS certificate.
func pki(t *testing.T, dir string) (rootCA, claimCert, claimKey string, server tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, name string, usage x509.ExtKeyUsage, ip net.IP) ([]byte, []byte) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature}
		if ip != nil {
			tmpl.IPAddresses = []net.IP{ip}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, _ := x509.MarshalECPrivateKey(key)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	}
	srvCert, srvKey := issue(2, "server", x509.ExtKeyUsageServerAuth, net.ParseIP("127.0.0.1"))
	server, err := tls.X509KeyPair(srvCert, srvKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, key := issue(3, "claim", x509.ExtKeyUsageClientAuth, nil)
	rootCA, claimCert, claimKey = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "claim.crt"), filepath.Join(dir, "claim.key")
	for path, data := range map[string][]byte{
		rootCA: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), claimCert: cert, claimKey: key,
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return rootCA, claimCert, claimKey, server
}

// startBroker serves hook's policy over mutual TLS on a free 127.0.0.1 port.
func startBroker(t *testing.T, hook *policyBroker, server tls.Certificate) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	b := mqtt.New(&mqtt.Options{InlineClient: false, Logger: slog.New(slog.DiscardHandler)})
	if err := b.AddHook(hook, nil); err != nil {
		t.Fatal(err)
	}
	tcfg := &tls.Config{Certificates: []tls.Certificate{server}, ClientAuth: tls.RequireAnyClientCert, MinVersion: tls.VersionTLS12}
	if err := b.AddListener(listeners.NewTCP(listeners.Config{ID: "mtls", Address: addr, TLSConfig: tcfg})); err != nil {
		t.Fatal(err)
	}
	if err := b.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return addr
}

func TestMQTTNamesTheTopicTheClaimPolicyRefuses(t *testing.T) {
	for _, disconnect := range []bool{false, true} {
		dir := t.TempDir()
		rootCA, cert, key, server := pki(t, dir)
		const denied = "$aws/provisioning-templates/NotForThisClaim/"
		addr := startBroker(t, &policyBroker{deny: denied, disconnect: disconnect}, server)
		cfg := &config.Config{
			Path: filepath.Join(dir, "config.yaml"), Endpoint: addr, RootCA: rootCA,
			Claims:   []config.Claim{{Certificate: cert, PrivateKey: key, Field: "claim"}},
			Template: config.Template{Name: "NotForThisClaim"}, PayloadFormat: "json", CertificateMethod: "csr",
		}
		results := Run(context.Background(), Options{Config: cfg, ClientID: "gw", Timeout: 5 * time.Second})
		var mqttResult Result
		for _, r := range results {
			if r.Name != connect.StepMQTT && r.Status != OK {
				t.Fatalf("disconnect %v: %s is %s before MQTT: %+v", disconnect, r.Name, r.Status, results)
			}
			if r.Name == connect.StepMQTT {
				mqttResult = r
			}
		}
		if mqttResult.Status != Fail || !strings.Contains(mqttResult.Message, "claim policy does not allow") ||
			!strings.Contains(mqttResult.Message, denied+"provision/json/accepted") || mqttResult.Fix == "" {
			t.Fatalf("disconnect %v: mqtt %+v, want a fail naming the refused topic", disconnect, mqttResult)
		}
		if disconnect != strings.Contains(mqttResult.Message, "closed the connection at SUBSCRIBE") {
			t.Errorf("disconnect %v: %s", disconnect, mqttResult.Message)
		}
		if !disconnect && strings.Contains(mqttResult.Message, "create-from-csr") {
			t.Errorf("the allowed certificate topics are named as refused: %s", mqttResult.Message)
		}
	}
}
