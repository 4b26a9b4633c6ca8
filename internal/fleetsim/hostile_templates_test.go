package fleetsim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/provisiond/provisiond/internal/fleetsim/template"
)

// apiDo sends one API request and returns its status and body.
func apiDo(t testing.TB, s *Server, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.APIAddr()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// 100 goroutines create, update (enabled on or off) and delete one template
// at once; afterwards DescribeProvisioningTemplate and RegisterThing agree:
// missing and 404, disabled and 403, or enabled and accepted. In 100 of 100
// runs (10 with -short).
func TestHostileTemplateRaceEndsConsistent(t *testing.T) {
	runs := 100
	if testing.Short() {
		runs = 10
	}
	dir := newDir(t)
	s := start(t, dir, func(o *Options) { o.APIListen = "127.0.0.1:0" })
	body, err := os.ReadFile(template.BodyFile(filepath.Join(dir, "templates"), "GatewayTemplate"))
	if err != nil {
		t.Fatal(err)
	}
	bodyJSON, _ := json.Marshal(string(body))
	claim := dial(t, s.Addr(), claimTLS(t, dir), "race-claim")
	const path = "/provisioning-templates/Race"
	for run := range runs {
		var wg sync.WaitGroup
		for g := range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				on := g%2 == 0
				switch g % 3 {
				case 0:
					apiDo(t, s, "POST", "/provisioning-templates", fmt.Sprintf(
						`{"templateName":"Race","templateBody":%s,"enabled":%v,"provisioningRoleArn":"arn:aws:iam::123456789012:role/R"}`, bodyJSON, on))
				case 1:
					apiDo(t, s, "PATCH", path, fmt.Sprintf(`{"enabled":%v}`, on))
				case 2:
					apiDo(t, s, "DELETE", path, "")
				}
			}()
		}
		wg.Wait()
		status, desc := apiDo(t, s, "GET", path, "")
		var d struct {
			Enabled bool `json:"enabled"`
		}
		_ = json.Unmarshal(desc, &d)
		var iss issued
		wantAccepted(t, "json", call(t, claim, "$aws/certificates/create/json", nil), &iss)
		answer := call(t, claim, "$aws/provisioning-templates/Race/provision/json", marshal(t, "json", map[string]any{
			"certificateOwnershipToken": iss.CertificateOwnershipToken,
			"parameters":                map[string]string{"SerialNumber": fmt.Sprintf("race-%d", run)}}))
		var r rejection
		accepted := strings.HasSuffix(answer.topic, "/accepted")
		if !accepted {
			unmarshal(t, "json", answer.payload, &r)
		}
		switch {
		case status == 404 && !accepted && r.StatusCode == 404,
			status == 200 && !d.Enabled && !accepted && r.StatusCode == 403,
			status == 200 && d.Enabled && accepted:
		default:
			t.Fatalf("run %d of %d: describe says %d (enabled %v), RegisterThing answers on %s %.200s", run+1, runs, status, d.Enabled, answer.topic, answer.payload)
		}
	}
}
