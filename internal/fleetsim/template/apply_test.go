package template

import (
	"errors"
	"reflect"
	"testing"
)

func existingThing() *Thing {
	return &Thing{
		Name:         "t1",
		ThingType:    "old-type",
		Attributes:   map[string]string{"a": "old", "keep": "k"},
		Groups:       []string{"g-old", "g-shared"},
		BillingGroup: "bg-old",
	}
}

var templateThing = Thing{
	Name:         "t1",
	ThingType:    "new-type",
	Attributes:   map[string]string{"a": "new", "b": "added"},
	Groups:       []string{"g-shared", "g-new"},
	BillingGroup: "bg-new",
}

func spec(o map[string]string) ThingSpec { return ThingSpec{Thing: templateThing, Overrides: o} }

func all(mode string) map[string]string {
	return map[string]string{PropAttributePayload: mode, PropThingTypeName: mode, PropThingGroups: mode, PropBillingGroup: mode}
}

func TestApplyNewThingTakesEverything(t *testing.T) {
	for _, mode := range []string{DoNothing, Replace, Fail} {
		got, err := spec(all(mode)).Apply(nil)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if !reflect.DeepEqual(got, templateThing) {
			t.Errorf("%s: new thing = %+v, want %+v", mode, got, templateThing)
		}
	}
}

func TestApplyOverrides(t *testing.T) {
	tests := []struct {
		name      string
		overrides map[string]string
		want      Thing
	}{
		{"DO_NOTHING keeps everything", all(DoNothing), *existingThing()},
		{"properties the template does not set are kept", map[string]string{}, *existingThing()},
		{"REPLACE takes the template's values", all(Replace), templateThing},
		{"MERGE attributes and groups", map[string]string{PropAttributePayload: Merge, PropThingGroups: Merge}, Thing{
			Name:         "t1",
			ThingType:    "old-type",
			Attributes:   map[string]string{"a": "new", "b": "added", "keep": "k"},
			Groups:       []string{"g-old", "g-shared", "g-new"},
			BillingGroup: "bg-old",
		}},
		{"mixed", map[string]string{PropAttributePayload: DoNothing, PropThingTypeName: Replace, PropThingGroups: Merge}, Thing{
			Name:         "t1",
			ThingType:    "new-type",
			Attributes:   map[string]string{"a": "old", "keep": "k"},
			Groups:       []string{"g-old", "g-shared", "g-new"},
			BillingGroup: "bg-old",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			existing := existingThing()
			got, err := spec(tc.overrides).Apply(existing)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			if !reflect.DeepEqual(existing, existingThing()) {
				t.Errorf("Apply modified the existing thing: %+v", existing)
			}
		})
	}
}

func TestApplyFail(t *testing.T) {
	for _, prop := range []string{PropAttributePayload, PropThingTypeName, PropThingGroups, PropBillingGroup} {
		t.Run(prop+" differs", func(t *testing.T) {
			_, err := spec(map[string]string{prop: Fail}).Apply(existingThing())
			var ce *ConflictError
			if !errors.As(err, &ce) || ce.Property != prop {
				t.Fatalf("got %v, want a ConflictError on %s", err, prop)
			}
		})
		t.Run(prop+" equal", func(t *testing.T) {
			same := existingThing()
			s := ThingSpec{Thing: *same, Overrides: map[string]string{prop: Fail}}
			s.Thing.Groups = []string{"g-shared", "g-old"} // groups compare as sets
			got, err := s.Apply(existingThing())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, *existingThing()) {
				t.Errorf("got %+v", got)
			}
		})
	}
	// An unset property differs from a set one.
	bare := &Thing{Name: "t1"}
	_, err := spec(map[string]string{PropThingTypeName: Fail}).Apply(bare)
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("unset thing type with FAIL: got %v, want a ConflictError", err)
	}
}

func TestApplyDoesNotShareMaps(t *testing.T) {
	s := spec(all(Replace))
	got, err := s.Apply(existingThing())
	if err != nil {
		t.Fatal(err)
	}
	got.Attributes["a"] = "changed"
	got.Groups[0] = "changed"
	if templateThing.Attributes["a"] != "new" || templateThing.Groups[0] != "g-shared" {
		t.Fatal("the applied thing shares its maps with the spec")
	}
}

func TestApplyRefusesBadModes(t *testing.T) {
	for _, o := range []map[string]string{{PropThingTypeName: Merge}, {PropAttributePayload: "KEEP"}, {"ThingName": Replace}} {
		if _, err := spec(o).Apply(existingThing()); err == nil {
			t.Errorf("%v: no error", o)
		}
	}
}

// From template to registry: a second RegisterThing for the same serial number with the AWS
// sample merges attributes, replaces the type and keeps the groups.
func TestAWSSampleReprovision(t *testing.T) {
	r, err := loadSample(t).Evaluate(sampleInput)
	if err != nil {
		t.Fatal(err)
	}
	existing := &Thing{
		Name:       "ThingPrefix_SN0042",
		ThingType:  "lightBulb-old",
		Attributes: map[string]string{"version": "v0", "owner": "ops"},
		Groups:     []string{"retired"},
	}
	got, err := r.Thing.Apply(existing)
	if err != nil {
		t.Fatal(err)
	}
	want := Thing{
		Name:       "ThingPrefix_SN0042",
		ThingType:  "lightBulb-versionA",
		Attributes: map[string]string{"version": "v1", "owner": "ops", "serialNumber": "SN0042"},
		Groups:     []string{"retired"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}
