package awsapi

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/provisiond/provisiond/internal/fleetsim/registry"
)

type certSummary struct {
	CertificateArn  string  `json:"certificateArn"`
	CertificateID   string  `json:"certificateId"`
	Status          string  `json:"status"`
	CertificateMode string  `json:"certificateMode"`
	CreationDate    float64 `json:"creationDate"`
}

func (a *Server) listCertificates(q apiRequest, p registry.Page) (any, string, *restError) {
	// Newest first unless isAscendingOrder, by creation date; the marker is where the
	// last page ended.
	asc, aerr := q.boolQuery("isAscendingOrder")
	if aerr != nil {
		return nil, "", aerr
	}
	certs, next, err := a.Registry.Certificates(asc, p)
	if errors.Is(err, registry.ErrPageKey) {
		return nil, "", invalid("marker is not a marker this API returned")
	}
	if err != nil {
		return nil, "", internalErr(err)
	}
	out := make([]certSummary, len(certs))
	for i, c := range certs {
		out[i] = certSummary{certificateARN(c.ID), c.ID, c.Status, "DEFAULT", epoch(c.Created)}
	}
	return out, next, nil
}

func (a *Server) certificateParam(q apiRequest) (string, *restError) {
	id := q.path("certificateId")
	id = strings.TrimPrefix(id, "0x")
	if aerr := checkName("certificateId", id, certificateRE); aerr != nil {
		return "", aerr
	}
	return strings.ToLower(id), nil
}

func (a *Server) certificateMustExist(id string) (registry.Certificate, *restError) {
	c, ok, err := a.Registry.Certificate(id)
	if err != nil {
		return c, internalErr(err)
	}
	if !ok {
		return c, notFound("Certificate %s cannot be found.", id)
	}
	return c, nil
}

func (a *Server) describeCertificate(q apiRequest) (any, *restError) {
	id, aerr := a.certificateParam(q)
	if aerr != nil {
		return nil, aerr
	}
	c, aerr := a.certificateMustExist(id)
	if aerr != nil {
		return nil, aerr
	}
	modified, err := a.Registry.CertificateModified(id)
	if err != nil {
		return nil, internalErr(err)
	}
	type validity struct {
		NotBefore float64 `json:"notBefore"`
		NotAfter  float64 `json:"notAfter"`
	}
	var v *validity
	if x, err := parseCertificate(c.CertificatePEM); err == nil {
		v = &validity{epoch(x.NotBefore), epoch(x.NotAfter)}
	}
	type description struct {
		CertificateArn   string    `json:"certificateArn"`
		CertificateID    string    `json:"certificateId"`
		CACertificateID  string    `json:"caCertificateId"`
		Status           string    `json:"status"`
		CertificatePem   string    `json:"certificatePem"`
		OwnedBy          string    `json:"ownedBy"`
		CreationDate     float64   `json:"creationDate"`
		LastModifiedDate float64   `json:"lastModifiedDate"`
		CustomerVersion  int       `json:"customerVersion"`
		GenerationID     string    `json:"generationId"`
		Validity         *validity `json:"validity,omitempty"`
		CertificateMode  string    `json:"certificateMode"`
		// The emulator's extension (outside the model, so the aws CLI and the SDKs drop
		// it): the things registered through a claim.
		FleetsimThingsRegistered *int `json:"fleetsimThingsRegistered,omitempty"`
	}
	return map[string]description{"certificateDescription": {
		CertificateArn: certificateARN(id), CertificateID: id, CACertificateID: a.Service.CACertificateID(),
		Status: c.Status, CertificatePem: c.CertificatePEM, OwnedBy: apiAccount,
		CreationDate: epoch(c.CreatedAt), LastModifiedDate: epoch(modified), CustomerVersion: 1,
		GenerationID: strconv.FormatInt(modified.UnixNano(), 10), Validity: v, CertificateMode: "DEFAULT",
		FleetsimThingsRegistered: c.ThingsRegistered,
	}}, nil
}

func (a *Server) updateCertificate(q apiRequest) (any, *restError) {
	id, aerr := a.certificateParam(q)
	if aerr != nil {
		return nil, aerr
	}
	status, _ := q.query("newStatus")
	switch status {
	case registry.StatusActive, registry.StatusInactive, registry.StatusRevoked:
	case "PENDING_TRANSFER", "REGISTER_INACTIVE", registry.StatusPendingActivation:
		return nil, invalid("newStatus %s is not supported by the emulator: use ACTIVE, INACTIVE or REVOKED", status)
	default:
		return nil, invalid("newStatus %q must be one of ACTIVE, INACTIVE, REVOKED", shown(status))
	}
	aerr = a.write(func(tx *registry.Tx) error {
		c, ok, err := tx.Certificate(id)
		if err != nil {
			return err
		}
		if !ok {
			return notFound("Certificate %s cannot be found.", id)
		}
		if c.Status == registry.StatusRevoked && status != registry.StatusRevoked {
			return apiErr(406, "CertificateStateException", "Certificate %s is REVOKED: its status cannot change.", id)
		}
		return tx.SetCertificateStatus(id, status, a.now())
	})
	if aerr != nil {
		return nil, aerr
	}
	if status != registry.StatusActive {
		a.Service.DropCertificate(id, "certificate is "+status)
	}
	return nil, nil
}

func (a *Server) deleteCertificate(q apiRequest) (any, *restError) {
	id, aerr := a.certificateParam(q)
	if aerr != nil {
		return nil, aerr
	}
	force, aerr := q.boolQuery("forceDelete")
	if aerr != nil {
		return nil, aerr
	}
	aerr = a.write(func(tx *registry.Tx) error {
		c, ok, err := tx.Certificate(id)
		switch {
		case err != nil:
			return err
		case !ok:
			return notFound("Certificate %s cannot be found.", id)
		case c.Status == registry.StatusActive:
			return apiErr(406, "CertificateStateException", "Certificate %s is ACTIVE: make it INACTIVE or REVOKED before deleting it.", id)
		case c.ThingName != "":
			return apiErr(409, "DeleteConflictException", "Certificate %s is attached to thing %s: detach it first.", id, c.ThingName)
		case len(c.Policies) > 0 && !force:
			return apiErr(409, "DeleteConflictException", "Certificate %s has policies attached (%s): pass forceDelete.", id, strings.Join(c.Policies, ", "))
		}
		return tx.DeleteCertificate(id)
	})
	if aerr != nil {
		return nil, aerr
	}
	a.Service.DropCertificate(id, "certificate was deleted")
	return nil, nil
}

type policySummary struct {
	PolicyName string `json:"policyName"`
	PolicyArn  string `json:"policyArn"`
}

func (a *Server) listPolicies(q apiRequest, p registry.Page) (any, string, *restError) {
	asc, aerr := q.boolQuery("isAscendingOrder")
	if aerr != nil {
		return nil, "", aerr
	}
	names, next, err := a.Registry.Policies(asc, p)
	if err != nil {
		return nil, "", internalErr(err)
	}
	return policyList(names), next, nil
}

func policyList(names []string) []policySummary {
	out := make([]policySummary, len(names))
	for i, n := range names {
		out[i] = policySummary{n, policyARN(n)}
	}
	return out
}

func (a *Server) getPolicy(q apiRequest) (any, *restError) {
	name := q.path("policyName")
	if aerr := checkName("policyName", name, policyNameRE); aerr != nil {
		return nil, aerr
	}
	pol, ok, err := a.Registry.Policy(name)
	if err != nil {
		return nil, internalErr(err)
	}
	if !ok {
		return nil, notFound("Policy %s cannot be found.", name)
	}
	return map[string]any{"policyName": name, "policyArn": policyARN(name), "policyDocument": pol.PolicyDocument,
		"defaultVersionId": "1", "creationDate": epoch(pol.Created),
		"lastModifiedDate": epoch(pol.Created), "generationId": strconv.FormatInt(pol.Created.UnixNano(), 10)}, nil
}

// listAttachedPolicies lists a certificate's policies (the only targets the emulator has).
func (a *Server) listAttachedPolicies(q apiRequest, p registry.Page) (any, string, *restError) {
	id, aerr := certificateFromARN(q.path("target"))
	if aerr != nil {
		return nil, "", aerr
	}
	if _, aerr := q.boolQuery("recursive"); aerr != nil {
		return nil, "", aerr
	}
	c, aerr := a.certificateMustExist(id)
	if aerr != nil {
		return nil, "", aerr
	}
	names := slices.Sorted(slices.Values(c.Policies))
	names, next := pageIn(names, p)
	return policyList(names), next, nil
}

// parseCertificate reads a registered certificate's PEM.
func parseCertificate(certPEM string) (*x509.Certificate, error) {
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return x509.ParseCertificate(block.Bytes)
}
