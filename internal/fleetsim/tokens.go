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

// newTokenSecret makes a folder's token secret, and token.key's contents: the secret in hex.
func newTokenSecret() (secret, file []byte, err error) {
	secret = make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, nil, err
	}
	return secret, []byte(hex.EncodeToString(secret) + "\n"), nil
}

// tokenMAC seals a certificate's raw id with the folder's secret.
func (s *Server) tokenMAC(raw []byte) []byte {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte("fleetsim ownership token\x00"))
	m.Write(raw)
	return m.Sum(nil)[:tokenMACLen]
}

func (s *Server) makeToken(certID string) string {
	raw, _ := hex.DecodeString(certID)
	return base64.RawURLEncoding.EncodeToString(append(raw, s.tokenMAC(raw)...))
}

// tokenCertificate returns the certificate a token names, or false if it is not a token
// this emulator made.
func (s *Server) tokenCertificate(token string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != sha256.Size+tokenMACLen {
		return "", false
	}
	raw, mac := b[:sha256.Size], b[sha256.Size:]
	if !hmac.Equal(mac, s.tokenMAC(raw)) {
		return "", false
	}
	return hex.EncodeToString(raw), true
}
