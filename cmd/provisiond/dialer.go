package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/fleet"
	"github.com/provisiond/provisiond/internal/keypair/claimkey"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
	"github.com/provisiond/provisiond/internal/proxy"
	"github.com/provisiond/provisiond/internal/statemachine"
)

// fleetDialer connects to Fleet Provisioning with the claim certificate. It
// reads the root CA and claim files on every dial, so that files replaced
// on disk are used on the next attempt without a restart.
type fleetDialer struct {
	cfg      *config.Config
	clientID string
	logger   *zap.Logger
	// tpm is the daemon's shared TPM, for a claim key kept in it; nil
	// opens one for each claim session (check).
	tpm *tpmkey.Shared
	// now is the device's clock for TLS; nil is time.Now (tests set it).
	now func() time.Time

	// ahead is the proving connection's TCP, opened while RegisterThing is
	// in flight, so that only TLS and CONNECT remain after the answer.
	mu    sync.Mutex
	ahead *fleet.Ahead
}

var _ statemachine.Dialer = (*fleetDialer)(nil)

// options are the session settings. Only a CreateKeysAndCertificate
// session receives a long-lived secret (the private key), so only it offers
// the hybrid post-quantum key exchange; the others spare the device an
// ML-KEM key per handshake (see fleet.Options.ClassicalKeyExchange).
func (d *fleetDialer) options(cert tls.Certificate, clientID string, carriesKey bool) (fleet.Options, error) {
	pem, err := os.ReadFile(d.cfg.RootCA)
	if err != nil {
		return fleet.Options{}, fmt.Errorf("root_ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fleet.Options{}, fmt.Errorf("root_ca: %s holds no PEM certificate", d.cfg.RootCA)
	}
	via, err := proxySettings(d.cfg)
	if err != nil {
		return fleet.Options{}, err
	}
	if d.logger != nil {
		d.logger.Debug("endpoint route", zap.String("endpoint", d.cfg.Endpoint), zap.String("route", via.Describe(d.cfg.Endpoint)))
	}
	return fleet.Options{
		DialContext:     via.DialContext,
		Endpoint:        d.cfg.Endpoint,
		RootCAs:         pool,
		Certificate:     cert,
		ClientID:        clientID,
		Format:          fleet.Format(d.cfg.PayloadFormat),
		ResponseTimeout: d.cfg.Retry.ResponseTimeout,
		Logger:          d.logger,
		// A recording of the session must not reveal a key later.
		ClassicalKeyExchange: !carriesKey,
		Now:                  d.now,
	}, nil
}

// Dial opens a claim session.
func (d *fleetDialer) Dial(ctx context.Context) (statemachine.Session, error) {
	opts, closeKey, err := d.claimOptions()
	if err != nil {
		return nil, err
	}
	c, err := fleet.Dial(ctx, opts)
	if err != nil {
		closeKey()
		return nil, err
	}
	return &aheadSession{Client: c, d: d, closeKey: closeKey}, nil
}

// aheadSession is a claim session that opens the proving connection's TCP
// beside RegisterThing, and releases the claim key (a TPM's) with the session.
type aheadSession struct {
	*fleet.Client
	d        *fleetDialer
	closeKey func() error
}

func (s *aheadSession) Close() error {
	err := s.Client.Close()
	s.closeKey()
	return err
}

func (s *aheadSession) RegisterThing(ctx context.Context, template, token string, parameters map[string]string) (*fleet.Registration, error) {
	closeAhead(s.d.swapAhead(s.d.dialAhead(ctx)))
	reg, err := s.Client.RegisterThing(ctx, template, token, parameters)
	if err != nil {
		closeAhead(s.d.swapAhead(nil))
	}
	return reg, err
}

// dialAhead starts the proving connection's TCP (through the proxy, if one
// applies); a failure here only costs the head start, Prove dials afresh.
func (d *fleetDialer) dialAhead(ctx context.Context) *fleet.Ahead {
	opts := fleet.Options{Endpoint: d.cfg.Endpoint}
	if via, err := proxySettings(d.cfg); err == nil {
		opts.DialContext = via.DialContext
	}
	return fleet.DialAhead(ctx, opts)
}

func (d *fleetDialer) swapAhead(a *fleet.Ahead) *fleet.Ahead {
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.ahead
	d.ahead = a
	return old
}

func closeAhead(a *fleet.Ahead) {
	if a != nil {
		a.Close()
	}
}

// claimOptions reads the claim and the root CA for a claim session. The
// claim key may be a file, a systemd credential or a key in the TPM;
// closeKey releases it when the session ends.
func (d *fleetDialer) claimOptions() (_ fleet.Options, closeKey func() error, _ error) {
	files := d.cfg.FileClaims()
	if len(files) == 0 {
		return fleet.Options{}, func() error { return nil }, fmt.Errorf("no claim installed: waiting for provisiond claim import")
	}
	claim := files[0]
	cert, closeKey, err := claimkey.Certificate(claim.Certificate, claim.PrivateKey, d.claimTPM())
	if err != nil {
		// claimkey's errors name the setting and no key material.
		return fleet.Options{}, closeKey, fmt.Errorf("claim certificate %s: %w", claim.Certificate, err)
	}
	opts, err := d.sessionOptions(cert, d.clientID, d.cfg.Template.Name)
	if err != nil {
		closeKey()
	}
	return opts, closeKey, err
}

// sessionOptions are a provisioning session's: one SUBSCRIBE for every
// answer the flow needs, sent once per session.
func (d *fleetDialer) sessionOptions(cert tls.Certificate, clientID, template string) (fleet.Options, error) {
	carriesKey := d.cfg.CertificateMethod == statemachine.MethodCreateKeys
	opts, err := d.options(cert, clientID, carriesKey)
	opts.Calls = []fleet.Operation{fleet.OpCreateFromCSR, fleet.OpRegisterThing}
	if carriesKey {
		opts.Calls[0] = fleet.OpCreateKeys
	}
	opts.Template = template
	return opts, err
}

// DialDevice opens a provisioning session with the device's current
// identity instead of the claim, registering with the rotation template.
func (d *fleetDialer) DialDevice(ctx context.Context, thingName, template string, cert tls.Certificate) (statemachine.Session, error) {
	opts, err := d.sessionOptions(cert, thingName, template)
	if err != nil {
		return nil, err
	}
	c, err := fleet.Dial(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &aheadSession{Client: c, d: d, closeKey: func() error { return nil }}, nil
}

// claimTPM is the TPM for a claim key kept in one.
func (d *fleetDialer) claimTPM() claimkey.TPMSource {
	if d.tpm == nil {
		return claimkey.Dial(d.cfg.TPM)
	}
	return func() (*tpmkey.TPM, func() error, error) {
		t, err := d.tpm.TPM()
		if err != nil {
			return nil, nil, err
		}
		return claimkey.Shared(t)()
	}
}

// Prove connects once with a new identity. It uses the thing name as the
// client ID, as the usual device policy (client/${iot:Connection.Thing.ThingName})
// requires, and so that it never takes over the claim session.
func (d *fleetDialer) Prove(ctx context.Context, thingName string, cert tls.Certificate) error {
	opts, err := d.proveOptions(thingName, cert)
	ahead := d.swapAhead(nil)
	if err != nil {
		closeAhead(ahead)
		return err
	}
	if ahead != nil {
		return ahead.Prove(ctx, opts)
	}
	return fleet.Prove(ctx, opts)
}

func (d *fleetDialer) proveOptions(thingName string, cert tls.Certificate) (fleet.Options, error) {
	clientID := thingName
	if clientID == "" {
		clientID = d.clientID
	}
	return d.options(cert, clientID, false)
}

// proxySettings are the config's proxy keys over HTTPS_PROXY and NO_PROXY.
// They are read on every dial, as the files are.
func proxySettings(cfg *config.Config) (*proxy.Settings, error) {
	return proxy.New(cfg.Proxy, cfg.ProxyCA, os.Getenv)
}
