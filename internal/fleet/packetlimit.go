package fleet

import (
	"fmt"
	"net"
)

// maxPacket bounds an MQTT packet from the endpoint: the largest payload
// AWS IoT Core carries, and room for the topic and the header. paho reads a
// whole packet into memory before anyone sees it, so the bound is applied
// to the stream, before paho allocates.
const maxPacket = MaxPayloadSize + 1024

// PacketTooLargeError is an endpoint announcing a packet over maxPacket.
type PacketTooLargeError struct{ Size int }

func (e *PacketTooLargeError) Error() string {
	return fmt.Sprintf("the endpoint sent an MQTT packet of %d bytes, over the %d-byte limit", e.Size, maxPacket)
}

// packetLimitConn follows the MQTT framing of what it reads (a fixed header
// byte, a remaining length of 1 to 4 bytes, the body) and fails the read
// that announces a packet over maxPacket.
type packetLimitConn struct {
	net.Conn
	// body is what is left of the current packet's body; when 0, the next
	// byte starts a fixed header.
	body       int
	inLength   bool // reading the remaining length
	length     int
	multiplier int
}

func limitPackets(c net.Conn) net.Conn { return &packetLimitConn{Conn: c} }

func (c *packetLimitConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	for i := 0; i < n; i++ {
		switch {
		case c.body > 0:
			skip := min(c.body, n-i)
			c.body -= skip
			i += skip - 1
		case c.inLength:
			b := p[i]
			c.length += int(b&0x7f) * c.multiplier
			c.multiplier *= 128
			if c.length > maxPacket {
				return 0, &PacketTooLargeError{Size: c.length}
			}
			if b&0x80 == 0 {
				c.inLength, c.body = false, c.length
			} else if c.multiplier > 128*128*128 {
				return 0, fmt.Errorf("the endpoint sent a malformed MQTT remaining length")
			}
		default: // a fixed header's first byte
			c.inLength, c.length, c.multiplier = true, 0, 1
		}
	}
	return n, err
}
