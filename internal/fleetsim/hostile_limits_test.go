package fleetsim

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

// subscribeCodes sends one SUBSCRIBE and returns its SUBACK's codes.
func (c *rawClient) subscribeCodes(id uint16, filters ...string) []byte {
	c.t.Helper()
	var subs packets.Subscriptions
	for _, f := range filters {
		subs = append(subs, packets.Subscription{Filter: f, Qos: 1})
	}
	c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: id, Filters: subs},
		(*packets.Packet).SubscribeEncode)
	for {
		pk, err := c.read()
		if err != nil {
			c.t.Fatalf("waiting for SUBACK: %v", err)
		}
		if pk.FixedHeader.Type == packets.Suback {
			return pk.ReasonCodes
		}
	}
}

// registerFilter is a claim-allowed answer filter for a template name of its own.
func registerFilter(i int) string {
	return fmt.Sprintf("$aws/provisioning-templates/T%d/provision/json/accepted", i)
}

// AWS's client ID rules: an empty ID and one starting with $ are refused at
// CONNECT, over MQTT 3.1.1 and 5.
func TestHostileClientIDsAreRefused(t *testing.T) {
	dir := newDir(t)
	s := start(t, dir, nil)
	for _, v := range []byte{4, 5} {
		for _, id := range []string{"", "$aws-service", "$"} {
			c := rawDial(t, s.Addr(), claimTLS(t, dir))
			ack := c.connectWith(v, packets.ConnectParams{Clean: true, ClientIdentifier: id})
			want := packets.ErrClientIdentifierNotValid.Code // 0x85 in MQTT 5, 0x02 in 3.1.1
			if v == 4 {
				want = 2
			}
			if ack.ReasonCode != want {
				t.Errorf("MQTT %d, client ID %q: CONNACK %#x, want %#x", v, id, ack.ReasonCode, want)
			}
		}
	}
}

// AWS's subscription limits: 8 filters per SUBSCRIBE, 50 subscriptions per
// connection, filters of at most 256 bytes and 7 slashes. Each refusal is a
// SUBACK failure; the connection stays usable.
func TestHostileSubscriptionLimits(t *testing.T) {
	dir := newDir(t)
	s := start(t, dir, nil)
	c := rawDial(t, s.Addr(), claimTLS(t, dir))
	c.connect(4, "limits", 60)

	var nine []string
	for i := range 9 {
		nine = append(nine, registerFilter(i))
	}
	for i, code := range c.subscribeCodes(1, nine...) {
		if code != 0x80 {
			t.Errorf("a SUBSCRIBE of 9 filters: filter %d got %#x, want 0x80", i, code)
		}
	}
	deep := "$aws/provisioning-templates/T/provision/json/accepted/" + strings.Repeat("x/", 3)
	long := "$aws/provisioning-templates/" + strings.Repeat("T", 240) + "/provision/json/accepted"
	if codes := c.subscribeCodes(2, deep, long, registerFilter(0)); len(codes) != 3 || codes[0] != 0x80 || codes[1] != 0x80 || codes[2] != 1 {
		t.Errorf("8 slashes, 300 bytes, a good filter: SUBACK %#v, want [0x80 0x80 0x01]", codes)
	}
	// registerFilter(0) is held; 49 more reach the limit, the 51st fails.
	for batch := range 7 {
		var fs []string
		for i := 1 + 7*batch; i <= 7+7*batch; i++ {
			fs = append(fs, registerFilter(i))
		}
		for i, code := range c.subscribeCodes(uint16(3+batch), fs...) {
			if code != 1 {
				t.Fatalf("subscription %d of 50: %#x", 1+7*batch+i, code)
			}
		}
	}
	codes := c.subscribeCodes(20, registerFilter(0), registerFilter(50))
	if len(codes) != 2 || codes[0] != 1 || codes[1] != 0x80 {
		t.Errorf("at 50 subscriptions, one held again and a 51st: SUBACK %#v, want [0x01 0x80]", codes)
	}
}

// A publish on a topic over 256 bytes or with more than 7 slashes ends the
// connection, even from a device certificate whose policy allows any topic.
func TestHostilePublishTopicLimits(t *testing.T) {
	dir := newDir(t)
	s := start(t, dir, nil)
	claim := dial(t, s.Addr(), claimTLS(t, dir), "topic-claim")
	key, iss, _ := provisionCSR(t, claim, "json", "0900")
	device := deviceTLS(t, dir, key, iss.CertificatePEM)
	for name, topic := range map[string]string{
		"300 bytes": "devices/" + strings.Repeat("a", 292),
		"8 slashes": "a/b/c/d/e/f/g/h/i",
	} {
		t.Run(name, func(t *testing.T) {
			c := rawDial(t, s.Addr(), device)
			c.connect(4, "topic-"+strings.ReplaceAll(name, " ", "-"), 60)
			c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 7,
				TopicName: topic, Payload: []byte("x")}, (*packets.Packet).PublishEncode)
			c.closedByServer()
		})
	}
}
