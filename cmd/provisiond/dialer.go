package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/fleet"
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
	}, nil
}

// Dial opens a claim session.
func (d *fleetDialer) Dial(ctx context.Context) (statemachine.Session, error) {
	opts, err := d.claimOptions()
	if err != nil {
		return nil, err
	}
	return fleet.Dial(ctx, opts)
}

// claimOptions reads the claim and the root CA for a claim session.
func (d *fleetDialer) claimOptions() (fleet.Options, error) {
	cert, err := tls.LoadX509KeyPair(d.cfg.Claim.Certificate, d.cfg.Claim.PrivateKey)
	if err != nil {
		// The error text of LoadX509KeyPair names no key material.
		return fleet.Options{}, fmt.Errorf("claim certificate %s / key %s: %w", d.cfg.Claim.Certificate, d.cfg.Claim.PrivateKey, err)
	}
	return d.options(cert, d.clientID, d.cfg.CertificateMethod == statemachine.MethodCreateKeys)
}

// Prove connects once with a new identity. It uses the thing name as the
// client ID, as the usual device policy (client/${iot:Connection.Thing.ThingName})
// requires, and so that it never takes over the claim session.
func (d *fleetDialer) Prove(ctx context.Context, thingName string, certPEM, keyPEM []byte) error {
	opts, err := d.proveOptions(thingName, certPEM, keyPEM)
	if err != nil {
		return err
	}
	return fleet.Prove(ctx, opts)
}

func (d *fleetDialer) proveOptions(thingName string, certPEM, keyPEM []byte) (fleet.Options, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fleet.Options{}, fmt.Errorf("new identity: certificate and key do not form a pair: %w", err)
	}
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
