package awsapi

import (
	"encoding/json"
	"errors"
	"maps"
	"net"

	"github.com/provisiond/provisiond/internal/fleetsim/registry"
)

// routes binds every operation to its method and path in the service model.
func (a *Server) routes() {
	a.handle("GET /endpoint", a.describeEndpoint)
	a.handle("GET /things/{thingName}", a.describeThing)
	a.handle("PATCH /things/{thingName}", a.updateThing)
	a.handle("DELETE /things/{thingName}", a.deleteThing)
	a.handle("PUT /things/{thingName}/principals", a.attachThingPrincipal)
	a.handle("DELETE /things/{thingName}/principals", a.detachThingPrincipal)
	a.handle("GET /certificates/{certificateId}", a.describeCertificate)
	a.handle("PUT /certificates/{certificateId}", a.updateCertificate)
	a.handle("DELETE /certificates/{certificateId}", a.deleteCertificate)
	a.handle("GET /policies/{policyName}", a.getPolicy)
	a.handle("POST /provisioning-templates", a.changingTemplates(a.createTemplate))
	a.handle("GET /provisioning-templates/{templateName}", a.describeTemplate)
	a.handle("PATCH /provisioning-templates/{templateName}", a.changingTemplates(a.updateTemplate))
	a.handle("DELETE /provisioning-templates/{templateName}", a.changingTemplates(a.deleteTemplate))
	a.handle("POST /provisioning-templates/{templateName}/versions", a.changingTemplates(a.createTemplateVersion))
	a.claimRoutes()
	for _, l := range a.lists() {
		a.handle(l.pattern, l.handler)
	}
}

// describeEndpoint returns the MQTT endpoint as HOST:PORT (AWS returns a host name whose
// port is 8883; the emulator's port is whatever it listens on).
func (a *Server) describeEndpoint(q apiRequest) (any, *restError) {
	if t, ok := q.query("endpointType"); ok && len(t) > 128 {
		return nil, invalid("endpointType is longer than 128 characters")
	}
	host, port, _ := net.SplitHostPort(a.Service.Endpoint())
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return map[string]string{"endpointAddress": net.JoinHostPort(host, port)}, nil
}

type thingAttribute struct {
	ThingName     string            `json:"thingName"`
	ThingTypeName string            `json:"thingTypeName,omitempty"`
	ThingArn      string            `json:"thingArn"`
	Attributes    map[string]string `json:"attributes"`
	Version       int64             `json:"version"`
}

func (a *Server) listThings(q apiRequest, p registry.Page) (any, string, *restError) {
	var f registry.ThingFilter
	if v, ok := q.query("thingTypeName"); ok {
		if aerr := checkName("thingTypeName", v, thingNameRE); aerr != nil {
			return nil, "", aerr
		}
		f.Type = v
	}
	if name, ok := q.query("attributeName"); ok {
		prefix, aerr := q.boolQuery("usePrefixAttributeValue")
		if aerr != nil {
			return nil, "", aerr
		}
		f.FilterAttribute, f.Attribute, f.ValueIsPrefix = true, name, prefix
		f.Value, _ = q.query("attributeValue")
	}
	things, next, err := a.Registry.ListThings(f, p)
	if err != nil {
		return nil, "", internalErr(err)
	}
	out := make([]thingAttribute, len(things))
	for i, t := range things {
		out[i] = thingAttribute{t.Name, t.Type, thingARN(t.Name), t.Attributes, t.Version}
	}
	return out, next, nil
}

func (a *Server) thingParam(q apiRequest) (string, *restError) {
	name := q.path("thingName")
	return name, checkName("thingName", name, thingNameRE)
}

func (a *Server) describeThing(q apiRequest) (any, *restError) {
	name, aerr := a.thingParam(q)
	if aerr != nil {
		return nil, aerr
	}
	t, ok, err := a.Registry.Thing(name)
	if err != nil {
		return nil, internalErr(err)
	}
	if !ok {
		return nil, notFound("Thing %s cannot be found.", name)
	}
	attrs := t.Attributes
	if attrs == nil {
		attrs = map[string]string{}
	}
	return struct {
		DefaultClientID  string            `json:"defaultClientId"`
		ThingName        string            `json:"thingName"`
		ThingID          string            `json:"thingId"`
		ThingArn         string            `json:"thingArn"`
		ThingTypeName    string            `json:"thingTypeName,omitempty"`
		Attributes       map[string]string `json:"attributes"`
		Version          int64             `json:"version"`
		BillingGroupName string            `json:"billingGroupName,omitempty"`
	}{name, name, t.ID, thingARN(name), t.ThingType, attrs, t.Version, t.BillingGroup}, nil
}

func (a *Server) updateThing(q apiRequest) (any, *restError) {
	name, aerr := a.thingParam(q)
	if aerr != nil {
		return nil, aerr
	}
	var in struct {
		ThingTypeName    *string `json:"thingTypeName"`
		AttributePayload *struct {
			Attributes map[string]string `json:"attributes"`
			Merge      bool              `json:"merge"`
		} `json:"attributePayload"`
		ExpectedVersion *int64 `json:"expectedVersion"`
		RemoveThingType bool   `json:"removeThingType"`
	}
	if aerr := q.decodeJSON(&in); aerr != nil {
		return nil, aerr
	}
	if in.ThingTypeName != nil {
		if aerr := checkName("thingTypeName", *in.ThingTypeName, thingNameRE); aerr != nil {
			return nil, aerr
		}
		if in.RemoveThingType {
			return nil, invalid("thingTypeName and removeThingType cannot both be given")
		}
	}
	return nil, a.writeThing(name, in.ExpectedVersion, func(t *registry.ThingRecord) *restError {
		if p := in.AttributePayload; p != nil {
			attrs := map[string]string{}
			if p.Merge {
				maps.Copy(attrs, t.Attributes)
			}
			// An empty value removes the attribute, as AWS does.
			for k, v := range p.Attributes {
				if v == "" {
					delete(attrs, k)
				} else {
					attrs[k] = v
				}
			}
			t.Attributes = attrs
		}
		if in.ThingTypeName != nil {
			t.ThingType = *in.ThingTypeName
		}
		if in.RemoveThingType {
			t.ThingType = ""
		}
		return nil
	})
}

// write runs change in one registry transaction: a restError it returns is the answer
// (and changes nothing), any other error an InternalFailureException.
func (a *Server) write(change func(tx *registry.Tx) error) *restError {
	err := a.Registry.Write(change)
	if err == nil {
		return nil
	}
	if aerr, ok := errors.AsType[*restError](err); ok {
		return aerr
	}
	return internalErr(err)
}

// writeThing changes a thing in one transaction, checking its expected version.
func (a *Server) writeThing(name string, expected *int64, change func(*registry.ThingRecord) *restError) *restError {
	return a.write(func(tx *registry.Tx) error {
		t, ok, err := tx.Thing(name)
		if err != nil {
			return err
		}
		if !ok {
			return notFound("Thing %s cannot be found.", name)
		}
		if expected != nil && *expected != t.Version {
			return apiErr(409, "VersionConflictException", "thing %s is at version %d, not %d", name, t.Version, *expected)
		}
		if aerr := change(&t); aerr != nil {
			return aerr
		}
		return tx.WriteThing(t.Thing, t.Version+1)
	})
}

func (a *Server) deleteThing(q apiRequest) (any, *restError) {
	name, aerr := a.thingParam(q)
	if aerr != nil {
		return nil, aerr
	}
	var expected *int64
	if v, ok := q.query("expectedVersion"); ok {
		var n int64
		if err := json.Unmarshal([]byte(v), &n); err != nil {
			return nil, invalid("expectedVersion must be an integer, not %q", shown(v))
		}
		expected = &n
	}
	return nil, a.write(func(tx *registry.Tx) error {
		t, ok, err := tx.Thing(name)
		if err != nil || !ok {
			return err // deleting a thing that does not exist succeeds, as on AWS
		}
		if expected != nil && *expected != t.Version {
			return apiErr(409, "VersionConflictException", "thing %s is at version %d, not %d", name, t.Version, *expected)
		}
		if len(t.Certificates) > 0 {
			return invalid("Cannot delete thing %s: it has attached principals (detach them first).", name)
		}
		return tx.DeleteThing(name)
	})
}

func (a *Server) thingMustExist(name string) *restError {
	ok, err := a.Registry.ThingExists(name)
	if err != nil {
		return internalErr(err)
	}
	if !ok {
		return notFound("Thing %s cannot be found.", name)
	}
	return nil
}

func (a *Server) listThingPrincipals(q apiRequest, p registry.Page) (any, string, *restError) {
	name, aerr := a.thingParam(q)
	if aerr != nil {
		return nil, "", aerr
	}
	if aerr := a.thingMustExist(name); aerr != nil {
		return nil, "", aerr
	}
	ids, next, err := a.Registry.ThingPrincipals(name, p)
	if err != nil {
		return nil, "", internalErr(err)
	}
	arns := make([]string, len(ids))
	for i, id := range ids {
		arns[i] = certificateARN(id)
	}
	return arns, next, nil
}

func (a *Server) listPrincipalThings(q apiRequest, p registry.Page) (any, string, *restError) {
	id, aerr := certificateFromARN(q.r.Header.Get("x-amzn-principal"))
	if aerr != nil {
		return nil, "", aerr
	}
	if _, aerr := a.certificateMustExist(id); aerr != nil {
		return nil, "", aerr
	}
	return listed(a.Registry.PrincipalThings(id, p))
}

// listed is a registry list's answer, its error an InternalFailureException.
func listed[T any](items []T, next string, err error) (any, string, *restError) {
	if err != nil {
		return nil, "", internalErr(err)
	}
	return items, next, nil
}

func (a *Server) attachThingPrincipal(q apiRequest) (any, *restError) {
	return a.changePrincipal(q, (*registry.Tx).AttachPrincipal)
}

func (a *Server) detachThingPrincipal(q apiRequest) (any, *restError) {
	return a.changePrincipal(q, (*registry.Tx).DetachPrincipal)
}

func (a *Server) changePrincipal(q apiRequest, change func(tx *registry.Tx, thing, id string) error) (any, *restError) {
	name, aerr := a.thingParam(q)
	if aerr != nil {
		return nil, aerr
	}
	id, aerr := certificateFromARN(q.r.Header.Get("x-amzn-principal"))
	if aerr != nil {
		return nil, aerr
	}
	return nil, a.write(func(tx *registry.Tx) error {
		thingOK, certOK, err := tx.ThingAndCertificateExist(name, id)
		switch {
		case err != nil:
			return err
		case !thingOK:
			return notFound("Thing %s cannot be found.", name)
		case !certOK:
			return notFound("Certificate %s cannot be found.", id)
		}
		return change(tx, name, id)
	})
}

type group struct {
	GroupName string `json:"groupName"`
	GroupArn  string `json:"groupArn"`
}

func (a *Server) listThingGroups(q apiRequest, p registry.Page) (any, string, *restError) {
	prefix := ""
	if v, ok := q.query("namePrefixFilter"); ok {
		if aerr := checkName("namePrefixFilter", v, thingNameRE); aerr != nil {
			return nil, "", aerr
		}
		prefix = v
	}
	if v, ok := q.query("parentGroup"); ok {
		// Groups made by templates have no parent: a known group has no children.
		if aerr := checkName("parentGroup", v, thingNameRE); aerr != nil {
			return nil, "", aerr
		}
		if aerr := a.groupMustExist(v); aerr != nil {
			return nil, "", aerr
		}
		return []group{}, "", nil
	}
	names, next, err := a.Registry.Groups(prefix, p)
	if err != nil {
		return nil, "", internalErr(err)
	}
	out := make([]group, len(names))
	for i, n := range names {
		out[i] = group{n, groupARN(n)}
	}
	return out, next, nil
}

func (a *Server) groupMustExist(name string) *restError {
	ok, err := a.Registry.GroupExists(name)
	if err != nil {
		return internalErr(err)
	}
	if !ok {
		return notFound("Thing group %s cannot be found.", name)
	}
	return nil
}

func (a *Server) listThingsInThingGroup(q apiRequest, p registry.Page) (any, string, *restError) {
	name := q.path("thingGroupName")
	if aerr := checkName("thingGroupName", name, thingNameRE); aerr != nil {
		return nil, "", aerr
	}
	if _, aerr := q.boolQuery("recursive"); aerr != nil {
		return nil, "", aerr
	}
	if aerr := a.groupMustExist(name); aerr != nil {
		return nil, "", aerr
	}
	return listed(a.Registry.GroupThings(name, p))
}
