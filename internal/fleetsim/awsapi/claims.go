package awsapi

// Claims over the API: certificates an administrator makes to use as claims
// (CreateKeysAndCertificate) and temporary claims for provisioning by trusted user
// (CreateProvisioningClaim).

// Issued is a key pair and its certificate, registered.
type Issued struct {
	CertificateID  string
	CertificatePEM string
	PublicKey      string // PEM, PKIX
	PrivateKey     string // PEM, PKCS #1 RSA
}

type keyPairJSON struct {
	PublicKey  string `json:"PublicKey"`
	PrivateKey string `json:"PrivateKey"`
}

func (a *Server) claimRoutes() {
	a.handle("POST /keys-and-certificate", a.createKeysAndCertificate)
	a.handle("POST /provisioning-templates/{templateName}/provisioning-claim", a.createProvisioningClaim)
	a.handle("POST /policies/{policyName}", a.createPolicy)
	a.handle("PUT /target-policies/{policyName}", a.attachPolicy)
	a.handle("POST /target-policies/{policyName}", a.detachPolicy)
}

// createKeysAndCertificate is CreateKeysAndCertificate: ACTIVE with setAsActive=true,
// else INACTIVE, as AWS registers it.
func (a *Server) createKeysAndCertificate(q apiRequest) (any, *restError) {
	active, aerr := q.boolQuery("setAsActive")
	if aerr != nil {
		return nil, aerr
	}
	iss, err := a.Service.NewCertificate(active)
	if err != nil {
		return nil, internalErr(err)
	}
	return map[string]any{"certificateArn": certificateARN(iss.CertificateID), "certificateId": iss.CertificateID,
		"certificatePem": iss.CertificatePEM, "keyPair": keyPairJSON{iss.PublicKey, iss.PrivateKey}}, nil
}

// createProvisioningClaim is CreateProvisioningClaim, for an enabled template.
func (a *Server) createProvisioningClaim(q apiRequest) (any, *restError) {
	name, aerr := a.templateParam(q)
	if aerr != nil {
		return nil, aerr
	}
	t, ok, err := a.readTemplate(name)
	if err != nil {
		return nil, internalErr(err)
	}
	if !ok {
		return nil, notFound("Template %s cannot be found.", name)
	}
	if !t.Enabled {
		return nil, apiErr(403, "AccessDeniedException", "Template %s is disabled.", name)
	}
	iss, expires, err := a.Service.NewProvisioningClaim(name)
	if err != nil {
		return nil, internalErr(err)
	}
	return map[string]any{"certificateId": iss.CertificateID, "certificatePem": iss.CertificatePEM,
		"keyPair": keyPairJSON{iss.PublicKey, iss.PrivateKey}, "expiration": epoch(expires)}, nil
}
