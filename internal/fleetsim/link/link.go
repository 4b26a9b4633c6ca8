package link

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"time"
)

// Params makes every connection to the emulator behave as if it crossed a
// network link: a device stack can be tried on a cellular-like link without
// root, netem or a second machine. The zero Params is loopback, untouched.
type Params struct {
	// RTT is the round-trip time: each direction is delayed by RTT/2, and
	// the client's first byte is delivered one RTT later still, the cost of
	// the TCP handshake that loopback does not pay.
	RTT time.Duration
	// Jitter adds up to this much more to each direction's delay, drawn
	// afresh for every chunk of bytes; bytes are never reordered.
	Jitter time.Duration
	// Loss is the probability, per request a device publishes, that its
	// connection is dropped instead (0 to 1), so that retry paths run.
	Loss float64
	// Stall is the probability, per CONNECT or request a device sends,
	// that its connection goes silent instead (0 to 1): a half-open link,
	// as a mobile path that lost its route leaves. From the read that
	// carries that packet on, nothing reaches the broker and nothing comes
	// back, and the socket stays open (no FIN, no RST) until the device
	// closes it; only the device's own timeouts find it.
	Stall float64
	// StallIf, when set, chooses the packets that stall instead of Stall's
	// chance: it sees each CONNECT and PUBLISH as the trace describes it
	// (Packet, ClientID, Topic), so that a test stalls one exact step.
	StallIf func(TraceEvent) bool
}

// Validate refuses negative delays and a loss outside 0..1.
func (l Params) Validate() error {
	switch {
	case l.RTT < 0:
		return fmt.Errorf("link RTT %s is negative", l.RTT)
	case l.Jitter < 0:
		return fmt.Errorf("link jitter %s is negative", l.Jitter)
	case l.Loss < 0 || l.Loss > 1 || l.Loss != l.Loss:
		return fmt.Errorf("link loss %v is not a probability between 0 and 1", l.Loss)
	case l.Stall < 0 || l.Stall > 1 || l.Stall != l.Stall:
		return fmt.Errorf("link stall %v is not a probability between 0 and 1", l.Stall)
	}
	return nil
}

// Loopback says whether l leaves connections untouched, as the zero Params.
func (l Params) Loopback() bool { return !l.delays() && !l.watchesPackets() }

// watchesPackets says whether connections need the packet watcher for
// loss or stalls.
func (l Params) watchesPackets() bool { return l.Loss > 0 || l.Stall > 0 || l.StallIf != nil }

// stalls decides whether the packet ev describes silences its connection.
func (l Params) stalls(ev TraceEvent) bool {
	if l.StallIf != nil {
		return l.StallIf(ev)
	}
	return l.Stall > 0 && rand.Float64() < l.Stall
}

// delays says whether connections need the delaying wrapper at all.
func (l Params) delays() bool { return l.RTT > 0 || l.Jitter > 0 }

// oneWay is one direction's delay for a chunk: RTT/2 plus its jitter.
func (l Params) oneWay() time.Duration {
	d := l.RTT / 2
	if l.Jitter > 0 {
		d += rand.N(l.Jitter)
	}
	return d
}

// linkChunk is bytes (or the end of the stream, err) and when the far side may have them.
type linkChunk struct {
	data []byte
	err  error
	due  time.Time
}

// linkReadSize is the most one chunk carries from the socket.
const linkReadSize = 32 << 10

// linkConn delays both directions of a server-side connection. Reads are
// fed by a goroutine that timestamps what the socket delivers; writes are
// queued and written out by another goroutine when due, so the server
// never blocks on the link and the link's capacity is not limited to one
// chunk per RTT.
type linkConn struct {
	net.Conn
	link Params
	// ready is when the client's first byte may be delivered: accept time
	// plus the RTT its TCP handshake would have cost.
	ready time.Time

	in      chan linkChunk
	cur     linkChunk
	haveCur bool
	readMu  sync.Mutex // one Read at a time, as a stream has

	mu         sync.Mutex
	deadline   time.Time
	deadlineCh chan struct{} // closed and replaced when the read deadline changes
	out        []linkChunk
	lastOut    time.Time
	writeErr   error
	wake       chan struct{}

	closed    chan struct{}
	closeOnce sync.Once
}

func newLinkConn(raw net.Conn, l Params, accepted time.Time) *linkConn {
	c := &linkConn{
		Conn:       raw,
		link:       l,
		ready:      accepted.Add(l.RTT),
		in:         make(chan linkChunk, 16),
		deadlineCh: make(chan struct{}),
		wake:       make(chan struct{}, 1),
		closed:     make(chan struct{}),
	}
	go c.receive()
	go c.send()
	return c
}

// receive timestamps what the socket delivers, in order: a chunk is due
// RTT/2 (plus jitter) after it arrived, never before the handshake's RTT
// has passed, and never before the chunk ahead of it.
func (c *linkConn) receive() {
	var last time.Time
	for {
		buf := make([]byte, linkReadSize)
		n, err := c.Conn.Read(buf)
		at := time.Now()
		if at.Before(c.ready) {
			at = c.ready
		}
		due := at.Add(c.link.oneWay())
		if due.Before(last) {
			due = last
		}
		last = due
		ch := linkChunk{data: buf[:n], err: err, due: due}
		select {
		case c.in <- ch:
		case <-c.closed:
			return
		}
		if err != nil {
			return
		}
	}
}

// Read returns bytes once they are due, honouring the read deadline.
func (c *linkConn) Read(p []byte) (int, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	for !c.haveCur || (len(c.cur.data) == 0 && c.cur.err == nil) {
		ch, err := c.await(nil)
		if err != nil {
			return 0, err
		}
		c.cur, c.haveCur = ch, true
	}
	if _, err := c.await(&c.cur.due); err != nil {
		return 0, err
	}
	if len(c.cur.data) == 0 {
		return 0, c.cur.err // sticky: the stream has ended
	}
	n := copy(p, c.cur.data)
	c.cur.data = c.cur.data[n:]
	return n, nil
}

// await waits for the next chunk (until == nil) or for the time *until,
// the read deadline, or Close.
func (c *linkConn) await(until *time.Time) (linkChunk, error) {
	for {
		ch, again, err := c.awaitOnce(until)
		if !again {
			return ch, err
		}
	}
}

// awaitOnce is one wait of await; again means the deadline changed meanwhile.
func (c *linkConn) awaitOnce(until *time.Time) (ch linkChunk, again bool, err error) {
	c.mu.Lock()
	deadline, changed := c.deadline, c.deadlineCh
	c.mu.Unlock()
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			return linkChunk{}, false, os.ErrDeadlineExceeded
		}
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	var in chan linkChunk
	var due <-chan time.Time
	if until == nil {
		in = c.in
	} else {
		d := time.Until(*until)
		if d <= 0 {
			return linkChunk{}, false, nil
		}
		t := time.NewTimer(d)
		defer t.Stop()
		due = t.C
	}
	select {
	case ch := <-in:
		return ch, false, nil
	case <-due:
		return linkChunk{}, false, nil
	case <-timeout:
		return linkChunk{}, false, os.ErrDeadlineExceeded
	case <-changed:
		return linkChunk{}, true, nil
	case <-c.closed:
		return linkChunk{}, false, net.ErrClosed
	}
}

// Write queues p to reach the client RTT/2 (plus jitter) from now, after
// everything written before it.
func (c *linkConn) Write(p []byte) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	due := time.Now().Add(c.link.oneWay())
	c.mu.Lock()
	if c.writeErr != nil {
		err := c.writeErr
		c.mu.Unlock()
		return 0, err
	}
	if due.Before(c.lastOut) {
		due = c.lastOut
	}
	c.lastOut = due
	c.out = append(c.out, linkChunk{data: append([]byte(nil), p...), due: due})
	c.mu.Unlock()
	c.poke()
	return len(p), nil
}

func (c *linkConn) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// send writes queued chunks when due. After Close it flushes what was
// written before, as TCP delivers data ahead of its FIN, then closes the socket.
func (c *linkConn) send() {
	defer func() { _ = c.Conn.Close() }()
	for {
		c.mu.Lock()
		var next *linkChunk
		if len(c.out) > 0 {
			next = &c.out[0]
		}
		c.mu.Unlock()
		if next == nil {
			select {
			case <-c.wake:
				continue
			case <-c.closed:
				c.mu.Lock()
				empty := len(c.out) == 0
				c.mu.Unlock()
				if empty {
					return
				}
				continue
			}
		}
		if d := time.Until(next.due); d > 0 {
			time.Sleep(d)
		}
		_, err := c.Conn.Write(next.data)
		c.mu.Lock()
		c.out = c.out[1:]
		if err != nil {
			c.writeErr = err
			c.out = nil
		}
		c.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// Close ends reads at once; bytes already written still reach the client.
func (c *linkConn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.poke()
	})
	return nil
}

func (c *linkConn) SetDeadline(t time.Time) error {
	return c.SetReadDeadline(t)
}

// SetReadDeadline bounds Reads; writes never block, so their deadline is moot.
func (c *linkConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	close(c.deadlineCh)
	c.deadlineCh = make(chan struct{})
	c.mu.Unlock()
	return nil
}

func (c *linkConn) SetWriteDeadline(time.Time) error { return nil }

// errLinkLoss is the cause logged when the link emulator drops a connection.
var errLinkLoss = errors.New("connection dropped by the link emulator (--link-loss)")
