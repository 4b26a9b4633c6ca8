package fleetsim

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// rawClient speaks MQTT packets by hand, for MQTT 5 and exact CONNACK checks.
type rawClient struct {
	t    testing.TB
	conn *tls.Conn
	r    *bufio.Reader
	v    byte
}

func rawDial(t testing.TB, addr string, cfg *tls.Config) *rawClient {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	_ = conn.SetDeadline(time.Now().Add(waitFor))
	t.Cleanup(func() { _ = conn.Close() })
	return &rawClient{t: t, conn: conn, r: bufio.NewReader(conn)}
}

func (c *rawClient) write(pk packets.Packet, enc func(*packets.Packet, *bytes.Buffer) error) {
	c.t.Helper()
	pk.ProtocolVersion = c.v
	var buf bytes.Buffer
	if err := enc(&pk, &buf); err != nil {
		c.t.Fatalf("encode: %v", err)
	}
	if _, err := c.conn.Write(buf.Bytes()); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// read returns the next packet, or an error when the connection ends.
func (c *rawClient) read() (packets.Packet, error) {
	hb, err := c.r.ReadByte()
	if err != nil {
		return packets.Packet{}, err
	}
	var fh packets.FixedHeader
	if err := fh.Decode(hb); err != nil {
		return packets.Packet{}, err
	}
	n, mul := 0, 1
	for {
		b, err := c.r.ReadByte()
		if err != nil {
			return packets.Packet{}, err
		}
		n += int(b&0x7f) * mul
		mul *= 128
		if b&0x80 == 0 {
			break
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return packets.Packet{}, err
	}
	fh.Remaining = n
	pk := packets.Packet{FixedHeader: fh, ProtocolVersion: c.v}
	switch fh.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	}
	return pk, err
}

func (c *rawClient) connect(version byte, clientID string, keepalive uint16) packets.Packet {
	c.t.Helper()
	c.v = version
	name := "MQTT"
	if version == 3 {
		name = "MQIsdp"
	}
	c.write(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Connect},
		Connect: packets.ConnectParams{ProtocolName: []byte(name), Clean: true, Keepalive: keepalive,
			ClientIdentifier: clientID, UsernameFlag: true, Username: []byte("?SDK=raw")},
	}, (*packets.Packet).ConnectEncode)
	pk, err := c.read()
	if err != nil || pk.FixedHeader.Type != packets.Connack {
		c.t.Fatalf("CONNACK: %v %+v", err, pk.FixedHeader)
	}
	return pk
}

func (c *rawClient) subscribe(filter string, qos byte) {
	c.t.Helper()
	c.write(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1},
		PacketID:    1,
		Filters:     packets.Subscriptions{{Filter: filter, Qos: qos}},
	}, (*packets.Packet).SubscribeEncode)
	pk, err := c.read()
	if err != nil || pk.FixedHeader.Type != packets.Suback || len(pk.ReasonCodes) != 1 || pk.ReasonCodes[0] >= 0x80 {
		c.t.Fatalf("SUBACK: %v %+v", err, pk)
	}
}

func (c *rawClient) publish(topic string, qos byte, payload []byte) {
	c.t.Helper()
	c.write(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos},
		PacketID:    2,
		TopicName:   topic,
		Payload:     payload,
	}, (*packets.Packet).PublishEncode)
}

// nextPublish skips acks and returns the next PUBLISH.
func (c *rawClient) nextPublish() packets.Packet {
	c.t.Helper()
	for {
		pk, err := c.read()
		if err != nil {
			c.t.Fatalf("waiting for PUBLISH: %v", err)
		}
		if pk.FixedHeader.Type == packets.Publish {
			return pk
		}
	}
}

func TestMQTTVersions(t *testing.T) {
	dir := newDir(t)
	s := start(t, dir, nil)
	for _, v := range []byte{3, 4, 5} {
		t.Run(string(rune('0'+v)), func(t *testing.T) {
			c := rawDial(t, s.Addr(), claimTLS(t, dir))
			ack := c.connect(v, "raw-client", 5)
			if ack.ReasonCode != 0 {
				t.Fatalf("CONNACK reason %#x", ack.ReasonCode)
			}
			if v == 5 && (!ack.Properties.ServerKeepAliveFlag || ack.Properties.ServerKeepAlive != 30) {
				t.Errorf("keepalive 5 not raised to 30: %+v", ack.Properties)
			}
			c.subscribe("$aws/certificates/create-from-csr/json/+", 1)
			_, csr := newCSR(t)
			c.publish("$aws/certificates/create-from-csr/json", 1, marshal(t, "json", map[string]string{"certificateSigningRequest": csr}))
			pk := c.nextPublish()
			if pk.TopicName != "$aws/certificates/create-from-csr/json/accepted" || pk.FixedHeader.Qos != 1 {
				t.Fatalf("answer on %q QoS %d: %s", pk.TopicName, pk.FixedHeader.Qos, pk.Payload)
			}
			c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID}, (*packets.Packet).PubackEncode)
		})
	}
}

func TestConnectLimits(t *testing.T) {
	dir := newDir(t)
	s := start(t, dir, nil)
	tests := []struct {
		name      string
		version   byte
		clientID  string
		keepalive uint16
		refused   bool
	}{
		{"client ID of 128 bytes", 4, strings.Repeat("a", 128), 60, false},
		{"client ID of 129 bytes", 4, strings.Repeat("a", 129), 60, true},
		{"client ID of 129 bytes, MQTT 5", 5, strings.Repeat("b", 129), 60, true},
		{"keepalive 1200", 4, "ka1200", 1200, false},
		{"keepalive 1201", 4, "ka1201", 1201, true},
		{"keepalive 1201, MQTT 5", 5, "ka1201v5", 1201, true},
		{"keepalive 0", 4, "ka0", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := rawDial(t, s.Addr(), claimTLS(t, dir))
			ack := c.connect(tt.version, tt.clientID, tt.keepalive)
			if got := ack.ReasonCode != 0; got != tt.refused {
				t.Fatalf("refused = %v (reason %#x), want %v", got, ack.ReasonCode, tt.refused)
			}
		})
	}
}

func TestSecondConnectionWithTheSameClientIDDropsTheFirst(t *testing.T) {
	dir := newDir(t)
	s := start(t, dir, nil)
	_, lost := dialWatched(t, s.Addr(), claimTLS(t, dir), "same-id")
	second := dial(t, s.Addr(), claimTLS(t, dir), "same-id")
	wantLost(t, lost, "the first connection was not dropped")
	provisionCSR(t, second, "json", "0300")
}

func TestPersistentSession(t *testing.T) {
	dir := newDir(t)
	s := start(t, dir, nil)
	// Subscribe in a persistent session, reconnect without subscribing again: the
	// subscription is still there, so the answer arrives.
	c := rawDial(t, s.Addr(), claimTLS(t, dir))
	c.v = 4
	persistent := func(c *rawClient) packets.Packet {
		c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect},
			Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: false, Keepalive: 60, ClientIdentifier: "persistent"}},
			(*packets.Packet).ConnectEncode)
		pk, err := c.read()
		if err != nil || pk.ReasonCode != 0 {
			t.Fatalf("CONNACK: %v %+v", err, pk)
		}
		return pk
	}
	persistent(c)
	c.subscribe("$aws/certificates/create/json/+", 1)
	_ = c.conn.Close()
	c2 := rawDial(t, s.Addr(), claimTLS(t, dir))
	c2.v = 4
	if ack := persistent(c2); !ack.SessionPresent {
		t.Fatal("session not present on reconnect")
	}
	c2.publish("$aws/certificates/create/json", 1, nil)
	if pk := c2.nextPublish(); pk.TopicName != "$aws/certificates/create/json/accepted" {
		t.Fatalf("answer on %s", pk.TopicName)
	}
}

func TestResponsesGoOnlyToTheConnectionThatAsked(t *testing.T) {
	dir := newDir(t)
	s := start(t, dir, nil)
	a := dial(t, s.Addr(), claimTLS(t, dir), "device-a")
	b := dial(t, s.Addr(), claimTLS(t, dir), "device-b")
	// b listens to everything a could get, and to the request topic itself.
	seen := subscribe(t, b, "$aws/certificates/create-from-csr/json/+")
	requests := subscribe(t, b, "$aws/certificates/create-from-csr/json")
	_, iss, _ := provisionCSR(t, a, "json", "0400")

	// Now b asks; on b's connection its own answer comes after anything sent before.
	_, csr := newCSR(t)
	tok := b.Publish("$aws/certificates/create-from-csr/json", 1, false,
		marshal(t, "json", map[string]string{"certificateSigningRequest": csr}))
	tok.WaitTimeout(waitFor)
	select {
	case m := <-seen:
		var got issued
		wantAccepted(t, "json", m, &got)
		if got.CertificateID == iss.CertificateID {
			t.Fatal("b received a's answer")
		}
	case <-time.After(waitFor):
		t.Fatal("b got no answer to its own request")
	}
	select {
	case m := <-seen:
		t.Fatalf("b received another answer: %s %s", m.topic, m.payload)
	default:
	}
	select {
	case m := <-requests:
		t.Fatalf("a request was fanned out to b: %s", m.topic)
	default:
	}
	// Nor can a third connection forge answers with a retained Will (mochi publishes Wills
	// without the ACL and publish hooks); TestWillsCannotForgeServiceAnswers has every case.
	w := rawDial(t, s.Addr(), claimTLS(t, dir))
	if ack := w.connectWith(4, packets.ConnectParams{Clean: true, ClientIdentifier: "forger", WillFlag: true,
		WillTopic: "$aws/certificates/create-from-csr/json/accepted", WillPayload: []byte(`{"certificateId":"forged"}`),
		WillQos: 1, WillRetain: true}); ack.ReasonCode == 0 {
		t.Fatal("a claim connected with a retained Will on an answer topic")
	}
}

func TestNoAnswerWithoutSubscription(t *testing.T) {
	dir := newDir(t)
	s := start(t, dir, nil)
	c := rawDial(t, s.Addr(), claimTLS(t, dir))
	c.connect(4, "nosub", 60)
	c.subscribe("$aws/certificates/create/json/rejected", 1)
	// accepted is not subscribed: the answer to this request is not delivered...
	c.publish("$aws/certificates/create-from-csr/json", 0, []byte(`{}`))
	// ...while the rejection of the next one is.
	c.publish("$aws/certificates/create/json", 0, []byte(`[`))
	pk := c.nextPublish()
	if pk.TopicName != "$aws/certificates/create/json/rejected" {
		t.Fatalf("got %s, want only the subscribed rejection", pk.TopicName)
	}
}

func TestPreProvisioningHookOverridesWin(t *testing.T) {
	var got hookRequest
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&got)
		_, _ = w.Write([]byte(`{"allowProvisioning": true, "parameterOverrides": {"SerialNumber": "from-hook"}}`))
	}))
	defer hook.Close()
	dir := newDir(t)
	writeTemplate(t, dir, "Hooked", demoBody, `{"enabled": true, "preProvisioningHook": {"url": "`+hook.URL+`"}}`)
	s := start(t, dir, nil)
	c := dial(t, s.Addr(), claimTLS(t, dir), "hooked-client")
	_, csr := newCSR(t)
	var iss issued
	wantAccepted(t, "json", call(t, c, "$aws/certificates/create-from-csr/json",
		marshal(t, "json", map[string]string{"certificateSigningRequest": csr})), &iss)
	var reg registered
	wantAccepted(t, "json", call(t, c, "$aws/provisioning-templates/Hooked/provision/json",
		marshal(t, "json", map[string]any{"certificateOwnershipToken": iss.CertificateOwnershipToken,
			"parameters": map[string]string{"SerialNumber": "from-device"}})), &reg)
	if reg.ThingName != "gw-from-hook" {
		t.Errorf("thing %q: the hook's override did not win", reg.ThingName)
	}
	claimID := ""
	for _, cert := range s.Snapshot().Certificates {
		if cert.Kind == KindClaim {
			claimID = cert.CertificateID
		}
	}
	if got.ClaimCertificateID != claimID || got.CertificateID != iss.CertificateID || got.ClientID != "hooked-client" ||
		got.CertificatePEM != iss.CertificatePEM || !strings.HasSuffix(got.TemplateARN, ":provisioningtemplate/Hooked") ||
		got.Parameters["SerialNumber"] != "from-device" {
		t.Errorf("hook request %+v", got)
	}
}

func TestQoS2PublishIsRefused(t *testing.T) {
	dir := newDir(t)
	s := start(t, dir, nil)
	c := rawDial(t, s.Addr(), claimTLS(t, dir))
	c.connect(4, "qos2", 60)
	c.publish("$aws/certificates/create/json", 2, []byte(`{}`))
	for {
		pk, err := c.read()
		if err != nil {
			return // closed, as wanted
		}
		if pk.FixedHeader.Type == packets.Pubrec || pk.FixedHeader.Type == packets.Puback {
			t.Fatalf("QoS 2 publish acknowledged with packet type %d", pk.FixedHeader.Type)
		}
	}
}
