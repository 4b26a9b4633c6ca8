package fleetsim

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/fleetsim/registry"
)

// AWS IoT's connection limits.
const (
	maxClientID     = 128
	minKeepalive    = 30
	maxKeepalive    = 1200
	noKeepaliveUsed = 1200 // a client asking for no keepalive gets the longest one (ours)
)

// brokerHook plugs the emulator into mochi: who may connect, what they may use, and the
// request topics, which are answered by the emulator and never fanned out.
type brokerHook struct {
	mqtt.HookBase
	s *Server
}

func (h *brokerHook) ID() string { return "fleetsim" }

// Provides is asked by mochi at every event of every packet.
func (h *brokerHook) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnPacketRead,
		mqtt.OnSubscribe, mqtt.OnPublish, mqtt.OnDisconnect, mqtt.OnClientExpired:
		return true
	}
	return false
}

// OnConnect checks the client certificate against the registry and AWS's limits, and
// answers CONNACK itself when it refuses.
func (h *brokerHook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	s := h.s
	v5 := cl.Properties.ProtocolVersion == 5
	refuse := func(v5code packets.Code, v3code packets.Code, why string, fields ...zap.Field) error {
		code := v3code
		if v5 {
			code = v5code
			code.Reason = why
		}
		_ = s.broker.SendConnack(cl, code, false, nil)
		s.log.Info("connection refused", append(fields, zap.String("clientId", cl.ID), zap.String("reason", why))...)
		return fmt.Errorf("connection refused: %s", why)
	}
	v, ok := s.peers.Load(cl.Net.Conn)
	if !ok {
		return refuse(packets.ErrNotAuthorized, packets.ErrBadUsernameOrPassword, errNoPeer.Error())
	}
	p := v.(*peer)
	if why := clientIDError(pk.Connect.ClientIdentifier); why != "" {
		return refuse(packets.ErrClientIdentifierNotValid, packets.ErrClientIdentifierNotValid, why)
	}
	ka := pk.Connect.Keepalive
	if ka > maxKeepalive {
		return refuse(packets.ErrImplementationSpecificError, packets.ErrBadUsernameOrPassword,
			fmt.Sprintf("keepalive %ds is above the limit of %ds", ka, maxKeepalive))
	}
	cert, known, err := s.reg.Access(p.certID)
	switch {
	case err != nil:
		return refuse(packets.ErrServerUnavailable, packets.ErrServerUnavailable,
			"the registry cannot be read", zap.String("certificateId", p.certID), zap.Error(err))
	case !known:
		return refuse(packets.ErrNotAuthorized, packets.ErrBadUsernameOrPassword,
			"certificate is not registered (unknown or deleted)", zap.String("certificateId", p.certID))
	case cert.Status != StatusActive:
		return refuse(packets.ErrNotAuthorized, packets.ErrBadUsernameOrPassword,
			"certificate is "+cert.Status, zap.String("certificateId", p.certID))
	}
	var grant *subscribeGrant
	switch cert.Kind {
	case KindClaim:
		if len(cert.Policies) == 0 {
			return refuse(packets.ErrNotAuthorized, packets.ErrBadUsernameOrPassword,
				"no policy is attached to the certificate", zap.String("certificateId", p.certID))
		}
		if grant, err = claimGrant(s.reg, &s.grants, cert.Policies); err != nil {
			return refuse(packets.ErrServerUnavailable, packets.ErrServerUnavailable,
				"the claim's policies cannot be read", zap.String("certificateId", p.certID), zap.Error(err))
		}
	case KindProvisioningClaim:
		if grant, err = provisioningClaimGrant(s.reg, p.certID); err != nil {
			return refuse(packets.ErrServerUnavailable, packets.ErrServerUnavailable,
				"the provisioning claim cannot be read", zap.String("certificateId", p.certID), zap.Error(err))
		}
	}
	ci := &clientInfo{peer: p, cl: cl, kind: cert.Kind, subscribe: grant, connected: s.now()}
	if pk.Connect.WillFlag {
		// mochi publishes a Will without the ACL and publish hooks: check it here, or a
		// claim could forge the service's answers (retained, for every device).
		will := pk.Connect.WillTopic
		switch {
		case strings.HasPrefix(will, "$aws/"):
			return refuse(packets.ErrNotAuthorized, packets.ErrBadUsernameOrPassword,
				"a Will may not be published on the reserved topic "+will, zap.String("certificateId", p.certID))
		case !ci.mayPublish(will):
			return refuse(packets.ErrNotAuthorized, packets.ErrBadUsernameOrPassword,
				"the claim policy does not allow a Will on "+will, zap.String("certificateId", p.certID))
		}
	}
	switch {
	case ka == 0:
		cl.State.Keepalive = noKeepaliveUsed
		cl.State.ServerKeepalive = true
	case ka < minKeepalive:
		cl.State.Keepalive = minKeepalive
		cl.State.ServerKeepalive = true
	}
	s.trackClient(ci)
	return nil
}

// clientInfo is what the emulator knows about an accepted connection.
type clientInfo struct {
	*peer
	cl   *mqtt.Client
	kind string // claim | provisioning-claim | device
	// subscribe is a claim's iot:Subscribe grant: its attached policies', or a
	// provisioning claim's fixed policy; nil for a device.
	subscribe *subscribeGrant
	// connected is when CONNECT was accepted (a provisioning claim's five minutes).
	connected time.Time
	// inFlight counts this connection's requests being processed.
	inFlight atomic.Int32
}

// maxInFlight bounds the requests one connection may have in process at once (ours: a
// device needs one at a time); beyond it the emulator answers 429 Throttling.
const maxInFlight = 4

// trackClient remembers an accepted connection, by client ID. The entry outlives the
// connection while its session lives, so that messages for an offline persistent session
// pass the ACL check; a newer connection with the same client ID replaces it.
func (s *Server) trackClient(ci *clientInfo) {
	s.clients.Store(ci.cl.ID, ci)
}

// client returns what the emulator knows of an accepted connection; false once a newer
// connection took its client ID, or its session ended.
func (s *Server) client(cl *mqtt.Client) (*clientInfo, bool) {
	v, ok := s.clients.Load(cl.ID)
	if !ok || v.(*clientInfo).cl != cl {
		return nil, false
	}
	return v.(*clientInfo), true
}

// forgetClient drops a connection whose session ended, unless a newer connection
// already took its client ID.
func (s *Server) forgetClient(cl *mqtt.Client) {
	if ci, ok := s.client(cl); ok {
		s.clients.CompareAndDelete(cl.ID, ci)
	}
}

// OnConnectAuthenticate accepts any username: OnConnect already checked the certificate.
func (h *brokerHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	_, ok := h.s.client(cl)
	return ok
}

// OnACLCheck applies the claim policy to subscriptions and deliveries: a claim
// certificate may only use the provisioning topics, and of them only those its
// attached policies allow it to subscribe to (policy.go). Its publishes are checked by
// OnPublish instead, once mochi has resolved any MQTT 5 topic alias, because AWS IoT
// closes the connection of a claim publishing outside its policy, where mochi would drop
// a QoS 0 publish silently and answer an MQTT 5 QoS 1 one with PUBACK 0x87. Device
// certificates may use any topic; their publishes on reserved $aws topics that are not
// requests are dropped by OnPublish.
func (h *brokerHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	ci, ok := h.s.client(cl)
	if !ok {
		return false
	}
	return write || !registry.IsClaim(ci.kind) || (claimMayUse(topic) && ci.subscribe.allows(topic))
}

// mayPublish says whether the connection may publish on topic: a claim only on the
// provisioning topics, and a provisioning claim only on its template's.
func (ci *clientInfo) mayPublish(topic string) bool {
	switch ci.kind {
	case KindClaim:
		return claimMayUse(topic)
	case KindProvisioningClaim:
		return claimMayUse(topic) && ci.subscribe.allows(topic)
	}
	return true
}

// OnPacketRead refuses QoS 2 publishes as AWS IoT does: it supports QoS 0 and 1 only,
// and closes the connection of a client that publishes with QoS 2.
func (h *brokerHook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type == packets.Publish && pk.FixedHeader.Qos > 1 {
		h.s.log.Info("QoS 2 publish: disconnecting", zap.String("clientId", cl.ID), zap.String("topic", pk.TopicName))
		_ = h.s.broker.DisconnectClient(cl, packets.ErrQosNotSupported)
		return pk, packets.ErrRejectPacket
	}
	return pk, nil
}

// OnSubscribe applies AWS's subscription limits (limits.go).
func (h *brokerHook) OnSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	return h.limitSubscribe(cl, pk)
}

// OnPublish takes the request topics out of the broker: they are answered only to the
// publishing connection, off its read path, and never delivered to other subscribers.
func (h *brokerHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	s := h.s
	if len(pk.Payload) > maxPayload {
		s.log.Info("payload too large: disconnecting", zap.String("clientId", cl.ID),
			zap.String("topic", pk.TopicName), zap.Int("bytes", len(pk.Payload)))
		_ = s.broker.DisconnectClient(cl, packets.ErrPacketTooLarge)
		return pk, packets.ErrRejectPacket
	}
	if why := topicLimitError(pk.TopicName); why != "" {
		s.log.Info("publish outside the topic limits: disconnecting", zap.String("clientId", cl.ID),
			zap.String("topic", truncate(pk.TopicName, 64)), zap.String("reason", why))
		_ = s.broker.DisconnectClient(cl, packets.ErrTopicNameInvalid)
		return pk, packets.ErrRejectPacket
	}
	ci, known := s.client(cl)
	if known && !ci.mayPublish(pk.TopicName) {
		s.log.Info("claim published outside its policy: disconnecting",
			zap.String("clientId", cl.ID), zap.String("topic", pk.TopicName))
		_ = s.broker.DisconnectClient(cl, packets.ErrNotAuthorized)
		return pk, packets.ErrRejectPacket
	}
	req, ok := parseRequestTopic(pk.TopicName)
	if !ok {
		if strings.HasPrefix(pk.TopicName, "$aws/") {
			// Reserved: nobody may forge the service's answers, live or retained
			// (an ignored publish is neither delivered nor retained).
			return pk, packets.CodeSuccessIgnore
		}
		return pk, nil
	}
	if !known {
		return pk, packets.CodeSuccessIgnore
	}
	if ci.inFlight.Add(1) > maxInFlight {
		ci.inFlight.Add(-1)
		s.answer(cl, req, nil, errorf(429, codeThrottling,
			"too many requests in process on this connection: at most %d at once", maxInFlight))
		return pk, packets.CodeSuccessIgnore
	}
	payload := bytes.Clone(pk.Payload)
	if !s.dispatch(func() {
		defer ci.inFlight.Add(-1)
		s.handle(cl, ci, req, payload)
	}) {
		ci.inFlight.Add(-1)
	}
	return pk, packets.CodeSuccessIgnore
}

// OnDisconnect forgets the connection, unless its session lives on.
func (h *brokerHook) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	if expire {
		h.s.forgetClient(cl)
	}
}

// OnClientExpired forgets an offline session that expired.
func (h *brokerHook) OnClientExpired(cl *mqtt.Client) {
	h.s.forgetClient(cl)
}

// dispatch runs f on a goroutine of its own (a kept one) unless the server is closing.
func (s *Server) dispatch(f func()) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return false
	}
	s.work.Add(1)
	s.workers.run(func() {
		defer s.work.Done()
		f()
	})
	return true
}

// respond writes one answer to the connection that asked, and only if it holds a
// subscription matching the topic, at that subscription's QoS (at most 1).
//
// The answer is sent once and never enters the session's inflight store, so it is never
// resent, not even to a connection that resumes the session under the same client ID.
// Tying a resume to the certificate would not do: a claim certificate is shared by a
// whole fleet, so only the connection tells the asker from another device holding it. A
// device whose connection drops before the answer asks again, as AWS's SDKs and
// provisiond do; the answer's private key and ownership token go nowhere else.
func (s *Server) respond(cl *mqtt.Client, topic string, payload []byte) error {
	if cl.Closed() {
		return errClientGone
	}
	qos := -1
	for filter, sub := range cl.State.Subscriptions.GetAll() {
		if filterMatches(filter, topic) && int(sub.Qos) > qos {
			qos = int(sub.Qos)
		}
	}
	if qos < 0 {
		return errNotSubscribed
	}
	if qos > 1 {
		qos = 1
	}
	out := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: byte(qos)},
		TopicName:   topic,
		Payload:     payload,
		Created:     s.now().Unix(),
	}
	if qos == 1 {
		id, err := cl.NextPacketID()
		if err != nil {
			return err
		}
		out.PacketID = uint16(id)
	}
	return cl.WritePacket(out)
}

var (
	errClientGone    = errors.New("the connection that asked is closed")
	errNotSubscribed = errors.New("the connection that asked holds no matching subscription")
)
