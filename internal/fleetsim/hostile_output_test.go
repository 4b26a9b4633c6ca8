package fleetsim

import (
	"fmt"
	"strings"
	"testing"
)

// amplifyingTemplate is a template under 10 KB whose device configuration joins
// one parameter 600 times.
func amplifyingTemplate() string {
	refs := strings.TrimSuffix(strings.Repeat(`{"Ref":"Pad"},`, 600), ",")
	return fmt.Sprintf(`{
  "Parameters": {"SerialNumber": {"Type": "String"}, "Pad": {"Type": "String"}},
  "Resources": {
    "thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "SerialNumber"}}},
    "certificate": {"Type": "AWS::IoT::Certificate",
      "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "ACTIVE"}}
  },
  "DeviceConfiguration": {"Blob": {"Fn::Join": ["", [%s]]}}
}`, refs)
}

// A RegisterThing whose template would build 60 MB from a 100 KB parameter is
// answered 400, as an answer over one MQTT message cannot be sent; the same
// template with a short parameter provisions.
func TestHostileTemplateOutputIsBounded(t *testing.T) {
	dir := newDir(t)
	body := amplifyingTemplate()
	if len(body) > 10240 {
		t.Fatalf("the template is %d bytes, over AWS's 10 KB", len(body))
	}
	writeTemplate(t, dir, "Amplify", body, "")
	s := start(t, dir, nil)
	c := dial(t, s.Addr(), claimTLS(t, dir), "amplify")
	register := func(serial, pad string) message {
		var iss issued
		wantAccepted(t, "json", call(t, c, "$aws/certificates/create/json", nil), &iss)
		return call(t, c, "$aws/provisioning-templates/Amplify/provision/json", marshal(t, "json", map[string]any{
			"certificateOwnershipToken": iss.CertificateOwnershipToken,
			"parameters":                map[string]string{"SerialNumber": serial, "Pad": pad}}))
	}
	r := wantRejected(t, "json", register("amp-1", strings.Repeat("p", 100_000)), 400, codeInvalidRequest)
	if !strings.Contains(r.ErrorMessage, "MQTT message") {
		t.Errorf("the refusal does not say why: %q", r.ErrorMessage)
	}
	var reg registered
	wantAccepted(t, "json", register("amp-2", "short"), &reg)
}
