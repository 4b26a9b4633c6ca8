package awsapi

import (
	"encoding/json"
	"slices"

	"github.com/provisiond/provisiond/internal/fleetsim/registry"
)

// Policies over the API: created once (a policy keeps its first document, version 1),
// attached to and detached from certificates, the only targets the emulator has.

func (a *Server) policyParam(q apiRequest) (string, *restError) {
	name := q.path("policyName")
	return name, checkName("policyName", name, policyNameRE)
}

// createPolicy is CreatePolicy.
func (a *Server) createPolicy(q apiRequest) (any, *restError) {
	name, aerr := a.policyParam(q)
	if aerr != nil {
		return nil, aerr
	}
	var in struct {
		PolicyDocument *string `json:"policyDocument"`
	}
	if aerr := q.decodeJSON(&in); aerr != nil {
		return nil, aerr
	}
	if in.PolicyDocument == nil {
		return nil, invalid("policyDocument is required")
	}
	if aerr := checkPolicyDocument(*in.PolicyDocument); aerr != nil {
		return nil, aerr
	}
	aerr = a.write(func(tx *registry.Tx) error {
		created, err := tx.InsertPolicy(registry.Policy{PolicyName: name, PolicyDocument: *in.PolicyDocument}, a.now())
		if err == nil && !created {
			e := apiErr(409, "ResourceAlreadyExistsException", "Policy %s already exists.", name)
			e.extra = map[string]string{"resourceId": name, "resourceArn": policyARN(name)}
			return e
		}
		return err
	})
	if aerr != nil {
		return nil, aerr
	}
	return map[string]string{"policyName": name, "policyArn": policyARN(name), "policyDocument": *in.PolicyDocument,
		"policyVersionId": "1"}, nil
}

// checkPolicyDocument refuses a document that is not a JSON object with a Statement,
// as AWS's MalformedPolicyException does.
func checkPolicyDocument(doc string) *restError {
	var p struct {
		Statement json.RawMessage
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return apiErr(400, "MalformedPolicyException", "policyDocument is not a JSON object: %v", DescribeJSONError(err))
	}
	if len(p.Statement) == 0 {
		return apiErr(400, "MalformedPolicyException", "policyDocument has no Statement")
	}
	return nil
}

// policyTarget reads AttachPolicy's and DetachPolicy's body: a certificate ARN.
func (a *Server) policyTarget(q apiRequest) (policy, certID string, aerr *restError) {
	if policy, aerr = a.policyParam(q); aerr != nil {
		return "", "", aerr
	}
	var in struct {
		Target string `json:"target"`
	}
	if aerr := q.decodeJSON(&in); aerr != nil {
		return "", "", aerr
	}
	if in.Target == "" {
		return "", "", invalid("target is required")
	}
	if certID, aerr = certificateFromARN(in.Target); aerr != nil {
		return "", "", invalid("target %q: the emulator attaches policies to certificates only (arn:aws:iot:REGION:ACCOUNT:cert/ID)", in.Target)
	}
	return policy, certID, nil
}

// attachPolicy is AttachPolicy; attaching a policy already attached changes nothing.
func (a *Server) attachPolicy(q apiRequest) (any, *restError) {
	policy, certID, aerr := a.policyTarget(q)
	if aerr != nil {
		return nil, aerr
	}
	return nil, a.write(func(tx *registry.Tx) error {
		ok, err := tx.PolicyExists(policy)
		if err != nil {
			return err
		}
		if !ok {
			return notFound("Policy %s cannot be found.", policy)
		}
		c, ok, err := tx.Certificate(certID)
		if err != nil {
			return err
		}
		if !ok {
			return notFound("Certificate %s cannot be found.", certID)
		}
		if slices.Contains(c.Policies, policy) {
			return nil
		}
		return tx.SetCertificatePolicies(certID, c.Status, append(c.Policies, policy), a.now())
	})
}

// detachPolicy is DetachPolicy; detaching a policy not attached changes nothing.
func (a *Server) detachPolicy(q apiRequest) (any, *restError) {
	policy, certID, aerr := a.policyTarget(q)
	if aerr != nil {
		return nil, aerr
	}
	return nil, a.write(func(tx *registry.Tx) error {
		c, ok, err := tx.Certificate(certID)
		if err != nil {
			return err
		}
		if !ok {
			return notFound("Certificate %s cannot be found.", certID)
		}
		i := slices.Index(c.Policies, policy)
		if i < 0 {
			return nil
		}
		return tx.SetCertificatePolicies(certID, c.Status, slices.Delete(c.Policies, i, i+1), a.now())
	})
}
