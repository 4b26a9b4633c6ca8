package connect

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/claims"
	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/fleet"
	"github.com/provisiond/provisiond/internal/keypair/claimkey"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
	"github.com/provisiond/provisiond/internal/statemachine"
)

// Options are what a Dialer needs beside the config.
type Options struct {
	// ClientID is the claim session's MQTT client ID (config.ClientIDFor).
	ClientID string
	// Logger may be nil.
	Logger *zap.Logger
	// TPM is the daemon's shared TPM, for a key kept in it; nil opens one
	// for each use (check).
	TPM *tpmkey.Shared
	// Now is the device's clock for TLS; nil is time.Now.
	Now func() time.Time
}

// Dialer connects to Fleet Provisioning as cfg says. It reads the root CA,
// the claim files and the proxy settings on every dial, so that files
// replaced on disk are used on the next attempt without a restart. Its
// errors carry check's words for the failed step (see Explain).
type Dialer struct {
	cfg *config.Config
	Options

	// ahead is the proving connection's TCP, opened while RegisterThing is
	// in flight, so that only TLS and CONNECT remain after the answer.
	mu    sync.Mutex
	ahead *fleet.Ahead
}

var _ statemachine.Dialer = (*Dialer)(nil)

// New is the dialer for cfg.
func New(cfg *config.Config, o Options) *Dialer {
	return &Dialer{cfg: cfg, Options: o}
}

// Dial opens a claim session.
func (d *Dialer) Dial(ctx context.Context, claim claims.Claim) (statemachine.Session, error) {
	cert, template, closeKey, err := d.claimCertificate(claim)
	if err != nil {
		return nil, explained(err, Explain)
	}
	opts, err := d.sessionOptions(cert, d.ClientID, template)
	if err == nil {
		var s statemachine.Session
		if s, err = d.open(ctx, opts, closeKey); err == nil {
			return s, nil
		}
	}
	closeKey()
	return nil, explained(err, Explain)
}

// DialDevice opens a provisioning session with the device's current
// identity instead of the claim, registering with template.
func (d *Dialer) DialDevice(ctx context.Context, thingName, template string, cert tls.Certificate) (statemachine.Session, error) {
	opts, err := d.sessionOptions(cert, thingName, template)
	if err != nil {
		return nil, explained(err, ExplainIdentity)
	}
	s, err := d.open(ctx, opts, func() error { return nil })
	return s, explained(err, ExplainIdentity)
}

// Prove connects once with a new identity. It uses the thing name as the
// client ID, as the usual device policy (client/${iot:Connection.Thing.ThingName})
// requires, and so that it never takes over the claim session.
func (d *Dialer) Prove(ctx context.Context, thingName string, cert tls.Certificate) error {
	return explained(d.prove(ctx, thingName, cert), ExplainIdentity)
}

func (d *Dialer) prove(ctx context.Context, thingName string, cert tls.Certificate) error {
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

// ProvePEM is Prove for an identity's files as credentials.json names
// them: a TSS2 key file's key signs in the TPM.
func (d *Dialer) ProvePEM(ctx context.Context, thingName string, certPEM, keyPEM []byte) error {
	var own *tpmkey.TPM // opened for this proof when no TPM is shared
	defer func() { own.Close() }()
	cert, _, err := tpmkey.KeyPair(certPEM, keyPEM, func() (*tpmkey.TPM, error) {
		if d.TPM != nil {
			return d.TPM.TPM()
		}
		var err error
		own, err = tpmkey.Open(d.cfg.TPM)
		return own, err
	})
	if err != nil {
		return err
	}
	return d.Prove(ctx, thingName, cert)
}

// ClaimFiles reads a claim certificate and its key, which privateKey names
// as claim.private_key does: a file, a systemd credential, a key in the
// TPM or in a PKCS#11 token. closeKey releases the key (and closes the
// token's session); it is never nil.
func (d *Dialer) ClaimFiles(certificate, privateKey string) (_ tls.Certificate, closeKey func() error, _ error) {
	cert, closeKey, err := claimkey.Certificate(certificate, privateKey, claimkey.Devices{TPM: d.claimTPM(), PKCS11: d.cfg.PKCS11})
	if err != nil {
		// claimkey's errors name the setting and no key material.
		return cert, closeKey, fmt.Errorf("claim certificate %s: %w", certificate, err)
	}
	return cert, closeKey, nil
}

// open dials a provisioning session; closeKey is released with it.
func (d *Dialer) open(ctx context.Context, opts fleet.Options, closeKey func() error) (statemachine.Session, error) {
	c, err := fleet.Dial(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &session{Client: c, d: d, closeKey: closeKey}, nil
}

// claimTPM is the TPM for a claim key kept in one.
func (d *Dialer) claimTPM() claimkey.TPMSource {
	if d.TPM == nil {
		return claimkey.Dial(d.cfg.TPM)
	}
	return func() (*tpmkey.TPM, func() error, error) {
		t, err := d.TPM.TPM()
		if err != nil {
			return nil, nil, err
		}
		return claimkey.Shared(t)()
	}
}
