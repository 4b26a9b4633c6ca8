package check

import (
	"fmt"
	"io"
	"time"

	"github.com/provisiond/provisiond/internal/claims"
	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/connect"
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
	ch := claimChoice{list: connect.New(c, connect.Options{}).FileClaims()}
	ch.decision = claims.Choose(ch.list, nil, now, true)
	if ch.decision.Use >= 0 {
		ch.use = &files[ch.decision.Use]
	}
	return ch
}

// passedOver words the claims passed over before the one in use, or "".
func (ch claimChoice) passedOver() string {
	if len(ch.decision.Passed) == 0 {
		return ""
	}
	return claims.PassedText(ch.list, ch.decision)
}

// PrintOfflineClaims prints OfflineClaims's lines; it reports false when
// they hold a failure.
func PrintOfflineClaims(w io.Writer, c *config.Config, now time.Time) bool {
	ch, warnings, failure := offlineClaims(c, now)
	if c.ClaimImport() != nil {
		fmt.Fprintln(w, "claim: a temporary claim may come by `provisiond claim import`")
	}
	if ch.use != nil && connect.ClaimKeyInToken(ch.use.PrivateKey) {
		if err := claimKeyInToken(c, ch.use); err != nil {
			fmt.Fprintf(w, "claim: fail: %v\n", err)
			return false
		}
		fmt.Fprintf(w, "claim: %s: its key is in the PKCS#11 token (%s, module %s) and signed a test digest that the certificate's public key verifies\n",
			ch.use.Name(), ch.use.PrivateKey, c.PKCS11.Module)
	}
	for _, line := range warnings {
		fmt.Fprintf(w, "claim: warning: %s\n", line)
	}
	if failure != "" {
		fmt.Fprintf(w, "claim: fail: %s\n", failure)
	}
	return failure == ""
}

// claimKeyInToken loads cl's key from its token as the daemon does, which
// signs a test digest there, and closes the token again. The config's
// reading passes over a token failing for a moment; check says so.
func claimKeyInToken(c *config.Config, cl *config.Claim) error {
	_, closeKey, err := connect.New(c, connect.Options{}).ClaimFiles(cl.Certificate, cl.PrivateKey)
	closeKey() //nolint:errcheck // closing a token's session reports nothing
	return err
}

// OfflineClaims is what `provisiond check` without --online says of the
// claims: a warning for each claim passed over, expiring within 30 days or
// whose key file others may read, and a failure when no claim is usable.
func OfflineClaims(c *config.Config, now time.Time) (warnings []string, failure string) {
	_, warnings, failure = offlineClaims(c, now)
	return warnings, failure
}

// offlineClaims is OfflineClaims with the choice it judged.
func offlineClaims(c *config.Config, now time.Time) (ch claimChoice, warnings []string, failure string) {
	ch = chooseClaim(c, now)
	switch {
	case ch.use == nil && c.ClaimImport() != nil:
		// A temporary claim may still come.
	case ch.use == nil && ch.decision.AllExpired():
		return ch, nil, claims.AllExpiredText + ": " + ch.passedOver()
	case ch.use == nil:
		return ch, nil, "no claim is usable: " + ch.passedOver()
	}
	if passed := ch.passedOver(); passed != "" && ch.use != nil {
		warnings = append(warnings, "passed over: "+passed+"; provisioning uses "+ch.use.Name())
	}
	for i, cl := range c.FileClaims() {
		d := ch.list[i]
		if left := d.NotAfter.Sub(now); d.ReadError == nil && left > 0 && left < expiryWarning {
			warnings = append(warnings, sprintf("%s expires in %d days (%s): %s", cl.Name(), int(left.Hours()/24),
				d.NotAfter.UTC().Format(time.RFC3339), fixClaimExpired))
		}
		if open := ClaimKeyOpenToOthers(cl.PrivateKey); open != "" {
			warnings = append(warnings, open+" ("+FixClaimKeyMode(cl.PrivateKey)+")")
		}
	}
	return ch, warnings, failure
}
