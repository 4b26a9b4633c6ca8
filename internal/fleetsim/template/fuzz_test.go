package template

import (
	"errors"
	"os"
	"testing"
)

// FuzzParseEvaluate feeds arbitrary bytes to Parse and, when they parse, evaluates the
// template and applies its thing: nothing may panic, and every refusal has its type.
func FuzzParseEvaluate(f *testing.F) {
	sample, err := os.ReadFile("testdata/aws_sample.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sample)
	f.Add([]byte(withResources(thingWith(`, "AttributePayload": {"x": {"Ref": "A"}}, "ThingGroups": {"Fn::Split": [",", {"Ref": "A"}]}`,
		`{"ThingGroups": "MERGE", "AttributePayload": "FAIL"}`) + `, ` + certRes)))
	f.Add([]byte(`{"Parameters": {"N": {"Type": "Number", "Default": 0}}, "Mappings": {"M": {"a": {"b": ["x", "y"]}}},
		"Resources": {}, "DeviceConfiguration": {
		"s": {"Fn::Select": [{"Ref": "N"}, {"Fn::FindInMap": ["M", "a", "b"]}]},
		"t": {"Fn::Sub": ["${!x}${v}", {"v": {"Fn::Join": ["-", ["a", "b"]]}}]}}}`))
	f.Add([]byte(`{"Resources": {"p": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": {"a": [{"Fn::Sub": "${AWS::IoT::Certificate::Id}"}]}}}}}`))
	f.Add([]byte(`{"Resources": {}, "Conditions": {}}`))
	in := Input{
		Parameters:  map[string]string{"A": "a,b", "N": "1", "SerialNumber": "SN1"},
		Certificate: CertificateInfo{ID: "cid", CommonName: "cn"},
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tpl, err := Parse("fuzz.json", body)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse error of type %T: %v", err, err)
			}
			return
		}
		r, err := tpl.Evaluate(in)
		if err != nil {
			var ee *EvalError
			if !errors.As(err, &ee) {
				t.Fatalf("Evaluate error of type %T: %v", err, err)
			}
			return
		}
		if r.Thing != nil {
			if _, err := r.Thing.Apply(nil); err != nil {
				t.Fatalf("Apply to a new thing: %v", err)
			}
			existing := &Thing{Name: r.Thing.Thing.Name, Attributes: map[string]string{"k": "v"}, Groups: []string{"g"}}
			if _, err := r.Thing.Apply(existing); err != nil {
				var ce *ConflictError
				if !errors.As(err, &ce) {
					t.Fatalf("Apply error of type %T: %v", err, err)
				}
			}
		}
	})
}
