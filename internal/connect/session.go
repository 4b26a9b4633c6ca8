package connect

import (
	"context"
	"crypto"

	"github.com/provisiond/provisiond/internal/fleet"
)

// session is a provisioning session that opens the proving connection's
// TCP beside RegisterThing, explains its calls' failures, and releases the
// claim key (a TPM, or a token's session) when it closes.
type session struct {
	*fleet.Client
	d        *Dialer
	closeKey func() error
}

func (s *session) Close() error {
	err := s.Client.Close()
	s.closeKey()
	return err
}

func (s *session) CreateKeysAndCertificate(ctx context.Context) (*fleet.Issued, error) {
	iss, err := s.Client.CreateKeysAndCertificate(ctx)
	return iss, explained(err, Explain)
}

func (s *session) CreateCertificateFromCSR(ctx context.Context, csrPEM []byte, key crypto.Signer) (*fleet.Issued, error) {
	iss, err := s.Client.CreateCertificateFromCSR(ctx, csrPEM, key)
	return iss, explained(err, Explain)
}

func (s *session) RegisterThing(ctx context.Context, template, token string, parameters map[string]string) (*fleet.Registration, error) {
	closeAhead(s.d.swapAhead(s.d.dialAhead(ctx)))
	reg, err := s.Client.RegisterThing(ctx, template, token, parameters)
	if err != nil {
		closeAhead(s.d.swapAhead(nil))
	}
	return reg, explained(err, Explain)
}

// dialAhead starts the proving connection's TCP (through the proxy, if one
// applies); a failure here only costs the head start, Prove dials afresh.
func (d *Dialer) dialAhead(ctx context.Context) *fleet.Ahead {
	opts := fleet.Options{Endpoint: d.cfg.Endpoint}
	if via, err := Route(d.cfg); err == nil {
		opts.DialContext = via.DialContext
	}
	return fleet.DialAhead(ctx, opts)
}

func (d *Dialer) swapAhead(a *fleet.Ahead) *fleet.Ahead {
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
