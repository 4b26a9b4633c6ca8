package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
	"github.com/provisiond/provisiond/internal/smallfile"
)

// credentialFields are the keys of credentials.json that every handoff
// has; the key's own fields depend on its store (see keyField).
var credentialFields = []string{
	"thingName", "certificateId", "certificateFile", "rootCaFile",
	"endpoint", "templateName", "deviceConfiguration", "provisionedAt",
}

// keyField is the field that names c's key: its URI for a key in a
// PKCS #11 token, its file otherwise.
func keyField(c Credentials) (field, value string) {
	if c.PrivateKeyType == PrivateKeyPKCS11 {
		return "privateKeyUri", c.PrivateKeyURI
	}
	return "privateKeyFile", c.PrivateKeyFile
}

// WriteCredentials writes credentials.json (0644) atomically. The caller
// writes the files it names first: consumers trust the bundle as soon as it
// appears. Every field must be set and the paths absolute.
func WriteCredentials(f Files, c Credentials) error {
	if err := checkCredentialFields(c); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	if c.DeviceConfiguration == nil {
		c.DeviceConfiguration = map[string]string{}
	}
	// UTC for readers; full precision kept so that the file decodes to a
	// time Equal to the one given, which callers compare against.
	c.ProvisionedAt = c.ProvisionedAt.UTC()
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	return f.Write(CredentialsFile, append(data, '\n'), 0o644)
}

// ReadCredentials parses and checks the credentials.json at path: every
// field present, the named files exist, the certificate parses and matches
// the private key, the root CA file holds certificates and certificateId is
// the SHA-256 of the certificate's DER. Errors name the file and field; a
// missing file gives an error matching fs.ErrNotExist.
func ReadCredentials(path string) (Credentials, error) {
	data, err := smallfile.Read(path, MaxFileSize)
	if err != nil {
		return Credentials{}, fmt.Errorf("credentials: %w", err)
	}
	c, err := parseCredentials(data)
	if err == nil {
		err = checkCredentialFiles(c)
	}
	if err != nil {
		return Credentials{}, fmt.Errorf("credentials %s: %w", path, err)
	}
	return c, nil
}

func parseCredentials(data []byte) (Credentials, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return Credentials{}, jsonError(err)
	}
	for _, field := range credentialFields {
		if v, ok := raw[field]; !ok || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			return Credentials{}, fmt.Errorf("%s: missing", field)
		}
	}
	var c Credentials
	if err := json.Unmarshal(raw["provisionedAt"], &c.ProvisionedAt); err != nil {
		return Credentials{}, errors.New("provisionedAt: not an RFC 3339 time")
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return Credentials{}, jsonError(err)
	}
	return c, checkCredentialFields(c)
}

func checkCredentialFields(c Credentials) error {
	keyName, keyValue := keyField(c)
	for _, f := range []struct{ field, value string }{
		{"thingName", c.ThingName},
		{"certificateId", c.CertificateID},
		{"certificateFile", c.CertificateFile},
		{keyName, keyValue},
		{"rootCaFile", c.RootCAFile},
		{"endpoint", c.Endpoint},
		{"templateName", c.TemplateName},
	} {
		if strings.TrimSpace(f.value) == "" {
			return fmt.Errorf("%s: missing", f.field)
		}
	}
	for _, f := range []struct{ field, path string }{
		{"certificateFile", c.CertificateFile},
		{"privateKeyFile", c.PrivateKeyFile},
		{"rootCaFile", c.RootCAFile},
	} {
		if f.path != "" && !filepath.IsAbs(f.path) {
			return fmt.Errorf("%s: %s is not an absolute path", f.field, quoteShort(f.path))
		}
	}
	if c.ProvisionedAt.IsZero() {
		return errors.New("provisionedAt: missing")
	}
	return nil
}

func checkCredentialFiles(c Credentials) error {
	cert, err := readPEM("certificateFile", c.CertificateFile, keypair.Certificate)
	if err != nil {
		return err
	}
	// A TSS2 file (a key in the TPM) pairs by its public area: no TPM
	// needed. A key in a token is checked by whoever opens the token.
	if c.PrivateKeyFile != "" {
		pub, err := readPEM("privateKeyFile", c.PrivateKeyFile, tpmkey.AnyPublic)
		if err != nil {
			return err
		}
		if err := keypair.MatchPublic(cert, pub); err != nil {
			return fmt.Errorf("privateKeyFile %s: %w in %s", c.PrivateKeyFile, err, c.CertificateFile)
		}
	}
	if id := keypair.ID(cert); !strings.EqualFold(id, c.CertificateID) {
		return fmt.Errorf("certificateId: %s is not the id of %s (%s)", quoteShort(c.CertificateID), c.CertificateFile, id)
	}
	if _, err := readPEM("rootCaFile", c.RootCAFile, keypair.Certificates); err != nil {
		return err
	}
	return nil
}

// readPEM reads the file that field names and parses it; errors name the
// field, and the file once it is read.
func readPEM[T any](field, path string, parse func([]byte) (T, error)) (T, error) {
	data, err := smallfile.Read(path, MaxFileSize)
	if err != nil {
		var zero T
		return zero, fmt.Errorf("%s: %w", field, err)
	}
	v, err := parse(data)
	if err != nil {
		return v, fmt.Errorf("%s %s: %w", field, path, err)
	}
	return v, nil
}
