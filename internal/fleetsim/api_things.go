package fleetsim

import (
	"encoding/json"
	"maps"
	"net"
	"strings"
)

// routes binds every operation to its method and path in the service model.
func (a *apiServer) routes() {
	a.handle("GET /endpoint", a.describeEndpoint)
	a.handle("GET /things", a.listThings)
	a.handle("GET /things/{thingName}", a.describeThing)
	a.handle("PATCH /things/{thingName}", a.updateThing)
	a.handle("DELETE /things/{thingName}", a.deleteThing)
	a.handle("GET /things/{thingName}/principals", a.listThingPrincipals)
	a.handle("PUT /things/{thingName}/principals", a.attachThingPrincipal)
	a.handle("DELETE /things/{thingName}/principals", a.detachThingPrincipal)
	a.handle("GET /principals/things", a.listPrincipalThings)
	a.handle("GET /certificates", a.listCertificates)
	a.handle("GET /certificates/{certificateId}", a.describeCertificate)
	a.handle("PUT /certificates/{certificateId}", a.updateCertificate)
	a.handle("DELETE /certificates/{certificateId}", a.deleteCertificate)
	a.handle("GET /policies", a.listPolicies)
	a.handle("GET /policies/{policyName}", a.getPolicy)
	a.handle("POST /attached-policies/{target}", a.listAttachedPolicies)
	a.handle("POST /provisioning-templates", a.createTemplate)
	a.handle("GET /provisioning-templates", a.listTemplates)
	a.handle("GET /provisioning-templates/{templateName}", a.describeTemplate)
	a.handle("PATCH /provisioning-templates/{templateName}", a.updateTemplate)
	a.handle("DELETE /provisioning-templates/{templateName}", a.deleteTemplate)
	a.handle("POST /provisioning-templates/{templateName}/versions", a.createTemplateVersion)
	a.handle("GET /thing-groups", a.listThingGroups)
	a.handle("GET /thing-groups/{thingGroupName}/things", a.listThingsInThingGroup)
}

// describeEndpoint returns the MQTT endpoint as HOST:PORT (AWS returns a host name whose
// port is 8883; the emulator's port is whatever it listens on).
func (a *apiServer) describeEndpoint(q apiRequest) (any, *awsError) {
	if t, ok := q.query("endpointType"); ok && len(t) > 128 {
		return nil, invalid("endpointType is longer than 128 characters")
	}
	host, port, _ := net.SplitHostPort(a.s.Addr())
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

func (a *apiServer) listThings(q apiRequest) (any, *awsError) {
	p, aerr := q.pageOf("maxResults", "nextToken")
	if aerr != nil {
		return nil, aerr
	}
	where, args := []string{"name > ?"}, []any{p.after}
	if v, ok := q.query("thingTypeName"); ok {
		if aerr := checkName("thingTypeName", v, thingNameRE); aerr != nil {
			return nil, aerr
		}
		where, args = append(where, "thing_type = ?"), append(args, v)
	}
	if name, ok := q.query("attributeName"); ok {
		value, _ := q.query("attributeValue")
		prefix, aerr := q.boolQuery("usePrefixAttributeValue")
		if aerr != nil {
			return nil, aerr
		}
		if prefix {
			where = append(where, "EXISTS(SELECT 1 FROM json_each(attributes) WHERE key = ? AND substr(value, 1, length(?)) = ?)")
			args = append(args, name, value, value)
		} else {
			where = append(where, "EXISTS(SELECT 1 FROM json_each(attributes) WHERE key = ? AND value = ?)")
			args = append(args, name, value)
		}
	}
	rows, err := a.s.reg.rdb.Query(`SELECT name, thing_type, attributes, version FROM things WHERE `+
		strings.Join(where, " AND ")+` ORDER BY name LIMIT ?`, append(args, p.size+1)...)
	if err != nil {
		return nil, internalErr(err)
	}
	defer rows.Close()
	out := struct {
		Things    []thingAttribute `json:"things"`
		NextToken string           `json:"nextToken,omitempty"`
	}{Things: []thingAttribute{}}
	for rows.Next() {
		var t thingAttribute
		var attrs string
		if err := rows.Scan(&t.ThingName, &t.ThingTypeName, &attrs, &t.Version); err != nil {
			return nil, internalErr(err)
		}
		if len(out.Things) == p.size {
			out.NextToken = nextToken(out.Things[p.size-1].ThingName)
			break
		}
		_ = json.Unmarshal([]byte(attrs), &t.Attributes)
		t.ThingArn = thingARN(t.ThingName)
		out.Things = append(out.Things, t)
	}
	if err := rows.Err(); err != nil {
		return nil, internalErr(err)
	}
	return out, nil
}

// thingRow is a thing as the API describes it.
type thingRow struct {
	Thing
	id      string
	version int64
}

func readThingRow(q querier, name string) (thingRow, bool, error) {
	t, ok, err := readThing(q, name)
	if err != nil || !ok {
		return thingRow{}, ok, err
	}
	row := thingRow{Thing: t}
	err = q.QueryRow(`SELECT thing_id, version FROM things WHERE name = ?`, name).Scan(&row.id, &row.version)
	return row, err == nil, err
}

func (a *apiServer) thingParam(q apiRequest) (string, *awsError) {
	name := q.path("thingName")
	return name, checkName("thingName", name, thingNameRE)
}

func (a *apiServer) describeThing(q apiRequest) (any, *awsError) {
	name, aerr := a.thingParam(q)
	if aerr != nil {
		return nil, aerr
	}
	t, ok, err := readThingRow(a.s.reg.rdb, name)
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
	}{name, name, t.id, thingARN(name), t.ThingType, attrs, t.version, t.BillingGroup}, nil
}

func (a *apiServer) updateThing(q apiRequest) (any, *awsError) {
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
	return nil, a.writeThing(name, in.ExpectedVersion, func(t *thingRow) *awsError {
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

// writeThing changes a thing in one transaction, checking its expected version.
func (a *apiServer) writeThing(name string, expected *int64, change func(*thingRow) *awsError) *awsError {
	var aerr *awsError
	err := a.s.reg.write(func(tx dbtx) error {
		t, ok, err := readThingRow(tx, name)
		if err != nil {
			return err
		}
		if !ok {
			aerr = notFound("Thing %s cannot be found.", name)
			return aerr
		}
		if expected != nil && *expected != t.version {
			aerr = apiErr(409, "VersionConflictException", "thing %s is at version %d, not %d", name, t.version, *expected)
			return aerr
		}
		if aerr = change(&t); aerr != nil {
			return aerr
		}
		return writeThing(tx, t.Thing, t.version+1)
	})
	if aerr != nil {
		return aerr
	}
	if err != nil {
		return internalErr(err)
	}
	return nil
}

func (a *apiServer) deleteThing(q apiRequest) (any, *awsError) {
	name, aerr := a.thingParam(q)
	if aerr != nil {
		return nil, aerr
	}
	var expected *int64
	if v, ok := q.query("expectedVersion"); ok {
		var n int64
		if err := json.Unmarshal([]byte(v), &n); err != nil {
			return nil, invalid("expectedVersion must be an integer, not %q", v)
		}
		expected = &n
	}
	err := a.s.reg.write(func(tx dbtx) error {
		t, ok, err := readThingRow(tx, name)
		if err != nil || !ok {
			return err // deleting a thing that does not exist succeeds, as on AWS
		}
		if expected != nil && *expected != t.version {
			aerr = apiErr(409, "VersionConflictException", "thing %s is at version %d, not %d", name, t.version, *expected)
			return aerr
		}
		if len(t.Certificates) > 0 {
			aerr = invalid("Cannot delete thing %s: it has attached principals (detach them first).", name)
			return aerr
		}
		for _, stmt := range []string{`DELETE FROM things WHERE name = ?`, `DELETE FROM groups WHERE thing_name = ?`} {
			if _, err := tx.Exec(stmt, name); err != nil {
				return err
			}
		}
		return nil
	})
	if aerr != nil {
		return nil, aerr
	}
	if err != nil {
		return nil, internalErr(err)
	}
	return nil, nil
}

// listPairs pages through the second column of a two-column query ordered by it, whose
// first parameter is the key to start after.
func (a *apiServer) listPairs(p page, query string, args ...any) ([]string, string, *awsError) {
	out := []string{}
	next := ""
	err := eachPair(a.s.reg.rdb, query+` LIMIT ?`, func(_, v string) {
		if len(out) == p.size {
			next = nextToken(out[p.size-1])
			return
		}
		out = append(out, v)
	}, append(append([]any{p.after}, args...), p.size+1)...)
	if err != nil {
		return nil, "", internalErr(err)
	}
	return out, next, nil
}

func (a *apiServer) thingMustExist(name string) *awsError {
	var n int
	if err := a.s.reg.rdb.QueryRow(`SELECT count(*) FROM things WHERE name = ?`, name).Scan(&n); err != nil {
		return internalErr(err)
	}
	if n == 0 {
		return notFound("Thing %s cannot be found.", name)
	}
	return nil
}

func (a *apiServer) listThingPrincipals(q apiRequest) (any, *awsError) {
	name, aerr := a.thingParam(q)
	if aerr != nil {
		return nil, aerr
	}
	p, aerr := q.pageOf("maxResults", "nextToken")
	if aerr != nil {
		return nil, aerr
	}
	if aerr := a.thingMustExist(name); aerr != nil {
		return nil, aerr
	}
	ids, next, aerr := a.listPairs(p, `SELECT thing_name, certificate_id FROM thing_principals
		WHERE certificate_id > ? AND thing_name = ? ORDER BY certificate_id`, name)
	if aerr != nil {
		return nil, aerr
	}
	arns := make([]string, len(ids))
	for i, id := range ids {
		arns[i] = certificateARN(id)
	}
	return struct {
		Principals []string `json:"principals"`
		NextToken  string   `json:"nextToken,omitempty"`
	}{arns, next}, nil
}

func (a *apiServer) listPrincipalThings(q apiRequest) (any, *awsError) {
	id, aerr := certificateFromARN(q.r.Header.Get("x-amzn-principal"))
	if aerr != nil {
		return nil, aerr
	}
	p, aerr := q.pageOf("maxResults", "nextToken")
	if aerr != nil {
		return nil, aerr
	}
	if _, aerr := a.certificateMustExist(id); aerr != nil {
		return nil, aerr
	}
	things, next, aerr := a.listPairs(p, `SELECT certificate_id, thing_name FROM thing_principals
		WHERE thing_name > ? AND certificate_id = ? ORDER BY thing_name`, id)
	if aerr != nil {
		return nil, aerr
	}
	return struct {
		Things    []string `json:"things"`
		NextToken string   `json:"nextToken,omitempty"`
	}{things, next}, nil
}

func (a *apiServer) attachThingPrincipal(q apiRequest) (any, *awsError) {
	return a.changePrincipal(q, func(tx dbtx, thing, id string) error { return attachPrincipal(tx, thing, id) })
}

func (a *apiServer) detachThingPrincipal(q apiRequest) (any, *awsError) {
	return a.changePrincipal(q, func(tx dbtx, thing, id string) error {
		_, err := tx.Exec(`DELETE FROM thing_principals WHERE thing_name = ? AND certificate_id = ?`, thing, id)
		return err
	})
}

func (a *apiServer) changePrincipal(q apiRequest, change func(tx dbtx, thing, id string) error) (any, *awsError) {
	name, aerr := a.thingParam(q)
	if aerr != nil {
		return nil, aerr
	}
	id, aerr := certificateFromARN(q.r.Header.Get("x-amzn-principal"))
	if aerr != nil {
		return nil, aerr
	}
	err := a.s.reg.write(func(tx dbtx) error {
		var n int
		if err := tx.QueryRow(`SELECT (SELECT count(*) FROM things WHERE name = ?) * 2 + (SELECT count(*) FROM certificates WHERE id = ?)`,
			name, id).Scan(&n); err != nil {
			return err
		}
		switch {
		case n&2 == 0:
			aerr = notFound("Thing %s cannot be found.", name)
		case n&1 == 0:
			aerr = notFound("Certificate %s cannot be found.", id)
		}
		if aerr != nil {
			return aerr
		}
		return change(tx, name, id)
	})
	if aerr != nil {
		return nil, aerr
	}
	if err != nil {
		return nil, internalErr(err)
	}
	return nil, nil
}

func (a *apiServer) listThingGroups(q apiRequest) (any, *awsError) {
	p, aerr := q.pageOf("maxResults", "nextToken")
	if aerr != nil {
		return nil, aerr
	}
	prefix := ""
	if v, ok := q.query("namePrefixFilter"); ok {
		if aerr := checkName("namePrefixFilter", v, thingNameRE); aerr != nil {
			return nil, aerr
		}
		prefix = v
	}
	if v, ok := q.query("parentGroup"); ok {
		// Groups made by templates have no parent: a known group has no children.
		if aerr := checkName("parentGroup", v, thingNameRE); aerr != nil {
			return nil, aerr
		}
		if aerr := a.groupMustExist(v); aerr != nil {
			return nil, aerr
		}
		return map[string]any{"thingGroups": []any{}}, nil
	}
	names, next, aerr := a.listPairs(p, `SELECT DISTINCT '', group_name FROM groups
		WHERE group_name > ? AND substr(group_name, 1, length(?)) = ? ORDER BY group_name`, prefix, prefix)
	if aerr != nil {
		return nil, aerr
	}
	type group struct {
		GroupName string `json:"groupName"`
		GroupArn  string `json:"groupArn"`
	}
	out := struct {
		ThingGroups []group `json:"thingGroups"`
		NextToken   string  `json:"nextToken,omitempty"`
	}{ThingGroups: []group{}, NextToken: next}
	for _, n := range names {
		out.ThingGroups = append(out.ThingGroups, group{n, groupARN(n)})
	}
	return out, nil
}

func (a *apiServer) groupMustExist(name string) *awsError {
	var n int
	if err := a.s.reg.rdb.QueryRow(`SELECT count(*) FROM groups WHERE group_name = ?`, name).Scan(&n); err != nil {
		return internalErr(err)
	}
	if n == 0 {
		return notFound("Thing group %s cannot be found.", name)
	}
	return nil
}

func (a *apiServer) listThingsInThingGroup(q apiRequest) (any, *awsError) {
	name := q.path("thingGroupName")
	if aerr := checkName("thingGroupName", name, thingNameRE); aerr != nil {
		return nil, aerr
	}
	if _, aerr := q.boolQuery("recursive"); aerr != nil {
		return nil, aerr
	}
	p, aerr := q.pageOf("maxResults", "nextToken")
	if aerr != nil {
		return nil, aerr
	}
	if aerr := a.groupMustExist(name); aerr != nil {
		return nil, aerr
	}
	things, next, aerr := a.listPairs(p, `SELECT group_name, thing_name FROM groups
		WHERE thing_name > ? AND group_name = ? ORDER BY thing_name`, name)
	if aerr != nil {
		return nil, aerr
	}
	return struct {
		Things    []string `json:"things"`
		NextToken string   `json:"nextToken,omitempty"`
	}{things, next}, nil
}
