package fleetsim

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// noRedirects is a client that shows a redirect instead of following it.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// The API's smaller hostile inputs: page tokens it did not return, unclean
// paths, a wrong JSON type and a 10 KB name are each answered in AWS's shape,
// without Go's words and without repeating the whole name.
func TestHostileAPISmallInputs(t *testing.T) {
	dir := newDir(t)
	s := start(t, dir, func(o *Options) { o.APIListen = "127.0.0.1:0" })
	claim := dial(t, s.Addr(), claimTLS(t, dir), "api-small")
	provisionCSR(t, claim, "json", "api-small-1")
	provisionCSR(t, claim, "json", "api-small-2")
	base := "http://" + s.APIAddr()

	status, page := apiDo(t, s, "GET", "/things?maxResults=1", "")
	var first struct {
		NextToken string `json:"nextToken"`
	}
	if err := json.Unmarshal(page, &first); status != 200 || err != nil || first.NextToken == "" {
		t.Fatalf("ListThings maxResults=1: %d %s", status, page)
	}
	if status, _ := apiDo(t, s, "GET", "/things?maxResults=1&nextToken="+url.QueryEscape(first.NextToken), ""); status != 200 {
		t.Fatalf("the API's own token: %d", status)
	}
	forged := map[string]string{
		"a made-up token": base64.StdEncoding.EncodeToString([]byte("fleetsim-page:0")),
		"not base64":      "!!!",
	}
	if key, mac, ok := strings.Cut(first.NextToken, "."); ok {
		forged["a real key, a made-up MAC"] = key + ".AAAAAAAAAAAAAAAAAAAAAA"
		forged["a real MAC, another key"] = "MA." + mac
	}
	for what, tok := range forged {
		code, kind, _ := rawAPI(t, s, "GET", "/things?nextToken="+url.QueryEscape(tok), "")
		if code != 400 || kind != "InvalidRequestException" {
			t.Errorf("%s as nextToken: %d %s, want 400 InvalidRequestException", what, code, kind)
		}
	}

	for _, p := range []string{"//things", "/things/", "/things/../things", "/./things"} {
		req, _ := http.NewRequest("GET", base+p, nil)
		req.URL.Opaque = p // sent as written
		resp, err := noRedirects.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 || resp.Header.Get("X-Amzn-ErrorType") != "UnknownOperationException" {
			t.Errorf("GET %s: %d %s, want 404 UnknownOperationException", p, resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
		}
	}

	code, kind, msg := rawAPI(t, s, "POST", "/provisioning-templates", `{"templateName": 5, "enabled": "yes"}`)
	if code != 400 || kind != "InvalidRequestException" || !strings.Contains(msg, "must be a string") {
		t.Errorf("a number for templateName: %d %s %q, want 400 saying it must be a string", code, kind, msg)
	}
	for _, goWord := range []string{"Go ", "struct", "awsapi", "int64", "*"} {
		if strings.Contains(msg, goWord) {
			t.Errorf("the message speaks Go (%q): %q", goWord, msg)
		}
	}
	long := strings.Repeat("n", 10_000)
	code, _, msg = rawAPI(t, s, "PATCH", "/things/"+long, `{}`)
	if code != 400 || len(msg) > 300 || !strings.Contains(msg, "10000 bytes") {
		t.Errorf("a 10 KB thing name: %d, a %d-byte message, want 400 with the name cut and its length: %.120q", code, len(msg), msg)
	}
}
