package fleetsim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/provisiond/provisiond/internal/atomicfile"
	"github.com/provisiond/provisiond/internal/fleetsim/registry"
	"github.com/provisiond/provisiond/internal/fleetsim/template"
)

// settings is fleetsim.json: what Init recorded for serve.
type settings struct {
	Listen string `json:"listen"`
}

// Init writes a ready-to-serve emulator folder into dir (created if needed). It refuses
// to overwrite an existing CA. See the package documentation of the contract for the files.
func Init(dir string, opts InitOptions) error {
	listen := opts.Listen
	if listen == "" {
		listen = DefaultListen
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", listen, err)
	}
	if err := os.MkdirAll(filepath.Join(dir, templatesDir), 0o755); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, caCertFile)); err == nil {
		return fmt.Errorf("%s already exists: refusing to overwrite the emulator's CA", filepath.Join(dir, caCertFile))
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	now := time.Now()
	ca, err := newAuthority(now)
	if err != nil {
		return err
	}
	caKey, err := marshalKeyPEM(ca.key)
	if err != nil {
		return err
	}

	serverKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if host != "" && host != "localhost" && host != "127.0.0.1" && host != "::1" && host != "0.0.0.0" && host != "::" {
		hosts = append(hosts, host)
	}
	serverDER, err := ca.issueServer(serverKey.Public(), hosts, now)
	if err != nil {
		return err
	}
	serverKeyPEM, err := marshalKeyPEM(serverKey)
	if err != nil {
		return err
	}

	claims, err := makeClaims(ca, opts, now)
	if err != nil {
		return err
	}
	_, tokenKey, err := newTokenSecret()
	if err != nil {
		return err
	}
	set, err := json.MarshalIndent(settings{Listen: listen}, "", "  ")
	if err != nil {
		return err
	}
	reg := Registry{Things: []Thing{}, Certificates: []Certificate{}, Policies: []Policy{}, Orphans: []Certificate{}}
	for _, c := range claims {
		reg.Certificates = append(reg.Certificates, Certificate{
			CertificateID:  certificateID(c.der),
			Status:         StatusActive,
			Kind:           KindClaim,
			Policies:       []string{claimPolicyName},
			CreatedAt:      now.UTC(),
			CertificatePEM: string(pemBlock("CERTIFICATE", c.der)),
		})
	}
	if len(claims) > 0 {
		reg.Policies = []Policy{{PolicyName: claimPolicyName, PolicyDocument: claimPolicyDocument}}
	}
	// Made before the other files, so that a failure leaves no folder that looks finished.
	dbPath := filepath.Join(dir, registry.File)
	for _, f := range []string{dbPath, dbPath + "-wal", dbPath + "-shm"} {
		_ = os.Remove(f)
	}
	if err := registry.Create(dbPath, reg); err != nil {
		return err
	}

	files := []folderFile{
		{caKeyFile, caKey, 0o600},
		{serverCertFile, pemBlock("CERTIFICATE", serverDER), 0o644},
		{serverKeyFile, serverKeyPEM, 0o600},
		{tokenSecretFile, tokenKey, 0o600},
		{settingsFile, append(set, '\n'), 0o644},
	}
	for _, c := range claims {
		files = append(files, folderFile{c.certFile, pemBlock("CERTIFICATE", c.der), 0o644}, folderFile{c.keyFile, c.keyPEM, 0o600})
	}
	if !opts.NoTemplate {
		files = append(files, folderFile{template.BodyFile(templatesDir, DemoTemplate), []byte(demoTemplateBody), 0o644})
	}
	if len(claims) > 0 {
		files = append(files, folderFile{daemonConfig, []byte(daemonConfigText(daemonEndpoint(host, listen), claims)), 0o644})
	}
	// The CA certificate goes last: its presence marks a finished folder.
	files = append(files, folderFile{caCertFile, ca.pem, 0o644})
	for _, f := range files {
		if err := atomicfile.Write(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// folderFile is one file Init writes.
type folderFile struct {
	name string
	data []byte
	mode os.FileMode
}

// claimPolicyName is the policy Init attaches to the claim certificate.
const claimPolicyName = "FleetsimClaimPolicy"

// claimPolicyDocument is what the emulator enforces for claim certificates.
const claimPolicyDocument = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:Connect"],"Resource":"*"},{"Effect":"Allow","Action":["iot:Publish","iot:Receive","iot:Subscribe"],"Resource":["arn:aws:iot:*:*:topic/$aws/certificates/create/*","arn:aws:iot:*:*:topic/$aws/certificates/create-from-csr/*","arn:aws:iot:*:*:topic/$aws/provisioning-templates/*/provision/*"]}]}`

func readSettings(dir string) (settings, error) {
	var s settings
	b, err := os.ReadFile(filepath.Join(dir, settingsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return settings{Listen: DefaultListen}, nil
	}
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s: %w", filepath.Join(dir, settingsFile), err)
	}
	return s, nil
}

// daemonEndpoint is where the daemon should connect for a listen address: the address
// itself, except that a wildcard host (all interfaces) is reached through 127.0.0.1.
func daemonEndpoint(host, listen string) string {
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		_, port, _ := net.SplitHostPort(listen)
		return net.JoinHostPort("127.0.0.1", port)
	}
	return listen
}
