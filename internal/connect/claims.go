package connect

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/claimdrop"
	"github.com/provisiond/provisiond/internal/claims"
	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/keypair"
)

// Claims lists the config's claims in its order, read now: each installed
// claim as its files are (ReadError says why one cannot be used), and at
// the place of {source: import} the newest temporary claim in the drop
// folder that the config allows, if any. The state machine chooses.
func (d *Dialer) Claims() []claims.Claim {
	var out []claims.Claim
	for _, cl := range d.cfg.Claims {
		if cl.Import != nil {
			if c, ok := d.importedClaim(cl.Import); ok {
				out = append(out, c)
			}
			continue
		}
		out = append(out, d.fileClaim(cl))
	}
	return out
}

// FileClaims lists the installed claims alone, in the config's order, as
// Claims reads them: what `provisiond check` judges.
func (d *Dialer) FileClaims() []claims.Claim {
	var out []claims.Claim
	for _, cl := range d.cfg.FileClaims() {
		out = append(out, d.fileClaim(cl))
	}
	return out
}

// fileClaim reads what the choice needs of an installed claim. The key is
// loaded too (ClaimProblems), so that a claim whose key is gone is passed
// over rather than failing every attempt.
func (d *Dialer) fileClaim(cl config.Claim) claims.Claim {
	c := claims.Claim{Name: cl.Name(), Ref: cl.Field}
	if probs := d.cfg.ClaimProblems(cl); len(probs) > 0 {
		c.ReadError = errors.Join(probs...)
		return c
	}
	data, err := os.ReadFile(cl.Certificate)
	if err != nil {
		c.ReadError = err
		return c
	}
	cert, err := keypair.Certificate(data)
	if err != nil {
		c.ReadError = fmt.Errorf("%s: %w", cl.Certificate, err)
		return c
	}
	c.CertificateID, c.NotBefore, c.NotAfter = keypair.ID(cert), cert.NotBefore, cert.NotAfter
	return c
}

// importedClaim is the newest usable drop, as a claim. A drop the config
// does not allow (another template, a parameter not listed) is skipped:
// `provisiond claim import` refuses such a drop, so one here was put by
// other means.
func (d *Dialer) importedClaim(imp *config.ClaimImport) (claims.Claim, bool) {
	drops, err := claimdrop.List(d.cfg.StateDirectory)
	if err != nil && d.Logger != nil {
		d.Logger.Warn("cannot read the temporary claims", zap.Error(err))
	}
	for _, drop := range drops {
		if drop.Err != nil {
			continue // half written, or not a claim: a writer may be at it
		}
		if err := imp.Allows(d.cfg, drop.Claim.TemplateName, drop.Claim.Parameters); err != nil {
			if d.Logger != nil {
				d.Logger.Warn("a temporary claim the config does not allow", zap.String("file", drop.Path), zap.Error(err))
			}
			continue
		}
		c := drop.Claim
		return claims.Claim{
			Name: "imported claim", CertificateID: c.CertificateID, NotBefore: c.NotBefore, NotAfter: c.NotAfter,
			Ref: drop.Ref, Temporary: true,
			Template: c.TemplateName, Parameters: c.Parameters,
		}, true
	}
	return claims.Claim{}, false
}

// claimCertificate loads the claim the state machine chose: an installed
// one by its config field, a temporary one from its drop.
func (d *Dialer) claimCertificate(c claims.Claim) (_ tls.Certificate, template string, closeKey func() error, _ error) {
	nothing := func() error { return nil }
	if c.Temporary {
		drop, err := claimdrop.Load(d.cfg.StateDirectory, c.Ref)
		if err != nil {
			return tls.Certificate{}, "", nothing, err
		}
		cert, err := tls.X509KeyPair(drop.CertificatePEM, drop.PrivateKeyPEM)
		if err != nil {
			return tls.Certificate{}, "", nothing, errors.New("temporary claim: the certificate and key do not load")
		}
		template = d.cfg.Template.Name
		if drop.TemplateName != "" {
			template = drop.TemplateName
		}
		return cert, template, nothing, nil
	}
	for _, cl := range d.cfg.FileClaims() {
		if cl.Field == c.Ref {
			cert, closeKey, err := d.ClaimFiles(cl.Certificate, cl.PrivateKey)
			return cert, d.cfg.Template.Name, closeKey, err
		}
	}
	return tls.Certificate{}, "", nothing, fmt.Errorf("claim %s is not in the config", c.Ref)
}
