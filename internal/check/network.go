package check

import (
	"context"
	"crypto/tls"
	"net"
	"time"

	"github.com/provisiond/provisiond/internal/connect"
	"github.com/provisiond/provisiond/internal/fleet"
)

// dns resolves the endpoint's host, unless it is an IP address. Through a
// proxy, the proxy resolves it: a name this device cannot resolve is fine.
func (r *run) dns(ctx context.Context) Result {
	if net.ParseIP(r.host) != nil {
		return ok("skipped: the endpoint is an IP address")
	}
	addrs, err := r.Resolver.LookupHost(ctx, r.host)
	viaProxy := r.route.For(r.Config.Endpoint) != nil
	switch {
	case err != nil && viaProxy:
		return ok("%s does not resolve here, but the proxy resolves it", r.host)
	case err != nil:
		return failed(connect.Explain(err))
	}
	return ok("%s resolves to %v", r.host, addrs)
}

// tcp connects to the endpoint, directly or through the proxy with CONNECT.
func (r *run) tcp(ctx context.Context) Result {
	conn, err := r.route.DialContext(ctx, "tcp", r.Config.Endpoint)
	if err != nil {
		return failed(connect.Explain(err))
	}
	r.conn = conn
	return ok("connected to %s %s", r.Config.Endpoint, r.route.Describe(r.Config.Endpoint))
}

// tls verifies the server's certificate against root_ca for the endpoint's
// name at the clock, with the daemon's own TLS options for the claim
// session (ALPN x-amzn-mqtt-ca on 443, the key exchange).
func (r *run) tls(ctx context.Context) Result {
	opts, err := r.dialer.ClaimOptions(r.claim)
	var cfg *tls.Config
	if err == nil {
		cfg, err = opts.TLSConfig()
	}
	if err != nil {
		return fail("correct the setting named above", "%v", err)
	}
	alpn := len(cfg.NextProtos) > 0
	tc := tls.Client(r.conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		f := connect.Explain(err)
		if f.Check == connect.StepClock {
			r.amend(Result{Name: connect.StepClock, Status: Fail, Message: f.Message, Fix: f.Fix})
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
