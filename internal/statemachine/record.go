package statemachine

import (
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/store"
)

// maxOrphans bounds the orphan history kept in the state file.
const maxOrphans = 50

func (r *Runner) publishStatus() {
	r.notify.Status(StatusText(r.st, r.clock.Now()))
}

// fields describe the state for a log line. Never the key or the token.
func (r *Runner) fields() []zap.Field {
	f := []zap.Field{zap.String("state", string(r.st.Phase)), zap.Int("identity", r.st.Identity)}
	if r.st.Attempts > 0 {
		f = append(f, zap.Int("attempt", r.st.Attempts))
	}
	if r.st.CertificateID != "" {
		f = append(f, zap.String("certificateId", r.st.CertificateID))
	}
	if r.st.ThingName != "" {
		f = append(f, zap.String("thingName", r.st.ThingName))
	}
	return f
}

func (r *Runner) crashPoint(point string) {
	if r.crash != nil && point != "" {
		r.crash(point)
	}
}

// addOrphan records a certificate this device gives up.
func addOrphan(s *store.State, id, reason string, at time.Time) {
	if id == "" {
		return
	}
	s.Orphans = append(s.Orphans, store.Orphan{CertificateID: id, Reason: reason, At: at})
	if n := len(s.Orphans); n > maxOrphans {
		s.Orphans = slices.Delete(s.Orphans, 0, n-maxOrphans)
	}
}

// forgetIdentity clears everything tied to the current identity and moves
// to the next identity number, so that new files never overwrite ones an
// older credentials.json names.
func forgetIdentity(s *store.State) {
	s.Identity++
	s.KeyRef = store.KeyRef{}
	s.CertificateFile = ""
	s.CertificateID = ""
	s.OwnershipToken = ""
	s.TokenIssuedAt = time.Time{}
	s.TokenBootID = ""
	s.TokenBootTime = 0
	s.ThingName = ""
	s.DeviceConfiguration = nil
	s.ProvisionedAt = time.Time{}
	s.RotationDueAt = time.Time{}
	s.Verifying = false
	s.VerifiedAt = time.Time{}
	s.VerifyResult = ""
}
