package link

import (
	"io"
	"net"
	"time"
)

// Wire is what the link emulator and the packet trace add to a listener's
// connections; a nil *Wire adds nothing.
type Wire struct {
	link  Params
	trace *tracer
}

// NewWire returns nil when there is neither a link to emulate nor a trace
// to write, so that plain serving pays nothing.
func NewWire(link Params, trace io.Writer) *Wire {
	if !link.delays() && !link.watchesPackets() && trace == nil {
		return nil
	}
	return &Wire{link: link, trace: newTracer(trace)}
}

// Accept shapes a freshly accepted socket and numbers it for the trace.
func (w *Wire) Accept(raw net.Conn) (net.Conn, uint64) {
	if w == nil {
		return raw, 0
	}
	var id uint64
	if w.trace != nil {
		id = w.trace.next.Add(1)
		w.trace.emit(TraceEvent{Conn: id, Event: "open", Remote: raw.RemoteAddr().String()})
	}
	if w.link.delays() {
		raw = newLinkConn(raw, w.link, time.Now())
	}
	return raw, id
}

// Watch wraps the connection the broker reads MQTT from, after TLS.
func (w *Wire) Watch(conn net.Conn, id uint64) net.Conn {
	if w == nil || (w.trace == nil && !w.link.watchesPackets()) {
		return conn
	}
	w.trace.emit(TraceEvent{Conn: id, Event: "tls"})
	return &packetConn{Conn: conn, id: id, trace: w.trace, link: w.link}
}
