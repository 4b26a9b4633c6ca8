package check

import (
	"context"
	"crypto/tls"
	"net"
	"time"

	"github.com/provisiond/provisiond/internal/fleet"
)

// dns resolves the endpoint's host, unless it is an IP address. Through a
// proxy, the proxy resolves it: a name this device cannot resolve is fine.
func (r *run) dns(ctx context.Context) Result {
	if net.ParseIP(r.host) != nil {
		return ok("skipped: the endpoint is an IP address")
	}
	addrs, err := r.Resolver.LookupHost(ctx, r.host)
	viaProxy := r.Proxy.For(r.Config.Endpoint) != nil
	switch {
	case err != nil && viaProxy:
		return ok("%s does not resolve here, but the proxy resolves it", r.host)
	case err != nil:
		return failed(Explain(err))
	}
	return ok("%s resolves to %v", r.host, addrs)
}

// tcp connects to the endpoint, directly or through the proxy with CONNECT.
func (r *run) tcp(ctx context.Context) Result {
	conn, err := r.Proxy.DialContext(ctx, "tcp", r.Config.Endpoint)
	if err != nil {
		return failed(Explain(err))
	}
	r.conn = conn
	return ok("connected to %s %s", r.Config.Endpoint, r.Proxy.Describe(r.Config.Endpoint))
}

// tls verifies the server's certificate against root_ca for the endpoint's
// name at the clock, offering ALPN x-amzn-mqtt-ca on 443 as the daemon does.
func (r *run) tls(ctx context.Context) Result {
	cfg := &tls.Config{
		RootCAs:      r.rootCAs,
		ServerName:   r.host,
		Certificates: []tls.Certificate{r.claim},
		MinVersion:   tls.VersionTLS12,
		Time:         r.Now,
	}
	alpn := r.port == "443"
	if alpn {
		cfg.NextProtos = []string{fleet.ALPNProtocol}
	}
	tc := tls.Client(r.conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		f := Explain(err)
		if f.Check == NameClock {
			r.amend(Result{Name: NameClock, Status: Fail, Message: f.Message, Fix: f.Fix})
			return fail(f.Fix, "server certificate not valid at the local clock (see clock)")
		}
		return failed(f)
	}
	r.conn = tc
	st := tc.ConnectionState()
	if alpn && st.NegotiatedProtocol != fleet.ALPNProtocol {
		return fail("use port 8883, or an endpoint that takes MQTT on 443 (an AWS IoT -ats endpoint)",
			"the endpoint did not accept ALPN %s on port 443", fleet.ALPNProtocol)
	}
	leaf := st.PeerCertificates[0]
	msg := sprintf("server certificate for %s verified against root_ca (issued by %s, valid until %s)",
		r.host, leaf.Issuer, leaf.NotAfter.UTC().Format(time.RFC3339))
	if alpn {
		msg += ", ALPN " + fleet.ALPNProtocol + " accepted"
	}
	r.reached = true
	return ok("%s", msg)
}
