package check

import (
	"context"
	"crypto/tls"
	"net"
	"time"

	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/connect"
	"github.com/provisiond/provisiond/internal/proxy"
)

// DefaultTimeout bounds each check.
const DefaultTimeout = 10 * time.Second

// Options are what Run checks.
type Options struct {
	// Config is loaded and its files checked (a config that does not load is
	// ConfigFailed's business).
	Config *config.Config
	// ClientID is the daemon's; the claim connect uses it with a "-check"
	// suffix, so as not to take over a running daemon's session. The
	// endpoint is reached as the daemon reaches it (connect), through the
	// proxy its settings name.
	ClientID string
	// Identity is the current device identity, nil when there is none.
	Identity *Identity
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Timeout bounds each check; zero is DefaultTimeout.
	Timeout time.Duration
	// Resolver looks up the endpoint's host; nil is net.DefaultResolver.
	Resolver *net.Resolver
}

// Identity is the device's current certificate (see CurrentIdentity).
type Identity struct {
	// Err is why credentials.json could not be read; the rest is then empty.
	Err             error
	ThingName       string
	CertificateFile string
	PrivateKeyFile  string
}

// run is the state shared by the steps of one Run.
type run struct {
	Options
	// dialer reaches the endpoint as the daemon does; route is its way there.
	dialer     *connect.Dialer
	route      *proxy.Settings
	host, port string
	claim      tls.Certificate
	claims     claimChoice // the claims judged; claim is claims.use's
	conn       net.Conn    // the TCP (then TLS) connection, once open
	reached    bool        // TLS with the endpoint succeeded
	results    []Result
	closers    []func() error // keys to release (a claim key in the TPM)
}

// Run runs the checks in order and returns one result per check. It never
// publishes: it creates no certificate and no thing.
func Run(ctx context.Context, opts Options) []Result {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	r := &run{Options: opts, dialer: connect.New(opts.Config, connect.Options{ClientID: opts.ClientID, Now: opts.Now})}
	var err error
	if r.route, err = connect.Route(opts.Config); err != nil {
		r.route = proxy.Direct // config.LoadValid refuses such a config
	}
	r.host, r.port, _ = net.SplitHostPort(opts.Config.Endpoint)
	defer func() {
		if r.conn != nil {
			_ = r.conn.Close()
		}
		for _, c := range r.closers {
			_ = c()
		}
	}()
	steps := []struct {
		name string
		fn   func(ctx context.Context) Result
		// network steps need every network step before them to have passed.
		network bool
	}{
		{connect.StepConfig, r.config, false},
		{connect.StepClock, r.clock, false},
		{connect.StepDNS, r.dns, true},
		{connect.StepTCP, r.tcp, true},
		{connect.StepTLS, r.tls, true},
		{connect.StepClaim, r.checkClaim, false},
		{connect.StepMQTT, r.mqtt, true},
		{connect.StepIdentity, r.identity, false},
	}
	networkOK := true
	for _, s := range steps {
		if s.network && !networkOK {
			r.results = append(r.results, Result{Name: s.name, Status: Skip, Message: "not run: an earlier step failed"})
			continue
		}
		start := time.Now()
		sctx, cancel := context.WithTimeout(ctx, opts.Timeout)
		res := s.fn(sctx)
		cancel()
		res.Name, res.Duration = s.name, time.Since(start)
		if s.network && res.Status == Fail {
			networkOK = false
		}
		r.results = append(r.results, res)
	}
	return r.results
}

// amend replaces an earlier result that did not fail: the clock's, once
// the server's certificate shows the clock is off.
func (r *run) amend(res Result) {
	for i := range r.results {
		if r.results[i].Name == res.Name && r.results[i].Status != Fail {
			res.Duration = r.results[i].Duration
			r.results[i] = res
		}
	}
}

func ok(format string, args ...any) Result {
	return Result{Status: OK, Message: sprintf(format, args...)}
}

func warn(fix, format string, args ...any) Result {
	return Result{Status: Warn, Message: sprintf(format, args...), Fix: fix}
}

func fail(fix, format string, args ...any) Result {
	return Result{Status: Fail, Message: sprintf(format, args...), Fix: fix}
}

func failed(f connect.Finding) Result {
	return Result{Status: Fail, Message: f.Message, Fix: f.Fix}
}
