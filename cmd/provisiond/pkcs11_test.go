package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/fleetsim"
	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/keypair/p11key"
	"github.com/provisiond/provisiond/internal/keypair/p11key/p11test"
	"github.com/provisiond/provisiond/internal/statemachine"
	"github.com/provisiond/provisiond/internal/store"
	"github.com/provisiond/provisiond/internal/testtool"
)

// pkcs11YAML is the config for device keys in tok.
func pkcs11YAML(m *p11test.Module, tok p11test.Token, keyType string) string {
	return "key_store: pkcs11\nkey_type: " + keyType + "\npkcs11:\n  module: " + m.Path +
		"\n  token: \"pkcs11:token=" + tok.Label + "\"\n  pin: " + tok.PIN + "\n"
}

// With key_store: pkcs11 the device provisions against the emulator with a
// key made in softhsm2: credentials.json names it by URI and parts, the
// certificate is for the token's key, no file holds private key material,
// and `openssl s_client -engine pkcs11` with the handed-over URI completes
// mutual TLS with the emulator as the new thing (RSA: TLS 1.3 with PSS).
func TestEndToEndProvisionsWithTheKeyInAToken(t *testing.T) {
	for _, tc := range []struct{ format, keyType string }{
		{"json", "ec-p256"}, {"cbor", "ec-p256"}, {"json", "rsa-2048"}, {"cbor", "rsa-2048"},
	} {
		t.Run(tc.format+"/"+tc.keyType, func(t *testing.T) {
			m := p11test.SoftHSM(t)
			tok := m.InitToken("gateway")
			path, srv := startEmulator(t, fleetsim.Options{}, "payload_format: "+tc.format+"\n"+pkcs11YAML(m, tok, tc.keyType))
			cfg := provision(t, path)
			creds, err := store.ReadCredentials(filepath.Join(cfg.StateDirectory, store.CredentialsFile))
			if err != nil {
				t.Fatal(err)
			}
			if creds.PrivateKeyType != "pkcs11" || creds.PrivateKeyFile != "" || creds.PKCS11Module != m.Path ||
				creds.PKCS11TokenLabel != "gateway" || creds.PKCS11PinFile != tok.PINFile || creds.PKCS11KeyLabel == "" {
				t.Fatalf("credentials %+v", creds)
			}
			assertTokenKeyIsTheCertificates(t, m, tok, creds)
			if n := tss2KeyBlocks(t, cfg.StateDirectory); n != 0 {
				t.Fatalf("%d TSS2 key blocks in the state folder, want none", n)
			}
			if !activeIn(srv, creds) {
				t.Fatalf("certificate %s is not active for %s in the emulator", creds.CertificateID, creds.ThingName)
			}
			mqttConnectThrough(t, openSSLEngineClient(t, m, creds), creds.PrivateKeyURI, creds.ThingName)
		})
	}
}

// assertTokenKeyIsTheCertificates finds the key the URI names in the
// token and checks the certificate is for it.
func assertTokenKeyIsTheCertificates(t *testing.T, m *p11test.Module, tok p11test.Token, creds store.Credentials) {
	t.Helper()
	u, err := p11key.ParseURI(creds.PrivateKeyURI)
	if err != nil {
		t.Fatalf("privateKeyUri %s: %v", creds.PrivateKeyURI, err)
	}
	token, err := p11key.OpenToken(p11key.Settings{Module: m.Path, Token: "pkcs11:token=" + u.Token, PIN: tok.PIN})
	if err != nil {
		t.Fatal(err)
	}
	defer token.Close()
	key, err := token.Find(u.ID)
	if err != nil {
		t.Fatalf("the token has no key %s: %v", creds.PrivateKeyURI, err)
	}
	certPEM, err := os.ReadFile(creds.CertificateFile)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := keypair.Certificate(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if err := keypair.MatchPublic(cert, key.Public()); err != nil {
		t.Fatalf("the certificate is not for the token's key: %v", err)
	}
	if key.Label() != creds.PKCS11KeyLabel {
		t.Fatalf("the key's label %q, pkcs11KeyLabel %q", key.Label(), creds.PKCS11KeyLabel)
	}
}

// openSSLEngineClient is `openssl s_client -engine pkcs11 -keyform engine
// -key URI` (libp11, the engine OpenSSL 3 on Debian 12 takes pkcs11: URIs
// through), TLS 1.3, with the module in PKCS11_MODULE_PATH and the PIN from
// a pin-source file. libp11 0.4.12 refuses a pin-source file that ends in
// a newline, which provisiond's own PIN file may: the consumer's copy is
// written without one.
func openSSLEngineClient(t *testing.T, m *p11test.Module, creds store.Credentials) *exec.Cmd {
	t.Helper()
	openssl := testtool.Need(t, "openssl", "openssl")
	p11test.Library(t, "engines-3/pkcs11.so", "libengine-pkcs11-openssl")
	pin, err := os.ReadFile(creds.PKCS11PinFile)
	if err != nil {
		t.Fatal(err)
	}
	pinSource := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pinSource, []byte(strings.TrimSuffix(string(pin), "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, openssl, "s_client", "-engine", "pkcs11", "-keyform", "engine",
		"-key", creds.PrivateKeyURI+"?pin-source=file:"+pinSource, "-cert", creds.CertificateFile,
		"-CAfile", creds.RootCAFile, "-connect", creds.Endpoint, "-servername", "localhost", "-tls1_3",
		"-verify_return_error", "-quiet")
	cmd.Env = append(os.Environ(), "PKCS11_MODULE_PATH="+m.Path)
	return cmd
}

// The SIGKILL test with the key in softhsm2 (its token folder on disk,
// like the state): the device ends registered with the token's key, and
// the token holds no named object but the handed-over pair (and the
// retired identity's, kept after a reprovision): every pair a kill cut
// short, or an abandoned identity's, was destroyed. softhsm2 rewrites
// token.object in place at every login, so a kill at that instant loses
// the token itself, which no consumer can mend; the test puts such a file
// back whole, as a secure element's atomic storage would leave it
// (docs/RELIABILITY.md counts those cuts of a power cut apart).
func TestSIGKILLWithTheKeyInAToken(t *testing.T) {
	m := p11test.SoftHSM(t)
	tok := m.InitToken("gateway")
	keeper := m.KeepTokenFilesWhole()
	mended := 0
	creds, cfg := killWhileProvisioning(t, fastRetry+pkcs11YAML(m, tok, "ec-p256"), func() {
		for _, p := range keeper.Mend() {
			t.Logf("a kill cut softhsm2's rewrite of %s: put back whole", filepath.Base(p))
			mended++
		}
	})
	assertTokenKeyIsTheCertificates(t, m, tok, creds)
	// After a reprovision the identity handed over before is kept, key
	// and all, for a consumer still using it (store.State.Retired).
	st, err := store.LoadState(store.ReadOnlyDir(cfg.StateDirectory))
	if err != nil {
		t.Fatal(err)
	}
	retired := ""
	if st.Retired > 0 {
		retired = p11key.DefaultLabel + ":" + store.IdentityDir(st.Retired)
	}
	objs := tokenObjects(t, m, tok)
	// softhsm2 creates an object's file before it writes the attributes: a
	// kill inside C_GenerateKeyPair can leave an object with neither label
	// nor id, which nothing can name and provisiond leaves alone (it may
	// be another program's). Every named object is the handed-over pair's.
	pair, unnamed := 0, 0
	for _, o := range objs {
		switch {
		case o.Label == creds.PKCS11KeyLabel:
			pair++
		case retired != "" && o.Label == retired:
		case o.Label == "" && len(o.ID) == 0:
			unnamed++
		default:
			t.Errorf("left in the token: %s key %q (id %x)", o.Class, o.Label, o.ID)
		}
	}
	if pair != 2 {
		t.Fatalf("the token holds %d objects of the handed-over pair, want 2", pair)
	}
	if unnamed > 20 {
		t.Fatalf("%d unnamed objects after 20 kills, want at most one a kill", unnamed)
	}
	t.Logf("%d unnamed objects a kill inside the module left, %d token files put back whole", unnamed, mended)
}

// check prints a pkcs11 line: the module loads, the token takes the PIN,
// its mechanisms, and the state's key is present; a wrong PIN is exit 78
// naming pkcs11.pin, and no output shows the PIN.
func TestOfflineCheckReportsTheToken(t *testing.T) {
	m := p11test.SoftHSM(t)
	tok := m.InitToken("gateway")
	path, _ := startEmulator(t, fleetsim.Options{}, pkcs11YAML(m, tok, "ec-p256"))
	offline := func() (int, string) {
		var out, errOut bytes.Buffer
		code := checkAt([]string{"--config", path}, &out, &errOut, time.Now)
		return code, out.String() + errOut.String()
	}
	code, out := offline()
	if code != exitOK || !strings.Contains(out, "pkcs11: ok (module "+m.Path+", token=gateway") ||
		!strings.Contains(out, "CKM_ECDSA") || !strings.Contains(out, "no key made yet") {
		t.Fatalf("check before provisioning: %d\n%s", code, out)
	}
	provision(t, path)
	if code, out = offline(); code != exitOK || !strings.Contains(out, "present") {
		t.Fatalf("check after provisioning: %d\n%s", code, out)
	}
	if err := os.WriteFile(tok.PINFile, []byte("wrong-pin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out = offline()
	if code != exitConfig || !strings.Contains(out, "pkcs11.pin: ") || !strings.Contains(out, "CKR_PIN_INCORRECT") {
		t.Fatalf("check with a wrong PIN: %d\n%s", code, out)
	}
	if strings.Contains(out, "wrong-pin") || strings.Contains(out, p11test.UserPIN) {
		t.Fatalf("check shows the PIN:\n%s", out)
	}
}

// The same with tpm2-pkcs11 on swtpm through tpm2-abrmd: the device
// provisions with EC P-256 and RSA-2048 keys made in the TPM (RSA with
// TLS 1.2 and PKCS #1 v1.5: the module lists no RSA-PSS), and a Go client
// signing in the token with the handed-over key completes an MQTT CONNECT
// with the emulator as the new thing. OpenSSL's pkcs11 engine is no
// consumer here: libp11 0.4.12 fails at C_Login with tpm2-pkcs11 on
// Debian 12 (tpm2-tss issue 2581).
func TestEndToEndProvisionsWithTheKeyInTPM2PKCS11(t *testing.T) {
	for _, keyType := range []string{"ec-p256", "rsa-2048"} {
		t.Run(keyType, func(t *testing.T) {
			m := p11test.TPM2(t)
			tok := m.InitToken("tpm")
			path, srv := startEmulator(t, fleetsim.Options{}, pkcs11YAML(m, tok, keyType))
			cfg := provision(t, path)
			creds, err := store.ReadCredentials(filepath.Join(cfg.StateDirectory, store.CredentialsFile))
			if err != nil {
				t.Fatal(err)
			}
			assertTokenKeyIsTheCertificates(t, m, tok, creds)
			if !activeIn(srv, creds) {
				t.Fatalf("certificate %s is not active for %s in the emulator", creds.CertificateID, creds.ThingName)
			}
			mqttConnectWithTokenKey(t, m, tok, creds)
		})
	}
}

// mqttConnectWithTokenKey connects to the endpoint over mutual TLS with
// the key the URI names, signing in the token, and fails the test unless
// the broker accepts an MQTT CONNECT as the thing.
func mqttConnectWithTokenKey(t *testing.T, m *p11test.Module, tok p11test.Token, creds store.Credentials) {
	t.Helper()
	u, err := p11key.ParseURI(creds.PrivateKeyURI)
	if err != nil {
		t.Fatal(err)
	}
	token, err := p11key.OpenToken(p11key.Settings{Module: m.Path, Token: "pkcs11:token=" + u.Token, PIN: tok.PIN})
	if err != nil {
		t.Fatal(err)
	}
	defer token.Close()
	key, err := token.Find(u.ID)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := os.ReadFile(creds.CertificateFile)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := key.TLSCertificate(chain)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := os.ReadFile(creds.RootCAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(roots)
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", creds.Endpoint,
		&tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: "localhost", MaxVersion: key.MaxTLSVersion()})
	if err != nil {
		t.Fatalf("mutual TLS with the token's key: %v (signer: %v)", err, key.SignError())
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Write(mqttConnect(creds.ThingName)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(conn, got); err != nil || !bytes.Equal(got, []byte{0x20, 0x02, 0x00, 0x00}) {
		t.Fatalf("CONNACK % x, %v; want accepted", got, err)
	}
}

// Rotation with the key in softhsm2 (credential: device, so the session
// that asks for the new identity signs in the token too) makes a new pair
// under a new id, and destroys the old pair once the old identity's files
// are removed.
func TestRotationDestroysTheOldPairInTheToken(t *testing.T) {
	m := p11test.SoftHSM(t)
	tok := m.InitToken("gateway")
	yaml := fastRetry + "rotation:\n  before_expiry: 50%\n  credential: device\n  template: RotationTemplate\n" + pkcs11YAML(m, tok, "ec-p256")
	path, _ := startPreparedEmulator(t, fleetsim.Options{CertificateValidity: 3 * time.Second}, yaml, rotationTemplate(t))
	cfg := runDaemonWrapped(t, path, func(real statemachine.Dialer) statemachine.Dialer { return real })
	first := registered(t, cfg.StateDirectory)
	next := waitForNewIdentity(t, cfg.StateDirectory, first.CertificateID)
	if next.PKCS11KeyLabel == first.PKCS11KeyLabel || next.PrivateKeyURI == first.PrivateKeyURI {
		t.Fatalf("the new identity names the old key: %s", next.PrivateKeyURI)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	firstDir := filepath.Dir(first.CertificateFile)
	if firstDir == filepath.Dir(next.CertificateFile) {
		t.Fatalf("both identities in %s", firstDir)
	}
	if err := awaitInDir(ctx, cfg.StateDirectory, func() bool {
		_, err := os.Stat(firstDir)
		return errors.Is(err, fs.ErrNotExist)
	}); err != nil {
		t.Fatalf("the old identity's folder %s stays: %v", firstDir, err)
	}
	objs := tokenObjects(t, m, tok)
	// The store destroys the pair before it removes the folder. The
	// rotation after this one (3-second certificates) may be under way:
	// the token holds at most the current pair and the one being made.
	for _, o := range objs {
		if o.Label == first.PKCS11KeyLabel {
			t.Errorf("the old identity's %s key is still in the token", o.Class)
		}
	}
	if len(objs) > 4 {
		t.Fatalf("the token holds %d objects after the rotation, want at most the current pair and the next", len(objs))
	}
	t.Logf("%d objects in the token after the rotation", len(objs))
}

// tokenObjects lists the key objects in tok.
func tokenObjects(t *testing.T, m *p11test.Module, tok p11test.Token) []p11key.Object {
	t.Helper()
	token, err := p11key.OpenToken(p11key.Settings{Module: m.Path, Token: "pkcs11:token=" + tok.Label, PIN: tok.PIN})
	if err != nil {
		t.Fatal(err)
	}
	defer token.Close()
	objs, err := token.List()
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// A wrong PIN at run time is sent to the token once: the daemon waits and
// retries (status names pkcs11.pin and the token's answer, never the PIN),
// but no retry logs in with that PIN again (OpenSC's pkcs11-spy, between
// the daemon and softhsm2, logs every call). A corrected PIN file is tried,
// and the device registers.
func TestWrongPINAtRunTimeIsTriedOnce(t *testing.T) {
	m := p11test.SoftHSM(t)
	tok := m.InitToken("gateway")
	spy, spyLog := m.Spy(t)
	if err := os.WriteFile(tok.PINFile, []byte("wrong-pin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	spied := *m
	spied.Path = spy
	path, _ := startEmulator(t, fleetsim.Options{}, fastRetry+pkcs11YAML(&spied, tok, "ec-p256"))
	cfg, _, _ := runningDaemon(t, path)
	first := waitState(t, cfg.StateDirectory, func(s store.State) bool { return strings.Contains(s.LastError, "CKR_PIN_INCORRECT") })
	// Two more waits out, each a new attempt at the token.
	next := first
	for range 2 {
		prev := next.NextAttemptAt
		next = waitState(t, cfg.StateDirectory, func(s store.State) bool { return !s.NextAttemptAt.Equal(prev) })
	}
	for _, st := range []store.State{first, next} {
		if !strings.Contains(st.LastError, "pkcs11.pin") || strings.Contains(st.LastError, "wrong-pin") {
			t.Fatalf("lastError %q: want pkcs11.pin named, the PIN never", st.LastError)
		}
	}
	var stdout, stderr bytes.Buffer
	runCLI([]string{"status", "--config", path}, &stdout, &stderr)
	if !strings.Contains(stdout.String(), "pkcs11.pin") || strings.Contains(stdout.String(), "wrong-pin") {
		t.Fatalf("status: %s", stdout.String())
	}
	log, err := os.ReadFile(spyLog)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(log), "C_Login"); n != 1 {
		t.Fatalf("C_Login was called %d times across the retries, want 1", n)
	}
	t.Logf("lastErrorKind %q after the retries: %s", next.LastErrorKind, next.LastError)
	if err := os.WriteFile(tok.PINFile, []byte(p11test.UserPIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if creds := registered(t, cfg.StateDirectory); creds.PrivateKeyType != "pkcs11" {
		t.Fatalf("privateKeyType %q", creds.PrivateKeyType)
	}
}

// The proving connection signs in the token: with softhsm2's token folder
// taken away just before the proof, the handshake fails (a software key
// would pass), the failure names the token, and the device registers once
// the folder is back.
func TestProofFailsWhileTheTokenIsAway(t *testing.T) {
	m := p11test.SoftHSM(t)
	tok := m.InitToken("gateway")
	path, _ := startEmulator(t, fleetsim.Options{}, fastRetry+pkcs11YAML(m, tok, "ec-p256"))
	tokens, away := filepath.Join(m.Dir, "tokens"), filepath.Join(m.Dir, "tokens.away")
	move := func(from, to string) func() {
		return func() {
			if err := os.Rename(from, to); err != nil {
				t.Error(err)
			}
		}
	}
	cfg := provisionWithTheFirstProofWithout(t, path, "pkcs11", move(tokens, away), move(away, tokens))
	creds, err := store.ReadCredentials(filepath.Join(cfg.StateDirectory, store.CredentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	assertTokenKeyIsTheCertificates(t, m, tok, creds)
}
