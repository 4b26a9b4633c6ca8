package store

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/keypair"
)

// provisioned writes a complete identity and its credentials.json into a
// fresh Dir, the way the daemon does: files first, the bundle last.
func provisioned(t *testing.T) (*Dir, Credentials, []byte) {
	t.Helper()
	d := openTestDir(t).(*Dir)
	certPEM, keyPEM, cert := newTestCert(t, "gw-0001")
	caPEM, _, _ := newTestCert(t, "root")
	mustWrite(t, d, "identities/1/certificate.pem", certPEM, 0o644)
	mustWrite(t, d, "identities/1/private.key", keyPEM, 0o640)
	mustWrite(t, d, "AmazonRootCA1.pem", caPEM, 0o644)
	c := Credentials{
		ThingName:           "gw-0001",
		CertificateID:       keypair.ID(cert),
		CertificateFile:     d.Path("identities/1/certificate.pem"),
		PrivateKeyFile:      d.Path("identities/1/private.key"),
		RootCAFile:          d.Path("AmazonRootCA1.pem"),
		Endpoint:            "127.0.0.1:8883",
		TemplateName:        "GatewayTemplate",
		DeviceConfiguration: map[string]string{"site": "north"},
		ProvisionedAt:       time.Date(2026, 11, 26, 12, 30, 0, 0, time.UTC),
	}
	if err := WriteCredentials(d, c); err != nil {
		t.Fatal(err)
	}
	return d, c, keyPEM
}

func TestCredentialsRoundTrip(t *testing.T) {
	d, want, _ := provisioned(t)
	got, err := ReadCredentials(d.Path(CredentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ReadCredentials:\n got %+v\nwant %+v", got, want)
	}
	if p, _ := dirPerm(d, CredentialsFile); p != 0o644 {
		t.Errorf("credentials.json perm = %v, want 0644", p)
	}
	if p, _ := dirPerm(d, "identities/1/private.key"); p != 0o640 {
		t.Errorf("private key perm = %v, want 0640", p)
	}
}

func TestCredentialsFileFormat(t *testing.T) {
	d, _, _ := provisioned(t)
	var raw map[string]any
	if err := json.Unmarshal(mustRead(t, d, CredentialsFile), &raw); err != nil {
		t.Fatal(err)
	}
	for _, field := range credentialFields {
		if _, ok := raw[field]; !ok {
			t.Errorf("credentials.json lacks %s", field)
		}
	}
	if raw["provisionedAt"] != "2026-11-26T12:30:00Z" {
		t.Errorf("provisionedAt = %v, want RFC 3339 UTC", raw["provisionedAt"])
	}
}

func TestCredentialsKeepProvisionedAtExactly(t *testing.T) {
	d, c, _ := provisioned(t)
	c.ProvisionedAt = time.Date(2026, 11, 26, 13, 30, 0, 123456789, time.FixedZone("CET", 3600))
	if err := WriteCredentials(d, c); err != nil {
		t.Fatal(err)
	}
	got, err := ReadCredentials(d.Path(CredentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !got.ProvisionedAt.Equal(c.ProvisionedAt) || got.ProvisionedAt.Location() != time.UTC {
		t.Fatalf("ProvisionedAt = %v, want %v in UTC", got.ProvisionedAt, c.ProvisionedAt)
	}
}

func TestWriteCredentialsRejectsIncomplete(t *testing.T) {
	_, full, _ := provisioned(t)
	for _, tc := range []struct {
		field string
		edit  func(*Credentials)
	}{
		{"thingName", func(c *Credentials) { c.ThingName = "" }},
		{"certificateId", func(c *Credentials) { c.CertificateID = "" }},
		{"endpoint", func(c *Credentials) { c.Endpoint = " " }},
		{"templateName", func(c *Credentials) { c.TemplateName = "" }},
		{"privateKeyFile", func(c *Credentials) { c.PrivateKeyFile = "identities/1/private.key" }},
		{"provisionedAt", func(c *Credentials) { c.ProvisionedAt = time.Time{} }},
	} {
		t.Run(tc.field, func(t *testing.T) {
			c := full
			tc.edit(&c)
			m := NewMemory()
			err := WriteCredentials(m, c)
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("WriteCredentials = %v, want an error naming %s", err, tc.field)
			}
			if len(m.Names()) != 0 {
				t.Fatalf("wrote %q despite the error", m.Names())
			}
		})
	}
}

func TestWriteCredentialsEmptyDeviceConfiguration(t *testing.T) {
	d, c, _ := provisioned(t)
	c.DeviceConfiguration = nil
	if err := WriteCredentials(d, c); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mustRead(t, d, CredentialsFile)), `"deviceConfiguration": {}`) {
		t.Fatalf("deviceConfiguration not written as {}: %s", mustRead(t, d, CredentialsFile))
	}
	got, err := ReadCredentials(d.Path(CredentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.DeviceConfiguration) != 0 {
		t.Fatalf("DeviceConfiguration = %v, want empty", got.DeviceConfiguration)
	}
}

func TestReadCredentialsMissing(t *testing.T) {
	d := openTestDir(t)
	_, err := ReadCredentials(d.Path(CredentialsFile))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadCredentials(missing) = %v, want fs.ErrNotExist", err)
	}
}

func TestReadCredentialsMissingField(t *testing.T) {
	for _, field := range credentialFields {
		t.Run(field, func(t *testing.T) {
			d, _, _ := provisioned(t)
			editCredentials(t, d, func(raw map[string]any) { delete(raw, field) })
			expectCredentialsError(t, d, field+": missing")
		})
	}
}

func TestReadCredentialsInvalid(t *testing.T) {
	otherCert, otherKey, _ := newTestCert(t, "someone else")
	for _, tc := range []struct {
		name string
		edit func(t *testing.T, d *Dir, raw map[string]any)
		want []string
	}{
		{"null deviceConfiguration", func(_ *testing.T, _ *Dir, raw map[string]any) {
			raw["deviceConfiguration"] = nil
		}, []string{"deviceConfiguration: missing"}},
		{"empty thingName", func(_ *testing.T, _ *Dir, raw map[string]any) {
			raw["thingName"] = ""
		}, []string{"thingName: missing"}},
		{"thingName not a string", func(_ *testing.T, _ *Dir, raw map[string]any) {
			raw["thingName"] = 7
		}, []string{"thingName"}},
		{"provisionedAt not RFC 3339", func(_ *testing.T, _ *Dir, raw map[string]any) {
			raw["provisionedAt"] = "26/11/2026"
		}, []string{"provisionedAt: not an RFC 3339 time"}},
		{"relative certificateFile", func(_ *testing.T, _ *Dir, raw map[string]any) {
			raw["certificateFile"] = "identities/1/certificate.pem"
		}, []string{"certificateFile", "absolute"}},
		{"certificate file missing", func(t *testing.T, d *Dir, _ map[string]any) {
			os.Remove(d.Path("identities/1/certificate.pem"))
		}, []string{"certificateFile", "certificate.pem", "no such file"}},
		{"private key file missing", func(t *testing.T, d *Dir, _ map[string]any) {
			os.Remove(d.Path("identities/1/private.key"))
		}, []string{"privateKeyFile", "private.key", "no such file"}},
		{"root CA missing", func(t *testing.T, d *Dir, _ map[string]any) {
			os.Remove(d.Path("AmazonRootCA1.pem"))
		}, []string{"rootCaFile", "AmazonRootCA1.pem"}},
		{"certificate not PEM", func(t *testing.T, d *Dir, _ map[string]any) {
			mustWrite(t, d, "identities/1/certificate.pem", []byte("hello"), 0o644)
		}, []string{"certificateFile", "no PEM certificate"}},
		{"key of another certificate", func(t *testing.T, d *Dir, _ map[string]any) {
			mustWrite(t, d, "identities/1/private.key", otherKey, 0o640)
		}, []string{"privateKeyFile", "does not match"}},
		{"certificate of another key", func(t *testing.T, d *Dir, _ map[string]any) {
			mustWrite(t, d, "identities/1/certificate.pem", otherCert, 0o644)
		}, []string{"privateKeyFile", "does not match"}},
		{"wrong certificateId", func(_ *testing.T, _ *Dir, raw map[string]any) {
			raw["certificateId"] = strings.Repeat("0", 64)
		}, []string{"certificateId", "is not the id of"}},
		{"root CA not PEM", func(t *testing.T, d *Dir, _ map[string]any) {
			mustWrite(t, d, "AmazonRootCA1.pem", []byte("not a certificate"), 0o644)
		}, []string{"rootCaFile", "no PEM certificate"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, _, _ := provisioned(t)
			editCredentials(t, d, func(raw map[string]any) { tc.edit(t, d, raw) })
			expectCredentialsError(t, d, tc.want...)
		})
	}
}

func TestReadCredentialsNotJSON(t *testing.T) {
	for _, data := range []string{"", "{", "[]", `{"thingName": "gw"} x`} {
		d, _, _ := provisioned(t)
		mustWrite(t, d, CredentialsFile, []byte(data), 0o644)
		expectCredentialsError(t, d, "JSON")
	}
}

func TestReadCredentialsKeepsKeyOutOfErrors(t *testing.T) {
	d, _, keyPEM := provisioned(t)
	// A key file that is PEM but not a valid key: its bytes must not leak.
	body := strings.Join(strings.Split(string(keyPEM), "\n")[1:3], "\n")
	broken := "-----BEGIN PRIVATE KEY-----\n" + body + "\n-----END PRIVATE KEY-----\n"
	mustWrite(t, d, "identities/1/private.key", []byte(broken), 0o640)
	_, err := ReadCredentials(d.Path(CredentialsFile))
	if err == nil {
		t.Fatal("ReadCredentials = nil, want an error")
	}
	for _, line := range strings.Split(body, "\n") {
		if len(line) > 8 && strings.Contains(err.Error(), line[:8]) {
			t.Fatalf("error %q quotes the key", err)
		}
	}
	if !strings.Contains(err.Error(), "privateKeyFile") {
		t.Fatalf("error %q does not name privateKeyFile", err)
	}
}

func editCredentials(t *testing.T, d *Dir, edit func(map[string]any)) {
	t.Helper()
	var raw map[string]any
	if err := json.Unmarshal(mustRead(t, d, CredentialsFile), &raw); err != nil {
		t.Fatal(err)
	}
	edit(raw)
	data, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, d, CredentialsFile, data, 0o644)
}

func expectCredentialsError(t *testing.T, d *Dir, wants ...string) {
	t.Helper()
	path := d.Path(CredentialsFile)
	_, err := ReadCredentials(path)
	if err == nil {
		t.Fatal("ReadCredentials = nil, want an error")
	}
	for _, want := range append([]string{path}, wants...) {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}
