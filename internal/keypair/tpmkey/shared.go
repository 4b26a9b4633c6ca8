package tpmkey

import (
	"sync"
	"sync/atomic"
)

// Shared is the daemon's one TPM, opened on first use and kept open for
// the daemon's life: a simulator (tcp://) serves one connection at a time,
// so the device key and the claim key share it. A failed open is tried
// again on the next use: a TPM that is missing or busy now may appear
// later, and that is a wait, not a reason to stop.
type Shared struct {
	settings Settings
	mu       sync.Mutex
	tpm      *TPM
}

// NewShared opens nothing yet.
func NewShared(s Settings) *Shared { return &Shared{settings: s} }

// TPM returns the open TPM, opening it if needed.
func (s *Shared) TPM() (*TPM, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tpm != nil {
		return s.tpm, nil
	}
	t, err := Open(s.settings)
	if err != nil {
		return nil, err
	}
	s.tpm = t
	return t, nil
}

// Close closes the TPM if it was opened.
func (s *Shared) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tpm
	s.tpm = nil
	return t.Close()
}

// HandleName is the key's persistent handle as credentials.json names it
// (0x81xxxxxx), or "" when tpm.handle is not set.
func (s Settings) HandleName() string {
	if s.Handle == "" {
		return ""
	}
	h, err := ParsePersistentHandle(s.Handle)
	if err != nil {
		return ""
	}
	return handleString(h)
}

// signatures counts the signatures the TPM made for this process: a
// figure for diagnostics, and the proof in tests that a TLS handshake
// signed in the chip rather than with a software key.
var signatures atomic.Int64

// Signatures is how many signatures keys of this package made in the TPM.
func Signatures() int64 { return signatures.Load() }

// Settings are the settings the TPM is opened with.
func (s *Shared) Settings() Settings { return s.settings }
