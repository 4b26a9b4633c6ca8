package fleet

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
)

// stream is a net.Conn whose reads come from r, a few bytes at a time.
type stream struct {
	net.Conn
	r     io.Reader
	chunk int
}

func (s *stream) Read(p []byte) (int, error) {
	if len(p) > s.chunk {
		p = p[:s.chunk]
	}
	return s.r.Read(p)
}

func remaining(n int) []byte {
	var out []byte
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		out = append(out, b)
		if n == 0 {
			return out
		}
	}
}

// Packets within the bound pass through byte for byte, however the reads
// split them; a header announcing a packet over the bound fails the read
// before its body is read.
func TestHostilePacketLengthIsBounded(t *testing.T) {
	var ok bytes.Buffer
	for _, size := range []int{0, 2, 127, 128, 16383, 16384, maxPacket} {
		ok.WriteByte(0x30)
		ok.Write(remaining(size))
		ok.Write(bytes.Repeat([]byte{0xAA}, size))
	}
	for _, chunk := range []int{1, 3, 4096, 1 << 20} {
		c := limitPackets(&stream{r: bytes.NewReader(ok.Bytes()), chunk: chunk})
		got, err := io.ReadAll(c)
		if err != nil || !bytes.Equal(got, ok.Bytes()) {
			t.Fatalf("chunks of %d: %d bytes, %v; want the %d bytes through", chunk, len(got), err, ok.Len())
		}
	}
	huge := append([]byte{0x30}, remaining(200<<20)...)
	c := limitPackets(&stream{r: io.MultiReader(bytes.NewReader(huge), neverEnding{}), chunk: 4096})
	var tooLarge *PacketTooLargeError
	if _, err := io.ReadAll(c); !errors.As(err, &tooLarge) || tooLarge.Size <= maxPacket {
		t.Fatalf("a 200 MB packet: %v, want a PacketTooLargeError", err)
	}
}

type neverEnding struct{}

func (neverEnding) Read(p []byte) (int, error) { return len(p), nil }
