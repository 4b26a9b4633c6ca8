package p11key

import (
	"fmt"
	"slices"
	"strings"
)

// URI is an RFC 7512 pkcs11: URI's path attributes that select a token
// and an object in it.
type URI struct {
	Token        string // CK_TOKEN_INFO.label
	Serial       string // CK_TOKEN_INFO.serialNumber
	Manufacturer string // CK_TOKEN_INFO.manufacturerID
	Model        string // CK_TOKEN_INFO.model
	Object       string // CKA_LABEL
	ID           []byte // CKA_ID
	Type         string // private, public, cert, …
}

// The URI attributes a selector may hold. slot-id is refused: slot
// numbers change when tokens come and go (softhsm2 renumbers a slot when
// its token is initialized), so they would select another token.
var uriAttributes = []string{"token", "serial", "manufacturer", "model", "object", "id", "type"}

// ParseURI parses a pkcs11: URI. Query attributes (pin-value,
// pin-source, module-path) are refused: the PIN and the module have
// settings of their own.
func ParseURI(s string) (URI, error) {
	var u URI
	rest, ok := strings.CutPrefix(s, "pkcs11:")
	if !ok {
		return u, fmt.Errorf("must be a pkcs11: URI (RFC 7512), as in pkcs11:token=NAME, got %q", withoutPIN(s))
	}
	// Errors quote the URI without its query and without any pin-value:
	// the PIN is never in a message.
	path, query, hasQuery := strings.Cut(rest, "?")
	s = "pkcs11:" + withoutPIN(path)
	if hasQuery {
		name, _, _ := strings.Cut(query, "=")
		return u, fmt.Errorf("%q: query attributes such as %s are not taken here: the PIN is pkcs11.pin and the module pkcs11.module", s+"?…", withoutPIN(name))
	}
	seen := map[string]bool{}
	for _, attr := range strings.Split(rest, ";") {
		if attr == "" {
			continue
		}
		name, raw, hasValue := strings.Cut(attr, "=")
		if !hasValue {
			return u, fmt.Errorf("%q: attribute %q has no value (want name=value)", s, attr)
		}
		if seen[name] {
			return u, fmt.Errorf("%q: attribute %s is given twice", s, name)
		}
		seen[name] = true
		switch name {
		case "slot-id", "slot-description", "slot-manufacturer":
			return u, fmt.Errorf("%q: %s does not select a token reliably (slot numbers change as tokens come and go); select it by token, serial, manufacturer or model", s, name)
		}
		if !slices.Contains(uriAttributes, name) {
			return u, fmt.Errorf("%q: unknown attribute %s (want %s)", s, name, strings.Join(uriAttributes, ", "))
		}
		value, err := percentDecode(raw)
		if err != nil {
			return u, fmt.Errorf("%q: attribute %s: %v", s, name, err)
		}
		switch name {
		case "token":
			u.Token = string(value)
		case "serial":
			u.Serial = string(value)
		case "manufacturer":
			u.Manufacturer = string(value)
		case "model":
			u.Model = string(value)
		case "object":
			u.Object = string(value)
		case "id":
			u.ID = value
		case "type":
			u.Type = string(value)
			switch u.Type {
			case "private", "public", "cert", "secret-key", "data":
			default:
				return u, fmt.Errorf("%q: type must be private, public, cert, secret-key or data, got %q", s, u.Type)
			}
		}
	}
	return u, nil
}

// TokenOnly reports whether u selects a token and names no object.
func (u URI) TokenOnly() bool { return u.Object == "" && u.ID == nil && u.Type == "" }

// String is the URI in the form libp11 (OpenSSL's pkcs11 engine), the AWS
// SDKs and p11-kit take: path attributes only, in a fixed order, with the
// id written byte by byte as %XX. It never holds a PIN or a module path.
func (u URI) String() string {
	var b strings.Builder
	b.WriteString("pkcs11:")
	sep := ""
	add := func(name string, value []byte, always bool) {
		if len(value) == 0 {
			return
		}
		b.WriteString(sep + name + "=")
		sep = ";"
		for _, c := range value {
			if !always && unreserved(c) {
				b.WriteByte(c)
			} else {
				fmt.Fprintf(&b, "%%%02X", c)
			}
		}
	}
	add("token", []byte(u.Token), false)
	add("serial", []byte(u.Serial), false)
	add("manufacturer", []byte(u.Manufacturer), false)
	add("model", []byte(u.Model), false)
	add("object", []byte(u.Object), false)
	add("id", u.ID, true)
	add("type", []byte(u.Type), false)
	return b.String()
}

// Handoff is the URI for the consumers of the identity: token, serial,
// object, id and type only, which is what libp11 accepts (it refuses a URI
// with any attribute it does not know).
func (u URI) Handoff() string {
	return URI{Token: u.Token, Serial: u.Serial, Object: u.Object, ID: u.ID, Type: u.Type}.String()
}

// unreserved are the characters RFC 7512 lets stand for themselves in a
// path attribute value (its pchar without the separators).
func unreserved(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~:[]@!$'()*+,&", c) >= 0
}

// withoutPIN is path with the value of any pin-value attribute elided.
func withoutPIN(path string) string {
	attrs := strings.Split(path, ";")
	for i, a := range attrs {
		if name, _, ok := strings.Cut(a, "="); ok && name == "pin-value" {
			attrs[i] = name + "=…"
		}
	}
	return strings.Join(attrs, ";")
}

func percentDecode(s string) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			if c == '/' || c == '?' || c == '#' || c < 0x21 || c > 0x7e {
				return nil, fmt.Errorf("character %q must be percent-encoded", c)
			}
			out = append(out, c)
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return nil, fmt.Errorf("%% must be followed by two hex digits")
		}
		out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
		i += 2
	}
	return out, nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
