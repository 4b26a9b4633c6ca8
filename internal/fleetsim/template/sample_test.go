package template

import (
	"encoding/json"
	"maps"
	"os"
	"reflect"
	"testing"
)

func loadSample(t testing.TB) *Template {
	t.Helper()
	body, err := os.ReadFile("testdata/aws_sample.json")
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := Parse("aws_sample.json", body)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return tpl
}

var sampleInput = Input{
	Parameters:  map[string]string{"SerialNumber": "SN0042", "Ignored": "x"},
	Certificate: CertificateInfo{ID: "4f6c3a0e7b5d1c2a9e8f7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3921"},
}

func TestAWSSampleEvaluate(t *testing.T) {
	r, err := loadSample(t).Evaluate(sampleInput)
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	wantThing := &ThingSpec{
		Thing: Thing{
			Name:       "ThingPrefix_SN0042",
			ThingType:  "lightBulb-versionA",
			Attributes: map[string]string{"version": "v1", "serialNumber": "SN0042"},
			Groups:     []string{"v1-lightbulbs", "WA"},
		},
		Overrides: map[string]string{
			PropAttributePayload: Merge, PropThingTypeName: Replace, PropThingGroups: DoNothing,
		},
	}
	if !reflect.DeepEqual(r.Thing, wantThing) {
		t.Errorf("thing:\n got %+v\nwant %+v", r.Thing, wantThing)
	}
	if r.Certificate == nil || r.Certificate.Status != "ACTIVE" {
		t.Errorf("certificate = %+v, want ACTIVE", r.Certificate)
	}
	wantConf := map[string]string{
		"FallbackUrl":   "https://www.example.com/test-site",
		"LocationUrl":   "https://example.aws/wa",
		"CertificateId": sampleInput.Certificate.ID,
	}
	if !maps.Equal(r.DeviceConfiguration, wantConf) {
		t.Errorf("device configuration = %v, want %v", r.DeviceConfiguration, wantConf)
	}
	if len(r.Policies) != 1 || r.Policies[0].Name != "" {
		t.Fatalf("policies = %+v, want one document", r.Policies)
	}
	var doc struct {
		Version   string
		Statement []struct {
			Effect   string
			Action   []string
			Resource []string
		}
	}
	if err := json.Unmarshal([]byte(r.Policies[0].Document), &doc); err != nil {
		t.Fatalf("policy document %q: %v", r.Policies[0].Document, err)
	}
	if doc.Version != "2012-10-17" || len(doc.Statement) != 2 ||
		doc.Statement[0].Resource[0] != "arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}" ||
		doc.Statement[1].Resource[0] != "arn:aws:iot:us-east-1:123456789012:topic/devices/SN0042/*" {
		t.Errorf("policy document = %s", r.Policies[0].Document)
	}
}

func TestAWSSampleParameterDefaultAndOverride(t *testing.T) {
	tpl := loadSample(t)
	in := Input{Parameters: map[string]string{"SerialNumber": "A1", "Location": "NY"}, Certificate: sampleInput.Certificate}
	r, err := tpl.Evaluate(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.DeviceConfiguration["LocationUrl"]; got != "https://example.aws/ny" {
		t.Errorf("LocationUrl = %q", got)
	}
	if !reflect.DeepEqual(r.Thing.Thing.Groups, []string{"v1-lightbulbs", "NY"}) {
		t.Errorf("groups = %v", r.Thing.Thing.Groups)
	}
	// A location with no row in the mapping is the device's mistake: an evaluation error.
	in.Parameters["Location"] = "TX"
	_, err = tpl.Evaluate(in)
	assertEvalError(t, err, "DeviceConfiguration.LocationUrl.Fn::FindInMap[1]", `no key "TX"`)
}

func TestAWSSampleMissingSerialNumber(t *testing.T) {
	_, err := loadSample(t).Evaluate(Input{Certificate: sampleInput.Certificate})
	assertEvalError(t, err, "Parameters.SerialNumber", "SerialNumber is required")
}

// The emulator evaluates templates from many connections at once.
func TestEvaluateConcurrently(t *testing.T) {
	tpl := loadSample(t)
	done := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := tpl.Evaluate(sampleInput)
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func BenchmarkEvaluate(b *testing.B) {
	tpl := loadSample(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tpl.Evaluate(sampleInput); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	body, err := os.ReadFile("testdata/aws_sample.json")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("aws_sample.json", body); err != nil {
			b.Fatal(err)
		}
	}
}
