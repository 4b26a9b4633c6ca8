package fleetsim

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"
)

// FuzzAPIRequest sends anything to the control-plane API: every answer is a success or
// an error in AWS's shape with a status under 500, never a panic or an internal failure.
func FuzzAPIRequest(f *testing.F) {
	dir := newDir(f)
	// A silent logger: zaptest may not log from inside the fuzz function.
	s := start(f, dir, func(o *Options) { o.APIListen = "127.0.0.1:0"; o.Logger = zap.NewNop() })
	for _, seed := range []struct{ method, target, body string }{
		{"GET", "/things?maxResults=2&nextToken=AAAA", ""},
		{"PATCH", "/things/gw-1", `{"attributePayload":{"attributes":{"a":"b"},"merge":true},"expectedVersion":1}`},
		{"POST", "/provisioning-templates", `{"templateName":"T","templateBody":"{}","provisioningRoleArn":"arn:aws:iam::123456789012:role/R"}`},
		{"PATCH", "/provisioning-templates/T", `{"enabled":true,"preProvisioningHook":{"targetArn":"http://127.0.0.1:1/"}}`},
		{"PUT", "/certificates/" + strings.Repeat("a", 64) + "?newStatus=REVOKED", ""},
		{"GET", "/certificates?pageSize=1&isAscendingOrder=true&marker=Zm9v", ""},
		{"POST", "/attached-policies/arn%3Aaws%3Aiot%3Aus-east-1%3A123456789012%3Acert%2Fab", ""},
		{"GET", "/thing-groups?namePrefixFilter=a&parentGroup=b", ""},
		{"DELETE", "/things/x?expectedVersion=abc", ""},
	} {
		f.Add(seed.method, seed.target, seed.body)
	}
	f.Fuzz(func(t *testing.T, method, target, body string) {
		req, err := http.NewRequest(method, "http://fleetsim"+target, strings.NewReader(body))
		if err != nil {
			return
		}
		w := httptest.NewRecorder()
		s.api.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %s %q: status %d %s", method, target, body, w.Code, w.Body)
		}
		if w.Code >= 400 && w.Header().Get("X-Amzn-ErrorType") == "" {
			t.Fatalf("%s %s: status %d without x-amzn-ErrorType", method, target, w.Code)
		}
	})
}
