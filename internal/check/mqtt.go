package check

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/provisiond/provisiond/internal/connect"
	"github.com/provisiond/provisiond/internal/fleet"
)

// checkKeepAlive is the keepalive the check's CONNECT asks for (seconds).
const checkKeepAlive = 60

// responseTopics are exactly the topics the configured method, format and
// template subscribe to: the certificate operation's and RegisterThing's
// accepted and rejected topics.
func responseTopics(method, format, template string) ([]string, error) {
	op := fleet.OpCreateFromCSR
	if method == "create-keys" {
		op = fleet.OpCreateKeys
	}
	var topics []string
	for _, o := range []struct {
		op       fleet.Operation
		template string
	}{{op, ""}, {fleet.OpRegisterThing, template}} {
		for _, build := range []func(fleet.Operation, string, fleet.Format) (string, error){fleet.AcceptedTopic, fleet.RejectedTopic} {
			t, err := build(o.op, o.template, fleet.Format(format))
			if err != nil {
				return nil, err
			}
			topics = append(topics, t)
		}
	}
	return topics, nil
}

// mqtt sends CONNECT with the claim, then SUBSCRIBE to the response topics,
// and reads CONNACK and SUBACK. It publishes nothing.
func (r *run) mqtt(ctx context.Context) Result {
	c := r.Config
	topics, err := responseTopics(c.CertificateMethod, c.PayloadFormat, c.Template.Name)
	if err != nil {
		return fail("correct template.name", "%v", err)
	}
	conn := r.conn
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()

	clientID := checkClientID(r.ClientID)
	cp := packets.NewControlPacket(packets.Connect).(*packets.ConnectPacket)
	cp.ProtocolName, cp.ProtocolVersion = "MQTT", 4
	cp.CleanSession, cp.ClientIdentifier, cp.Keepalive = true, clientID, checkKeepAlive
	if err := cp.Write(conn); err != nil {
		return failed(connect.Explain(readError(ctx, "CONNECT", err)))
	}
	pk, err := packets.ReadPacket(conn)
	if err != nil {
		return failed(connect.Explain(readError(ctx, "CONNECT", err)))
	}
	ack, isAck := pk.(*packets.ConnackPacket)
	if !isAck {
		return fail(connect.FixClaimCert, "the endpoint answered CONNECT with %s, not CONNACK", pk.String())
	}
	if ack.ReturnCode != packets.Accepted {
		return failed(connect.Explain(&connect.ConnackError{Code: ack.ReturnCode}))
	}

	sp := packets.NewControlPacket(packets.Subscribe).(*packets.SubscribePacket)
	sp.MessageID, sp.Topics = 1, topics
	sp.Qoss = make([]byte, len(topics))
	for i := range sp.Qoss {
		sp.Qoss[i] = 1
	}
	fixPolicy := sprintf("allow iot:Subscribe and iot:Receive on these topics for template %s in the claim's policy", c.Template.Name)
	if err := sp.Write(conn); err != nil {
		return failed(connect.Explain(readError(ctx, "SUBSCRIBE", err)))
	}
	for {
		pk, err := packets.ReadPacket(conn)
		if err != nil {
			if connect.ClosedByPeer(err) {
				return fail(fixPolicy, "the endpoint closed the connection at SUBSCRIBE: the claim policy does not allow %s",
					strings.Join(topics, ", "))
			}
			return failed(connect.Explain(readError(ctx, "SUBSCRIBE", err)))
		}
		sa, isSuback := pk.(*packets.SubackPacket)
		if !isSuback || sa.MessageID != sp.MessageID {
			continue // nothing else is expected; nothing else matters here
		}
		var refused []string
		for i, code := range sa.ReturnCodes {
			if code == 0x80 && i < len(topics) {
				refused = append(refused, topics[i])
			}
		}
		_ = packets.NewControlPacket(packets.Disconnect).Write(conn)
		if len(refused) > 0 {
			return fail(fixPolicy, "SUBACK 0x80: the claim policy does not allow template %s's topic %s",
				c.Template.Name, strings.Join(refused, ", "))
		}
		return ok("CONNECT as %s accepted; subscribed to %s; nothing published", clientID, strings.Join(topics, ", "))
	}
}

// checkClientID is the daemon's client ID with a suffix, so that the check
// does not take over a running daemon's session (the service drops the
// older of two connections with one client ID).
func checkClientID(id string) string {
	const suffix = "-check"
	if len(id)+len(suffix) > fleet.MaxClientIDLen {
		id = id[:fleet.MaxClientIDLen-len(suffix)]
	}
	return id + suffix
}

// readError names the packet an I/O error interrupted, keeping its type.
func readError(ctx context.Context, packet string, err error) error {
	var ne net.Error
	if ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("no answer to %s before the check's timeout: %w", packet, err)
	}
	if connect.ClosedByPeer(err) {
		return fmt.Errorf("the endpoint closed the connection at %s: %w", packet, err)
	}
	return fmt.Errorf("%s: %w", packet, err)
}
