package connect

import (
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

// Route is how the endpoint is reached: the config's proxy keys over
// HTTPS_PROXY and NO_PROXY. It is read on every dial, as the files are.
func Route(cfg *config.Config) (*proxy.Settings, error) {
	return proxy.New(cfg.Proxy, cfg.ProxyCA, os.Getenv)
}

// RootCAs reads root_ca. An error reading the file wraps the
// *fs.PathError.
func RootCAs(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("root_ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("root_ca: %s holds no PEM certificate", path)
	}
	return pool, nil
}

// ClaimOptions are a claim session's, with the claim's certificate and key
// (Claim): one SUBSCRIBE for every answer the flow needs.
func (d *Dialer) ClaimOptions(cert tls.Certificate) (fleet.Options, error) {
	return d.sessionOptions(cert, d.ClientID, d.cfg.Template.Name)
}

// sessionOptions are a provisioning session's: one SUBSCRIBE for every
// answer the flow needs, sent once per session.
func (d *Dialer) sessionOptions(cert tls.Certificate, clientID, template string) (fleet.Options, error) {
	carriesKey := d.cfg.CertificateMethod == statemachine.MethodCreateKeys
	opts, err := d.options(cert, clientID, carriesKey)
	opts.Calls = []fleet.Operation{fleet.OpCreateFromCSR, fleet.OpRegisterThing}
	if carriesKey {
		opts.Calls[0] = fleet.OpCreateKeys
	}
	opts.Template = template
	return opts, err
}

// proveOptions are the proving connection's, with the thing name as the
// client ID (the claim's without one).
func (d *Dialer) proveOptions(thingName string, cert tls.Certificate) (fleet.Options, error) {
	clientID := thingName
	if clientID == "" {
		clientID = d.ClientID
	}
	return d.options(cert, clientID, false)
}

// options are the settings of every connection. Only a
// CreateKeysAndCertificate session receives a long-lived secret (the
// private key), so only it offers the hybrid post-quantum key exchange; the
// others spare the device an ML-KEM key per handshake (see
// fleet.Options.ClassicalKeyExchange).
func (d *Dialer) options(cert tls.Certificate, clientID string, carriesKey bool) (fleet.Options, error) {
	pool, err := RootCAs(d.cfg.RootCA)
	if err != nil {
		return fleet.Options{}, err
	}
	via, err := Route(d.cfg)
	if err != nil {
		return fleet.Options{}, err
	}
	if d.Logger != nil {
		d.Logger.Debug("endpoint route", zap.String("endpoint", d.cfg.Endpoint), zap.String("route", via.Describe(d.cfg.Endpoint)))
	}
	return fleet.Options{
		DialContext:     via.DialContext,
		Endpoint:        d.cfg.Endpoint,
		RootCAs:         pool,
		Certificate:     cert,
		ClientID:        clientID,
		Format:          fleet.Format(d.cfg.PayloadFormat),
		ResponseTimeout: d.cfg.Retry.ResponseTimeout,
		Logger:          d.Logger,
		// A recording of the session must not reveal a key later.
		ClassicalKeyExchange: !carriesKey,
		Now:                  d.Now,
	}, nil
}
