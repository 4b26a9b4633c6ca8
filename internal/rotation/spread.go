package rotation

import (
	"crypto/sha256"
	"encoding/binary"
)

// Fraction returns a number in [0, 1) fixed by key and spread uniformly over
// keys: an identity's place in its jitter window. SHA-256, so that keys
// that differ by one character (serial numbers) land far apart.
func Fraction(key string) float64 {
	sum := sha256.Sum256([]byte(key))
	return float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53)
}
