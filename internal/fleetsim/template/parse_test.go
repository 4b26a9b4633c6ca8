package template

import (
	"strings"
	"testing"
)

// withResources makes a template with one String parameter A and the given resources.
func withResources(res string) string {
	return `{"Parameters": {"A": {"Type": "String"}}, "Resources": {` + res + `}}`
}

const (
	thingRes  = `"thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "A"}}}`
	certRes   = `"cert": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}}}`
	policyDoc = `"{\"Version\": \"2012-10-17\", \"Statement\": []}"`
)

func thingWith(props, overrides string) string {
	s := `"thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": "t1"` + props + `}`
	if overrides != "" {
		s += `, "OverrideSettings": ` + overrides
	}
	return s + "}"
}

func TestParseRefusals(t *testing.T) {
	const p = "Resources.thing.Properties"
	tests := []struct{ name, body, path, msg string }{
		// Sections.
		{"unknown section", `{"Resources": {}, "Outputs": {}}`, "Outputs", "unknown section"},
		{"Conditions", `{"Resources": {}, "Conditions": {"c": {}}}`, "Conditions", "Conditions are not supported"},
		{"no Resources", `{"Parameters": {}}`, "", "missing Resources section"},
		{"Resources a list", `{"Resources": []}`, "Resources", "expected an object, found a list"},
		{"not an object", `[]`, "", "must be a JSON object, found a list"},
		{"invalid JSON", `{"Resources": {}`, "", "invalid JSON"},
		{"trailing data", `{"Resources": {}} {}`, "", "data after"},
		{"empty", ``, "", "empty"},
		{"invalid UTF-8", "{\"Resources\": {}, \"x\": \"\xff\"}", "", "not valid UTF-8"},
		{"too long", `{"Resources": {}, "DeviceConfiguration": {"x": "` + strings.Repeat("é", MaxBodyChars) + `"}}`,
			"", "more than the 10240"},
		// Parameters.
		{"parameter without Type", `{"Parameters": {"P": {}}, "Resources": {}}`, "Parameters.P", "missing Type"},
		{"parameter list type", `{"Parameters": {"P": {"Type": "List<String>"}}, "Resources": {}}`, "Parameters.P.Type", `found "List<String>"`},
		{"parameter attribute", `{"Parameters": {"P": {"Type": "String", "AllowedValues": []}}, "Resources": {}}`,
			"Parameters.P.AllowedValues", "unknown parameter attribute"},
		{"parameter default object", `{"Parameters": {"P": {"Type": "String", "Default": {}}}, "Resources": {}}`,
			"Parameters.P.Default", "found an object"},
		{"number default", `{"Parameters": {"P": {"Type": "Number", "Default": "ten"}}, "Resources": {}}`,
			"Parameters.P.Default", `"ten" is not a number`},
		{"AWS parameter", `{"Parameters": {"AWS::Region": {"Type": "String"}}, "Resources": {}}`,
			"Parameters.AWS::Region", "unknown AWS parameter"},
		{"parameter not an object", `{"Parameters": {"P": "String"}, "Resources": {}}`, "Parameters.P", "expected an object"},
		// Mappings.
		{"intrinsic in Mappings", `{"Parameters": {"A": {"Type": "String"}}, "Mappings": {"M": {"k": {"s": {"Ref": "A"}}}}, "Resources": {}}`,
			"Mappings.M.k.s", "Ref: intrinsic functions are not allowed in Mappings"},
		{"intrinsic as Mappings key level", `{"Mappings": {"M": {"Fn::Join": ["", []]}}, "Resources": {}}`,
			"Mappings.M", "not allowed in Mappings"},
		{"three levels", `{"Mappings": {"M": {"k": {"s": {"t": "u"}}}}, "Resources": {}}`, "Mappings.M.k.s", "two levels"},
		{"mapping not an object", `{"Mappings": {"M": "x"}, "Resources": {}}`, "Mappings.M", "expected an object"},
		{"mapping list of objects", `{"Mappings": {"M": {"k": {"s": [{}]}}}, "Resources": {}}`, "Mappings.M.k.s[0]", "expected a string"},
		// Resources.
		{"unknown resource type", withResources(`"x": {"Type": "AWS::IoT::ThingGroup", "Properties": {}}`),
			"Resources.x.Type", `unknown resource type "AWS::IoT::ThingGroup"`},
		{"resource without Type", withResources(`"x": {"Properties": {}}`), "Resources.x.Type", "expected a resource type"},
		{"resource Condition", withResources(`"thing": {"Type": "AWS::IoT::Thing", "Condition": "c", "Properties": {"ThingName": "t"}}`),
			"Resources.thing.Condition", "Conditions are not supported"},
		{"resource DependsOn", withResources(`"thing": {"Type": "AWS::IoT::Thing", "DependsOn": "c", "Properties": {"ThingName": "t"}}`),
			"Resources.thing.DependsOn", "unknown resource attribute"},
		{"resource null", withResources(`"x": null`), "Resources.x", "found null"},
		{"two things", withResources(thingRes + `, "thing2": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": "b"}}`),
			"Resources.thing2", "only one AWS::IoT::Thing"},
		// Thing.
		{"thing unknown property", withResources(thingWith(`, "Principals": []`, "")), p + ".Principals", "unknown AWS::IoT::Thing property"},
		{"thing without name", withResources(`"thing": {"Type": "AWS::IoT::Thing", "Properties": {}}`), p + ".ThingName", "missing"},
		{"thing without properties", withResources(`"thing": {"Type": "AWS::IoT::Thing"}`), p + ".ThingName", "missing"},
		{"GetAtt in ThingName", withResources(`"thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Fn::GetAtt": ["x", "y"]}}}`),
			p + ".ThingName", "Fn::GetAtt is not supported"},
		{"If in attribute", withResources(thingWith(`, "AttributePayload": {"a": {"Fn::If": ["c", "x", "y"]}}`, "")),
			p + ".AttributePayload.a", "Fn::If is not supported"},
		{"attributes from an intrinsic", withResources(thingWith(`, "AttributePayload": {"Ref": "A"}`, "")),
			p + ".AttributePayload", "intrinsic functions are not allowed here"},
		{"bad attribute name", withResources(thingWith(`, "AttributePayload": {"a b": "x"}`, "")),
			p + ".AttributePayload.a b", "invalid attribute name"},
		{"groups as a string", withResources(thingWith(`, "ThingGroups": "g"`, "")), p + ".ThingGroups", "expected a list, found a string"},
		{"name as a list", withResources(`"thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": ["a"]}}`),
			p + ".ThingName", "expected a string, found a list"},
		// OverrideSettings.
		{"override value", withResources(thingWith(`, "ThingTypeName": "tt"`, `{"ThingTypeName": "KEEP"}`)),
			"Resources.thing.OverrideSettings.ThingTypeName", `found "KEEP"`},
		{"override lower case", withResources(thingWith(`, "ThingTypeName": "tt"`, `{"ThingTypeName": "replace"}`)),
			"Resources.thing.OverrideSettings.ThingTypeName", `found "replace"`},
		{"MERGE thing type", withResources(thingWith(`, "ThingTypeName": "tt"`, `{"ThingTypeName": "MERGE"}`)),
			"Resources.thing.OverrideSettings.ThingTypeName", "MERGE applies only to AttributePayload and ThingGroups"},
		{"MERGE billing group", withResources(thingWith(`, "BillingGroup": "bg"`, `{"BillingGroup": "MERGE"}`)),
			"Resources.thing.OverrideSettings.BillingGroup", "MERGE applies only"},
		{"override ThingName", withResources(thingWith("", `{"ThingName": "REPLACE"}`)),
			"Resources.thing.OverrideSettings.ThingName", "unknown property"},
		{"override not a string", withResources(thingWith("", `{"ThingGroups": 1}`)),
			"Resources.thing.OverrideSettings.ThingGroups", "found a number"},
		{"override list", withResources(thingWith("", `["REPLACE"]`)), "Resources.thing.OverrideSettings", "expected an object"},
		{"override on a certificate", withResources(`"cert": {"Type": "AWS::IoT::Certificate", "OverrideSettings": {}, "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}}}`),
			"Resources.cert.OverrideSettings", "apply only to AWS::IoT::Thing"},
		// Certificate.
		{"certificate id literal", withResources(`"cert": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": "abc"}}`),
			"Resources.cert.Properties.CertificateId", `must be {"Ref": "AWS::IoT::Certificate::Id"}`},
		{"certificate id other parameter", withResources(`"cert": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": {"Ref": "A"}}}`),
			"Resources.cert.Properties.CertificateId", "must be"},
		{"certificate id missing", withResources(`"cert": {"Type": "AWS::IoT::Certificate", "Properties": {"Status": "ACTIVE"}}`),
			"Resources.cert.Properties.CertificateId", "missing"},
		{"certificate status", withResources(`"cert": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "Revoked"}}`),
			"Resources.cert.Properties.Status", `expected ACTIVE or INACTIVE, found "Revoked"`},
		{"certificate status number", withResources(`"cert": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": 1}}`),
			"Resources.cert.Properties.Status", "expected ACTIVE or INACTIVE"},
		{"certificate pem", withResources(`"cert": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "CertificatePem": "x"}}`),
			"Resources.cert.Properties.CertificatePem", "unknown AWS::IoT::Certificate property"},
		{"two certificates", withResources(certRes + `, "cert2": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}}}`),
			"Resources.cert2", "only one AWS::IoT::Certificate"},
		// Policy.
		{"policy both", withResources(`"policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "p", "PolicyDocument": ` + policyDoc + `}}`),
			"Resources.policy.Properties", "exactly one of PolicyName or PolicyDocument"},
		{"policy neither", withResources(`"policy": {"Type": "AWS::IoT::Policy", "Properties": {}}`),
			"Resources.policy.Properties", "exactly one of PolicyName or PolicyDocument"},
		{"policy unknown property", withResources(`"policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "p", "Tags": []}}`),
			"Resources.policy.Properties.Tags", "unknown AWS::IoT::Policy property"},
		{"policy document not JSON", withResources(`"policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": "{nope"}}`),
			"Resources.policy.Properties.PolicyDocument", "not JSON"},
		{"policy document a list", withResources(`"policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": "[]"}}`),
			"Resources.policy.Properties.PolicyDocument", "must be a JSON object"},
		{"policy document list value", withResources(`"policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": []}}`),
			"Resources.policy.Properties.PolicyDocument", "expected a string, found a list"},
		{"If inside an inline document", withResources(`"policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": {"Statement": [{"Resource": {"Fn::If": []}}]}}}`),
			"Resources.policy.Properties.PolicyDocument.Statement[0].Resource", "Fn::If is not supported"},
		// DeviceConfiguration.
		{"nested device configuration", `{"Resources": {}, "DeviceConfiguration": {"x": {"y": "z"}}}`,
			"DeviceConfiguration.x", "expected a string, found an object"},
		{"device configuration list", `{"Resources": {}, "DeviceConfiguration": ["x"]}`, "DeviceConfiguration", "expected an object"},
		{"device configuration intrinsic", `{"Resources": {}, "DeviceConfiguration": {"Fn::Sub": "x"}}`,
			"DeviceConfiguration", "intrinsic functions are not allowed here"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("bad.json", []byte(tc.body))
			assertParseError(t, err, "bad.json", tc.path, tc.msg)
		})
	}
}

func TestParseLimitIsInCharacters(t *testing.T) {
	head, tail := `{"Resources": {}, "DeviceConfiguration": {"x": "`, `"}}`
	fill := MaxBodyChars - len(head) - len(tail)
	body := head + strings.Repeat("é", fill) + tail // 2 bytes each, 1 character
	if _, err := Parse("max.json", []byte(body)); err != nil {
		t.Fatalf("a body of exactly %d characters: %v", MaxBodyChars, err)
	}
	body = head + strings.Repeat("é", fill+1) + tail
	_, err := Parse("max.json", []byte(body))
	assertParseError(t, err, "max.json", "", "10241 characters")
}
