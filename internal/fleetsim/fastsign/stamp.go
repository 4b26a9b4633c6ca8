package fastsign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"
)

// Stamp makes many certificates from one template that differ only in serial number,
// start of validity and public key, as a CA issuing device certificates does.
//
// crypto/x509 encodes the whole to-be-signed part again for each certificate, most of it
// through reflection. A Stamp has crypto/x509 encode the template once, keeps the parts
// that do not change as bytes (version, signature algorithm, issuer, end of validity,
// subject, extensions), and for each certificate encodes only the three parts that do
// change, as crypto/x509 would, before signing once.
type Stamp struct {
	key      *ecdsa.PrivateKey
	version  []byte
	sigAlg   []byte
	issuer   []byte
	notAfter []byte
	subject  []byte
	rest     []byte // the extensions
}

// NewStamp prepares certificates from tmpl, issued by parent with key, an in-memory ECDSA
// P-256 key. tmpl.SerialNumber, NotBefore and the public key are set by Certificate. A CA
// template without a SubjectKeyId is refused: crypto/x509 derives one from the public key.
func NewStamp(tmpl, parent *x509.Certificate, key crypto.Signer) (*Stamp, error) {
	k, ok := p256Key(key)
	if !ok {
		return nil, errors.New("fastsign: a Stamp needs an ECDSA P-256 key")
	}
	if tmpl.IsCA && len(tmpl.SubjectKeyId) == 0 {
		return nil, errors.New("fastsign: a CA template needs a SubjectKeyId for a Stamp")
	}
	t := *tmpl
	t.SerialNumber = big.NewInt(1)
	if t.NotBefore.IsZero() {
		t.NotBefore = time.Now()
	}
	tbs, err := toBeSigned(key.Public(), func(c crypto.Signer) error {
		_, err := x509.CreateCertificate(rand.Reader, &t, parent, key.Public(), c)
		return err
	})
	if err != nil {
		return nil, err
	}
	// TBSCertificate ::= SEQUENCE { version [0], serialNumber, signature, issuer,
	// validity SEQUENCE { notBefore, notAfter }, subject, subjectPublicKeyInfo,
	// extensions [3] } (RFC 5280 section 4.1).
	body, rest, ok := readElement(tbs, tagSequence)
	if !ok || len(rest) != 0 {
		return nil, errors.New("fastsign: crypto/x509 wrote a to-be-signed part that does not parse")
	}
	s := &Stamp{key: k}
	var validity, field []byte
	parts := []struct {
		tag byte
		dst *[]byte
	}{
		{tagVersion, &s.version}, {tagInteger, &field}, {tagSequence, &s.sigAlg},
		{tagSequence, &s.issuer}, {tagSequence, &validity}, {tagSequence, &s.subject},
		{tagSequence, &field},
	}
	for _, p := range parts {
		n := len(body)
		if _, body, ok = readElement(body, p.tag); !ok {
			return nil, fmt.Errorf("fastsign: unexpected element in crypto/x509's to-be-signed part (tag %#x)", p.tag)
		}
		*p.dst = tbs[len(tbs)-n : len(tbs)-len(body)]
	}
	s.rest = body
	inner, _, _ := readElement(validity, tagSequence)
	if _, after, ok := readTime(inner); ok {
		s.notAfter = after
	} else {
		return nil, errors.New("fastsign: crypto/x509's validity does not parse")
	}
	return s, nil
}

// Certificate signs a certificate from the stamp's template with this serial number
// (positive), start of validity and public key.
func (s *Stamp) Certificate(rand io.Reader, serial *big.Int, notBefore time.Time, pub any) ([]byte, error) {
	if serial.Sign() <= 0 {
		return nil, errors.New("fastsign: serial number must be positive")
	}
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	nb, err := encodeTime(notBefore)
	if err != nil {
		return nil, err
	}
	serialBytes := serial.Bytes()
	if serialBytes[0]&0x80 != 0 {
		serialBytes = append([]byte{0}, serialBytes...)
	}
	validity := appendElement(nil, tagSequence, nb, s.notAfter)
	body := make([]byte, 0, 64+len(s.version)+len(serialBytes)+len(s.sigAlg)+len(s.issuer)+
		len(validity)+len(s.subject)+len(spki)+len(s.rest))
	body = append(body, s.version...)
	body = appendElement(body, tagInteger, serialBytes)
	body = append(body, s.sigAlg...)
	body = append(body, s.issuer...)
	body = append(body, validity...)
	body = append(body, s.subject...)
	body = append(body, spki...)
	body = append(body, s.rest...)
	return sign(rand, s.key, appendElement(nil, tagSequence, body))
}

// DER tags of the elements a to-be-signed certificate holds.
const (
	tagInteger         = 0x02
	tagUTCTime         = 0x17
	tagGeneralizedTime = 0x18
	tagSequence        = 0x30
	tagVersion         = 0xa0 // [0] EXPLICIT
)

// readElement reads one DER element with the given tag from the start of b, returning its
// contents and what follows it.
func readElement(b []byte, tag byte) (contents, rest []byte, ok bool) {
	if len(b) < 2 || b[0] != tag {
		return nil, nil, false
	}
	n, off := int(b[1]), 2
	if n >= 0x80 {
		octets := n & 0x7f
		if octets == 0 || octets > 3 || len(b) < 2+octets {
			return nil, nil, false
		}
		n = 0
		for _, c := range b[2 : 2+octets] {
			n = n<<8 | int(c)
		}
		off += octets
	}
	if len(b)-off < n {
		return nil, nil, false
	}
	return b[off : off+n], b[off+n:], true
}

// readTime reads a UTCTime or GeneralizedTime element, returning the whole element.
func readTime(b []byte) (elem, rest []byte, ok bool) {
	if len(b) == 0 || (b[0] != tagUTCTime && b[0] != tagGeneralizedTime) {
		return nil, nil, false
	}
	if _, rest, ok = readElement(b, b[0]); !ok {
		return nil, nil, false
	}
	return b[:len(b)-len(rest)], rest, true
}

// appendElement appends a DER element made of tag and the concatenated contents.
func appendElement(dst []byte, tag byte, contents ...[]byte) []byte {
	n := 0
	for _, c := range contents {
		n += len(c)
	}
	dst = append(dst, tag)
	switch {
	case n < 0x80:
		dst = append(dst, byte(n))
	case n < 0x100:
		dst = append(dst, 0x81, byte(n))
	case n < 0x10000:
		dst = append(dst, 0x82, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	for _, c := range contents {
		dst = append(dst, c...)
	}
	return dst
}

// encodeTime encodes t as encoding/asn1 does for crypto/x509: UTCTime from 1950 to 2049,
// GeneralizedTime otherwise, in UTC, to the second.
func encodeTime(t time.Time) ([]byte, error) {
	t = t.UTC()
	switch y := t.Year(); {
	case y >= 1950 && y < 2050:
		return appendElement(nil, tagUTCTime, []byte(t.Format("060102150405Z"))), nil
	case y >= 0 && y < 10000:
		return appendElement(nil, tagGeneralizedTime, []byte(t.Format("20060102150405Z"))), nil
	}
	return nil, fmt.Errorf("fastsign: time %v cannot be encoded", t)
}
