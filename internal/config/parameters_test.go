package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeFacts answers from maps; a missing entry is an error.
type fakeFacts struct {
	machineID string
	hostname  string
	macs      map[string]string
	files     map[string]string
	env       map[string]string
	read      []string // paths File was asked for
}

func (f *fakeFacts) MachineID() (string, error) {
	if f.machineID == "" {
		return "", errors.New("open /etc/machine-id: no such file or directory")
	}
	return f.machineID, nil
}

func (f *fakeFacts) Hostname() (string, error) { return f.hostname, nil }

func (f *fakeFacts) MAC(iface string) (string, error) {
	if mac, ok := f.macs[iface]; ok {
		return mac, nil
	}
	return "", fmt.Errorf("interface %s: no such network interface", iface)
}

func (f *fakeFacts) File(path string) (string, error) {
	f.read = append(f.read, path)
	if s, ok := f.files[path]; ok {
		return s, nil
	}
	return "", fmt.Errorf("open %s: no such file or directory", path)
}

func (f *fakeFacts) Env(name string) (string, bool) {
	v, ok := f.env[name]
	return v, ok
}

func newFakeFacts() *fakeFacts {
	return &fakeFacts{
		machineID: "0123456789abcdef0123456789abcdef",
		hostname:  "gw-north",
		macs:      map[string]string{"eth0": "02:42:ac:11:00:02"},
		files:     map[string]string{"/etc/provisiond/serial.txt": "SN-0001", "/etc/hw/rev": "B"},
		env:       map[string]string{"SITE": "north", "EMPTY": ""},
	}
}

func configWithParameters(t *testing.T, params string) *Config {
	t.Helper()
	c, err := Parse("/etc/provisiond/config.yaml", []byte(`endpoint: example.com
root_ca: ca.pem
claim: {certificate: c.pem, private_key: k.pem}
template:
  name: T
  parameters:
`+params))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestParametersExpand(t *testing.T) {
	c := configWithParameters(t, `    Plain: "0001"
    Machine: ${machine_id}
    Host: "${hostname}"
    Mac: "mac-${mac:eth0}"
    Serial: "${file:serial.txt}"
    Rev: "rev ${file:/etc/hw/rev} at ${env:SITE}/${hostname}"
    Dollar: "costs $5 {not a placeholder}"
`)
	f := newFakeFacts()
	got, err := c.Parameters(f)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"Plain":   "0001",
		"Machine": "0123456789abcdef0123456789abcdef",
		"Host":    "gw-north",
		"Mac":     "mac-02:42:ac:11:00:02",
		"Serial":  "SN-0001",
		"Rev":     "rev B at north/gw-north",
		"Dollar":  "costs $5 {not a placeholder}",
	}
	if len(got) != len(want) {
		t.Errorf("got %d parameters, want %d: %v", len(got), len(want), got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	// Relative ${file:...} paths resolve against the config's folder.
	if !strings.Contains(strings.Join(f.read, ","), "/etc/provisiond/serial.txt") {
		t.Errorf("File was asked for %q, want /etc/provisiond/serial.txt", f.read)
	}
	// The config itself is unchanged: expansion happens on each call.
	if c.Template.Parameters["Host"] != "${hostname}" {
		t.Errorf("Template.Parameters changed: %v", c.Template.Parameters)
	}
}

func TestParametersMissingSource(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		facts       func(*fakeFacts)
		want        string
	}{
		{"unset env", "${env:SERIAL}", nil, "${env:SERIAL}: environment variable SERIAL is not set"},
		{"empty env", "${env:EMPTY}", nil, "${env:EMPTY}: empty"},
		{"missing file", "${file:/nope}", nil, "${file:/nope}: open /nope: no such file"},
		{"missing interface", "${mac:wlan9}", nil, "${mac:wlan9}: interface wlan9"},
		{"no machine id", "${machine_id}", func(f *fakeFacts) { f.machineID = "" }, "${machine_id}: open /etc/machine-id"},
		{"empty hostname", "x-${hostname}", func(f *fakeFacts) { f.hostname = "" }, "${hostname}: empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := configWithParameters(t, "    Other: fine\n    Serial: \""+tc.value+"\"\n")
			f := newFakeFacts()
			if tc.facts != nil {
				tc.facts(f)
			}
			_, err := c.Parameters(f)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parameters = %v, want *Error", err)
			}
			if e.Field != "template.parameters.Serial" || e.Line != 8 || e.File != "/etc/provisiond/config.yaml" {
				t.Errorf("got field %q line %d file %q, want template.parameters.Serial line 8", e.Field, e.Line, e.File)
			}
			if !strings.Contains(e.Message, tc.want) {
				t.Errorf("message %q does not contain %q", e.Message, tc.want)
			}
		})
	}
}

func TestClientIDFor(t *testing.T) {
	c := &Config{Path: "/c.yaml", ClientID: "explicit"}
	if id, err := c.ClientIDFor(newFakeFacts()); err != nil || id != "explicit" {
		t.Fatalf("ClientIDFor = %q, %v; want the configured one", id, err)
	}

	c.ClientID = ""
	sum := sha256.Sum256([]byte("0123456789abcdef0123456789abcdef"))
	want := "provisiond-" + hex.EncodeToString(sum[:])[:24]
	f := newFakeFacts()
	id, err := c.ClientIDFor(f)
	if err != nil || id != want {
		t.Fatalf("ClientIDFor = %q, %v; want %q", id, err, want)
	}
	f.machineID += "\n"
	if again, _ := c.ClientIDFor(f); again != id {
		t.Errorf("a trailing newline changed the id: %q vs %q", again, id)
	}
	if len(id) != len("provisiond-")+24 || strings.Contains(id, f.machineID[:8]) {
		t.Errorf("id %q: want 35 bytes that do not reveal the machine id", id)
	}

	f.machineID = ""
	_, err = c.ClientIDFor(f)
	var e *Error
	if !errors.As(err, &e) || e.Field != "client_id" || !strings.Contains(e.Message, "machine id") {
		t.Fatalf("ClientIDFor without a machine id = %v, want an *Error on client_id", err)
	}
}

func TestSystemFacts(t *testing.T) {
	dir := t.TempDir()
	serial := filepath.Join(dir, "serial")
	write(t, serial, []byte("  SN-42\n\n"))
	if got, err := SystemFacts.File(serial); err != nil || got != "SN-42" {
		t.Errorf("File = %q, %v; want trimmed SN-42", got, err)
	}
	blank := filepath.Join(dir, "blank")
	write(t, blank, []byte(" \n"))
	if _, err := SystemFacts.File(blank); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("File(blank) = %v, want an empty error", err)
	}
	huge := filepath.Join(dir, "huge")
	write(t, huge, make([]byte, maxFactFile+1))
	if _, err := SystemFacts.File(huge); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("File(huge) = %v, want a size error", err)
	}
	if _, err := SystemFacts.File(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("File(missing) = %v, want not-exist", err)
	}

	t.Setenv("PROVISIOND_TEST_FACT", "v1")
	if v, ok := SystemFacts.Env("PROVISIOND_TEST_FACT"); !ok || v != "v1" {
		t.Errorf("Env = %q, %v", v, ok)
	}
	if _, ok := SystemFacts.Env("PROVISIOND_TEST_UNSET_FACT"); ok {
		t.Error("Env(unset) reported set")
	}

	want, _ := os.Hostname()
	if got, err := SystemFacts.Hostname(); err != nil || got != want {
		t.Errorf("Hostname = %q, %v; want %q", got, err, want)
	}
	// Loopback has no hardware address: that is an error, not an empty MAC.
	if mac, err := SystemFacts.MAC("lo"); err == nil {
		t.Errorf("MAC(lo) = %q, want an error", mac)
	}
	if _, err := SystemFacts.MAC("no-such-iface0"); err == nil || !strings.Contains(err.Error(), "no-such-iface0") {
		t.Errorf("MAC(missing) = %v, want an error naming the interface", err)
	}
}

func TestSystemFactsMachineID(t *testing.T) {
	dir := t.TempDir()
	primary, fallback := filepath.Join(dir, "machine-id"), filepath.Join(dir, "dbus-machine-id")
	old := machineIDFiles
	machineIDFiles = []string{primary, fallback}
	defer func() { machineIDFiles = old }()

	if _, err := SystemFacts.MachineID(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("MachineID with neither file = %v, want not-exist", err)
	}
	write(t, fallback, []byte("fallbackid\n"))
	if id, err := SystemFacts.MachineID(); err != nil || id != "fallbackid" {
		t.Errorf("MachineID = %q, %v; want the D-Bus copy", id, err)
	}
	write(t, primary, []byte("0123456789abcdef0123456789abcdef\n"))
	if id, err := SystemFacts.MachineID(); err != nil || id != "0123456789abcdef0123456789abcdef" {
		t.Errorf("MachineID = %q, %v; want /etc/machine-id's content", id, err)
	}
}
