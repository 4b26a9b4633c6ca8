package fleetsim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// conflictTemplate names one shared thing and refuses to change its attributes.
const conflictTemplate = `{
  "Parameters": {"Value": {"Type": "String"}},
  "Resources": {
    "thing": {
      "Type": "AWS::IoT::Thing",
      "Properties": {"ThingName": "shared", "AttributePayload": {"value": {"Ref": "Value"}}},
      "OverrideSettings": {"AttributePayload": "FAIL"}
    },
    "certificate": {"Type": "AWS::IoT::Certificate",
      "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "ACTIVE"}}
  }
}`

// inactiveTemplate provisions a thing whose certificate stays INACTIVE.
const inactiveTemplate = `{
  "Parameters": {"SerialNumber": {"Type": "String"}},
  "Resources": {
    "thing": {"Type": "AWS::IoT::Thing",
      "Properties": {"ThingName": {"Fn::Join": ["", ["off-", {"Ref": "SerialNumber"}]]}}},
    "certificate": {"Type": "AWS::IoT::Certificate",
      "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "Inactive"}}
  }
}`

func writeTemplate(t testing.TB, dir, name, body, settings string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "templates", name+".json"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if settings != "" {
		if err := os.WriteFile(filepath.Join(dir, "templates", name+".settings.json"), []byte(settings), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// demoBody is GatewayTemplate under another name.
var demoBody = demoTemplateBody

func TestRejections(t *testing.T) {
	hookDone := make(chan struct{})
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/deny":
			_, _ = w.Write([]byte(`{"allowProvisioning": false}`))
		case "/fail":
			http.Error(w, "boom", http.StatusInternalServerError)
		case "/slow":
			select {
			case <-hookDone:
			case <-r.Context().Done():
			}
		}
	}))
	defer hook.Close()
	defer close(hookDone)

	dir := newDir(t)
	writeTemplate(t, dir, "Disabled", demoBody, `{"enabled": false}`)
	writeTemplate(t, dir, "HookDeny", demoBody, `{"enabled": true, "preProvisioningHook": {"url": "`+hook.URL+`/deny"}}`)
	writeTemplate(t, dir, "HookFail", demoBody, `{"enabled": true, "preProvisioningHook": {"url": "`+hook.URL+`/fail"}}`)
	writeTemplate(t, dir, "HookSlow", demoBody, `{"enabled": true, "preProvisioningHook": {"url": "`+hook.URL+`/slow"}}`)
	writeTemplate(t, dir, "Conflict", conflictTemplate, "")
	s := start(t, dir, func(o *Options) {
		// Long enough for the answering hooks on a loaded machine; /slow never answers.
		o.HookTimeout = time.Second
		o.Faults = []Fault{{Operation: "create-keys", Action: FaultReject, Status: 500}}
		o.Rates = map[string]float64{"create-from-csr": 0.001} // one request, then 429
	})
	c := dial(t, s.Addr(), claimTLS(t, dir), "claim")

	// Tokens for the register rows; the CSR rate limit allows one request, used here.
	token := func() string {
		_, csr := newCSR(t)
		var iss issued
		wantAccepted(t, "json", call(t, c, "$aws/certificates/create-from-csr/json",
			marshal(t, "json", map[string]string{"certificateSigningRequest": csr})), &iss)
		return iss.CertificateOwnershipToken
	}
	tok := token()

	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	goodKey, goodCSR := newCSR(t)
	// Flipping the last byte of the DER changes the signature's value, not the structure.
	csrDER, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, goodKey)
	csrDER[len(csrDER)-1] ^= 0x01
	tampered := pemBlock("CERTIFICATE REQUEST", csrDER)

	reg := func(tmpl, format string, body any) (string, []byte) {
		return "$aws/provisioning-templates/" + tmpl + "/provision/" + format, marshal(t, format, body)
	}
	params := func(token string, p map[string]string) map[string]any {
		return map[string]any{"certificateOwnershipToken": token, "parameters": p}
	}
	serial := map[string]string{"SerialNumber": "0007"}

	type row struct {
		name    string
		topic   string
		payload []byte
		status  int
		code    string
		message string // part of the message
	}
	rows := []row{}
	add := func(name, topic string, payload []byte, status int, code, msg string) {
		rows = append(rows, row{name, topic, payload, status, code, msg})
	}
	for _, f := range []string{"json", "cbor"} {
		tp, b := reg("GatewayTemplate", f, params("", serial))
		add(f+" empty token", tp, b, 400, codeInvalidToken, "cannot be empty")
		tp, b = reg("GatewayTemplate", f, params("bm90LWEtdG9rZW4", serial))
		add(f+" unknown token", tp, b, 400, codeInvalidToken, "not valid")
		tp, b = reg("NoSuchTemplate", f, params(tok, serial))
		add(f+" unknown template", tp, b, 404, codeNotFound, "NoSuchTemplate")
		tp, b = reg("Disabled", f, params(tok, serial))
		add(f+" disabled template", tp, b, 403, codeAccessDenied, "disabled")
		tp, b = reg("HookDeny", f, params(tok, serial))
		add(f+" hook denies", tp, b, 403, codeAccessDenied, "denied")
		tp, b = reg("HookFail", f, params(tok, serial))
		add(f+" hook fails", tp, b, 403, codeAccessDenied, "500")
		tp, b = reg("GatewayTemplate", f, params(tok, nil))
		add(f+" missing parameter", tp, b, 400, codeInvalidRequest, "SerialNumber")
		tp, b = reg("GatewayTemplate", f, map[string]any{"certificateOwnershipToken": tok, "parameters": map[string]int{"SerialNumber": 7}})
		add(f+" parameter of the wrong type", tp, b, 400, codeInvalidPayload, "")
		add(f+" CSR rate limit", "$aws/certificates/create-from-csr/"+f,
			marshal(t, f, map[string]string{"certificateSigningRequest": goodCSR}), 429, codeThrottling, "rate limit")
		add(f+" injected 500", "$aws/certificates/create/"+f, nil, 500, codeInternalFailure, "fault injected")
	}
	tp, _ := reg("HookSlow", "json", nil)
	add("hook times out", tp, marshal(t, "json", params(tok, serial)), 403, codeAccessDenied, "within")
	add("register payload not an object", "$aws/provisioning-templates/GatewayTemplate/provision/json", []byte(`[1,2]`), 400, codeInvalidPayload, "")
	run := func(c paho.Client, rows []row) {
		for _, r := range rows {
			t.Run(r.name, func(t *testing.T) {
				format := r.topic[strings.LastIndex(r.topic, "/")+1:]
				got := wantRejected(t, format, call(t, c, r.topic, r.payload), r.status, r.code)
				if !strings.Contains(got.ErrorMessage, r.message) {
					t.Errorf("message %q does not mention %q", got.ErrorMessage, r.message)
				}
			})
		}
	}
	run(c, rows)

	// CSR rows need the rate limit out of the way: a second server on the same folder.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := start(t, dir, nil)
	c2 := dial(t, s2.Addr(), claimTLS(t, dir), "claim2")
	csrTopic := "$aws/certificates/create-from-csr/json"
	rows = nil
	add("malformed JSON", csrTopic, []byte(`{"certificateSigningRequest": `), 400, codeInvalidPayload, "JSON")
	add("malformed CBOR", "$aws/certificates/create-from-csr/cbor", []byte{0xa1, 0x61}, 400, codeInvalidPayload, "CBOR")
	add("CSR of the wrong type", csrTopic, []byte(`{"certificateSigningRequest": 5}`), 400, codeInvalidPayload, "certificateSigningRequest")
	add("CSR missing", csrTopic, []byte(`{"somethingElse": "x"}`), 400, codeInvalidPayload, "missing")
	add("trailing data", csrTopic, []byte(`{} {}`), 400, codeInvalidPayload, "after")
	add("trailing CBOR data", "$aws/certificates/create-from-csr/cbor", []byte{0xa0, 0xa0}, 400, codeInvalidPayload, "extraneous data")
	add("create-keys payload not an object", "$aws/certificates/create/json", []byte(`"x"`), 400, codeInvalidPayload, "")
	add("create-keys payload not CBOR", "$aws/certificates/create/cbor", []byte{0xff, 0x00}, 400, codeInvalidPayload, "CBOR")
	run(c2, rows)
	csrRows := []struct {
		name string
		csr  string
		msg  string
	}{
		{"not PEM", "hello", "not a PEM"},
		{"not a CSR", string(pemBlock("CERTIFICATE", []byte{1, 2, 3})), "CERTIFICATE REQUEST"},
		{"unparsable", string(pemBlock("CERTIFICATE REQUEST", []byte{1, 2, 3})), "cannot be parsed"},
		{"RSA-1024", csrFor(t, rsa1024), "2048"},
		{"P-224", csrFor(t, p224), "P-256"},
		{"bad signature", string(tampered), "signature"},
	}
	for _, r := range csrRows {
		t.Run("InvalidCsr "+r.name, func(t *testing.T) {
			got := wantRejected(t, "json", call(t, c2, csrTopic,
				marshal(t, "json", map[string]string{"certificateSigningRequest": r.csr})), 400, codeInvalidCSR)
			if !strings.Contains(got.ErrorMessage, r.msg) {
				t.Errorf("message %q does not mention %q", got.ErrorMessage, r.msg)
			}
		})
	}

	t.Run("token used twice", func(t *testing.T) {
		_, iss, _ := provisionCSR(t, c2, "json", "0100")
		wantRejected(t, "json", call(t, c2, "$aws/provisioning-templates/GatewayTemplate/provision/json",
			marshal(t, "json", params(iss.CertificateOwnershipToken, serial))), 400, codeInvalidToken)
	})
	t.Run("FAIL override on an existing thing", func(t *testing.T) {
		register := func(value string) message {
			_, csr := newCSR(t)
			var iss issued
			wantAccepted(t, "json", call(t, c2, csrTopic, marshal(t, "json", map[string]string{"certificateSigningRequest": csr})), &iss)
			return call(t, c2, "$aws/provisioning-templates/Conflict/provision/json",
				marshal(t, "json", params(iss.CertificateOwnershipToken, map[string]string{"Value": value})))
		}
		var ok registered
		wantAccepted(t, "json", register("a"), &ok)
		wantRejected(t, "json", register("b"), 409, codeConflict)
		th, _ := findThing(s2.Snapshot(), "shared")
		if th.Attributes["value"] != "a" || len(th.Certificates) != 1 {
			t.Errorf("the refused registration changed the thing: %+v", th)
		}
	})
	t.Run("a rejected token stays usable", func(t *testing.T) {
		_, csr := newCSR(t)
		var iss issued
		wantAccepted(t, "json", call(t, c2, csrTopic, marshal(t, "json", map[string]string{"certificateSigningRequest": csr})), &iss)
		wantRejected(t, "json", call(t, c2, "$aws/provisioning-templates/GatewayTemplate/provision/json",
			marshal(t, "json", params(iss.CertificateOwnershipToken, nil))), 400, codeInvalidRequest)
		var ok registered
		// Unknown fields are tolerated.
		body := params(iss.CertificateOwnershipToken, map[string]string{"SerialNumber": "0200"})
		body["clientToken"] = 42
		wantAccepted(t, "json", call(t, c2, "$aws/provisioning-templates/GatewayTemplate/provision/json",
			marshal(t, "json", body)), &ok)
	})
}
