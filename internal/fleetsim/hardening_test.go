package fleetsim

import (
	"context"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// connectWith sends a CONNECT built from params and returns the CONNACK.
func (c *rawClient) connectWith(version byte, params packets.ConnectParams) packets.Packet {
	c.t.Helper()
	c.v = version
	params.ProtocolName = []byte("MQTT")
	if version == 3 {
		params.ProtocolName = []byte("MQIsdp")
	}
	if params.Keepalive == 0 {
		params.Keepalive = 60
	}
	c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, Connect: params},
		(*packets.Packet).ConnectEncode)
	pk, err := c.read()
	if err != nil || pk.FixedHeader.Type != packets.Connack {
		c.t.Fatalf("CONNACK: %v %+v", err, pk.FixedHeader)
	}
	return pk
}

// closedByServer reads until the server ends the connection; it fails the test if the
// connection stays open (the read deadline passes) or a PUBACK arrives.
func (c *rawClient) closedByServer() {
	c.t.Helper()
	for {
		pk, err := c.read()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.t.Fatal("the connection stayed open")
			}
			return
		}
		if pk.FixedHeader.Type == packets.Puback {
			c.t.Fatalf("publish acknowledged (reason %#x) instead of disconnected", pk.ReasonCode)
		}
	}
}

func TestWillsCannotForgeServiceAnswers(t *testing.T) {
	dir := newDir(t)
	s := start(t, dir, nil)
	claim := dial(t, s.Addr(), claimTLS(t, dir), "will-claim")
	key, iss, _ := provisionCSR(t, claim, "json", "0700")
	device := deviceTLS(t, dir, key, iss.CertificatePEM)
	forged := []byte(`{"certificateId":"forged","certificatePem":"forged","certificateOwnershipToken":"forged"}`)

	for _, tt := range []struct {
		name    string
		claim   bool
		topic   string
		refused bool
	}{
		{"claim, retained Will on an answer topic", true, "$aws/certificates/create-from-csr/json/accepted", true},
		{"claim, Will outside its policy", true, "devices/gw-0700/status", true},
		{"device, Will on an answer topic", false, "$aws/certificates/create-from-csr/json/accepted", true},
		{"device, Will on another reserved topic", false, "$aws/things/gw-0700/shadow/update", true},
		{"device, Will on its own topic", false, "devices/gw-0700/status", false},
	} {
		for _, v := range []byte{4, 5} {
			t.Run(tt.name+"/v"+string(rune('0'+v)), func(t *testing.T) {
				cfg := device
				if tt.claim {
					cfg = claimTLS(t, dir)
				}
				c := rawDial(t, s.Addr(), cfg)
				ack := c.connectWith(v, packets.ConnectParams{Clean: true, ClientIdentifier: "will-" + strings.ReplaceAll(tt.name, " ", "-"),
					WillFlag: true, WillTopic: tt.topic, WillPayload: forged, WillQos: 1, WillRetain: true})
				if refused := ack.ReasonCode != 0; refused != tt.refused {
					t.Fatalf("refused = %v (reason %#x), want %v", refused, ack.ReasonCode, tt.refused)
				}
				if tt.refused && ack.ReasonCode != packets.ErrNotAuthorized.Code && ack.ReasonCode != packets.Err3NotAuthorized.Code {
					t.Errorf("reason %#x, want not authorized", ack.ReasonCode)
				}
				// End without DISCONNECT, so that an accepted Will would be published.
				_ = c.conn.Close()
			})
		}
	}
	// A device publishing retained on an answer topic is neither delivered nor retained.
	d := rawDial(t, s.Addr(), device)
	d.connect(4, "retainer", 60)
	d.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1, Retain: true}, PacketID: 3,
		TopicName: "$aws/certificates/create-from-csr/json/accepted", Payload: forged}, (*packets.Packet).PublishEncode)
	if pk, err := d.read(); err != nil || pk.FixedHeader.Type != packets.Puback {
		t.Fatalf("PUBACK: %v %+v", err, pk.FixedHeader)
	}

	// A new claim subscribes: a retained forgery would arrive before its own answer.
	c := rawDial(t, s.Addr(), claimTLS(t, dir))
	c.connect(4, "victim", 60)
	c.subscribe("$aws/certificates/create-from-csr/json/accepted", 1)
	_, csr := newCSR(t)
	c.publish("$aws/certificates/create-from-csr/json", 0, marshal(t, "json", map[string]string{"certificateSigningRequest": csr}))
	pk := c.nextPublish()
	var got issued
	wantAccepted(t, "json", message{pk.TopicName, pk.Payload}, &got)
	if got.CertificateID == "forged" {
		t.Fatal("a forged answer reached the claim")
	}
}

func TestPersistentSessionReceivesWhatWasPublishedWhileOffline(t *testing.T) {
	dir := newDir(t)
	s := start(t, dir, nil)
	claim := dial(t, s.Addr(), claimTLS(t, dir), "offline-claim")
	key, iss, _ := provisionCSR(t, claim, "json", "0800")
	device := deviceTLS(t, dir, key, iss.CertificatePEM)
	for _, v := range []byte{4, 5} {
		t.Run("v"+string(rune('0'+v)), func(t *testing.T) {
			id := "gw-0800-v" + string(rune('0'+v))
			topic := "devices/" + id + "/commands"
			params := packets.ConnectParams{Clean: false, ClientIdentifier: id}
			var props packets.Properties
			if v == 5 {
				props = packets.Properties{SessionExpiryInterval: 600, SessionExpiryIntervalFlag: true}
			}
			connect := func() (*rawClient, packets.Packet) {
				c := rawDial(t, s.Addr(), device)
				c.v = v
				c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, Properties: props,
					Connect: func() packets.ConnectParams {
						p := params
						p.ProtocolName, p.Keepalive = []byte("MQTT"), 60
						return p
					}()}, (*packets.Packet).ConnectEncode)
				ack, err := c.read()
				if err != nil || ack.FixedHeader.Type != packets.Connack || ack.ReasonCode != 0 {
					t.Fatalf("CONNACK: %v %+v", err, ack)
				}
				return c, ack
			}
			c, _ := connect()
			c.subscribe(topic, 1)
			c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}}, (*packets.Packet).DisconnectEncode)
			if _, err := c.read(); err == nil {
				t.Fatal("the connection stayed open after DISCONNECT")
			}

			// Another connection of the same device publishes while the session is offline.
			p := rawDial(t, s.Addr(), device)
			p.connect(4, id+"-sender", 60)
			p.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 5,
				TopicName: topic, Payload: []byte("reboot")}, (*packets.Packet).PublishEncode)
			if pk, err := p.read(); err != nil || pk.FixedHeader.Type != packets.Puback {
				t.Fatalf("PUBACK: %v %+v", err, pk)
			}

			c2, ack := connect()
			if !ack.SessionPresent {
				t.Fatal("session not present on reconnect")
			}
			pk := c2.nextPublish()
			if pk.TopicName != topic || string(pk.Payload) != "reboot" || pk.FixedHeader.Qos != 1 {
				t.Fatalf("got %s %q QoS %d", pk.TopicName, pk.Payload, pk.FixedHeader.Qos)
			}
		})
	}
}

func TestFolderServedByOneEmulatorAtATime(t *testing.T) {
	dir := newDir(t)
	s := start(t, dir, nil)
	_, err := Start(context.Background(), Options{Dir: dir, Listen: "127.0.0.1:0"})
	if err == nil || !strings.Contains(err.Error(), "folder "+dir+" is in use by another fleetsim") ||
		!strings.Contains(err.Error(), "--endpoint") {
		t.Fatalf("second Start on the same folder: %v", err)
	}
	// The first one still works, and the folder is free again once it is closed.
	c := dial(t, s.Addr(), claimTLS(t, dir), "still-serving")
	provisionCSR(t, c, "json", "0900")
	c.Disconnect(0)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := start(t, dir, nil)
	if _, ok := findThing(s2.Snapshot(), "gw-0900"); !ok {
		t.Fatal("thing gw-0900 lost")
	}
}

func TestFailedStartLeavesTheRegistryAlone(t *testing.T) {
	dir := newDir(t)
	want, err := ReadRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	if _, err := Start(context.Background(), Options{Dir: dir, Listen: taken.Addr().String()}); err == nil {
		t.Fatal("Start on a taken address succeeded")
	}
	if got, err := ReadRegistry(dir); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("registry after a failed Start: %+v %v, want %+v", got, err, want)
	}
	// The failed Start released the folder.
	start(t, dir, nil)
}

func TestFailedStartReleasesTheMainListener(t *testing.T) {
	dir := newDir(t)
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := free.Addr().String()
	_ = free.Close()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	if _, err := Start(context.Background(), Options{Dir: dir, Listen: addr, ALPNListen: taken.Addr().String()}); err == nil {
		t.Fatal("Start with a taken ALPN address succeeded")
	}
	// The main address, bound before the ALPN one failed, is free again.
	again, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the failed Start kept %s: %v", addr, err)
	}
	_ = again.Close()
}

func TestCloseDoesNotWaitForIdleConnections(t *testing.T) {
	dir := newDir(t)
	s := start(t, dir, nil)
	// One connection idle before the TLS handshake, one idle after it, before CONNECT.
	idle, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	tlsIdle := rawDial(t, s.Addr(), claimTLS(t, dir))
	_ = tlsIdle
	closePromptly(t, s, 3*time.Second, "Close waited for connections that never sent CONNECT")
}

func TestRequestsInFlightPerConnectionAreCapped(t *testing.T) {
	dir := newDir(t)
	s := start(t, dir, func(o *Options) {
		// Requests stay in process until Close, so that they pile up.
		o.Faults = []Fault{{Operation: "create-keys", Action: FaultDelay, Delay: time.Hour}}
	})
	c := rawDial(t, s.Addr(), claimTLS(t, dir))
	c.connect(4, "flood", 60)
	c.subscribe("$aws/certificates/create/json/rejected", 1)
	for i := 0; i < maxInFlight+2; i++ {
		c.publish("$aws/certificates/create/json", 0, nil)
	}
	for i := 0; i < 2; i++ {
		pk := c.nextPublish()
		wantRejected(t, "json", message{pk.TopicName, pk.Payload}, 429, codeThrottling)
		c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID}, (*packets.Packet).PubackEncode)
	}
	if n := faultsUsed(s, 0); n > maxInFlight {
		t.Fatalf("%d requests in process on one connection, the limit is %d", n, maxInFlight)
	}
	// Another connection has its own allowance.
	other := rawDial(t, s.Addr(), claimTLS(t, dir))
	other.connect(4, "other", 60)
	other.subscribe("$aws/certificates/create-from-csr/json/+", 1)
	_, csr := newCSR(t)
	other.publish("$aws/certificates/create-from-csr/json", 0, marshal(t, "json", map[string]string{"certificateSigningRequest": csr}))
	if pk := other.nextPublish(); pk.TopicName != "$aws/certificates/create-from-csr/json/accepted" {
		t.Fatalf("other connection: %s %s", pk.TopicName, pk.Payload)
	}
}

func TestClaimMayNameRequestTopicsByAlias(t *testing.T) {
	dir := newDir(t)
	s := start(t, dir, nil)
	c := rawDial(t, s.Addr(), claimTLS(t, dir))
	c.connect(5, "alias", 60)
	c.subscribe("$aws/certificates/create-from-csr/json/+", 1)
	request := func(topic string) {
		_, csr := newCSR(t)
		c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: topic,
			Properties: packets.Properties{TopicAlias: 1, TopicAliasFlag: true},
			Payload:    marshal(t, "json", map[string]string{"certificateSigningRequest": csr})}, (*packets.Packet).PublishEncode)
		if pk := c.nextPublish(); pk.TopicName != "$aws/certificates/create-from-csr/json/accepted" {
			t.Fatalf("answer on %q: %s", pk.TopicName, pk.Payload)
		}
	}
	request("$aws/certificates/create-from-csr/json") // sets alias 1
	request("")                                       // uses it
	// An alias for a topic outside the policy ends the connection.
	c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: "devices/x/telemetry",
		Properties: packets.Properties{TopicAlias: 2, TopicAliasFlag: true}, Payload: []byte("{}")}, (*packets.Packet).PublishEncode)
	c.closedByServer()
}
