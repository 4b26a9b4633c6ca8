package fleetsim

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// Ownership tokens are opaque to devices. Inside, a token names its certificate and is
// sealed with the folder's secret (token.key), so tokens survive a restart of the emulator
// without the registry holding secrets. A token is usable while its certificate is
// PENDING_ACTIVATION and younger than the token TTL: registering the certificate uses it up.

const tokenMACLen = 24

func randRead(b []byte) (int, error) { return rand.Read(b) }

func (s *Server) makeToken(certID string) string {
	raw, _ := hex.DecodeString(certID)
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte("fleetsim ownership token\x00"))
	m.Write(raw)
	return base64.RawURLEncoding.EncodeToString(append(raw, m.Sum(nil)[:tokenMACLen]...))
}

// tokenCertificate returns the certificate a token names, or false if it is not a token
// this emulator made.
func (s *Server) tokenCertificate(token string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != sha256.Size+tokenMACLen {
		return "", false
	}
	raw, mac := b[:sha256.Size], b[sha256.Size:]
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte("fleetsim ownership token\x00"))
	m.Write(raw)
	if !hmac.Equal(mac, m.Sum(nil)[:tokenMACLen]) {
		return "", false
	}
	return hex.EncodeToString(raw), true
}
