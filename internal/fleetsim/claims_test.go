package fleetsim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"
)

// pairTLS is a client TLS config from a PEM certificate and key as the API answers them.
func pairTLS(t testing.TB, dir, certPEM, keyPEM string) *tls.Config {
	t.Helper()
	cert, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		t.Fatalf("the API's key pair: %v", err)
	}
	return tlsWith(t, dir, cert)
}

func listedCertificates(t testing.TB, api *iot.Client) []string {
	t.Helper()
	out, err := api.ListCertificates(context.Background(), &iot.ListCertificatesInput{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range out.Certificates {
		ids = append(ids, aws.ToString(c.CertificateId))
	}
	return ids
}

// A provisioning claim has AWS's shape, provisions on its template only, counts what it
// registered, is not listed, and is refused at the TLS handshake once expired; its
// certificate calls must come within five minutes of connecting.
func TestProvisioningClaim(t *testing.T) {
	dir := newDir(t)
	clk := fakeClock()
	s := startAPI(t, dir, func(o *Options) { o.Clock = clk })
	api := sdkClient(s, testSecret)
	ctx := context.Background()

	before := clk.Now()
	pc, err := api.CreateProvisioningClaim(ctx, &iot.CreateProvisioningClaimInput{TemplateName: aws.String(DemoTemplate)})
	if err != nil {
		t.Fatalf("CreateProvisioningClaim: %v", err)
	}
	cert, err := parseCertPEM([]byte(aws.ToString(pc.CertificatePem)))
	if err != nil {
		t.Fatal(err)
	}
	exp := aws.ToTime(pc.Expiration)
	if d := exp.Sub(before); d < 4*time.Minute || d > 5*time.Minute {
		t.Errorf("expiration %v is %v after the call, want 5m", exp, d)
	}
	if !cert.NotAfter.Equal(exp) || cert.NotAfter.Sub(cert.NotBefore) != 7*time.Minute {
		t.Errorf("X.509 window %v to %v, want 7 minutes ending at the expiration %v", cert.NotBefore, cert.NotAfter, exp)
	}
	if !slices.Equal(cert.Subject.OrganizationalUnit, []string{"Amazon IoT Provisioning"}) ||
		cert.Issuer.CommonName == "fleetsim Root CA" {
		t.Errorf("subject %v issued by %v: want OU=Amazon IoT Provisioning from an issuer of its own", cert.Subject, cert.Issuer)
	}
	if aws.ToString(pc.CertificateId) != certificateID(cert.Raw) {
		t.Errorf("certificateId %s is not the certificate's", aws.ToString(pc.CertificateId))
	}
	block, _ := pem.Decode([]byte(aws.ToString(pc.KeyPair.PrivateKey)))
	if block == nil || block.Type != "RSA PRIVATE KEY" {
		t.Fatalf("private key is not PKCS #1: %v", block)
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err != nil || k.N.BitLen() != 2048 {
		t.Fatalf("private key: %v", err)
	}
	if slices.Contains(listedCertificates(t, api), aws.ToString(pc.CertificateId)) {
		t.Error("ListCertificates lists the provisioning claim")
	}

	claimTLSConfig := pairTLS(t, dir, aws.ToString(pc.CertificatePem), aws.ToString(pc.KeyPair.PrivateKey))
	c := dial(t, s.Addr(), claimTLSConfig, "installer-0001")
	_, iss, reg := provisionCSR(t, c, "json", "0001")
	if reg.ThingName != "gw-0001" {
		t.Fatalf("registered %q", reg.ThingName)
	}
	got, ok := findCert(s.Snapshot(), aws.ToString(pc.CertificateId))
	if !ok || got.Kind != KindProvisioningClaim || got.ThingsRegistered == nil || *got.ThingsRegistered != 1 {
		t.Fatalf("registry's provisioning claim: %+v", got)
	}
	if dev, _ := findCert(s.Snapshot(), iss.CertificateID); dev.Status != StatusActive || dev.ThingsRegistered != nil {
		t.Errorf("device certificate %+v", dev)
	}

	// Past five minutes on the connection: the certificate calls are refused.
	clk.Advance(provisioningClaimWindow)
	_, csr := newCSR(t)
	wantRejected(t, "json", call(t, c, "$aws/certificates/create-from-csr/json",
		marshal(t, "json", map[string]string{"certificateSigningRequest": csr})), 403, codeAccessDenied)

	// Expired: refused at the TLS handshake.
	clk.Advance(time.Second)
	if late, err := tryDial(s.Addr(), claimTLSConfig, "installer-late", nil); err == nil {
		late.Disconnect(0)
		t.Fatal("an expired provisioning claim connected")
	}

	// Another template's topics are outside its fixed policy: the connection ends.
	pc2, err := api.CreateProvisioningClaim(ctx, &iot.CreateProvisioningClaimInput{TemplateName: aws.String(DemoTemplate)})
	if err != nil {
		t.Fatal(err)
	}
	c2, lost := dialWatched(t, s.Addr(), pairTLS(t, dir, aws.ToString(pc2.CertificatePem), aws.ToString(pc2.KeyPair.PrivateKey)), "installer-0002")
	c2.Publish("$aws/provisioning-templates/OtherTemplate/provision/json", 1, false, []byte("{}"))
	wantLost(t, lost, "a provisioning claim published on another template's topic and stayed connected")
}

func TestProvisioningClaimNeedsAnEnabledTemplate(t *testing.T) {
	dir := newDir(t)
	s := startAPI(t, dir, nil)
	api := sdkClient(s, testSecret)
	ctx := context.Background()
	_, err := api.CreateProvisioningClaim(ctx, &iot.CreateProvisioningClaimInput{TemplateName: aws.String("Nobody")})
	wantAPIError(t, err, "ResourceNotFoundException")
	if _, err := api.UpdateProvisioningTemplate(ctx, &iot.UpdateProvisioningTemplateInput{TemplateName: aws.String(DemoTemplate),
		Enabled: aws.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	_, err = api.CreateProvisioningClaim(ctx, &iot.CreateProvisioningClaimInput{TemplateName: aws.String(DemoTemplate)})
	wantAPIError(t, err, "AccessDeniedException")
}

// The claim an administrator makes over the API (CreateKeysAndCertificate, CreatePolicy,
// AttachPolicy) connects once ACTIVE with a policy attached, and provisions.
func TestAPIClaimFromKeysAndPolicy(t *testing.T) {
	dir := t.TempDir()
	if err := Init(dir, InitOptions{NoClaim: true}); err != nil {
		t.Fatal(err)
	}
	// Without credentials, so that the extension is read over plain HTTP below.
	s := startAPI(t, dir, func(o *Options) { o.APICredentials = nil })
	api := sdkClient(s, testSecret)
	ctx := context.Background()
	if ids := listedCertificates(t, api); len(ids) != 0 {
		t.Fatalf("an init without a claim lists certificates %v", ids)
	}
	kc, err := api.CreateKeysAndCertificate(ctx, &iot.CreateKeysAndCertificateInput{SetAsActive: false})
	if err != nil {
		t.Fatalf("CreateKeysAndCertificate: %v", err)
	}
	desc, err := api.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: kc.CertificateId})
	if err != nil || desc.CertificateDescription.Status != types.CertificateStatusInactive {
		t.Fatalf("DescribeCertificate after setAsActive=false: %+v %v", desc, err)
	}
	cfg := pairTLS(t, dir, aws.ToString(kc.CertificatePem), aws.ToString(kc.KeyPair.PrivateKey))
	if c, err := tryDial(s.Addr(), cfg, "inactive", nil); err == nil {
		c.Disconnect(0)
		t.Fatal("an INACTIVE certificate connected")
	}
	if _, err := api.UpdateCertificate(ctx, &iot.UpdateCertificateInput{CertificateId: kc.CertificateId,
		NewStatus: types.CertificateStatusActive}); err != nil {
		t.Fatal(err)
	}
	if c, err := tryDial(s.Addr(), cfg, "no-policy", nil); err == nil {
		c.Disconnect(0)
		t.Fatal("a certificate without a policy connected")
	}
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}`
	if _, err := api.CreatePolicy(ctx, &iot.CreatePolicyInput{PolicyName: aws.String("ClaimPolicy"), PolicyDocument: aws.String(doc)}); err != nil {
		t.Fatalf("CreatePolicy: %v", err)
	}
	_, err = api.CreatePolicy(ctx, &iot.CreatePolicyInput{PolicyName: aws.String("ClaimPolicy"), PolicyDocument: aws.String(doc)})
	wantAPIError(t, err, "ResourceAlreadyExistsException")
	_, err = api.CreatePolicy(ctx, &iot.CreatePolicyInput{PolicyName: aws.String("Broken"), PolicyDocument: aws.String("{")})
	wantAPIError(t, err, "MalformedPolicyException")
	_, err = api.AttachPolicy(ctx, &iot.AttachPolicyInput{PolicyName: aws.String("Nobody"), Target: aws.String(certificateARN(aws.ToString(kc.CertificateId)))})
	wantAPIError(t, err, "ResourceNotFoundException")
	for range 2 { // attaching twice changes nothing
		if _, err := api.AttachPolicy(ctx, &iot.AttachPolicyInput{PolicyName: aws.String("ClaimPolicy"),
			Target: aws.String(certificateARN(aws.ToString(kc.CertificateId)))}); err != nil {
			t.Fatalf("AttachPolicy: %v", err)
		}
	}
	attached, err := api.ListAttachedPolicies(ctx, &iot.ListAttachedPoliciesInput{Target: aws.String(certificateARN(aws.ToString(kc.CertificateId)))})
	if err != nil || len(attached.Policies) != 1 {
		t.Fatalf("ListAttachedPolicies: %+v %v", attached, err)
	}
	body := strings.ReplaceAll(demoTemplateBody, "\n", "")
	if _, err := api.CreateProvisioningTemplate(ctx, &iot.CreateProvisioningTemplateInput{TemplateName: aws.String("T"),
		TemplateBody: aws.String(body), Enabled: aws.Bool(true),
		ProvisioningRoleArn: aws.String("arn:aws:iam::123456789012:role/Unchecked")}); err != nil {
		t.Fatal(err)
	}
	c := dial(t, s.Addr(), cfg, "gateway-1")
	_, m := provisionWith(t, c, "T", "0007")
	wantAccepted(t, "json", m, &registered{})

	if _, err := api.DetachPolicy(ctx, &iot.DetachPolicyInput{PolicyName: aws.String("ClaimPolicy"),
		Target: aws.String(certificateARN(aws.ToString(kc.CertificateId)))}); err != nil {
		t.Fatalf("DetachPolicy: %v", err)
	}
	if c, err := tryDial(s.Addr(), cfg, "detached", nil); err == nil {
		c.Disconnect(0)
		t.Fatal("a certificate whose policy was detached connected")
	}

	// The count is in describe-certificate's answer, as an extension the SDK drops.
	resp, err := http.Get("http://" + s.APIAddr() + "/certificates/" + aws.ToString(kc.CertificateId))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var d struct {
		CertificateDescription struct {
			FleetsimThingsRegistered *int `json:"fleetsimThingsRegistered"`
		} `json:"certificateDescription"`
	}
	if err := json.Unmarshal(raw, &d); err != nil || d.CertificateDescription.FleetsimThingsRegistered == nil ||
		*d.CertificateDescription.FleetsimThingsRegistered != 1 {
		t.Fatalf("describe-certificate: %s %v", raw, err)
	}
}
