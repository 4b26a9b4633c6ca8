package tpmkey

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/google/go-tpm/tpm2"

	"github.com/provisiond/provisiond/internal/keypair"
)

// DefaultDevice is the kernel's resource-managed TPM: several programs
// (provisiond, OpenSSL's tpm2 provider in the consumers) share it safely.
const DefaultDevice = "/dev/tpmrm0"

// Settings are the config's tpm section.
type Settings struct {
	// Device is a TPM character device (default /dev/tpmrm0) or
	// tcp://HOST:PORT, the command port of a TPM simulator such as swtpm.
	Device string
	// Parent is "" for the standard ECC storage root key, created on
	// demand from the owner hierarchy, or a persistent handle 0x81xxxxxx.
	Parent string
	// Handle is "" or the persistent handle 0x81xxxxxx at which the device
	// key is also kept.
	Handle string
}

func (s Settings) device() string {
	if s.Device == "" {
		return DefaultDevice
	}
	return s.Device
}

// ParsePersistentHandle parses "0x81xxxxxx", the owner-hierarchy range of
// persistent handles that holds keys (0x81000000 to 0x817FFFFF; the upper
// half belongs to the platform).
func ParsePersistentHandle(s string) (tpm2.TPMHandle, error) {
	h, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(s)), "0x")
	if !ok || len(h) != 8 {
		return 0, fmt.Errorf("must be a persistent handle written 0x81xxxxxx (8 hex digits), got %q", s)
	}
	v, err := strconv.ParseUint(h, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("must be a persistent handle written 0x81xxxxxx (8 hex digits), got %q", s)
	}
	if v < 0x81000000 || v > 0x817FFFFF {
		return 0, fmt.Errorf("must be an owner persistent handle from 0x81000000 to 0x817FFFFF, got %q", s)
	}
	return tpm2.TPMHandle(v), nil
}

// KeyTypes are the key_type values a TPM key can have.
var KeyTypes = keypair.KeyTypesWhere(func(k keypair.KeyType) bool { return k.InTPM })

func handleString(h tpm2.TPMHandle) string { return fmt.Sprintf("0x%08x", uint32(h)) }
