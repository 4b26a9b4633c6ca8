package fleetsim

import (
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/provisiond/provisiond/internal/fleetsim/awsapi"
	"github.com/provisiond/provisiond/internal/fleetsim/registry"
)

// DefaultProvisioningClaimValidity is how long a CreateProvisioningClaim claim is
// valid, as AWS issues them.
const DefaultProvisioningClaimValidity = 5 * time.Minute

// provisioningClaimWindow is AWS's rule for a provisioning claim: the certificate
// calls (CreateKeysAndCertificate, CreateCertificateFromCsr) must come within this
// long of connecting with it.
const provisioningClaimWindow = 5 * time.Minute

// NewCertificate is the API's CreateKeysAndCertificate: a claim certificate from the CA.
func (a apiService) NewCertificate(active bool) (awsapi.Issued, error) {
	s := a.s
	key, err := s.keys.get()
	if err != nil {
		return awsapi.Issued{}, err
	}
	now := s.now()
	der, err := s.ca.issueDevice(&key.PublicKey, nil, now)
	if err != nil {
		return awsapi.Issued{}, fmt.Errorf("sign the certificate: %w", err)
	}
	status := StatusInactive
	if active {
		status = StatusActive
	}
	iss, c, err := apiIssued(der, key, now)
	if err != nil {
		return iss, err
	}
	c.Status, c.Kind = status, KindClaim
	return iss, s.reg.Write(func(tx *registry.Tx) error { return tx.AddCertificate(c) })
}

// NewProvisioningClaim is the API's CreateProvisioningClaim: a claim for one template
// from the provisioning claims' issuer, valid for the configured time.
func (a apiService) NewProvisioningClaim(template string) (awsapi.Issued, time.Time, error) {
	s := a.s
	key, err := s.keys.get()
	if err != nil {
		return awsapi.Issued{}, time.Time{}, err
	}
	now := s.now()
	expires := now.Add(s.claimValidity).UTC().Truncate(time.Second)
	der, err := s.claimCA.issueProvisioningClaim(&key.PublicKey, now, expires)
	if err != nil {
		return awsapi.Issued{}, time.Time{}, fmt.Errorf("sign the provisioning claim: %w", err)
	}
	iss, c, err := apiIssued(der, key, now)
	if err != nil {
		return iss, time.Time{}, err
	}
	err = s.reg.Write(func(tx *registry.Tx) error {
		return tx.AddProvisioningClaim(c, registry.ProvisioningClaim{Template: template, Expires: expires})
	})
	return iss, expires, err
}

// apiIssued is the API's answer for a new certificate and the registry's record of it.
func apiIssued(der []byte, key *rsa.PrivateKey, now time.Time) (awsapi.Issued, Certificate, error) {
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return awsapi.Issued{}, Certificate{}, err
	}
	id := certificateID(der)
	certPEM := string(pemBlock("CERTIFICATE", der))
	return awsapi.Issued{
			CertificateID:  id,
			CertificatePEM: certPEM,
			PublicKey:      string(pemBlock("PUBLIC KEY", pub)),
			PrivateKey:     string(pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key))),
		}, Certificate{CertificateID: id, CreatedAt: now.UTC(), CertificatePEM: certPEM},
		nil
}

// provisioningClaimPolicy is the fixed policy of a provisioning claim: connect, and the
// certificate topics and the one template's provisioning topics, whatever policies exist.
func provisioningClaimPolicy(template string) string {
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"},` +
		`{"Effect":"Allow","Action":["iot:Publish","iot:Receive","iot:Subscribe"],"Resource":[` +
		`"arn:aws:iot:*:*:topic/$aws/certificates/create/*","arn:aws:iot:*:*:topic/$aws/certificates/create-from-csr/*",` +
		`"arn:aws:iot:*:*:topic/$aws/provisioning-templates/` + template + `/provision/*"]}]}`
}

// provisioningClaimGrant is a provisioning claim's fixed policy, as a grant.
func provisioningClaimGrant(reg *registry.Store, certID string) (*subscribeGrant, error) {
	pc, ok, err := reg.ProvisioningClaim(certID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("certificate %s has no provisioning claim record", certID)
	}
	g := &subscribeGrant{}
	return g, g.add(provisioningClaimPolicy(pc.Template))
}

// pastProvisioningClaimWindow refuses a certificate call made with a provisioning claim
// more than provisioningClaimWindow after its connection was accepted.
func (s *Server) pastProvisioningClaimWindow(ci *clientInfo) *mqttError {
	if ci.kind != KindProvisioningClaim || s.now().Before(ci.connected.Add(provisioningClaimWindow)) {
		return nil
	}
	return errorf(403, codeAccessDenied, "a provisioning claim's certificate calls must come within %s of connecting: connect again with a new claim",
		provisioningClaimWindow)
}
