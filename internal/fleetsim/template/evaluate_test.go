package template

import (
	"reflect"
	"strings"
	"testing"
)

func mustParse(t *testing.T, body string) *Template {
	t.Helper()
	tpl, err := Parse("t.json", []byte(body))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return tpl
}

func TestEvaluateThingProperties(t *testing.T) {
	tpl := mustParse(t, withResources(`"thing": {"Type": "AWS::IoT::Thing",
		"Properties": {
			"ThingName": {"Fn::Sub": "dev-${A}"},
			"ThingGroups": {"Fn::Split": [",", "g1,g2,g1"]},
			"BillingGroup": "bg"
		},
		"OverrideSettings": {"ThingGroups": "MERGE", "AttributePayload": "REPLACE"}}`))
	r, err := tpl.Evaluate(Input{Parameters: map[string]string{"A": "7"}})
	if err != nil {
		t.Fatal(err)
	}
	want := &ThingSpec{
		Thing: Thing{Name: "dev-7", Groups: []string{"g1", "g2"}, BillingGroup: "bg"},
		// BillingGroup defaults to DO_NOTHING; AttributePayload is not set, so it has no entry.
		Overrides: map[string]string{PropThingGroups: Merge, PropBillingGroup: DoNothing},
	}
	if !reflect.DeepEqual(r.Thing, want) {
		t.Errorf("got  %+v\nwant %+v", r.Thing, want)
	}
	if r.Certificate != nil || r.Policies != nil {
		t.Errorf("unexpected resources: %+v %+v", r.Certificate, r.Policies)
	}
	if r.DeviceConfiguration == nil || len(r.DeviceConfiguration) != 0 {
		t.Errorf("device configuration = %#v, want an empty map", r.DeviceConfiguration)
	}
}

func TestEvaluateRefusesBadValues(t *testing.T) {
	const p = "Resources.thing.Properties"
	tests := []struct{ name, res, a, path, msg string }{
		{"thing name", thingRes, "has space", p + ".ThingName", "not a valid thing name"},
		{"empty thing name", thingRes, "", p + ".ThingName", "not a valid thing name"},
		{"attribute value", thingWith(`, "AttributePayload": {"x": {"Ref": "A"}}`, ""), "a b", p + ".AttributePayload.x", "not a valid attribute value"},
		{"group name", thingWith(`, "ThingGroups": [{"Ref": "A"}]`, ""), "g/1", p + ".ThingGroups", "not a valid thing group name"},
		{"thing type", thingWith(`, "ThingTypeName": {"Ref": "A"}`, ""), "", p + ".ThingTypeName", "not a valid name"},
		{"billing group", thingWith(`, "BillingGroup": {"Ref": "A"}`, ""), "b g", p + ".BillingGroup", "not a valid name"},
		{"status", `"cert": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": {"Ref": "A"}}}`,
			"PENDING", "Resources.cert.Properties.Status", `found "PENDING"`},
		{"policy name", `"p": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": {"Ref": "A"}}}`,
			"no spaces", "Resources.p.Properties.PolicyName", "not a valid policy name"},
		{"policy document", `"p": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": {"Fn::Sub": "{${A}"}}}`,
			"x", "Resources.p.Properties.PolicyDocument", "not JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tpl := mustParse(t, withResources(tc.res))
			_, err := tpl.Evaluate(Input{Parameters: map[string]string{"A": tc.a}, Certificate: CertificateInfo{ID: "c"}})
			assertEvalError(t, err, tc.path, tc.msg)
		})
	}
}

func TestEvaluateCertificateStatus(t *testing.T) {
	for in, want := range map[string]string{`"inactive"`: "INACTIVE", `"Active"`: "ACTIVE", `{"Ref": "A"}`: "INACTIVE"} {
		tpl := mustParse(t, withResources(`"cert": {"Type": "AWS::IoT::Certificate", "Properties": {
			"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": `+in+`}}`))
		r, err := tpl.Evaluate(Input{Parameters: map[string]string{"A": "InActive"}, Certificate: CertificateInfo{ID: "c"}})
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if r.Certificate.Status != want {
			t.Errorf("%s: status %q, want %q", in, r.Certificate.Status, want)
		}
	}
	r, err := mustParse(t, withResources(certRes)).Evaluate(Input{Parameters: map[string]string{"A": ""}})
	if err != nil || r.Certificate.Status != "ACTIVE" {
		t.Errorf("default status: %+v, %v; want ACTIVE", r, err)
	}
}

func TestEvaluatePolicies(t *testing.T) {
	tpl := mustParse(t, withResources(`
		"b-named": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": {"Fn::Join": ["-", ["fleet", {"Ref": "A"}]]}}},
		"a-text": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": `+policyDoc+`}},
		"c-inline": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": {
			"Version": "2012-10-17",
			"Statement": [{"Effect": "Allow", "Action": {"Fn::Split": [",", "iot:Publish,iot:Receive"]},
				"Resource": "arn:aws:iot:*:*:topic/${iot:ClientId}&x"}]}}}`))
	r, err := tpl.Evaluate(Input{Parameters: map[string]string{"A": "p1"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []PolicySpec{
		{Document: `{"Version": "2012-10-17", "Statement": []}`},
		{Name: "fleet-p1"},
		{Document: `{"Statement":[{"Action":["iot:Publish","iot:Receive"],"Effect":"Allow","Resource":"arn:aws:iot:*:*:topic/${iot:ClientId}&x"}],"Version":"2012-10-17"}`},
	}
	if !reflect.DeepEqual(r.Policies, want) {
		t.Errorf("got  %+v\nwant %+v", r.Policies, want)
	}
}

func TestEvaluateIgnoresUndeclaredParameters(t *testing.T) {
	tpl := mustParse(t, `{"Resources": {}, "DeviceConfiguration": {"k": "v"}}`)
	r, err := tpl.Evaluate(Input{Parameters: map[string]string{"Extra": "x"}})
	if err != nil || r.DeviceConfiguration["k"] != "v" {
		t.Fatalf("got %+v, %v", r, err)
	}
}

// A certificate parameter declared with a Default uses it when the certificate lacks the field.
func TestEvaluateCertificateParameterDefault(t *testing.T) {
	tpl := mustParse(t, `{"Parameters": {"AWS::IoT::Certificate::Country": {"Type": "String", "Default": "US"}},
		"Resources": {}, "DeviceConfiguration": {"c": {"Ref": "AWS::IoT::Certificate::Country"}}}`)
	for cert, want := range map[string]string{"": "US", "DE": "DE"} {
		r, err := tpl.Evaluate(Input{Certificate: CertificateInfo{ID: "c", Country: cert}})
		if err != nil || r.DeviceConfiguration["c"] != want {
			t.Errorf("certificate country %q: got %+v, %v; want %q", cert, r, err, want)
		}
	}
}

func TestEvaluateNameLimits(t *testing.T) {
	tpl := mustParse(t, withResources(thingWith(`, "AttributePayload": {"x": {"Ref": "A"}}`, "")))
	for _, tc := range []struct {
		a  string
		ok bool
	}{
		{strings.Repeat("v", 800), true},
		{strings.Repeat("v", 801), false},
		{"", true},
		{"a=[b]:c/d#e@f,g.h_i-j", true},
		{"é", false},
	} {
		_, err := tpl.Evaluate(Input{Parameters: map[string]string{"A": tc.a}})
		if (err == nil) != tc.ok {
			t.Errorf("attribute value of %d bytes: error %v, want ok=%v", len(tc.a), err, tc.ok)
		}
	}
	tpl = mustParse(t, withResources(thingRes))
	for name, ok := range map[string]bool{strings.Repeat("n", 128): true, strings.Repeat("n", 129): false, "a:b_c-D9": true, "a.b": false} {
		_, err := tpl.Evaluate(Input{Parameters: map[string]string{"A": name}})
		if (err == nil) != ok {
			t.Errorf("thing name of %d bytes: error %v, want ok=%v", len(name), err, ok)
		}
	}
}

func TestIntrinsicObjectWithTwoFunctions(t *testing.T) {
	for range 5 {
		_, err := Parse("t.json", []byte(`{"Resources": {}, "DeviceConfiguration": {"x": {"Fn::Sub": "a", "Fn::Join": ["", []]}}}`))
		assertParseError(t, err, "t.json", "DeviceConfiguration.x", "Fn::Join must be the only key")
	}
}
