package claims

import (
	"fmt"
	"strings"
	"time"
)

// AllExpiredText is status's words when every claim is outside its validity
// window: only a new claim helps.
const AllExpiredText = "all claims expired: install a new claim (see provisiond(8))"

// TemporaryExpiredText is status's words when an imported temporary claim
// ran out before it was used.
func TemporaryExpiredText(notAfter time.Time) string {
	return fmt.Sprintf("temporary claim expired at %s; ask for a new one", notAfter.UTC().Format(time.RFC3339))
}

// PassedText names each claim passed over and why, for status and the
// journal, e.g. "claim.pem.crt expired at 2026-01-02T00:00:00Z". It never
// names a key.
func PassedText(claims []Claim, d Decision) string {
	parts := make([]string, 0, len(d.Passed))
	for _, p := range d.Passed {
		c := claims[p.Index]
		s := c.Name + " " + string(p.Reason)
		switch p.Reason {
		case Expired:
			s += " at " + c.NotAfter.UTC().Format(time.RFC3339)
		case NotYetValid:
			s += " until " + c.NotBefore.UTC().Format(time.RFC3339)
		case Unreadable:
			if c.ReadError != nil {
				s += ": " + c.ReadError.Error()
			}
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}
