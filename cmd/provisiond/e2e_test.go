package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/fleetsim"
	"github.com/provisiond/provisiond/internal/store"
)

// startEmulator initialises a fleetsim folder, serves it on 127.0.0.1:0 and
// returns the daemon config path pointing at it.
func startEmulator(t *testing.T, opts fleetsim.Options, yamlExtra string) (string, *fleetsim.Server) {
	t.Helper()
	return startPreparedEmulator(t, opts, yamlExtra, nil)
}

// startPreparedEmulator is startEmulator with prepare, when not nil, run on
// the emulator's folder between init and serve.
func startPreparedEmulator(t *testing.T, opts fleetsim.Options, yamlExtra string, prepare func(dir string)) (string, *fleetsim.Server) {
	t.Helper()
	dir := t.TempDir()
	if err := fleetsim.Init(dir, fleetsim.InitOptions{Listen: "127.0.0.1:8883"}); err != nil {
		t.Fatalf("fleetsim init: %v", err)
	}
	if prepare != nil {
		prepare(dir)
	}
	opts.Dir = dir
	opts.Listen = "127.0.0.1:0"
	if opts.Logger == nil {
		opts.Logger = zaptest.NewLogger(t).Named("fleetsim")
	}
	srv, err := fleetsim.Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("fleetsim start: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	path := filepath.Join(dir, "provisiond.yaml")
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	body = regexp.MustCompile(`(?m)^endpoint:.*$`).ReplaceAll(body, []byte("endpoint: "+srv.Addr()))
	body = []byte(overrideYAML(string(body), yamlExtra))
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, srv
}

// provision runs the daemon's state machine until credentials.json is valid.
func provision(t *testing.T, path string) *config.Config {
	t.Helper()
	return provisionWith(t, path, &testDaemon{logger: zaptest.NewLogger(t)})
}

// provisionWith runs d until credentials.json is valid.
func provisionWith(t *testing.T, path string, d *testDaemon) *config.Config {
	t.Helper()
	d.path = path
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- d.run(ctx, cfg)
	}()
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	_, werr := store.WaitForCredentials(wctx, cfg.StateDirectory, "")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("daemon stopped with %v", err)
	}
	if werr != nil {
		t.Fatalf("not provisioned: %v", werr)
	}
	return cfg
}

func TestEndToEndProvisionsAgainstEmulator(t *testing.T) {
	for _, tc := range []struct{ method, format string }{
		{"csr", "json"}, {"csr", "cbor"}, {"create-keys", "json"}, {"create-keys", "cbor"},
	} {
		t.Run(tc.method+"/"+tc.format, func(t *testing.T) {
			path, srv := startEmulator(t, fleetsim.Options{},
				"certificate_method: "+tc.method+"\npayload_format: "+tc.format+"\n")
			cfg := provision(t, path)

			creds, err := store.ReadCredentials(filepath.Join(cfg.StateDirectory, store.CredentialsFile))
			if err != nil {
				t.Fatal(err)
			}
			certPEM, err := os.ReadFile(creds.CertificateFile)
			if err != nil {
				t.Fatal(err)
			}
			keyPEM, err := os.ReadFile(creds.PrivateKeyFile)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
				t.Fatalf("certificate and key do not match: %v", err)
			}
			block, _ := pem.Decode(certPEM)
			sum := sha256.Sum256(block.Bytes)
			if got, want := creds.CertificateID, hex.EncodeToString(sum[:]); got != want {
				t.Fatalf("certificateId %s, want sha256 of the DER %s", got, want)
			}
			if _, err := x509.ParseCertificate(block.Bytes); err != nil {
				t.Fatal(err)
			}
			if creds.ThingName != "gw-0001" {
				t.Fatalf("thingName %q, want gw-0001", creds.ThingName)
			}

			reg := srv.Snapshot()
			var active bool
			for _, c := range reg.Certificates {
				if c.CertificateID == creds.CertificateID {
					active = c.Status == "ACTIVE" && c.ThingName == creds.ThingName
				}
			}
			attached := false
			for _, th := range reg.Things {
				if th.ThingName != creds.ThingName {
					continue
				}
				for _, id := range th.Certificates {
					attached = attached || id == creds.CertificateID
				}
			}
			if !active || !attached {
				t.Fatalf("registry does not show %s ACTIVE on %s: %+v", creds.CertificateID, creds.ThingName, reg)
			}

			var out, errOut bytes.Buffer
			if code := runCLI([]string{"status", "--json", "--config", path}, &out, &errOut); code != 0 {
				t.Fatalf("status exit %d: %s", code, errOut.String())
			}
			var st map[string]any
			if err := json.Unmarshal(out.Bytes(), &st); err != nil {
				t.Fatalf("status --json: %v: %s", err, out.String())
			}
			if st["state"] != "registered" || st["certificateId"] != creds.CertificateID || st["thingName"] != "gw-0001" {
				t.Fatalf("status --json = %s", out.String())
			}
			out.Reset()
			if code := runCLI([]string{"wait", "--timeout", "5s", "--config", path}, &out, &errOut); code != 0 {
				t.Fatalf("wait exit %d: %s", code, errOut.String())
			}
		})
	}
}

// overrideYAML replaces the top-level keys of body that extra sets (a key
// with its indented block) and appends the rest.
func overrideYAML(body, extra string) string {
	var chunks []string
	for _, line := range strings.Split(extra, "\n") {
		switch {
		case strings.TrimSpace(line) == "":
		case line[0] == ' ' || line[0] == '\t':
			if len(chunks) > 0 {
				chunks[len(chunks)-1] += "\n" + line
			}
		default:
			chunks = append(chunks, line)
		}
	}
	for _, chunk := range chunks {
		key := chunk[:strings.Index(chunk, ":")]
		body = regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(key)+`:.*(\n[ \t]+.*)*\n?`).ReplaceAllString(body, "")
		body = strings.TrimRight(body, "\n") + "\n" + chunk + "\n"
	}
	return body
}
