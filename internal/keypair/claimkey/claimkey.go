// Package claimkey loads the factory claim key from wherever
// claim.private_key points, so that it need not sit on disk in the clear:
//   - a PEM private key file (as before);
//   - a TSS2 PRIVATE KEY file, a key made in or imported into the TPM;
//   - handle:0x81xxxxxx, a key put at a persistent TPM handle at the factory;
//   - credential:NAME, a systemd credential: $CREDENTIALS_DIRECTORY/NAME,
//     which systemd decrypts from LoadCredentialEncrypted= for the service
//     only (its content is a PEM or TSS2 key);
//   - pkcs11:token=...;object=... (or id=), an RFC 7512 URI of a key put
//     into a PKCS#11 token (a secure element) at the factory, reached with
//     the pkcs11 section's module and PIN.
//
// Errors name claim.private_key and never quote key material.
package claimkey

import (
	"crypto"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-tpm/tpm2"

	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/keypair/p11key"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
)

// Setting is the config key this package reads.
const Setting = "claim.private_key"

// The prefixes that make claim.private_key something other than a path.
const (
	CredentialPrefix = "credential:"
	HandlePrefix     = "handle:"
	PKCS11Prefix     = "pkcs11:"
)

// Error is a claim key that cannot be used, in words for the user.
type Error struct {
	Msg string
	Err error
}

func (e *Error) Error() string { return Setting + ": " + e.Msg }
func (e *Error) Unwrap() error { return e.Err }

// Source is a parsed claim.private_key.
type Source struct {
	// Path is a key file (PEM or TSS2); empty for the other forms.
	Path string
	// Credential is NAME of credential:NAME.
	Credential string
	// Handle is the persistent handle of handle:0x81xxxxxx.
	Handle tpm2.TPMHandle
	// Token is the pkcs11: URI of a key in a PKCS#11 token.
	Token *p11key.URI
}

// Devices are where claim keys kept in hardware are reached.
type Devices struct {
	// TPM is for a TSS2 key file or a handle.
	TPM TPMSource
	// PKCS11 are the pkcs11 section's module and PIN, for a pkcs11: URI,
	// which selects the token itself.
	PKCS11 p11key.Settings
}

// IsPath reports whether spec is a file path, which a config resolves
// against its folder, rather than credential: or handle:.
func IsPath(spec string) bool {
	return !strings.HasPrefix(spec, CredentialPrefix) && !strings.HasPrefix(spec, HandlePrefix) && !InToken(spec)
}

// InToken reports whether spec names a key in a PKCS#11 token.
func InToken(spec string) bool { return strings.HasPrefix(spec, PKCS11Prefix) }

// Parse checks the form of a claim.private_key value. The message of its
// error does not repeat the setting's name.
func Parse(spec string) (Source, error) {
	switch {
	case strings.HasPrefix(spec, CredentialPrefix):
		name := strings.TrimPrefix(spec, CredentialPrefix)
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") || len(name) > 255 {
			return Source{}, &Error{Msg: "credential:NAME needs a credential name (no '/'), as in LoadCredentialEncrypted=NAME:..., got " + quote(spec)}
		}
		return Source{Credential: name}, nil
	case strings.HasPrefix(spec, HandlePrefix):
		h, err := tpmkey.ParsePersistentHandle(strings.TrimPrefix(spec, HandlePrefix))
		if err != nil {
			return Source{}, &Error{Msg: "handle: " + err.Error()}
		}
		return Source{Handle: h}, nil
	case InToken(spec):
		u, err := parseTokenURI(spec)
		if err != nil {
			return Source{}, err
		}
		return Source{Token: &u}, nil
	case spec == "":
		return Source{}, &Error{Msg: "not set"}
	}
	return Source{Path: spec}, nil
}

// CredentialPath is where systemd put credential name for this service.
func CredentialPath(name string) (string, error) {
	dir := os.Getenv("CREDENTIALS_DIRECTORY")
	if dir == "" {
		return "", &Error{Msg: "credential:" + name + " needs $CREDENTIALS_DIRECTORY, which systemd sets for a service with LoadCredentialEncrypted=" + name + ":...; it is not set (run provisiond from its unit, or with systemd-run -p LoadCredentialEncrypted=...)"}
	}
	return filepath.Join(dir, name), nil
}

// read returns the key file content a path or credential source names.
func (s Source) read() (data []byte, from string, err error) {
	path := s.Path
	if s.Credential != "" {
		if path, err = CredentialPath(s.Credential); err != nil {
			return nil, "", err
		}
	}
	data, err = os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		msg := err.Error()
		if errors.As(err, &pe) {
			msg = pe.Path + ": " + pe.Err.Error()
		}
		if s.Credential != "" && errors.Is(err, os.ErrNotExist) {
			msg = "credential " + s.Credential + " is missing: " + msg + " (is LoadCredentialEncrypted=" + s.Credential + ":... in the unit?)"
		}
		return nil, "", &Error{Msg: msg, Err: err}
	}
	return data, path, nil
}

// TPMSource gives the TPM for a claim key kept in one, only when the key
// is: the daemon's shared TPM (Shared), or a connection of its own (Dial).
// release is called when the key is no longer used.
type TPMSource func() (t *tpmkey.TPM, release func() error, err error)

// Shared uses an open TPM and leaves it open. A daemon shares one TPM
// between its device key and its claim key: a simulator (tcp://) serves
// one connection at a time.
func Shared(t *tpmkey.TPM) TPMSource {
	return func() (*tpmkey.TPM, func() error, error) { return t, func() error { return nil }, nil }
}

// Dial opens the TPM of s for the key and closes it on release.
func Dial(s tpmkey.Settings) TPMSource {
	return func() (*tpmkey.TPM, func() error, error) {
		t, err := tpmkey.Open(s)
		if err != nil {
			return nil, nil, err
		}
		return t, t.Close, nil
	}
}

// Public returns the claim key's public half, for checks. A TSS2 file
// needs no TPM for it; a handle does.
func Public(spec string, dev Devices) (crypto.PublicKey, error) {
	src, err := Parse(spec)
	if err != nil {
		return nil, err
	}
	if src.Token != nil {
		return nil, &Error{Msg: "a key in a PKCS#11 token is read with its certificate (Certificate)"}
	}
	if src.Handle != 0 {
		key, closeTPM, err := Open(spec, dev)
		if err != nil {
			return nil, err
		}
		defer closeTPM()
		return key.Public(), nil
	}
	data, from, err := src.read()
	if err != nil {
		return nil, err
	}
	if tpmkey.IsFile(data) {
		pub, err := tpmkey.FilePublic(data)
		if err != nil {
			return nil, &Error{Msg: from + ": " + err.Error()}
		}
		return pub, nil
	}
	key, err := keypair.PrivateKey(data)
	if err != nil {
		return nil, &Error{Msg: from + ": " + err.Error()}
	}
	return key.Public(), nil
}

// Open returns the claim key as a crypto.Signer. A key in the TPM needs
// the TPM until closeKey is called (after the session that signs with it
// ends); for a software key closeKey does nothing. A key in a PKCS#11
// token is opened with its certificate (Certificate).
func Open(spec string, dev Devices) (key crypto.Signer, closeKey func() error, err error) {
	return open(spec, nil, dev)
}

// open is Open; pub is the public key of the key's certificate, which a
// key in a PKCS#11 token needs.
func open(spec string, pub crypto.PublicKey, dev Devices) (key crypto.Signer, closeKey func() error, err error) {
	nothing := func() error { return nil }
	src, err := Parse(spec)
	if err != nil {
		return nil, nothing, err
	}
	if src.Token != nil {
		if pub == nil {
			return nil, nothing, &Error{Msg: "a key in a PKCS#11 token is opened with its certificate (Certificate)"}
		}
		return openInToken(*src.Token, pub, dev.PKCS11)
	}
	var data []byte
	var from string
	if src.Handle == 0 {
		if data, from, err = src.read(); err != nil {
			return nil, nothing, err
		}
		if !tpmkey.IsFile(data) {
			k, err := keypair.PrivateKey(data)
			if err != nil {
				return nil, nothing, &Error{Msg: from + ": " + err.Error()}
			}
			return k, nothing, nil
		}
	}
	t, release, err := dev.TPM()
	if err != nil {
		return nil, nothing, err
	}
	var k *tpmkey.Key
	if src.Handle != 0 {
		k, err = t.LoadHandle(src.Handle, Setting)
	} else {
		k, err = t.LoadKey(data, Setting)
	}
	if err != nil {
		release()
		return nil, nothing, err
	}
	return k, release, nil
}

// Certificate loads the claim certificate with its key for a TLS session,
// in place of tls.LoadX509KeyPair. Call closeKey when the session ends.
func Certificate(certFile, keySpec string, dev Devices) (cert tls.Certificate, closeKey func() error, err error) {
	nothing := func() error { return nil }
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, nothing, err
	}
	var pub crypto.PublicKey
	if InToken(keySpec) {
		leaf, err := keypair.Certificate(certPEM)
		if err != nil {
			return tls.Certificate{}, nothing, fmt.Errorf("%s: %w", certFile, err)
		}
		pub = leaf.PublicKey
	}
	key, closeKey, err := open(keySpec, pub, dev)
	if err != nil {
		return tls.Certificate{}, closeKey, err
	}
	switch k := key.(type) {
	case *tpmkey.Key:
		cert, err = k.TLSCertificate(certPEM)
	case *p11key.Key:
		cert, err = k.TLSCertificate(certPEM)
	default:
		cert, err = keypair.TLSCertificate(certPEM, key)
	}
	if err != nil {
		closeKey()
		return tls.Certificate{}, func() error { return nil }, &Error{Msg: "the key does not pair with " + certFile + ": " + err.Error()}
	}
	return cert, closeKey, nil
}

func quote(s string) string { return "\"" + s + "\"" }
