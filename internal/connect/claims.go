package connect

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"

	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/claimdrop"
	"github.com/provisiond/provisiond/internal/claims"
	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/store"
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
		if err := AllowedDrop(d.cfg, imp, drop.Claim); err != nil {
			if d.Logger != nil {
				d.Logger.Warn("a temporary claim the config does not allow", zap.String("file", drop.Path), zap.Error(err))
			}
			continue
		}
		c := drop.Claim
		return claims.Claim{
			Name: "imported claim", CertificateID: c.CertificateID, NotBefore: c.NotBefore, NotAfter: c.NotAfter,
			Ref: path.Join(store.ClaimImportDir, filepath.Base(drop.Path)), Temporary: true,
			Template: c.TemplateName, Parameters: c.Parameters,
		}, true
	}
	return claims.Claim{}, false
}

// AllowedDrop says whether the config lets a temporary claim ask for its
// template and parameters: template.name or one of the import's templates,
// and only the parameters the import lists.
func AllowedDrop(cfg *config.Config, imp *config.ClaimImport, c *claimdrop.Claim) error {
	if t := c.TemplateName; t != "" && t != cfg.Template.Name && !slices.Contains(imp.Templates, t) {
		return fmt.Errorf("template %q: the config's claim import allows %s only (add it to its templates)", t,
			orNames(append([]string{cfg.Template.Name}, imp.Templates...)))
	}
	for name := range c.Parameters {
		if !slices.Contains(imp.Parameters, name) {
			return fmt.Errorf("parameter %q: the config's claim import does not allow it (add it to its parameters)", name)
		}
	}
	return nil
}

func orNames(names []string) string {
	out := ""
	for i, n := range names {
		switch {
		case i == 0:
		case i == len(names)-1:
			out += " or "
		default:
			out += ", "
		}
		out += fmt.Sprintf("%q", n)
	}
	return out
}

// claimCertificate loads the claim the state machine chose: an installed
// one by its config field, a temporary one from its drop.
func (d *Dialer) claimCertificate(c claims.Claim) (_ tls.Certificate, template string, closeKey func() error, _ error) {
	nothing := func() error { return nil }
	if c.Temporary {
		data, err := os.ReadFile(filepath.Join(d.cfg.StateDirectory, filepath.FromSlash(c.Ref)))
		if err != nil {
			return tls.Certificate{}, "", nothing, fmt.Errorf("temporary claim: %w", err)
		}
		drop, err := claimdrop.Parse(data)
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
