package fleet

import (
	"strings"
	"testing"
)

func TestAllTopicsRoundTrip(t *testing.T) {
	want := map[string]bool{
		"$aws/certificates/create/json":                              true,
		"$aws/certificates/create/json/accepted":                     true,
		"$aws/certificates/create/json/rejected":                     true,
		"$aws/certificates/create/cbor":                              true,
		"$aws/certificates/create/cbor/accepted":                     true,
		"$aws/certificates/create/cbor/rejected":                     true,
		"$aws/certificates/create-from-csr/json":                     true,
		"$aws/certificates/create-from-csr/json/accepted":            true,
		"$aws/certificates/create-from-csr/json/rejected":            true,
		"$aws/certificates/create-from-csr/cbor":                     true,
		"$aws/certificates/create-from-csr/cbor/accepted":            true,
		"$aws/certificates/create-from-csr/cbor/rejected":            true,
		"$aws/provisioning-templates/Gw_1-a/provision/json":          true,
		"$aws/provisioning-templates/Gw_1-a/provision/json/accepted": true,
		"$aws/provisioning-templates/Gw_1-a/provision/json/rejected": true,
		"$aws/provisioning-templates/Gw_1-a/provision/cbor":          true,
		"$aws/provisioning-templates/Gw_1-a/provision/cbor/accepted": true,
		"$aws/provisioning-templates/Gw_1-a/provision/cbor/rejected": true,
	}
	got := map[string]bool{}
	for _, op := range []Operation{OpCreateKeys, OpCreateFromCSR, OpRegisterThing} {
		for _, f := range []Format{JSON, CBOR} {
			for _, k := range []TopicKind{TopicRequest, TopicAccepted, TopicRejected} {
				tmpl := ""
				if op == OpRegisterThing {
					tmpl = "Gw_1-a"
				}
				s, err := BuildTopic(op, tmpl, f, k)
				if err != nil {
					t.Fatalf("BuildTopic(%s, %q, %s, %s): %v", op, tmpl, f, k, err)
				}
				if !want[s] {
					t.Errorf("BuildTopic(%s, %s, %s) = %q, not an API topic", op, f, k, s)
				}
				got[s] = true
				parsed, err := ParseTopic(s)
				if err != nil {
					t.Fatalf("ParseTopic(%q): %v", s, err)
				}
				if exp := (Topic{Operation: op, Template: tmpl, Format: f, Kind: k}); parsed != exp {
					t.Errorf("ParseTopic(%q) = %+v, want %+v", s, parsed, exp)
				}
				if parsed.String() != s {
					t.Errorf("String() = %q, want %q", parsed.String(), s)
				}
			}
		}
	}
	if len(got) != 18 {
		t.Errorf("built %d distinct topics, want 18", len(got))
	}
}

func TestKindHelpers(t *testing.T) {
	for _, tc := range []struct {
		fn   func(Operation, string, Format) (string, error)
		want string
	}{
		{RequestTopic, "$aws/provisioning-templates/T/provision/cbor"},
		{AcceptedTopic, "$aws/provisioning-templates/T/provision/cbor/accepted"},
		{RejectedTopic, "$aws/provisioning-templates/T/provision/cbor/rejected"},
	} {
		got, err := tc.fn(OpRegisterThing, "T", CBOR)
		if err != nil || got != tc.want {
			t.Errorf("got %q, %v; want %q", got, err, tc.want)
		}
	}
}

func TestValidateTemplateName(t *testing.T) {
	good := []string{"a", "GatewayTemplate", "0_-Z", strings.Repeat("x", 36)}
	for _, n := range good {
		if err := ValidateTemplateName(n); err != nil {
			t.Errorf("ValidateTemplateName(%q) = %v, want nil", n, err)
		}
	}
	bad := []string{"", strings.Repeat("x", 37), "a/b", "a+", "a#", "with space", "dot.name", "ünï", "a\x00"}
	for _, n := range bad {
		if err := ValidateTemplateName(n); err == nil {
			t.Errorf("ValidateTemplateName(%q) = nil, want an error", n)
		}
		if _, err := BuildTopic(OpRegisterThing, n, JSON, TopicRequest); err == nil {
			t.Errorf("BuildTopic with template %q = nil error", n)
		}
	}
}

func TestBuildTopicRejectsBadParts(t *testing.T) {
	cases := []Topic{
		{Operation: "Nope", Format: JSON, Kind: TopicRequest},
		{Operation: OpCreateKeys, Format: "xml", Kind: TopicRequest},
		{Operation: OpCreateKeys, Format: JSON, Kind: "maybe"},
		{Operation: OpCreateKeys, Template: "T", Format: JSON, Kind: TopicRequest},
		{Operation: OpRegisterThing, Format: JSON, Kind: TopicRequest},
	}
	for _, c := range cases {
		if _, err := BuildTopic(c.Operation, c.Template, c.Format, c.Kind); err == nil {
			t.Errorf("BuildTopic(%+v) = nil error", c)
		}
	}
}

func TestParseTopicRejects(t *testing.T) {
	bad := []string{
		"",
		"$aws/certificates/create",
		"$aws/certificates/create/",
		"$aws/certificates/create/xml",
		"$aws/certificates/create/json/maybe",
		"$aws/certificates/create/json/accepted/extra",
		"$aws/certificates/delete/json",
		"$aws/provisioning-templates/T",
		"$aws/provisioning-templates/T/provision",
		"$aws/provisioning-templates/T/deprovision/json",
		"$aws/provisioning-templates//provision/json",
		"$aws/provisioning-templates/a+b/provision/json",
		"$aws/provisioning-templates/" + strings.Repeat("x", 37) + "/provision/json",
		"aws/certificates/create/json",
		"$aws/things/t/shadow/update",
	}
	for _, s := range bad {
		if tp, err := ParseTopic(s); err == nil {
			t.Errorf("ParseTopic(%q) = %+v, want an error", s, tp)
		}
	}
}
