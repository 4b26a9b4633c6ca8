package fleetsim

import (
	"fmt"
	"testing"

	"github.com/provisiond/provisiond/internal/fleetsim/template"
)

// BenchmarkRecordRegistration measures what one storm device costs the registry, without
// MQTT and TLS: the certificate issued and inserted (CreateCertificateFromCsr), then the
// reservation, the template and the registration's transaction (RegisterThing), each
// committed as serve commits it.
func BenchmarkRecordRegistration(b *testing.B) {
	s := start(b, newDir(b), nil)
	key, _ := newCSR(b)
	tpl, ok := s.templates.get(DemoTemplate, s.now())
	if !ok {
		b.Fatal("no " + DemoTemplate + " in the initialised folder")
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		id, _, aerr := s.issue(key.Public(), nil)
		if aerr != nil {
			b.Fatal(aerr.msg)
		}
		_, subject, err := s.reg.Reserve(id, s.now(), s.ttl)
		if err != nil || subject == nil {
			b.Fatalf("the issued certificate cannot be reserved with its subject: %v", err)
		}
		res, err := tpl.tpl.Evaluate(template.Input{Parameters: map[string]string{"SerialNumber": fmt.Sprint(i)}, Certificate: *subject})
		if err != nil {
			b.Fatal(err)
		}
		if _, aerr := s.provision("", id, res, s.now()); aerr != nil {
			b.Fatal(aerr.msg)
		}
	}
}
