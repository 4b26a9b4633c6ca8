package config

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/keypair/claimkey"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
)

// The key store settings: key_store and the tpm section.
const (
	KeyStoreFile    = "file"
	KeyStoreTPM     = "tpm"
	DefaultKeyStore = KeyStoreFile
)

var tpmKeys = []string{"device", "parent", "handle"}

// The key store's top-level keys join the others here, so that each
// feature's keys sit with the code that reads them.
func init() { topKeys = append(topKeys, "key_store", "tpm") }

// keyStore reads key_store and tpm, once the rest is parsed: a TPM key
// constrains certificate_method and key_type.
func (p *parser) keyStore(top map[string]*yaml.Node, c *Config) error {
	c.KeyStore = DefaultKeyStore
	if err := p.enum(top, "key_store", &c.KeyStore, []string{KeyStoreFile, KeyStoreTPM, KeyStorePKCS11}); err != nil {
		return err
	}
	if err := p.pkcs11Section(top, c); err != nil {
		return err
	}
	if err := p.claimKeysInToken(c); err != nil {
		return err
	}
	m, err := p.mapping(top["tpm"], "tpm.", tpmKeys)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"device", &c.TPM.Device}, {"parent", &c.TPM.Parent}, {"handle", &c.TPM.Handle}} {
		if n := m[f.key]; n != nil {
			if *f.dst, err = p.scalar(n, "tpm."+f.key); err != nil {
				return err
			}
		}
	}
	if c.TPM.Device == "" {
		c.TPM.Device = tpmkey.DefaultDevice
	}
	if err := checkTPMDevice(c.TPM.Device); err != nil {
		return p.errorf(p.lines["tpm.device"], "tpm.device", "%v", err)
	}
	for _, f := range []struct{ key, value string }{{"parent", c.TPM.Parent}, {"handle", c.TPM.Handle}} {
		if f.value == "" {
			continue
		}
		if _, err := tpmkey.ParsePersistentHandle(f.value); err != nil {
			return p.errorf(p.lines["tpm."+f.key], "tpm."+f.key, "%v", err)
		}
	}
	if c.TPM.Parent != "" && strings.EqualFold(c.TPM.Parent, c.TPM.Handle) {
		return p.errorf(p.lines["tpm.handle"], "tpm.handle", "is tpm.parent's handle; the device key needs a handle of its own")
	}

	if c.KeyStore != KeyStoreTPM {
		if c.TPM.Handle != "" {
			return p.errorf(p.lines["tpm.handle"], "tpm.handle", "is for a device key in the TPM; set key_store: tpm, or remove it")
		}
		return nil
	}
	if c.CertificateMethod != "csr" {
		return p.errorf(p.lines["key_store"], "key_store",
			"tpm needs certificate_method: csr, got %s: with create-keys the service makes the private key and sends it to the device, so it cannot be born in the TPM", c.CertificateMethod)
	}
	if !slices.Contains(tpmkey.KeyTypes, c.KeyType) {
		line := p.lines["key_type"]
		if line == 0 {
			line = p.lines["key_store"]
		}
		return p.errorf(line, "key_type", "must be %s with key_store: tpm, got %q", orList(tpmkey.KeyTypes), c.KeyType)
	}
	return nil
}

func checkTPMDevice(dev string) error {
	if addr, ok := strings.CutPrefix(dev, "tcp://"); ok {
		if _, err := parseEndpoint(addr); err != nil || !strings.Contains(addr, ":") {
			return fmt.Errorf("must be tcp://HOST:PORT, got %q", dev)
		}
		return nil
	}
	if !strings.HasPrefix(dev, "/") {
		return fmt.Errorf("must be a device path such as %s or tcp://HOST:PORT (a TPM simulator), got %q", tpmkey.DefaultDevice, dev)
	}
	return nil
}

// claimKey reads claim.private_key: a path (resolved against the config's
// folder), credential:NAME, handle:0x81xxxxxx or a pkcs11: URI.
func (p *parser) claimKey(claim map[string]*yaml.Node, claimNode *yaml.Node, prefix string) (string, error) {
	v, err := p.required(claim, claimNode, prefix, "private_key")
	if err != nil {
		return "", err
	}
	if !claimkey.IsPath(v) {
		if _, err := claimkey.Parse(v); err != nil {
			var ce *claimkey.Error
			if errors.As(err, &ce) {
				err = errors.New(ce.Msg)
			}
			return "", p.errorf(p.lines[prefix+"private_key"], prefix+"private_key", "%v", err)
		}
		return v, nil
	}
	return p.resolve(v), nil
}

// claimDevices are where the claim keys kept in hardware are reached: the
// TPM (opened for each use) and the pkcs11 section's module and PIN.
func (c *Config) claimDevices() claimkey.Devices {
	return claimkey.Devices{TPM: claimkey.Dial(c.TPM), PKCS11: c.PKCS11}
}

// checkClaimKey checks that the claim key can be read (a TSS2 file needs no
// TPM for that; a handle does) and matches cert when cert is known.
func (c *Config) checkClaimKey(claim Claim, cert *x509.Certificate) error {
	if claimkey.InToken(claim.PrivateKey) {
		return c.checkClaimKeyInToken(claim, cert)
	}
	pub, err := claimkey.Public(claim.PrivateKey, c.claimDevices())
	if err != nil {
		var ce *claimkey.Error
		if errors.As(err, &ce) {
			return errors.New(ce.Msg)
		}
		return err
	}
	if cert == nil {
		return nil
	}
	if err := keypair.MatchPublic(cert, pub); err != nil {
		return fmt.Errorf("%s: %v %s", claim.PrivateKey, err, claim.Certificate)
	}
	return nil
}

// CheckTPM is the offline tpm check of `provisiond check`: with
// key_store: tpm, the device opens, the parent exists or can be made, and
// tpm.handle is free or holds a key provisiond made. It returns nil when
// no TPM is configured, and an *Error naming the setting otherwise.
func (c *Config) CheckTPM() error {
	if c.KeyStore != KeyStoreTPM {
		return nil
	}
	err := tpmkey.Check(c.TPM)
	if err == nil {
		return nil
	}
	field := ""
	var te *tpmkey.Error
	if errors.As(err, &te) {
		field = te.Setting
		err = errors.New(te.Msg)
	}
	return &Error{File: c.Path, Line: c.lines[field], Field: field, Message: err.Error()}
}
