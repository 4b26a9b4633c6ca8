package main

import (
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/fleetsim"
)

// fastRetry keeps backoff short so that fault runs end quickly.
const fastRetry = `retry:
  initial: 10ms
  max: 200ms
  permanent: 200ms
  response_timeout: 2s
`

// Against each emulator fault the daemon still ends registered.
func TestEndToEndRegistersDespiteFaults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults []string
		ttl    time.Duration
	}{
		{name: "dropped answers", faults: []string{"create-from-csr:drop:1", "register:drop:1"}},
		{name: "500s", faults: []string{"any:reject=500:3"}},
		{name: "429s", faults: []string{"create-from-csr:reject=429:2", "register:reject=429:2"}},
		{name: "disconnect mid-call", faults: []string{"register:disconnect:1"}},
		{name: "token expiry", faults: []string{"register:delay=1s:1"}, ttl: 500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var faults []fleetsim.Fault
			for _, spec := range tc.faults {
				f, err := fleetsim.ParseFault(spec)
				if err != nil {
					t.Fatalf("fault %q: %v", spec, err)
				}
				faults = append(faults, f)
			}
			path, srv := startEmulator(t, fleetsim.Options{Faults: faults, TokenTTL: tc.ttl}, fastRetry)
			provision(t, path)
			active := 0
			for _, c := range srv.Snapshot().Certificates {
				if c.Kind == "device" && c.Status == "ACTIVE" {
					active++
				}
			}
			if active != 1 {
				t.Fatalf("%d ACTIVE device certificates, want exactly 1", active)
			}
		})
	}
}
