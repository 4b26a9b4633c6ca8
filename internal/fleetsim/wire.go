package fleetsim

import (
	"io"
	"net"
	"time"
)

// wire is what the link emulator and the packet trace add to a listener's
// connections; a nil *wire adds nothing.
type wire struct {
	link  Link
	trace *tracer
}

// newWire returns nil when there is neither a link to emulate nor a trace
// to write, so that plain serving pays nothing.
func newWire(link Link, trace io.Writer) *wire {
	if !link.delays() && link.Loss == 0 && trace == nil {
		return nil
	}
	return &wire{link: link, trace: newTracer(trace)}
}

// accept shapes a freshly accepted socket and numbers it for the trace.
func (w *wire) accept(raw net.Conn) (net.Conn, uint64) {
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

// watch wraps the connection the broker reads MQTT from, after TLS.
func (w *wire) watch(conn net.Conn, id uint64) net.Conn {
	if w == nil || (w.trace == nil && w.link.Loss == 0) {
		return conn
	}
	w.trace.emit(TraceEvent{Conn: id, Event: "tls"})
	return &packetConn{Conn: conn, id: id, trace: w.trace, loss: w.link.Loss}
}
