package fleetsim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"strings"
	"sync"

	"github.com/provisiond/provisiond/internal/fleetsim/template"
)

// createFromCSR is CreateCertificateFromCsr: sign the CSR's key into a PENDING_ACTIVATION
// certificate and hand out its ownership token.
func (s *Server) createFromCSR(format string, payload []byte) (any, *mqttError) {
	var r createFromCSRRequest
	if err := decode(format, payload, &r); err != nil {
		return nil, errorf(400, codeInvalidPayload, "%v", err)
	}
	if strings.TrimSpace(r.CertificateSigningRequest) == "" {
		return nil, errorf(400, codeInvalidPayload, "certificateSigningRequest is missing or empty")
	}
	csr, aerr := parseCSR(r.CertificateSigningRequest)
	if aerr != nil {
		return nil, aerr
	}
	var subject *pkix.Name
	if s.keepCSRSubject {
		subject = &csr.Subject
	}
	id, certPEM, aerr := s.issue(csr.PublicKey, subject)
	if aerr != nil {
		return nil, aerr
	}
	return createFromCSRResponse{
		CertificateOwnershipToken: s.makeToken(id),
		CertificateID:             id,
		CertificatePEM:            certPEM,
	}, nil
}

// createKeys is CreateKeysAndCertificate: a new RSA-2048 key and its certificate.
func (s *Server) createKeys(format string, payload []byte) (any, *mqttError) {
	if len(payload) > 0 {
		// AWS documents an empty payload; its Java SDK sends {}. Any object is tolerated.
		var r struct{}
		if err := decode(format, payload, &r); err != nil {
			return nil, errorf(400, codeInvalidPayload, "%v", err)
		}
	}
	key, err := s.keys.get()
	if err != nil {
		return nil, errorf(500, codeInternalFailure, "cannot generate a key: %v", err)
	}
	id, certPEM, aerr := s.issue(&key.PublicKey, nil)
	if aerr != nil {
		return nil, aerr
	}
	return createKeysResponse{
		CertificateID:             id,
		CertificatePEM:            certPEM,
		PrivateKey:                string(pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key))),
		CertificateOwnershipToken: s.makeToken(id),
	}, nil
}

// issue signs a device certificate and records it PENDING_ACTIVATION.
func (s *Server) issue(pub any, subject *pkix.Name) (string, string, *mqttError) {
	now := s.now()
	der, err := s.ca.issueDevice(pub, subject, now)
	if err != nil {
		return "", "", errorf(500, codeInternalFailure, "cannot sign the certificate: %v", err)
	}
	id := certificateID(der)
	certPEM := string(pemBlock("CERTIFICATE", der))
	// The default subject's parameters are known without parsing the certificate back; a
	// subject kept from a CSR is left to certificateInfo, which reads what was encoded.
	var info *template.CertificateInfo
	if subject == nil {
		info = &template.CertificateInfo{ID: id, CommonName: issuedCommonName}
	}
	if err := s.reg.AddPending(Certificate{
		CertificateID:  id,
		Status:         StatusPendingActivation,
		Kind:           KindDevice,
		CreatedAt:      now.UTC(),
		CertificatePEM: certPEM,
	}, info); err != nil {
		return "", "", errorf(500, codeInternalFailure, "cannot record the certificate: %v", err)
	}
	return id, certPEM, nil
}

// parseCSR checks a CSR the way AWS does: PEM, a valid signature by SHA-256/384/512 with
// RSA or ECDSA, and a key that is RSA of 2048 bits or more, or EC P-256, P-384 or P-521.
func parseCSR(text string) (*x509.CertificateRequest, *mqttError) {
	block, _ := pem.Decode([]byte(text))
	if block == nil {
		return nil, errorf(400, codeInvalidCSR, "certificateSigningRequest is not a PEM block")
	}
	if block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST" {
		return nil, errorf(400, codeInvalidCSR, "certificateSigningRequest is a PEM %q block, not a CERTIFICATE REQUEST", block.Type)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, errorf(400, codeInvalidCSR, "certificateSigningRequest cannot be parsed: %v", err)
	}
	switch csr.SignatureAlgorithm {
	case x509.SHA256WithRSA, x509.SHA384WithRSA, x509.SHA512WithRSA,
		x509.SHA256WithRSAPSS, x509.SHA384WithRSAPSS, x509.SHA512WithRSAPSS,
		x509.ECDSAWithSHA256, x509.ECDSAWithSHA384, x509.ECDSAWithSHA512:
	default:
		return nil, errorf(400, codeInvalidCSR, "CSR signature algorithm %v is not supported: use SHA-256/384/512 with RSA or ECDSA", csr.SignatureAlgorithm)
	}
	switch k := csr.PublicKey.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, errorf(400, codeInvalidCSR, "CSR key is RSA-%d: RSA keys must be at least 2048 bits", k.N.BitLen())
		}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return nil, errorf(400, codeInvalidCSR, "CSR key is on curve %s: EC keys must be P-256, P-384 or P-521", k.Curve.Params().Name)
		}
	default:
		return nil, errorf(400, codeInvalidCSR, "CSR key type %T is not supported: use RSA (2048 bits or more) or EC", csr.PublicKey)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, errorf(400, codeInvalidCSR, "CSR signature does not verify: %v", err)
	}
	return csr, nil
}

// keyPool keeps a few fresh RSA-2048 keys ready, generated in the background once
// CreateKeysAndCertificate is first used, so that most answers do not wait for a key.
type keyPool struct {
	ready     chan *rsa.PrivateKey
	start     chan struct{}
	startOnce sync.Once
}

const keyPoolSize = 8

func newKeyPool(ctx context.Context) *keyPool {
	p := &keyPool{ready: make(chan *rsa.PrivateKey, keyPoolSize), start: make(chan struct{})}
	go func() {
		select {
		case <-ctx.Done():
			return
		case <-p.start:
		}
		for {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case p.ready <- k:
			}
		}
	}()
	return p
}

// get returns a pooled key, or generates one when the pool is empty.
func (p *keyPool) get() (*rsa.PrivateKey, error) {
	p.startOnce.Do(func() { close(p.start) })
	select {
	case k := <-p.ready:
		return k, nil
	default:
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate RSA-2048 key: %w", err)
	}
	return k, nil
}
