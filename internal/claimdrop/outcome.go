package claimdrop

import (
	"io"
	"os"

	"github.com/provisiond/provisiond/internal/store"
)

// Read reads and checks a drop from a file, or from r when file is "-",
// bounded in size.
func Read(file string, r io.Reader) (*Claim, error) {
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

// Registered is Outcome's word for a claim that got the device its identity.
const Registered = "registered"

// Outcome is what the saved state says came of the claim kept at drop:
// Registered once it got the device its identity, the failure's words once
// it failed in a way waiting does not mend (the service refused it, or it
// expired unused), and "" while it is under way.
func Outcome(s store.State, c *Claim) string {
	ours := s.Claim != nil && s.Claim.CertificateID == c.CertificateID
	switch {
	case ours && s.Phase == store.Registered:
		return Registered
	case ours && !s.Calling && (s.LastErrorKind == store.KindPermanent || s.LastErrorKind == store.KindClaim):
		// Not while a call is under way: the record is the last failure's.
		return s.LastError
	}
	return ""
}
