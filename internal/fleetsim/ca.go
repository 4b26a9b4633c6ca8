package fleetsim

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/provisiond/provisiond/internal/fleetsim/fastsign"
)

// issuedNotAfter is the expiry AWS puts on the certificates it issues.
var issuedNotAfter = time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC)

// issuedCommonName is the subject AWS puts on the certificates it issues.
const issuedCommonName = "AWS IoT Certificate"

// authority is the emulator's CA.
type authority struct {
	cert *x509.Certificate
	key  crypto.Signer
	pem  []byte
	// validity, when positive, is the lifetime of device certificates instead of
	// issuedNotAfter (serve --certificate-validity).
	validity time.Duration

	// device issues certificates with the default subject when the CA key is EC P-256,
	// without crypto/x509 encoding the whole template each time (nil otherwise).
	deviceOnce sync.Once
	device     *fastsign.Stamp
}

// newAuthority makes a fresh EC P-256 CA.
func newAuthority(now time.Time) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "fleetsim Root CA", Organization: []string{"fleetsim"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              issuedNotAfter.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("self-sign CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &authority{cert: cert, key: key, pem: pemBlock("CERTIFICATE", der)}, nil
}

// loadAuthority reads dir/ca.pem and dir/ca.key.
func loadAuthority(dir string) (*authority, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, caCertFile))
	if err != nil {
		return nil, err
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, caCertFile), err)
	}
	keyPath := filepath.Join(dir, caKeyFile)
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	return &authority{cert: cert, key: key, pem: certPEM}, nil
}

// issue signs pub into a certificate made from tmpl with a fresh serial number, returning
// the DER.
func (a *authority) issue(tmpl *x509.Certificate, pub crypto.PublicKey) ([]byte, error) {
	tmpl.SerialNumber = randomSerial()
	return fastsign.Certificate(rand.Reader, tmpl, a.cert, pub, a.key)
}

// issueDevice signs a device certificate the way AWS does: CN=AWS IoT Certificate
// (unless subject is given), CA:FALSE, valid until 2049-12-31T23:59:59Z.
func (a *authority) issueDevice(pub crypto.PublicKey, subject *pkix.Name, now time.Time) ([]byte, error) {
	notBefore := now.Add(-time.Minute).UTC().Truncate(time.Second)
	if a.validity > 0 {
		// The stamp's expiry is fixed: a chosen validity goes through crypto/x509.
		if subject == nil {
			subject = &pkix.Name{CommonName: issuedCommonName}
		}
		tmpl := deviceTemplate(*subject)
		tmpl.NotBefore, tmpl.NotAfter = notBefore, now.Add(a.validity).UTC().Truncate(time.Second)
		return a.issue(tmpl, pub)
	}
	if subject == nil {
		a.deviceOnce.Do(func() {
			// Without a stamp (a CA key that is not EC P-256), crypto/x509 makes each one.
			a.device, _ = fastsign.NewStamp(deviceTemplate(pkix.Name{CommonName: issuedCommonName}), a.cert, a.key)
		})
		if a.device != nil {
			return a.device.Certificate(rand.Reader, randomSerial(), notBefore, pub)
		}
		subject = &pkix.Name{CommonName: issuedCommonName}
	}
	tmpl := deviceTemplate(*subject)
	tmpl.NotBefore = notBefore
	return a.issue(tmpl, pub)
}

// deviceTemplate is a device certificate as AWS issues it, but for its serial number,
// start of validity and key.
func deviceTemplate(subject pkix.Name) *x509.Certificate {
	return &x509.Certificate{
		Subject:               subject,
		NotAfter:              issuedNotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  false,
	}
}

// issueServer signs the TLS server certificate for the given host names and IPs.
func (a *authority) issueServer(pub crypto.PublicKey, hosts []string, now time.Time) ([]byte, error) {
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "fleetsim server"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              issuedNotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return a.issue(tmpl, pub)
}

func randomSerial() *big.Int {
	limit := new(big.Int).Lsh(big.NewInt(1), 127)
	n, err := rand.Int(rand.Reader, limit)
	if err != nil {
		// crypto/rand does not fail on supported platforms.
		panic("fleetsim: crypto/rand failed: " + err.Error())
	}
	return n.Add(n, big.NewInt(1))
}

// certificateID is what AWS uses as certificateId: the SHA-256 of the DER, lowercase hex.
func certificateID(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func parseCertPEM(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return x509.ParseCertificate(block.Bytes)
}

func parseKeyPEM(b []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM private key block")
	}
	var k any
	var err error
	switch block.Type {
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key of type %T cannot sign", k)
	}
	return s, nil
}

func marshalKeyPEM(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pemBlock("PRIVATE KEY", der), nil
}
