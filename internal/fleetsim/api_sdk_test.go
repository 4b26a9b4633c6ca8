package fleetsim

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/aws/smithy-go"
	paho "github.com/eclipse/paho.mqtt.golang"
)

const (
	testAccessKey = "AKIDFLEETSIMTEST"
	testSecret    = "fleetsim-test-secret"
)

// startAPI serves dir with the API on a free port, with the test credentials.
func startAPI(t testing.TB, dir string, edit func(*Options)) *Server {
	return start(t, dir, func(o *Options) {
		o.APIListen = "127.0.0.1:0"
		o.APICredentials = &APICredentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret}
		if edit != nil {
			edit(o)
		}
	})
}

// sdkClient is the unmodified AWS SDK for Go v2 pointed at the emulator's API.
func sdkClient(s *Server, secret string) *iot.Client {
	return iot.New(iot.Options{
		BaseEndpoint: aws.String("http://" + s.APIAddr()),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(testAccessKey, secret, ""),
	})
}

// provisionWith runs CreateCertificateFromCsr then RegisterThing against a template.
func provisionWith(t testing.TB, c paho.Client, tmpl, serial string) (issued, message) {
	t.Helper()
	_, csr := newCSR(t)
	var iss issued
	wantAccepted(t, "json", call(t, c, "$aws/certificates/create-from-csr/json",
		marshal(t, "json", map[string]string{"certificateSigningRequest": csr})), &iss)
	m := call(t, c, "$aws/provisioning-templates/"+tmpl+"/provision/json",
		marshal(t, "json", map[string]any{"certificateOwnershipToken": iss.CertificateOwnershipToken,
			"parameters": map[string]string{"SerialNumber": serial}}))
	return iss, m
}

func wantAPIError(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Fatalf("error %v, want %s", err, code)
	}
}

func TestAPIWithTheAWSSDK(t *testing.T) {
	dir := newDir(t)
	s := startAPI(t, dir, nil)
	api := sdkClient(s, testSecret)
	ctx := context.Background()

	ep, err := api.DescribeEndpoint(ctx, &iot.DescribeEndpointInput{EndpointType: aws.String("iot:Data-ATS")})
	if err != nil || aws.ToString(ep.EndpointAddress) != s.Addr() {
		t.Fatalf("DescribeEndpoint: %v %v, want %s", aws.ToString(ep.EndpointAddress), err, s.Addr())
	}

	claim := dial(t, s.Addr(), claimTLS(t, dir), "claim")
	key, iss, _ := provisionCSR(t, claim, "json", "0001")

	things, err := api.ListThings(ctx, &iot.ListThingsInput{})
	if err != nil || len(things.Things) != 1 || aws.ToString(things.Things[0].ThingName) != "gw-0001" {
		t.Fatalf("ListThings: %+v %v", things, err)
	}
	thing, err := api.DescribeThing(ctx, &iot.DescribeThingInput{ThingName: aws.String("gw-0001")})
	if err != nil || thing.Attributes["serialNumber"] != "0001" || thing.Version != 1 {
		t.Fatalf("DescribeThing: %+v %v", thing, err)
	}
	_, err = api.DescribeThing(ctx, &iot.DescribeThingInput{ThingName: aws.String("nobody")})
	wantAPIError(t, err, "ResourceNotFoundException")
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("the SDK did not parse ResourceNotFoundException into its type: %T", err)
	}
	if _, err := api.UpdateThing(ctx, &iot.UpdateThingInput{ThingName: aws.String("gw-0001"),
		AttributePayload: &types.AttributePayload{Attributes: map[string]string{"site": "lab"}, Merge: true}}); err != nil {
		t.Fatalf("UpdateThing: %v", err)
	}
	thing, err = api.DescribeThing(ctx, &iot.DescribeThingInput{ThingName: aws.String("gw-0001")})
	if err != nil || thing.Attributes["site"] != "lab" || thing.Attributes["serialNumber"] != "0001" || thing.Version != 2 {
		t.Fatalf("DescribeThing after UpdateThing: %+v %v", thing, err)
	}
	principals, err := api.ListThingPrincipals(ctx, &iot.ListThingPrincipalsInput{ThingName: aws.String("gw-0001")})
	if err != nil || len(principals.Principals) != 1 || !strings.HasSuffix(principals.Principals[0], "cert/"+iss.CertificateID) {
		t.Fatalf("ListThingPrincipals: %+v %v", principals, err)
	}

	attached, err := api.ListAttachedPolicies(ctx, &iot.ListAttachedPoliciesInput{Target: aws.String(certificateARN(iss.CertificateID))})
	if err != nil || len(attached.Policies) != 1 {
		t.Fatalf("ListAttachedPolicies: %+v %v", attached, err)
	}
	pol, err := api.GetPolicy(ctx, &iot.GetPolicyInput{PolicyName: attached.Policies[0].PolicyName})
	if err != nil || !strings.Contains(aws.ToString(pol.PolicyDocument), "iot:Connect") {
		t.Fatalf("GetPolicy: %+v %v", pol, err)
	}
	owned, err := api.ListPrincipalThings(ctx, &iot.ListPrincipalThingsInput{Principal: aws.String(certificateARN(iss.CertificateID))})
	if err != nil || len(owned.Things) != 1 || owned.Things[0] != "gw-0001" {
		t.Fatalf("ListPrincipalThings: %+v %v", owned, err)
	}

	// A template created over the API provisions devices.
	body, err := os.ReadFile(filepath.Join(dir, "templates", DemoTemplate+".json"))
	if err != nil {
		t.Fatal(err)
	}
	apiBody := strings.Replace(string(body), `"gw-"`, `"api-"`, 1)
	if _, err := api.CreateProvisioningTemplate(ctx, &iot.CreateProvisioningTemplateInput{
		TemplateName: aws.String("ApiTemplate"), TemplateBody: aws.String(apiBody), Enabled: aws.Bool(true),
		ProvisioningRoleArn: aws.String("arn:aws:iam::123456789012:role/Provisioning")}); err != nil {
		t.Fatalf("CreateProvisioningTemplate: %v", err)
	}
	_, err = api.CreateProvisioningTemplate(ctx, &iot.CreateProvisioningTemplateInput{
		TemplateName: aws.String(DemoTemplate), TemplateBody: aws.String(apiBody),
		ProvisioningRoleArn: aws.String("arn:aws:iam::123456789012:role/Provisioning")})
	wantAPIError(t, err, "ResourceAlreadyExistsException")
	_, m := provisionWith(t, claim, "ApiTemplate", "0002")
	var reg registered
	wantAccepted(t, "json", m, &reg)
	if reg.ThingName != "api-0002" {
		t.Fatalf("RegisterThing with ApiTemplate made %q", reg.ThingName)
	}
	// A new body, as a new default version, provisions from then on.
	v2, err := api.CreateProvisioningTemplateVersion(ctx, &iot.CreateProvisioningTemplateVersionInput{
		TemplateName: aws.String("ApiTemplate"), SetAsDefault: true,
		TemplateBody: aws.String(strings.Replace(string(body), `"gw-"`, `"v2-"`, 1))})
	if err != nil || aws.ToInt32(v2.VersionId) != 2 {
		t.Fatalf("CreateProvisioningTemplateVersion: %+v %v", v2, err)
	}
	_, m = provisionWith(t, claim, "ApiTemplate", "0005")
	wantAccepted(t, "json", m, &reg)
	if reg.ThingName != "v2-0005" {
		t.Fatalf("RegisterThing with ApiTemplate version 2 made %q", reg.ThingName)
	}
	desc, err := api.DescribeProvisioningTemplate(ctx, &iot.DescribeProvisioningTemplateInput{TemplateName: aws.String("ApiTemplate")})
	if err != nil || aws.ToInt32(desc.DefaultVersionId) != 2 || !strings.Contains(aws.ToString(desc.TemplateBody), `"v2-"`) || !aws.ToBool(desc.Enabled) {
		t.Fatalf("DescribeProvisioningTemplate: %+v %v", desc, err)
	}
	list, err := api.ListProvisioningTemplates(ctx, &iot.ListProvisioningTemplatesInput{})
	if err != nil || len(list.Templates) != 2 {
		t.Fatalf("ListProvisioningTemplates: %+v %v", list, err)
	}
	// Disabled, then deleted: RegisterThing is refused.
	if _, err := api.UpdateProvisioningTemplate(ctx, &iot.UpdateProvisioningTemplateInput{
		TemplateName: aws.String("ApiTemplate"), Enabled: aws.Bool(false)}); err != nil {
		t.Fatalf("UpdateProvisioningTemplate: %v", err)
	}
	_, m = provisionWith(t, claim, "ApiTemplate", "0003")
	wantRejected(t, "json", m, 403, codeAccessDenied)
	if _, err := api.DeleteProvisioningTemplate(ctx, &iot.DeleteProvisioningTemplateInput{TemplateName: aws.String("ApiTemplate")}); err != nil {
		t.Fatalf("DeleteProvisioningTemplate: %v", err)
	}
	_, m = provisionWith(t, claim, "ApiTemplate", "0004")
	wantRejected(t, "json", m, 404, codeNotFound)

	// Revoking a connected device's certificate drops it, and it cannot come back.
	dev, lost := dialWatched(t, s.Addr(), deviceTLS(t, dir, key, iss.CertificatePEM), "gw-0001")
	if _, err := api.UpdateCertificate(ctx, &iot.UpdateCertificateInput{CertificateId: aws.String(iss.CertificateID),
		NewStatus: types.CertificateStatusRevoked}); err != nil {
		t.Fatalf("UpdateCertificate: %v", err)
	}
	wantLost(t, lost, "the revoked device's connection stayed open")
	dev.Disconnect(0)
	if _, err := tryDial(s.Addr(), deviceTLS(t, dir, key, iss.CertificatePEM), "gw-0001", nil); err == nil {
		t.Fatal("a revoked certificate connected again")
	}
	cdesc, err := api.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: aws.String(iss.CertificateID)})
	if err != nil || cdesc.CertificateDescription.Status != types.CertificateStatusRevoked {
		t.Fatalf("DescribeCertificate: %+v %v", cdesc, err)
	}
	_, err = api.UpdateCertificate(ctx, &iot.UpdateCertificateInput{CertificateId: aws.String(iss.CertificateID),
		NewStatus: types.CertificateStatusActive})
	wantAPIError(t, err, "CertificateStateException")

	// Deleting: only once detached from its thing; then it is gone, and so is the thing.
	certID, arn := aws.String(iss.CertificateID), aws.String(certificateARN(iss.CertificateID))
	_, err = api.DeleteCertificate(ctx, &iot.DeleteCertificateInput{CertificateId: certID, ForceDelete: true})
	wantAPIError(t, err, "DeleteConflictException")
	_, err = api.DeleteThing(ctx, &iot.DeleteThingInput{ThingName: aws.String("gw-0001")})
	wantAPIError(t, err, "InvalidRequestException")
	if _, err := api.DetachThingPrincipal(ctx, &iot.DetachThingPrincipalInput{ThingName: aws.String("gw-0001"), Principal: arn}); err != nil {
		t.Fatalf("DetachThingPrincipal: %v", err)
	}
	if _, err := api.DeleteCertificate(ctx, &iot.DeleteCertificateInput{CertificateId: certID, ForceDelete: true}); err != nil {
		t.Fatalf("DeleteCertificate: %v", err)
	}
	_, err = api.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: certID})
	wantAPIError(t, err, "ResourceNotFoundException")
	if _, err := api.DeleteThing(ctx, &iot.DeleteThingInput{ThingName: aws.String("gw-0001")}); err != nil {
		t.Fatalf("DeleteThing: %v", err)
	}
	if _, err := ReadThing(dir, "gw-0001"); err == nil {
		t.Fatal("the deleted thing is still in the registry")
	}

	// A revoked claim cannot provision: its connection ends and it cannot connect.
	claimID := certificateID(claimTLS(t, dir).Certificates[0].Certificate[0])
	if _, err := api.UpdateCertificate(ctx, &iot.UpdateCertificateInput{CertificateId: aws.String(claimID),
		NewStatus: types.CertificateStatusRevoked}); err != nil {
		t.Fatalf("UpdateCertificate on the claim: %v", err)
	}
	if _, err := tryDial(s.Addr(), claimTLS(t, dir), "claim-again", nil); err == nil {
		t.Fatal("a revoked claim connected")
	}

	// Wrong secret: refused.
	_, err = sdkClient(s, "not-the-secret").ListThings(ctx, &iot.ListThingsInput{})
	wantAPIError(t, err, "InvalidSignatureException")
}

func TestAPIPagination(t *testing.T) {
	dir := newDir(t)
	s := startAPI(t, dir, nil)
	api := sdkClient(s, testSecret)
	claim := dial(t, s.Addr(), claimTLS(t, dir), "claim")
	for _, serial := range []string{"1", "2", "3", "4", "5"} {
		provisionCSR(t, claim, "json", serial)
	}
	var names []string
	p := iot.NewListThingsPaginator(api, &iot.ListThingsInput{MaxResults: aws.Int32(2)})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, th := range out.Things {
			names = append(names, aws.ToString(th.ThingName))
		}
	}
	if strings.Join(names, ",") != "gw-1,gw-2,gw-3,gw-4,gw-5" {
		t.Fatalf("ListThings pages: %v", names)
	}
	var certs int
	cp := iot.NewListCertificatesPaginator(api, &iot.ListCertificatesInput{PageSize: aws.Int32(4)})
	for cp.HasMorePages() {
		out, err := cp.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		certs += len(out.Certificates)
	}
	if certs != 6 {
		t.Fatalf("ListCertificates pages held %d certificates, want 6", certs)
	}
}

// TestAPIChangesFolderTemplates: a template from D/templates/ is changed and deleted over
// the API in the folder itself, and RegisterThing follows.
func TestAPIChangesFolderTemplates(t *testing.T) {
	dir := newDir(t)
	s := startAPI(t, dir, nil)
	api := sdkClient(s, testSecret)
	ctx := context.Background()
	claim := dial(t, s.Addr(), claimTLS(t, dir), "claim")
	name := aws.String(DemoTemplate)

	if _, err := api.UpdateProvisioningTemplate(ctx, &iot.UpdateProvisioningTemplateInput{TemplateName: name, Enabled: aws.Bool(false)}); err != nil {
		t.Fatalf("UpdateProvisioningTemplate: %v", err)
	}
	set, err := os.ReadFile(filepath.Join(dir, "templates", DemoTemplate+".settings.json"))
	if err != nil || !strings.Contains(string(set), `"enabled": false`) {
		t.Fatalf("settings file after disabling: %s %v", set, err)
	}
	_, m := provisionWith(t, claim, DemoTemplate, "0001")
	wantRejected(t, "json", m, 403, codeAccessDenied)

	if _, err := api.UpdateProvisioningTemplate(ctx, &iot.UpdateProvisioningTemplateInput{TemplateName: name, Enabled: aws.Bool(true)}); err != nil {
		t.Fatalf("UpdateProvisioningTemplate: %v", err)
	}
	desc, err := api.DescribeProvisioningTemplate(ctx, &iot.DescribeProvisioningTemplateInput{TemplateName: name})
	if err != nil || !aws.ToBool(desc.Enabled) || !strings.Contains(aws.ToString(desc.TemplateBody), `"gw-"`) {
		t.Fatalf("DescribeProvisioningTemplate: %+v %v", desc, err)
	}
	_, m = provisionWith(t, claim, DemoTemplate, "0002")
	wantAccepted(t, "json", m, &registered{})

	if _, err := api.DeleteProvisioningTemplate(ctx, &iot.DeleteProvisioningTemplateInput{TemplateName: name}); err != nil {
		t.Fatalf("DeleteProvisioningTemplate: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "templates", DemoTemplate+".json")); !os.IsNotExist(err) {
		t.Fatalf("the template file is still there: %v", err)
	}
	_, m = provisionWith(t, claim, DemoTemplate, "0003")
	wantRejected(t, "json", m, 404, codeNotFound)
}

// certificateARN is a certificate's ARN as AWS spells it, for the emulator's account.
func certificateARN(id string) string { return "arn:aws:iot:us-east-1:123456789012:cert/" + id }
