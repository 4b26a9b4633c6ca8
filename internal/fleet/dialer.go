package fleet

import (
	"context"
	"net"
)

// dialTCP opens the TCP connection to the endpoint (DNS included). It is
// the one place a connection is opened, so that another way to reach the
// endpoint (a proxy, a custom DialContext) plugs in here and serves Dial,
// Prove and DialAhead alike.
func (s settings) dialTCP(ctx context.Context) (net.Conn, error) {
	dial := s.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	return dial(ctx, "tcp", net.JoinHostPort(s.host, s.port))
}
