// Package p11test runs real PKCS#11 tokens for tests: softhsm2 with its
// configuration and token folder in a temporary folder, and tpm2-pkcs11 on
// swtpm through tpm2-abrmd on a private D-Bus, each stopped by PID when the
// test ends. Tokens are initialized with pkcs11-tool, the tool a factory
// uses. Any package's tests may use it; it is not linked into the daemon.
package p11test

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/keypair/tpmkey/tpmtest"
	"github.com/provisiond/provisiond/internal/testtool"
	"github.com/provisiond/provisiond/internal/testtool/softhsm"
)

// The PINs of the tokens this package makes.
const (
	SOPIN   = "so-pin-1234"
	UserPIN = "user-pin-5678"
)

// Module is a PKCS#11 module with its settings in the test's environment.
type Module struct {
	// Path is the module's shared object.
	Path string
	// Dir holds the module's state (softhsm2's token folder, tpm2-pkcs11's
	// store) and the PIN file.
	Dir string
	// Env is the environment a consumer (pkcs11-tool, openssl) needs to
	// see the same tokens.
	Env []string

	tb testing.TB
}

// Token is an initialized token.
type Token struct {
	Label string
	// PINFile holds the user PIN and a trailing newline, as `echo` writes
	// it; PIN is the pkcs11.pin setting that names it.
	PINFile, PIN string
}

// SoftHSM makes a softhsm2 configuration with an empty token folder in a
// temporary folder and points SOFTHSM2_CONF at it for the rest of the test
// (so the test cannot be parallel).
func SoftHSM(tb testing.TB) *Module {
	return SoftHSMWith(tb, "")
}

// SoftHSMWith is SoftHSM with softhsm2's slots.mechanisms setting: the
// mechanisms its tokens have, such as "CKM_RSA_PKCS_KEY_PAIR_GEN,CKM_RSA_PKCS"
// ("" keeps them all; softhsm2 2.6 ignores a list of exclusions).
func SoftHSMWith(tb testing.TB, mechanisms string) *Module {
	tb.Helper()
	path := Library(tb, "softhsm/libsofthsm2.so", "softhsm2")
	dir := tb.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		tb.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.WriteFile(conf, []byte(softhsm.Config(tokens, mechanisms)), 0o600); err != nil {
		tb.Fatal(err)
	}
	tb.Setenv("SOFTHSM2_CONF", conf)
	return &Module{Path: path, Dir: dir, Env: os.Environ(), tb: tb}
}

// TPM2 starts swtpm and tpm2-abrmd on a private D-Bus, and points
// tpm2-pkcs11 at them (TPM2_PKCS11_TCTI) and at an empty store in a
// temporary folder (TPM2_PKCS11_STORE), for the rest of the test. The raw
// swtpm TCTI is not enough: tpm2-pkcs11 makes RSA keys only through a
// resource manager.
func TPM2(tb testing.TB) *Module {
	tb.Helper()
	path := Library(tb, "libtpm2_pkcs11.so.1", "libtpm2-pkcs11-1")
	sw := tpmtest.Start(tb)
	env := sw.ABRMD(tb)
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "DBUS_SESSION_BUS_ADDRESS="); ok {
			tb.Setenv("DBUS_SESSION_BUS_ADDRESS", v)
		}
	}
	dir := tb.TempDir()
	tb.Setenv("TPM2_PKCS11_TCTI", "tabrmd:bus_type=session")
	tb.Setenv("TPM2_PKCS11_STORE", dir)
	// tpm2-pkcs11 logs warnings to stderr by default.
	tb.Setenv("TPM2_PKCS11_LOG_LEVEL", "0")
	return &Module{Path: path, Dir: dir, Env: os.Environ(), tb: tb}
}

// InitToken initializes the module's first free token with label, SOPIN
// and UserPIN, and writes the PIN file.
func (m *Module) InitToken(label string) Token {
	m.tb.Helper()
	m.Tool("--init-token", "--label", label, "--so-pin", SOPIN)
	m.Tool("--token-label", label, "--login", "--login-type", "so", "--so-pin", SOPIN, "--init-pin", "--pin", UserPIN)
	pinFile := filepath.Join(m.Dir, label+".pin")
	if err := os.WriteFile(pinFile, []byte(UserPIN+"\n"), 0o600); err != nil {
		m.tb.Fatal(err)
	}
	return Token{Label: label, PINFile: pinFile, PIN: "file:" + pinFile}
}

// Tool runs pkcs11-tool on the module with args and returns its output,
// failing the test when it fails.
func (m *Module) Tool(args ...string) string {
	m.tb.Helper()
	tool := testtool.Need(m.tb, "pkcs11-tool", "opensc")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, append([]string{"--module", m.Path}, args...)...)
	cmd.Env = os.Environ()
	out, err := cmd.CombinedOutput()
	if err != nil {
		m.tb.Fatalf("pkcs11-tool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Library returns the path of a shared object in a lib folder (name may
// have a subfolder), or ends the test as testtool.Need does.
func Library(tb testing.TB, name, debianPackage string) string {
	tb.Helper()
	for _, dir := range []string{"/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib/arm-linux-gnueabihf", "/usr/lib64", "/usr/lib"} {
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
		}
	}
	msg := name + " is not installed (apt-get install " + debianPackage + ")"
	if os.Getenv("CI") != "" {
		tb.Fatal(msg + "; .ci/run installs it, so CI must have it")
	}
	tb.Skip(msg)
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// WriteKey puts key into tok as a factory does with pkcs11-tool: the
// private key alone (no public object), with label and id, for signing.
// The key file it writes for the tool is removed again.
func (m *Module) WriteKey(tok Token, key crypto.Signer, label string, id []byte) {
	m.tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		m.tb.Fatal(err)
	}
	file := filepath.Join(m.tb.TempDir(), "factory.key.der")
	if err := os.WriteFile(file, der, 0o600); err != nil {
		m.tb.Fatal(err)
	}
	defer os.Remove(file)
	m.Tool("--token-label", tok.Label, "--login", "--pin", UserPIN, "--write-object", file, "--type", "privkey",
		"--label", label, "--id", hex.EncodeToString(id), "--usage-sign")
}

// Spy puts OpenSC's pkcs11-spy module in front of m: it returns the spy's
// path, to load instead of m's, and the file in which it logs every call.
// The spy reads its settings once, when it is loaded, and a process loads
// a path once: each test gets its own copy, so that it logs to this log.
func (m *Module) Spy(tb testing.TB) (module, log string) {
	tb.Helper()
	data, err := os.ReadFile(Library(tb, "pkcs11-spy.so", "opensc"))
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	module = filepath.Join(dir, "pkcs11-spy.so")
	if err := os.WriteFile(module, data, 0o755); err != nil {
		tb.Fatal(err)
	}
	log = filepath.Join(dir, "spy.log")
	tb.Setenv("PKCS11SPY", m.Path)
	tb.Setenv("PKCS11SPY_OUTPUT", log)
	return module, log
}
