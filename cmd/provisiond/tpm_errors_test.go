package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/fleetsim"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey/tpmtest"
)

// Each TPM misconfiguration stops `provisiond check` (and, where the config
// itself is wrong, `provisiond run`) with exit 78 and an error that names
// the setting to fix.
func TestTPMConfigErrorsNameTheSetting(t *testing.T) {
	sw := tpmtest.Start(t)
	tpmtest.PersistForeignKey(t, sw.Device, 0x81000030)
	stopped := tpmtest.Start(t)
	stopped.Stop()
	notTPM := filepath.Join(t.TempDir(), "tpm0")
	if err := os.WriteFile(notTPM, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tpm := func(device, extra string) string {
		return "key_store: tpm\ntpm:\n  device: " + device + "\n" + extra
	}
	for _, tc := range []struct {
		name, yaml string
		run        bool // run refuses the config too
		want       []string
	}{
		{"missing TPM", tpm(stopped.Device, ""), false, []string{"tpm.device", "no TPM listening"}},
		{"device that is not a TPM", tpm(notTPM, ""), false, []string{"tpm.device", "not a TPM device"}},
		{"bad device", tpm("tpm0", ""), true, []string{"tpm.device", "must be a device path"}},
		{"foreign key at the handle", tpm(sw.Device, "  handle: \"0x81000030\"\n"), false, []string{"tpm.handle", "did not make"}},
		{"create-keys", "certificate_method: create-keys\n" + tpm(sw.Device, ""), true, []string{"key_store", "certificate_method: csr"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, _ := startEmulator(t, fleetsim.Options{}, tc.yaml)
			commands := [][]string{{"check"}}
			if tc.run {
				commands = append(commands, []string{"run"})
			}
			for _, c := range commands {
				var stdout, stderr bytes.Buffer
				code := runCLI(append(c, "--config", path), &stdout, &stderr)
				if code != exitConfig {
					t.Errorf("%s: exit %d, want %d\n%s%s", c[0], code, exitConfig, stdout.String(), stderr.String())
				}
				for _, w := range tc.want {
					if !strings.Contains(stderr.String(), w) {
						t.Errorf("%s: %q does not say %q", c[0], stderr.String(), w)
					}
				}
			}
		})
	}
}

// With key_store: tpm and a working TPM, the offline check reports it.
func TestOfflineCheckReportsTheTPM(t *testing.T) {
	sw := tpmtest.Start(t)
	path, _ := startEmulator(t, fleetsim.Options{}, tpmYAML(sw, "ec-p256", "0x81000001"))
	var stdout, stderr bytes.Buffer
	if code := runCLI([]string{"check", "--config", path}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	if want := "tpm: ok (device " + sw.Device; !strings.Contains(stdout.String(), want) {
		t.Fatalf("check says %q, want a line %q", stdout.String(), want)
	}
}

// A claim key named as a systemd credential that is not there is a config
// error naming claim.private_key.
func TestMissingCredentialNamesTheSetting(t *testing.T) {
	path, _ := startEmulator(t, fleetsim.Options{}, "")
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	claim := "claim:\n  certificate: " + cfg.Claims[0].Certificate + "\n  private_key: credential:claim-key\n"
	body, _ := os.ReadFile(path)
	if err := os.WriteFile(path, []byte(overrideYAML(string(body), claim)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"", t.TempDir()} { // unset, then set without the file
		t.Setenv("CREDENTIALS_DIRECTORY", dir)
		for _, c := range []string{"check", "run"} {
			var stdout, stderr bytes.Buffer
			code := runCLI([]string{c, "--config", path}, &stdout, &stderr)
			if code != exitConfig || !strings.Contains(stderr.String(), "claim.private_key") || !strings.Contains(stderr.String(), "claim-key") {
				t.Errorf("CREDENTIALS_DIRECTORY=%q %s: exit %d, %q; want %d naming claim.private_key and the credential",
					dir, c, code, stderr.String(), exitConfig)
			}
		}
	}
}

// A TPM that is not there at run time is no reason to stop: status names
// the TPM and tpm.device, and the device provisions once the TPM is up.
func TestMissingTPMAtRunTimeIsShownAndRetried(t *testing.T) {
	sw := tpmtest.Start(t)
	sw.Stop()
	path, _ := startEmulator(t, fleetsim.Options{}, fastRetry+tpmYAML(sw, "ec-p256", ""))
	cfg, _, _ := runningDaemon(t, path)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var status string
	if awaitInDir(ctx, cfg.StateDirectory, func() bool {
		var stdout, stderr bytes.Buffer
		runCLI([]string{"status", "--config", path}, &stdout, &stderr)
		status = stdout.String()
		return strings.Contains(status, "tpm.device") && strings.Contains(status, "TPM")
	}) != nil {
		t.Fatalf("status never named the TPM: %q", status)
	}
	t.Logf("status: %s", strings.TrimSpace(status))
	sw.Restart()
	creds := registered(t, cfg.StateDirectory)
	if creds.PrivateKeyType != "tss2" {
		t.Fatalf("privateKeyType %q, want tss2", creds.PrivateKeyType)
	}
}
