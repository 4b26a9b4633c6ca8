package fleetsim

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/provisiond/provisiond/internal/atomicfile"
)

// The issuer of provisioning claims (CreateProvisioningClaim), apart from the CA that
// signs device certificates, as AWS's claims come from an issuer of their own. Folders
// made before it existed get one at their next serve.
const (
	claimCACertFile = "provisioning-ca.pem"
	claimCAKeyFile  = "provisioning-ca.key"
)

// provisioningClaimOU is the organizational unit of AWS's provisioning claim certificates.
const provisioningClaimOU = "Amazon IoT Provisioning"

// provisioningClaimLead is how long before its creation a provisioning claim's X.509
// window opens: with AWS's 5 minutes of validity, the window is AWS's 7 minutes.
const provisioningClaimLead = 2 * time.Minute

// loadClaimAuthority reads the provisioning claims' issuer from dir, making it first if
// the folder has none.
func loadClaimAuthority(dir string, now time.Time) (*authority, error) {
	certPath := filepath.Join(dir, claimCACertFile)
	certPEM, err := os.ReadFile(certPath)
	if errors.Is(err, fs.ErrNotExist) {
		return newClaimAuthority(dir, now)
	}
	if err != nil {
		return nil, err
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certPath, err)
	}
	keyPath := filepath.Join(dir, claimCAKeyFile)
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

// newClaimAuthority makes the issuer and writes it into dir, the key first: a
// certificate without its key is never left behind.
func newClaimAuthority(dir string, now time.Time) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate the provisioning claims' CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject: pkix.Name{CommonName: "fleetsim Provisioning Claim CA", Organization: []string{"fleetsim"},
			OrganizationalUnit: []string{provisioningClaimOU}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              issuedNotAfter.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("self-sign the provisioning claims' CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyPEM, err := marshalKeyPEM(key)
	if err != nil {
		return nil, err
	}
	certPEM := pemBlock("CERTIFICATE", der)
	if err := atomicfile.Write(filepath.Join(dir, claimCAKeyFile), keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(filepath.Join(dir, claimCACertFile), certPEM, 0o644); err != nil {
		return nil, err
	}
	return &authority{cert: cert, key: key, pem: certPEM}, nil
}

// issueProvisioningClaim signs a provisioning claim valid until notAfter.
func (a *authority) issueProvisioningClaim(pub crypto.PublicKey, now, notAfter time.Time) ([]byte, error) {
	return a.issue(&x509.Certificate{
		Subject:               pkix.Name{CommonName: issuedCommonName, OrganizationalUnit: []string{provisioningClaimOU}},
		NotBefore:             now.Add(-provisioningClaimLead).UTC().Truncate(time.Second),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}, pub)
}
