package link

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// TraceEvent is one line of the packet trace (Options.Trace, fleetsim serve
// --trace FILE): a connection opened (accepted), finished its TLS handshake,
// closed, was dropped by the link emulator, or one MQTT packet crossed it.
// Inbound packets are stamped when the broker reads them, outbound ones when
// it writes them: with a Params, both are on the emulator's side of the link.
type TraceEvent struct {
	Time time.Time `json:"time"`
	Conn uint64    `json:"conn"`
	// Event is "open", "tls", "packet", "drop", "stall" or "close".
	Event string `json:"event"`
	// Remote is the client's address, on "open".
	Remote string `json:"remote,omitempty"`
	// Dir is "in" (device to emulator) or "out", on "packet".
	Dir string `json:"dir,omitempty"`
	// Packet is the MQTT control packet type: CONNECT, CONNACK, SUBSCRIBE, …
	Packet string `json:"packet,omitempty"`
	// ClientID is the CONNECT's client identifier.
	ClientID string `json:"clientId,omitempty"`
	// Topic is a PUBLISH's topic; Topics a SUBSCRIBE's filters.
	Topic  string   `json:"topic,omitempty"`
	Topics []string `json:"topics,omitempty"`
}

// ReadTrace parses a packet trace written by the emulator.
func ReadTrace(r io.Reader) ([]TraceEvent, error) {
	var out []TraceEvent
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		var ev TraceEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, fmt.Errorf("trace line %d: %w", line, err)
		}
		out = append(out, ev)
	}
	return out, sc.Err()
}

// tracer writes trace events as JSON lines, one at a time.
type tracer struct {
	mu   sync.Mutex
	enc  *json.Encoder
	next atomic.Uint64
}

func newTracer(w io.Writer) *tracer {
	if w == nil {
		return nil
	}
	return &tracer{enc: json.NewEncoder(w)}
}

func (t *tracer) emit(ev TraceEvent) {
	if t == nil {
		return
	}
	ev.Time = time.Now().UTC()
	t.mu.Lock()
	_ = t.enc.Encode(ev) // a trace that cannot be written must not stop the emulator
	t.mu.Unlock()
}

// packetConn watches the MQTT packets of one connection above TLS: it traces
// them and, with a lossy or stalling Params, drops the connection or
// silences it in place of a packet.
type packetConn struct {
	net.Conn
	id      uint64
	trace   *tracer
	link    Params
	inbuf   packetBuffer
	outbuf  packetBuffer
	outMu   sync.Mutex
	stalled atomic.Bool
}

// Read passes bytes to the broker once the packets they complete are traced;
// a request the link loses closes the connection instead, and a packet that
// stalls it silences the connection.
func (c *packetConn) Read(p []byte) (int, error) {
	if c.stalled.Load() {
		return c.silence()
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		dropped, stalled := false, false
		c.inbuf.feed(p[:n], func(first byte, body []byte) {
			if dropped || stalled {
				return
			}
			ev := packetEvent(c.id, "in", first, body)
			typ := first >> 4
			switch {
			case (typ == mqttConnect || typ == mqttPublish) && c.link.stalls(ev):
				stalled = true
			case typ == mqttPublish && c.link.Loss > 0 && rand.Float64() < c.link.Loss:
				dropped = true
			default:
				c.trace.emit(ev)
			}
		})
		switch {
		case stalled:
			c.trace.emit(TraceEvent{Conn: c.id, Event: "stall"})
			c.stalled.Store(true)
			return c.silence()
		case dropped:
			c.trace.emit(TraceEvent{Conn: c.id, Event: "drop"})
			_ = c.Conn.Close()
			return 0, errLinkLoss
		}
	}
	return n, err
}

// silence swallows what the device sends until it closes the connection
// (or the broker does), so that the broker sees nothing more.
func (c *packetConn) silence() (int, error) {
	buf := make([]byte, 4096)
	for {
		if _, err := c.Conn.Read(buf); err != nil {
			return 0, err
		}
	}
}

// Write traces the broker's packets; on a stalled connection they are
// swallowed, as a link that lost its route loses them.
func (c *packetConn) Write(p []byte) (int, error) {
	if c.stalled.Load() {
		return len(p), nil
	}
	c.outMu.Lock()
	c.outbuf.feed(p, func(first byte, body []byte) {
		c.trace.emit(packetEvent(c.id, "out", first, body))
	})
	c.outMu.Unlock()
	return c.Conn.Write(p)
}

func (c *packetConn) Close() error {
	c.trace.emit(TraceEvent{Conn: c.id, Event: "close"})
	return c.Conn.Close()
}

// MQTT 3.1.1 control packet types (section 2.2.1) the trace decodes further.
const (
	mqttConnect   = 1
	mqttPublish   = 3
	mqttSubscribe = 8
)

var packetNames = [16]string{"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL",
	"PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"}

// packetEvent describes one packet; body is what follows the fixed header.
func packetEvent(id uint64, dir string, first byte, body []byte) TraceEvent {
	typ := first >> 4
	ev := TraceEvent{Conn: id, Event: "packet", Dir: dir, Packet: packetNames[typ]}
	switch typ {
	case mqttConnect:
		// Protocol name (6 bytes for "MQTT"), level, flags, keepalive, then the client ID.
		if len(body) >= 2 {
			skip := 2 + int(binary.BigEndian.Uint16(body)) + 4
			if s, _, ok := mqttString(body, skip); ok {
				ev.ClientID = s
			}
		}
	case mqttPublish:
		ev.Topic, _, _ = mqttString(body, 0)
	case mqttSubscribe:
		for off := 2; off < len(body); off++ { // after the packet identifier
			s, next, ok := mqttString(body, off)
			if !ok {
				break
			}
			ev.Topics = append(ev.Topics, s)
			off = next // the loop's increment skips the requested QoS
		}
	}
	return ev
}

// mqttString reads a length-prefixed string at off and returns the offset after it.
func mqttString(b []byte, off int) (string, int, bool) {
	if off < 0 || off+2 > len(b) {
		return "", off, false
	}
	n := int(binary.BigEndian.Uint16(b[off:]))
	if off+2+n > len(b) {
		return "", off, false
	}
	return string(b[off+2 : off+2+n]), off + 2 + n, true
}

// packetBuffer cuts a byte stream into MQTT packets.
type packetBuffer struct{ buf []byte }

// feed adds bytes and calls emit with the first byte and the body of each
// packet they complete.
func (b *packetBuffer) feed(p []byte, emit func(first byte, body []byte)) {
	b.buf = append(b.buf, p...)
	for {
		size, hdr, ok := remainingLength(b.buf)
		if !ok && len(b.buf) > 4 {
			b.buf = nil // not MQTT: the broker will end the connection
			return
		}
		if !ok || len(b.buf) < hdr+size {
			break
		}
		emit(b.buf[0], b.buf[hdr:hdr+size])
		b.buf = b.buf[hdr+size:]
	}
	if len(b.buf) == 0 {
		b.buf = nil // let a large packet's memory go
	}
}

// remainingLength decodes the fixed header's variable-length size (section
// 2.2.3); hdr is the fixed header's length.
func remainingLength(b []byte) (size, hdr int, ok bool) {
	mult := 1
	for i := 1; i < len(b) && i <= 4; i++ {
		size += int(b[i]&0x7f) * mult
		if b[i]&0x80 == 0 {
			return size, i + 1, true
		}
		mult *= 128
	}
	return 0, 0, false
}
