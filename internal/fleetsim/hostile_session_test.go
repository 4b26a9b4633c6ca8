package fleetsim

import (
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

// A second claim connection that resumes a persistent session under the
// victim's client ID, while the victim's CreateKeysAndCertificate answer is
// unacknowledged, receives nothing: answers never enter session state.
func TestHostileSessionTakeoverReceivesNothing(t *testing.T) {
	for _, version := range []byte{4, 5} {
		dir := newDir(t)
		s := start(t, dir, nil)
		victim := rawDial(t, s.Addr(), claimTLS(t, dir))
		victim.connectWith(version, packets.ConnectParams{Clean: false, ClientIdentifier: "victim"})
		victim.subscribe("$aws/certificates/create/json/+", 1)
		victim.publish("$aws/certificates/create/json", 0, nil)
		if pk := victim.nextPublish(); pk.TopicName != "$aws/certificates/create/json/accepted" {
			t.Fatalf("MQTT %d: the victim's answer came on %s", version, pk.TopicName)
		}
		// The victim never acknowledges it; the attacker takes the session over.
		attacker := rawDial(t, s.Addr(), claimTLS(t, dir))
		ack := attacker.connectWith(version, packets.ConnectParams{Clean: false, ClientIdentifier: "victim"})
		if ack.ReasonCode != 0 {
			t.Fatalf("MQTT %d: the takeover was refused (%d); the attack needs it accepted to test the session", version, ack.ReasonCode)
		}
		// What the broker resends from the session precedes its answer to this ping.
		attacker.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}}, (*packets.Packet).PingreqEncode)
		for {
			pk, err := attacker.read()
			if err != nil {
				t.Fatalf("MQTT %d: waiting for PINGRESP: %v", version, err)
			}
			if pk.FixedHeader.Type == packets.Publish {
				t.Fatalf("MQTT %d: the session takeover received the victim's answer on %s (%d bytes)", version, pk.TopicName, len(pk.Payload))
			}
			if pk.FixedHeader.Type == packets.Pingresp {
				break
			}
		}
	}
}
