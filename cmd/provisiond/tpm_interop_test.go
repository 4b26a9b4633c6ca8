package main

import (
	"bytes"
	"context"
	"io"
	"os/exec"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/fleetsim"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey/tpmtest"
)

// The handed-over identity works as it is for a consumer that loads keys
// through OpenSSL's tpm2 provider: `openssl s_client -provider tpm2` with
// the key file (and with the persistent handle) completes mutual TLS 1.3
// with the emulator as the new thing, and its MQTT CONNECT is accepted.
func TestOpenSSLConnectsWithTheHandedOverTPMKey(t *testing.T) {
	sw := tpmtest.Start(t)
	const handle = "0x81000010"
	path, _ := startEmulator(t, fleetsim.Options{}, tpmYAML(sw, "ec-p256", handle))
	cfg := provision(t, path)
	creds := tpmCredentials(t, cfg)
	if creds.PrivateKeyHandle != handle {
		t.Fatalf("privateKeyHandle %q, want %s", creds.PrivateKeyHandle, handle)
	}
	env := sw.ABRMD(t) // the daemon has closed its TPM connection
	for _, key := range []string{creds.PrivateKeyFile, "handle:" + handle} {
		mqttConnectWithOpenSSL(t, env, creds.Endpoint, key, creds.CertificateFile, creds.RootCAFile, creds.ThingName)
	}
}

// mqttConnectWithOpenSSL sends an MQTT 3.1.1 CONNECT through `openssl
// s_client` with a TPM key, TLS 1.3, and fails the test unless the broker
// answers with a CONNACK that accepts it: the mutual-TLS handshake with the
// device certificate completed and the broker took the identity.
func mqttConnectWithOpenSSL(t *testing.T, env []string, addr, key, certFile, caFile, clientID string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mqttConnectThrough(t, tpmtest.OpenSSLClient(ctx, t, env, addr, key, certFile, caFile, "-quiet"), key, clientID)
}

// mqttConnectThrough runs cmd, an `openssl s_client -quiet` that reaches
// the broker with key, sends a CONNECT for clientID through it, and fails
// the test unless a CONNACK accepts it.
func mqttConnectThrough(t *testing.T, cmd *exec.Cmd, key, clientID string) {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill() // by PID: it waits for more data otherwise
		_ = cmd.Wait()
	}()
	if _, err := stdin.Write(mqttConnect(clientID)); err != nil {
		t.Fatal(err)
	}
	connack := []byte{0x20, 0x02, 0x00, 0x00}
	got := make([]byte, len(connack))
	if _, err := io.ReadFull(stdout, got); err != nil || !bytes.Equal(got, connack) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("openssl s_client -key %s: answer % x, %v; want CONNACK accepted\n%s", key, got, err, stderr.String())
	}
}

// mqttConnect is an MQTT 3.1.1 CONNECT packet: clean session, 60 s keep-alive.
func mqttConnect(clientID string) []byte {
	body := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, byte(len(clientID) >> 8), byte(len(clientID))}
	body = append(body, clientID...)
	return append([]byte{0x10, byte(len(body))}, body...)
}
