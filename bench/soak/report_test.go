package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// flat returns a run of n one-second samples, f changing each one.
func flat(n int, f func(i int, s *sample)) []sample {
	out := make([]sample, n)
	for i := range out {
		out[i] = sample{at: time.Duration(i) * time.Second, rssKiB: 18000 + (i%7)*100, fds: 13 + i%2, goroutines: 10 + (i%5)/4*10, stateBytes: 12000}
		if f != nil {
			f(i, &out[i])
		}
	}
	return out
}

func TestJudge(t *testing.T) {
	dir := t.TempDir()
	log := func(lines ...string) string {
		p := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".log")
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	quiet := "2026-12-07T14:00:00.000Z\tINFO\tstatemachine/pending.go:1\tprovisioned: credentials handed over"
	netErr := "2026-12-07T14:00:01.000Z\tERROR\tstatemachine/x.go:1\tattempt failed\t{\"error\": \"connect: connection refused\"}"
	otherErr := "2026-12-07T14:00:02.000Z\tERROR\tstatemachine/x.go:1\tcannot restore credentials.json\t{\"error\": \"permission denied\"}"
	good := func() report {
		return report{
			opts:    options{duration: 2 * time.Minute, warmup: 20 * time.Second},
			samples: flat(120, nil), kills: 3, drops: 1, issued: 21,
			watch: watchResult{reads: 1000, identities: 20}, daemonLog: log(quiet, netErr),
		}
	}
	for _, tc := range []struct {
		name   string
		change func(r *report)
		want   string // "" passes
	}{
		{"flat lines, network errors only", func(r *report) {}, ""},
		{"a goroutine per 10 s", func(r *report) {
			r.samples = flat(120, func(i int, s *sample) { s.goroutines += i / 10 })
		}, "goroutines grew"},
		{"a descriptor per 20 s", func(r *report) {
			r.samples = flat(120, func(i int, s *sample) { s.fds += i / 20 })
		}, "open descriptors grew"},
		{"RSS up 40 KiB a second", func(r *report) {
			r.samples = flat(120, func(i int, s *sample) { s.rssKiB += 40 * i })
		}, "RSS grew"},
		{"state up 1 KiB every 5 s", func(r *report) {
			r.samples = flat(120, func(i int, s *sample) { s.stateBytes += int64(1024 * (i / 5)) })
		}, "state folder grew"},
		{"growth inside the warm-up only", func(r *report) {
			r.samples = flat(120, func(i int, s *sample) { s.goroutines += min(i, 15) })
		}, ""},
		{"an unusable pair", func(r *report) { r.watch.failures = []string{"14:00:00.000: pair: tls: private key does not match"} }, "unusable pairs"},
		{"no rotation", func(r *report) { r.watch.identities = 1; r.issued = 1 }, "did not rotate"},
		{"orphans beyond one per interruption", func(r *report) { r.issued = 20 + 4 + 1 + 1 }, "never used"},
		{"an unexpected error", func(r *report) { r.daemonLog = log(quiet, otherErr) }, "unexpected error"},
		{"a panic", func(r *report) { r.daemonLog = log(quiet, "panic: runtime error: index out of range") }, "unexpected error"},
		{"no clean stop", func(r *report) { r.exited = os.ErrDeadlineExceeded }, "did not stop cleanly"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := good()
			tc.change(&r)
			err := r.judge()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("judge failed a good run: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("judge = %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

func TestLeastSquaresSlope(t *testing.T) {
	xs := []float64{0, 1, 2, 3, 4}
	ys := []float64{1, 3, 5, 7, 9}
	if got := leastSquaresSlope(xs, ys); got < 1.999 || got > 2.001 {
		t.Errorf("slope of y = 2x + 1 is %v, want 2", got)
	}
	if got := leastSquaresSlope([]float64{1, 1}, []float64{0, 5}); got != 0 {
		t.Errorf("slope over one x is %v, want 0", got)
	}
}

// The watcher's check is a consumer's: the pair must load and certificateId
// must be the certificate's SHA-256.
func TestCheckPair(t *testing.T) {
	dir := t.TempDir()
	certA, keyA := writePair(t, dir, "a")
	_, keyB := writePair(t, dir, "b")
	der, _ := pem.Decode(mustRead(t, certA))
	sum := sha256.Sum256(der.Bytes)
	id := hex.EncodeToString(sum[:])
	creds := func(cert, key, id string) []byte {
		data, _ := json.Marshal(map[string]string{"certificateId": id, "certificateFile": cert, "privateKeyFile": key})
		return data
	}
	if got, err := checkPair(creds(certA, keyA, id), nil); err != nil || got != id {
		t.Errorf("a good pair: %q, %v", got, err)
	}
	if _, err := checkPair(creds(certA, keyB, id), nil); err == nil {
		t.Error("a certificate with another key's file passed")
	}
	if _, err := checkPair(creds(certA, keyA, strings.Repeat("0", 64)), nil); err == nil || !strings.Contains(err.Error(), "certificateId") {
		t.Errorf("a wrong certificateId: %v", err)
	}
	if _, err := checkPair([]byte(`{"certificateId": `), nil); err == nil {
		t.Error("half a credentials.json passed")
	}
}

func writePair(t *testing.T, dir, name string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	writeFile(t, cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	writeFile(t, key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
	return cert, key
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
