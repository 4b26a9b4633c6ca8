package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const goodConfig = `# a full config
endpoint: abc123-ats.iot.eu-west-1.amazonaws.com:443
root_ca: AmazonRootCA1.pem
claim:
  certificate: claim/claim.pem.crt
  private_key: /etc/provisiond/claim.pem.key
template:
  name: Gateway_Template-1
  parameters:
    SerialNumber: 0001
    Enabled: true
    Host: "${hostname}"
payload_format: cbor
certificate_method: create-keys
key_type: rsa-3072
client_id: gw-0001
state_directory: state
log_level: debug
retry:
  initial: 2s
  max: 10m
  permanent: 2h
  token_safe_lifetime: 50m
  response_timeout: 1m30s
`

func TestParseFull(t *testing.T) {
	c, err := Parse("/etc/provisiond/config.yaml", []byte(goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Path:     "/etc/provisiond/config.yaml",
		Endpoint: "abc123-ats.iot.eu-west-1.amazonaws.com:443",
		RootCA:   "/etc/provisiond/AmazonRootCA1.pem",
		Claims: []Claim{{
			Certificate: "/etc/provisiond/claim/claim.pem.crt",
			PrivateKey:  "/etc/provisiond/claim.pem.key",
			Field:       "claim",
		}},
		Template: Template{
			Name:       "Gateway_Template-1",
			Parameters: map[string]string{"SerialNumber": "0001", "Enabled": "true", "Host": "${hostname}"},
		},
		PayloadFormat:     "cbor",
		CertificateMethod: "create-keys",
		KeyType:           "rsa-3072",
		ClientID:          "gw-0001",
		StateDirectory:    "/etc/provisiond/state",
		LogLevel:          "debug",
		Retry: Retry{
			Initial:           2 * time.Second,
			Max:               10 * time.Minute,
			Permanent:         2 * time.Hour,
			TokenSafeLifetime: 50 * time.Minute,
			ResponseTimeout:   90 * time.Second,
		},
	}
	want.KeyStore, want.TPM.Device = KeyStoreFile, "/dev/tpmrm0" // keystore.go's defaults
	want.PKCS11.Label = "provisiond"                             // pkcs11.go's default
	c.lines = nil
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("Parse:\n got %+v\nwant %+v", c, want)
	}
}

func TestParseDefaults(t *testing.T) {
	c, err := Parse("/cfg/config.yaml", []byte(`
endpoint: example.com
root_ca: ca.pem
claim: {certificate: c.pem, private_key: k.pem}
template: {name: T}
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Endpoint != "example.com:8883" {
		t.Errorf("Endpoint = %q, want the default port added", c.Endpoint)
	}
	if c.PayloadFormat != "json" || c.CertificateMethod != "csr" || c.KeyType != "ec-p256" ||
		c.LogLevel != "info" || c.StateDirectory != "/var/lib/provisiond" || c.ClientID != "" {
		t.Errorf("defaults: %+v", c)
	}
	want := Retry{time.Second, 5 * time.Minute, time.Hour, 55 * time.Minute, 30 * time.Second}
	if c.Retry != want {
		t.Errorf("Retry = %+v, want %+v", c.Retry, want)
	}
	if c.Template.Parameters == nil || len(c.Template.Parameters) != 0 {
		t.Errorf("Parameters = %#v, want an empty map", c.Template.Parameters)
	}
}

func TestParseEndpoints(t *testing.T) {
	for in, want := range map[string]string{
		"example.com":           "example.com:8883",
		"example.com:443":       "example.com:443",
		"127.0.0.1":             "127.0.0.1:8883",
		"127.0.0.1:18883":       "127.0.0.1:18883",
		"localhost:1":           "localhost:1",
		"'[::1]:8883'":          "[::1]:8883",
		"'::1'":                 "[::1]:8883",
		"a-b_c.example.com.":    "a-b_c.example.com.:8883",
		"'abc-ats.iot:65535'":   "abc-ats.iot:65535",
		"\"EXAMPLE.com:08883\"": "EXAMPLE.com:08883",
	} {
		c, err := Parse("/c.yaml", []byte("endpoint: "+in+"\nroot_ca: r\nclaim: {certificate: c, private_key: k}\ntemplate: {name: T}\n"))
		if err != nil {
			t.Errorf("endpoint %s: %v", in, err)
			continue
		}
		if c.Endpoint != want {
			t.Errorf("endpoint %s = %q, want %q", in, c.Endpoint, want)
		}
	}
}

func TestLoadResolvesAgainstTheFilesFolder(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(goodConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	c, err := Load("../" + filepath.Base(filepath.Dir(path)) + "/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != path || c.RootCA != filepath.Join(dir, "AmazonRootCA1.pem") || c.StateDirectory != filepath.Join(dir, "state") {
		t.Fatalf("Path %q RootCA %q StateDirectory %q, want them under %s", c.Path, c.RootCA, c.StateDirectory, dir)
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := Load(path)
	var e *Error
	if !errors.As(err, &e) || e.File != path || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("Load(missing) = %v, want an *Error naming %s", err, path)
	}
}

// base is a valid config to break one line at a time; line numbers below
// refer to it.
const base = `endpoint: example.com:8883
root_ca: ca.pem
claim:
  certificate: claim.crt
  private_key: claim.key
template:
  name: GatewayTemplate
  parameters:
    Serial: "${file:serial.txt}"
payload_format: json
certificate_method: csr
retry:
  initial: 1s
`

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name        string
		from, to    string // replace from with to in base
		line        int
		field, want string
	}{
		{"YAML syntax", "  name: GatewayTemplate\n", "  name: Gateway: Template\n", 7, "", "invalid YAML: mapping values are not allowed"},
		{"tab indentation", "  initial: 1s\n", "\tinitial: 1s\n", 13, "", "invalid YAML"},
		{"missing template name", "  name: GatewayTemplate\n", "", 6, "template.name", "required"},
		{"empty template name", "  name: GatewayTemplate\n", "  name: \"\"\n", 7, "template.name", "required"},
		{"template name with space", "GatewayTemplate", "Gateway Template", 7, "template.name", "1 to 36"},
		{"template name too long", "GatewayTemplate", strings.Repeat("x", 37), 7, "template.name", "1 to 36"},
		{"missing template", "template:\n  name: GatewayTemplate\n  parameters:\n    Serial: \"${file:serial.txt}\"\n", "", 1, "template", "required"},
		{"missing endpoint", "endpoint: example.com:8883\n", "", 1, "endpoint", "required"},
		{"missing claim key", "  private_key: claim.key\n", "", 3, "claim.private_key", "required"},
		{"null root_ca", "root_ca: ca.pem", "root_ca:", 2, "root_ca", "required"},
		{"unknown payload_format", "payload_format: json", "payload_format: xml", 10, "payload_format", `must be json or cbor, got "xml"`},
		{"unknown certificate_method", "certificate_method: csr", "certificate_method: keys", 11, "certificate_method", "must be csr or create-keys"},
		{"unknown key_type", "certificate_method: csr", "key_type: ec-p521", 11, "key_type", "ec-p256, ec-p384, rsa-2048 or rsa-3072"},
		{"unknown log_level", "certificate_method: csr", "log_level: verbose", 11, "log_level", "debug, info, warn or error"},
		{"unknown top-level key", "payload_format: json", "paylod_format: json", 10, "paylod_format", `unknown key (did you mean "payload_format"?)`},
		{"unknown nested key", "  certificate: claim.crt", "  certifcate: claim.crt", 4, "claim.certifcate", `did you mean "certificate"`},
		{"unknown retry key", "  initial: 1s", "  inital: 1s", 13, "retry.inital", "unknown key"},
		{"duplicate key", "payload_format: json\n", "payload_format: json\npayload_format: cbor\n", 11, "payload_format", "given twice (first on line 10)"},
		{"bad duration", "initial: 1s", "initial: 5", 13, "retry.initial", `positive duration such as "30s"`},
		{"negative duration", "initial: 1s", "initial: -1s", 13, "retry.initial", "positive duration"},
		{"initial over max", "initial: 1s", "initial: 1s\n  max: 500ms", 13, "retry.initial", "longer than retry.max"},
		{"token lifetime over 1h", "initial: 1s", "token_safe_lifetime: 61m", 13, "retry.token_safe_lifetime", "1h"},
		{"endpoint URL", "endpoint: example.com:8883", "endpoint: mqtts://example.com:8883", 1, "endpoint", "not a URL"},
		{"endpoint bad port", "endpoint: example.com:8883", "endpoint: example.com:88830", 1, "endpoint", "port must be a number from 1 to 65535"},
		{"endpoint port name", "endpoint: example.com:8883", "endpoint: example.com:mqtt", 1, "endpoint", "port"},
		{"endpoint no host", "endpoint: example.com:8883", "endpoint: \":8883\"", 1, "endpoint", "missing host"},
		{"endpoint bad host", "endpoint: example.com:8883", "endpoint: exa!mple.com", 1, "endpoint", "not a valid host name"},
		{"endpoint list", "endpoint: example.com:8883", "endpoint: [a, b]", 1, "endpoint", "must be a single value, got a list"},
		{"claim not a mapping", "claim:\n  certificate: claim.crt\n  private_key: claim.key\n", "claim: claim.crt\n", 3, "claim", "must be a mapping"},
		{"parameters a list", "  parameters:\n    Serial: \"${file:serial.txt}\"\n", "  parameters: [a]\n", 8, "template.parameters", "must be a mapping"},
		{"unknown placeholder", "${file:serial.txt}", "${serial}", 9, "template.parameters.Serial", "unknown placeholder ${serial}"},
		{"placeholder missing argument", "${file:serial.txt}", "${env}", 9, "template.parameters.Serial", "needs an argument"},
		{"unterminated placeholder", "${file:serial.txt}", "${file:serial.txt", 9, "template.parameters.Serial", "unterminated"},
		{"client_id too long", "payload_format: json", "client_id: " + strings.Repeat("a", 129), 10, "client_id", "at most 128 bytes"},
		{"empty state_directory", "payload_format: json", "state_directory: \"\"", 10, "state_directory", "must not be empty"},
		{"not a mapping", base, "- a\n- b\n", 1, "", "must be a mapping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(base, tc.from) {
				t.Fatalf("base has no %q", tc.from)
			}
			src := strings.Replace(base, tc.from, tc.to, 1)
			_, err := Parse("/etc/provisiond/config.yaml", []byte(src))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse = %v, want *Error", err)
			}
			if e.File != "/etc/provisiond/config.yaml" || e.Line != tc.line || e.Field != tc.field {
				t.Errorf("got file %q line %d field %q, want line %d field %q (%v)", e.File, e.Line, e.Field, tc.line, tc.field, err)
			}
			if !strings.Contains(e.Message, tc.want) {
				t.Errorf("message %q does not contain %q", e.Message, tc.want)
			}
		})
	}
}

func TestParseAliasesAndNulls(t *testing.T) {
	c, err := Parse("/c.yaml", []byte(`
endpoint: &host example.com
root_ca: ca.pem
claim: {certificate: c.pem, private_key: k.pem}
template:
  name: T
  parameters: {Host: *host, Empty: }
payload_format:
client_id: ~
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Template.Parameters["Host"] != "example.com" || c.Template.Parameters["Empty"] != "" {
		t.Errorf("Parameters = %v", c.Template.Parameters)
	}
	if c.PayloadFormat != "json" || c.ClientID != "" {
		t.Errorf("null values did not keep defaults: %+v", c)
	}
}

func TestErrorString(t *testing.T) {
	for _, tc := range []struct {
		e    Error
		want string
	}{
		{Error{"/c.yaml", 7, "payload_format", `must be json or cbor, got "xml"`}, `/c.yaml:7: payload_format: must be json or cbor, got "xml"`},
		{Error{"/c.yaml", 0, "endpoint", "required"}, "/c.yaml: endpoint: required"},
		{Error{"/c.yaml", 3, "", "invalid YAML: x"}, "/c.yaml:3: invalid YAML: x"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func TestParseDocuments(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		line      int
		want      string
	}{
		{"empty file", "", 0, "endpoint: required"},
		{"comments only", "# nothing yet\n", 0, "endpoint: required"},
		{"two documents", base + "---\nendpoint: other.example.com\n", 14, "only one YAML document"},
		{"scalar document", "hello\n", 1, "must be a mapping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("/c.yaml", []byte(tc.src))
			var e *Error
			if !errors.As(err, &e) || e.Line != tc.line || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse = %v (line %d), want line %d and %q", err, lineOf(e), tc.line, tc.want)
			}
		})
	}
}

func lineOf(e *Error) int {
	if e == nil {
		return -1
	}
	return e.Line
}
