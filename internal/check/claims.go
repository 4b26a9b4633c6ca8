package check

import (
	"errors"
	"os"
	"time"

	"github.com/provisiond/provisiond/internal/claims"
	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/keypair"
)

// claimChoice is the config's file claims judged as the daemon judges them
// (the first that reads and is valid at the clock), and the one to check
// with: nil when none is usable.
type claimChoice struct {
	use      *config.Claim
	decision claims.Decision
	list     []claims.Claim
}

func chooseClaim(c *config.Config, now time.Time) claimChoice {
	files := c.FileClaims()
	ch := claimChoice{list: make([]claims.Claim, len(files))}
	for i, cl := range files {
		ch.list[i] = describeClaim(c, cl)
	}
	ch.decision = claims.Choose(ch.list, nil, now, true)
	if ch.decision.Use >= 0 {
		ch.use = &files[ch.decision.Use]
	}
	return ch
}

// describeClaim reads what the choice needs of one file claim.
func describeClaim(c *config.Config, cl config.Claim) claims.Claim {
	out := claims.Claim{Name: cl.Name()}
	if probs := c.ClaimProblems(cl); len(probs) > 0 {
		out.ReadError = errors.Join(probs...)
		return out
	}
	data, err := os.ReadFile(cl.Certificate)
	if err == nil {
		cert, perr := keypair.Certificate(data)
		if perr == nil {
			out.CertificateID = keypair.ID(cert)
			out.NotBefore, out.NotAfter = cert.NotBefore, cert.NotAfter
		}
		err = perr
	}
	out.ReadError = err
	return out
}

// passedOver words the claims passed over before the one in use, or "".
func (ch claimChoice) passedOver() string {
	if len(ch.decision.Passed) == 0 {
		return ""
	}
	return claims.PassedText(ch.list, ch.decision)
}
