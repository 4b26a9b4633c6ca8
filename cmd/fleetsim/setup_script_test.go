package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iot"

	"github.com/provisiond/provisiond/internal/fleetsim"
	"github.com/provisiond/provisiond/internal/testtool"
	"github.com/provisiond/provisiond/internal/testtool/fleetsimproc"
	"github.com/provisiond/provisiond/internal/testtool/proc"
)

// setupTemplate is the template the test sets up: a thing named after a serial number.
const setupTemplate = `{
  "Parameters": {"SerialNumber": {"Type": "String"}, "AWS::IoT::Certificate::Id": {"Type": "String"}},
  "Resources": {
    "thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Fn::Join": ["", ["gw-", {"Ref": "SerialNumber"}]]}}},
    "certificate": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "Active"}},
    "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"iot:*\",\"Resource\":\"*\"}]}"}}
  }
}
`

// awsCLIs are the distinct aws CLIs on PATH, first the one PATH finds (the aws CLI 1.x
// and 2 print differently; the script must read both).
func awsCLIs(t *testing.T) []string {
	first := testtool.Need(t, "aws", "awscli")
	clis := []string{first}
	seen := map[string]bool{}
	if real, err := filepath.EvalSymlinks(first); err == nil {
		seen[real] = true
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		p := filepath.Join(dir, "aws")
		real, err := filepath.EvalSymlinks(p)
		if err != nil || seen[real] {
			continue
		}
		if st, err := os.Stat(real); err == nil && st.Mode()&0o111 != 0 {
			seen[real] = true
			clis = append(clis, p)
		}
	}
	return clis
}

// scripts/aws-fleet-setup.sh against the real fleetsim with an empty registry: the
// config it writes provisions the real daemon, and a second run (with the other aws
// CLI when there are two) changes nothing.
func TestAWSFleetSetupScript(t *testing.T) {
	clis := awsCLIs(t)
	testtool.Need(t, "python3", "python3")
	testtool.Need(t, "openssl", "openssl")
	bin := fleetsimproc.Binary(t)
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "sim")
	var out, errOut syncBuffer
	if code := run(context.Background(), []string{"init", "--dir", dir, "--listen", "127.0.0.1:0", "--claims", "0", "--no-template"}, &out, &errOut); code != 0 {
		t.Fatalf("init: %s", errOut.String())
	}
	srv := fleetsimproc.Serve(t, bin, dir)
	templateFile := filepath.Join(tmp, "template.json")
	if err := os.WriteFile(templateFile, []byte(setupTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	outDir := filepath.Join(tmp, "out")
	env := append(os.Environ(), "AWS_ACCESS_KEY_ID=fleetsim", "AWS_SECRET_ACCESS_KEY=fleetsim",
		"AWS_DEFAULT_REGION=us-east-1", "AWS_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=")
	setup := func(cli string) string {
		t.Helper()
		// The chosen aws CLI first on PATH.
		pathDir := filepath.Join(tmp, "path-"+strings.ReplaceAll(cli, "/", "_"))
		if err := os.MkdirAll(pathDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(cli, filepath.Join(pathDir, "aws")); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
		cmd := exec.Command("bash", "../../scripts/aws-fleet-setup.sh", "--template-file", templateFile, "--name", "Gateway",
			"--role-arn", "arn:aws:iam::123456789012:role/R", "--root-ca", filepath.Join(dir, "ca.pem"), "--out", outDir,
			"--parameter", "SerialNumber=0001", "--", "--endpoint-url", srv.API)
		cmd.Env = append(env, "PATH="+pathDir+string(os.PathListSeparator)+os.Getenv("PATH"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			t.Fatalf("aws-fleet-setup.sh with %s: %v\n%s", cli, err, stderr.String())
		}
		t.Logf("aws-fleet-setup.sh with %s: %v\n%s", cli, time.Since(start).Round(time.Millisecond), stderr.String())
		return stderr.String()
	}
	api := iot.New(iot.Options{BaseEndpoint: aws.String(srv.API), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("fleetsim", "fleetsim", "")})
	state := func() (certs int, version int32, files string) {
		t.Helper()
		ctx := context.Background()
		list, err := api.ListCertificates(ctx, &iot.ListCertificatesInput{})
		if err != nil {
			t.Fatal(err)
		}
		tpl, err := api.DescribeProvisioningTemplate(ctx, &iot.DescribeProvisioningTemplateInput{TemplateName: aws.String("Gateway")})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"config.yaml", "claim.pem.crt", "claim.pem.key", "root-ca.pem"} {
			b, err := os.ReadFile(filepath.Join(outDir, f))
			if err != nil {
				t.Fatal(err)
			}
			files += f + ":\n" + string(b)
		}
		return len(list.Certificates), aws.ToInt32(tpl.DefaultVersionId), files
	}

	setup(clis[0])
	certs, version, files := state()
	if certs != 1 {
		t.Fatalf("the first run left %d certificates, want the claim alone", certs)
	}
	said := setup(clis[len(clis)-1])
	certs2, version2, files2 := state()
	if certs2 != certs || version2 != version || files2 != files {
		t.Fatalf("the second run changed something: %d→%d certificates, template version %d→%d, files equal %v\n%s",
			certs, certs2, version, version2, files == files2, said)
	}
	for _, want := range []string{"template Gateway exists", "policy GatewayClaimPolicy exists", "config.yaml is up to date"} {
		if !strings.Contains(said, want) {
			t.Errorf("the second run did not say %q:\n%s", want, said)
		}
	}

	// The real daemon provisions with the config, its state in a temporary folder.
	provisiond := filepath.Join(tmp, "provisiond")
	if b, err := exec.Command("go", "build", "-o", provisiond, "github.com/provisiond/provisiond/cmd/provisiond").CombinedOutput(); err != nil {
		t.Fatalf("go build provisiond: %v\n%s", err, b)
	}
	cfg, err := os.ReadFile(filepath.Join(outDir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	device := filepath.Join(outDir, "device.yaml")
	if err := os.WriteFile(device, append(cfg, []byte("state_directory: "+filepath.Join(tmp, "state")+"\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	var daemonLog syncBuffer
	daemon := exec.Command(provisiond, "run", "--config", device)
	daemon.Stdout, daemon.Stderr = &daemonLog, &daemonLog
	p, err := proc.Start(daemon)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	wait, err := exec.Command(provisiond, "wait", "--timeout", "60s", "--config", device).CombinedOutput()
	if err != nil {
		t.Fatalf("provisiond wait: %v: %s\ndaemon:\n%s", err, wait, daemonLog.String())
	}
	reg, err := fleetsim.ReadRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	claims := 0
	for _, c := range reg.Certificates {
		if c.Kind == fleetsim.KindClaim {
			claims++
			if c.ThingsRegistered == nil || *c.ThingsRegistered != 1 {
				t.Errorf("the claim %s registered %v things, want 1", c.CertificateID, c.ThingsRegistered)
			}
		}
	}
	if len(reg.Things) != 1 || reg.Things[0].ThingName != "gw-0001" || claims != 1 {
		t.Fatalf("registry after provisioning: %d things %+v, %d claims", len(reg.Things), reg.Things, claims)
	}
}
