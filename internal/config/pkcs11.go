package config

import (
	"crypto/x509"
	"errors"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/provisiond/provisiond/internal/keypair/claimkey"
	"github.com/provisiond/provisiond/internal/keypair/p11key"
)

// KeyStorePKCS11 keeps the device key in a PKCS#11 token (the pkcs11
// section).
const KeyStorePKCS11 = "pkcs11"

var pkcs11Keys = []string{"module", "token", "pin", "label", "import"}

func init() { topKeys = append(topKeys, "pkcs11") }

// pkcs11Section reads the pkcs11 section, once key_store is known. It is
// checked whenever it is given; module, token and pin are required with
// key_store: pkcs11.
func (p *parser) pkcs11Section(top map[string]*yaml.Node, c *Config) error {
	c.PKCS11.Label = p11key.DefaultLabel
	m, err := p.mapping(top["pkcs11"], "pkcs11.", pkcs11Keys)
	if err != nil {
		return err
	}
	if c.KeyStore != KeyStorePKCS11 && len(m) == 0 {
		return nil
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"module", &c.PKCS11.Module}, {"token", &c.PKCS11.Token}, {"pin", &c.PKCS11.PIN}, {"label", &c.PKCS11.Label}} {
		if c.KeyStore == KeyStorePKCS11 && f.key != "label" {
			if *f.dst, err = p.required(m, top["pkcs11"], "pkcs11.", f.key); err != nil {
				if top["pkcs11"] == nil {
					err.(*Error).Line = p.lines["key_store"]
				}
				return err
			}
			continue
		}
		if n := m[f.key]; n != nil {
			if *f.dst, err = p.scalar(n, "pkcs11."+f.key); err != nil {
				return err
			}
		}
	}
	if c.PKCS11.Module != "" && !filepath.IsAbs(c.PKCS11.Module) {
		return p.errorf(p.lines["pkcs11.module"], "pkcs11.module", "must be the absolute path of the token's PKCS#11 module (such as /usr/lib/softhsm/libsofthsm2.so), got %q", c.PKCS11.Module)
	}
	if c.PKCS11.Token != "" {
		u, err := p11key.ParseURI(c.PKCS11.Token)
		if err != nil {
			return p.errorf(p.lines["pkcs11.token"], "pkcs11.token", "%v", err)
		}
		if !u.TokenOnly() {
			return p.errorf(p.lines["pkcs11.token"], "pkcs11.token", "selects the token only (token, serial, manufacturer, model); provisiond names its own objects, got %q", c.PKCS11.Token)
		}
	}
	if c.PKCS11.PIN != "" {
		if _, err := p11key.ParsePINSource(c.PKCS11.PIN); err != nil {
			return p.errorf(p.lines["pkcs11.pin"], "pkcs11.pin", "%v", err)
		}
	}
	if c.PKCS11.Label == "" || strings.ContainsFunc(c.PKCS11.Label, func(r rune) bool { return r < 0x20 || r == 0x7f }) || len(c.PKCS11.Label) > 64 {
		return p.errorf(p.lines["pkcs11.label"], "pkcs11.label", "must be a printable prefix of up to 64 characters for the labels of provisiond's objects, got %q", c.PKCS11.Label)
	}
	if n := m["import"]; n != nil {
		v, err := p.scalar(n, "pkcs11.import")
		if err != nil {
			return err
		}
		switch v {
		case "true":
			c.PKCS11.Import = true
		case "false", "":
		default:
			return p.errorf(deref(n).Line, "pkcs11.import", "must be true or false, got %q", v)
		}
	}
	if c.KeyStore != KeyStorePKCS11 {
		return nil
	}
	if c.CertificateMethod == "create-keys" && !c.PKCS11.Import {
		return p.errorf(p.lines["key_store"], "key_store",
			"pkcs11 with certificate_method: create-keys needs pkcs11.import: true: the service makes that key and sends it to the device, so it can only be imported into the token (which most hardware tokens refuse), not born in it; use certificate_method: csr")
	}
	if !slices.Contains(p11key.KeyTypes(), c.KeyType) {
		line := p.lines["key_type"]
		if line == 0 {
			line = p.lines["key_store"]
		}
		return p.errorf(line, "key_type", "must be %s with key_store: pkcs11, got %q", orList(p11key.KeyTypes()), c.KeyType)
	}
	return nil
}

// claimKeysInToken checks that a claim key in a token (claim.private_key:
// pkcs11:...) has the pkcs11 section's module and PIN, whatever key_store
// is: the URI selects the token and the key, not how to reach them.
func (p *parser) claimKeysInToken(c *Config) error {
	for _, cl := range c.FileClaims() {
		if !claimkey.InToken(cl.PrivateKey) {
			continue
		}
		field := cl.Field + ".private_key"
		for _, f := range []struct{ key, value string }{{"module", c.PKCS11.Module}, {"pin", c.PKCS11.PIN}} {
			if f.value != "" {
				continue
			}
			line := p.lines["pkcs11"]
			if line == 0 {
				line = p.lines[field]
			}
			return p.errorf(line, "pkcs11."+f.key, "required: %s is a key in a PKCS#11 token, which provisiond reaches with pkcs11.module and pkcs11.pin (also when key_store is not pkcs11)", field)
		}
	}
	return nil
}

// checkClaimKeyInToken opens the token the claim's pkcs11: URI selects,
// finds its one private key and proves it pairs with cert, then closes the
// token. A token failing for a moment is not the config's fault: the
// daemon waits it out where it uses the key.
func (c *Config) checkClaimKeyInToken(claim Claim, cert *x509.Certificate) error {
	if cert == nil {
		return nil // the certificate's own problem is reported
	}
	_, closeKey, err := claimkey.Certificate(claim.Certificate, claim.PrivateKey, c.claimDevices())
	closeKey() //nolint:errcheck // closing a token's session reports nothing
	if err == nil || p11key.IsTransient(err) {
		return nil
	}
	var ce *claimkey.Error
	if errors.As(err, &ce) {
		return errors.New(ce.Msg)
	}
	var pe *p11key.Error
	if errors.As(err, &pe) && pe.Setting == claimkey.Setting {
		return errors.New(pe.Msg) // the field names the setting
	}
	return err
}
