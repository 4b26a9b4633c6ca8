package fleetsim

import (
	"crypto/sha256"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"maps"
	"slices"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/provisiond/provisiond/internal/fleetsim/awsapi"
	"github.com/provisiond/provisiond/internal/fleetsim/registry"
	"github.com/provisiond/provisiond/internal/fleetsim/template"
	"go.uber.org/zap"
)

// registerThing is RegisterThing: check the token, ask the hook, evaluate the template and
// provision what it says, all or nothing.
func (s *Server) registerThing(cl *mqtt.Client, ci *clientInfo, req requestTopic, payload []byte) (any, *mqttError) {
	var r registerRequest
	if err := decode(req.format, payload, &r); err != nil {
		return nil, errorf(400, codeInvalidPayload, "%v", err)
	}
	if r.CertificateOwnershipToken == "" {
		return nil, errorf(400, codeInvalidToken, "Certificate ownership token cannot be empty.")
	}
	tpl, ok := s.templates.get(req.template, s.now())
	if !ok {
		return nil, errorf(404, codeNotFound, "Template %s does not exist.", req.template)
	}
	if !tpl.enabled {
		return nil, errorf(403, codeAccessDenied, "Template %s is disabled.", req.template)
	}
	certID, ok := s.tokenCertificate(r.CertificateOwnershipToken)
	if !ok {
		return nil, errorf(400, codeInvalidToken, "Certificate ownership token is not valid.")
	}
	cert, subject, err := s.reg.Reserve(certID, s.now(), s.ttl)
	if errors.Is(err, registry.ErrNotReservable) {
		return nil, errorf(400, codeInvalidToken, "Certificate ownership token is expired, already used, or its certificate no longer exists.")
	}
	if err != nil {
		return nil, errorf(500, codeInternalFailure, "the registry cannot be read: %v", err)
	}
	done := false
	defer func() {
		if !done {
			s.reg.Release(certID)
		}
	}()

	params := maps.Clone(r.Parameters)
	if params == nil {
		params = map[string]string{}
	}
	if tpl.hookURL != "" {
		overrides, err := s.callHook(s.ctx, tpl.hookURL, hookRequest{
			ClaimCertificateID: ci.certID,
			CertificateID:      certID,
			CertificatePEM:     cert.CertificatePEM,
			TemplateARN:        awsapi.TemplateARN(req.template),
			ClientID:           cl.ID,
			Parameters:         maps.Clone(params),
		})
		if err != nil {
			return nil, errorf(403, codeAccessDenied, "%v", err)
		}
		maps.Copy(params, overrides)
	}
	var info template.CertificateInfo
	if subject != nil {
		info = *subject
	} else {
		var err error
		if info, err = certificateInfo(certID, cert.CertificatePEM); err != nil {
			return nil, errorf(500, codeInternalFailure, "stored certificate %s cannot be read: %v", certID, err)
		}
	}
	res, err := tpl.tpl.Evaluate(template.Input{Parameters: params, Certificate: info})
	if err != nil {
		return nil, errorf(400, codeInvalidRequest, "template %s: %v", req.template, err)
	}
	thingName, aerr := s.provision(ci.certID, certID, res, s.now())
	if aerr != nil {
		return nil, aerr
	}
	done = true
	s.log.Debug("thing registered", zap.String("thingName", thingName), zap.String("certificateId", certID),
		zap.String("template", req.template))
	conf := res.DeviceConfiguration
	if conf == nil {
		conf = map[string]string{}
	}
	return registerResponse{DeviceConfiguration: conf, ThingName: thingName}, nil
}

// certificateInfo fills the AWS::IoT::Certificate::* parameters from the certificate.
func certificateInfo(id, certPEM string) (template.CertificateInfo, error) {
	c, err := parseCertPEM([]byte(certPEM))
	if err != nil {
		return template.CertificateInfo{}, err
	}
	first := func(s []string) string {
		if len(s) > 0 {
			return s[0]
		}
		return ""
	}
	info := template.CertificateInfo{
		ID:                 id,
		CommonName:         c.Subject.CommonName,
		Country:            first(c.Subject.Country),
		Organization:       first(c.Subject.Organization),
		OrganizationalUnit: first(c.Subject.OrganizationalUnit),
		StateName:          first(c.Subject.Province),
		SerialNumber:       c.Subject.SerialNumber,
	}
	dnQualifier := asn1.ObjectIdentifier{2, 5, 4, 46}
	for _, n := range c.Subject.Names {
		if n.Type.Equal(dnQualifier) {
			if v, ok := n.Value.(string); ok {
				info.DistinguishedNameQualifier = v
			}
		}
	}
	return info, nil
}

// provision applies an evaluated template for a reserved certificate, in one transaction:
// the thing (following OverrideSettings), the policies, the certificate's status and its
// attachment, stamped now, and one more thing registered through the claim whose
// connection asked. It returns the thing's name once committed.
func (s *Server) provision(claimID, certID string, res *template.Result, now time.Time) (string, *mqttError) {
	if !s.reg.Held(certID) {
		return "", errorf(400, codeInvalidToken, "Certificate ownership token is expired or already used.")
	}
	var refusal *mqttError
	name := ""
	err := s.reg.Write(func(tx *registry.Tx) error {
		c, ok, err := tx.Access(certID)
		if err != nil {
			return err
		}
		if !ok || c.Status != StatusPendingActivation {
			refusal = errorf(400, codeInvalidToken, "Certificate ownership token is expired or already used.")
			return refusal
		}
		// Work out everything first, so that a refusal changes nothing.
		var thing *Thing
		version := int64(1)
		if res.Thing != nil {
			tname := res.Thing.Thing.Name
			var existing *template.Thing
			t, found, err := tx.Thing(tname)
			if err != nil {
				return err
			}
			if found {
				existing = &template.Thing{Name: t.ThingName, ThingType: t.ThingType, Attributes: maps.Clone(t.Attributes),
					Groups: slices.Clone(t.Groups), BillingGroup: t.BillingGroup}
				version = t.Version + 1
			}
			applied, err := res.Thing.Apply(existing)
			if err != nil {
				var ce *template.ConflictError
				if errors.As(err, &ce) {
					refusal = errorf(409, codeConflict, "thing %s: %v", tname, err)
				} else {
					refusal = errorf(400, codeInvalidRequest, "thing %s: %v", tname, err)
				}
				return refusal
			}
			thing = &Thing{ThingName: applied.Name, ThingType: applied.ThingType, Attributes: applied.Attributes,
				Groups: applied.Groups, BillingGroup: applied.BillingGroup}
		}
		var policies []Policy
		for _, p := range res.Policies {
			if p.Name != "" {
				known, err := tx.PolicyExists(p.Name)
				if err != nil {
					return err
				}
				if !known {
					refusal = errorf(400, codeInvalidRequest, "policy %s does not exist", p.Name)
					return refusal
				}
				policies = append(policies, Policy{PolicyName: p.Name})
				continue
			}
			// AWS names a template's inline policy after the hash of its document.
			sum := sha256.Sum256([]byte(p.Document))
			policies = append(policies, Policy{PolicyName: hex.EncodeToString(sum[:]), PolicyDocument: p.Document})
		}
		status := StatusActive
		if res.Certificate != nil && res.Certificate.Status != "" {
			status = res.Certificate.Status
		}
		for _, p := range policies {
			if p.PolicyDocument != "" {
				if err := tx.UpsertPolicy(p, now); err != nil {
					return err
				}
			}
			if !slices.Contains(c.Policies, p.PolicyName) {
				c.Policies = append(c.Policies, p.PolicyName)
			}
		}
		if thing != nil {
			if err := tx.WriteThing(*thing, version); err != nil {
				return err
			}
			if err := tx.AttachPrincipal(thing.ThingName, certID); err != nil {
				return err
			}
			name = thing.ThingName
			if err := tx.CountRegistration(claimID); err != nil {
				return err
			}
		}
		return tx.SetCertificatePolicies(certID, status, c.Policies, now)
	})
	if refusal != nil {
		return "", refusal
	}
	if err != nil {
		return "", errorf(500, codeInternalFailure, "cannot record the registration: %v", err)
	}
	s.reg.Finish(certID)
	return name, nil
}
