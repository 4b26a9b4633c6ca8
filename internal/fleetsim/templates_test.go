package fleetsim

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestTemplatesReloadWhenTheFolderChanges(t *testing.T) {
	clock := fakeClock()
	dir := newDir(t)
	s := start(t, dir, func(o *Options) { o.Clock = clock })
	c := dial(t, s.Addr(), claimTLS(t, dir), "reload")
	register := func(tmpl, serial string) message {
		_, csr := newCSR(t)
		var iss issued
		wantAccepted(t, "json", call(t, c, "$aws/certificates/create-from-csr/json",
			marshal(t, "json", map[string]string{"certificateSigningRequest": csr})), &iss)
		return call(t, c, "$aws/provisioning-templates/"+tmpl+"/provision/json",
			marshal(t, "json", map[string]any{"certificateOwnershipToken": iss.CertificateOwnershipToken,
				"parameters": map[string]string{"SerialNumber": serial}}))
	}
	wantRejected(t, "json", register("Dropped", "1"), 404, codeNotFound)

	writeTemplate(t, dir, "Dropped", demoBody, "")
	clock.Advance(2 * time.Second)
	var reg registered
	wantAccepted(t, "json", register("Dropped", "2"), &reg)

	// A broken folder keeps the templates that worked.
	if err := os.WriteFile(filepath.Join(dir, "templates", "Broken.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Second)
	wantAccepted(t, "json", register("Dropped", "3"), &reg)

	// Disabling a template takes effect too.
	if err := os.Remove(filepath.Join(dir, "templates", "Broken.json")); err != nil {
		t.Fatal(err)
	}
	writeTemplate(t, dir, "Dropped", demoBody, `{"enabled": false}`)
	clock.Advance(2 * time.Second)
	wantRejected(t, "json", register("Dropped", "4"), 403, codeAccessDenied)
}
