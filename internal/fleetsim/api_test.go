package fleetsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// rawAPI sends an unsigned request to the API and returns the status, error type and
// message.
func rawAPI(t testing.TB, s *Server, method, path, body string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.APIAddr()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(b, &e)
	return resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), e.Message
}

func TestAPIBadInput(t *testing.T) {
	dir := newDir(t)
	open := start(t, dir, func(o *Options) { o.APIListen = "127.0.0.1:0" })
	long := strings.Repeat("a", 129)
	for _, c := range []struct {
		method, path, body string
		status             int
		kind               string
	}{
		{"GET", "/no-such-operation", "", 404, "UnknownOperationException"},
		{"POST", "/things", "", 404, "UnknownOperationException"},
		{"PATCH", "/things/gw-1", "{not json", 400, "InvalidRequestException"},
		{"PATCH", "/things/gw-1", `{"attributePayload": {"attributes": {"a": 1}}}`, 400, "InvalidRequestException"},
		{"POST", "/provisioning-templates", `[1,2]`, 400, "InvalidRequestException"},
		{"POST", "/provisioning-templates", `{"templateName":"x","templateBody":"{}","provisioningRoleArn":"short"}`, 400, "InvalidRequestException"},
		{"GET", "/things?nextToken=bm90LWEtdG9rZW4=", "", 400, "InvalidRequestException"},
		{"GET", "/things?nextToken=%%%", "", 400, "InvalidRequestException"},
		{"GET", "/things?maxResults=0", "", 400, "InvalidRequestException"},
		{"GET", "/things?maxResults=251", "", 400, "InvalidRequestException"},
		{"GET", "/certificates?marker=AAAA", "", 400, "InvalidRequestException"},
		{"GET", "/things/" + long, "", 400, "InvalidRequestException"},
		{"GET", "/things/bad%20name", "", 400, "InvalidRequestException"},
		{"GET", "/certificates/1234", "", 400, "InvalidRequestException"},
		{"GET", "/certificates/" + strings.Repeat("0", 64), "", 404, "ResourceNotFoundException"},
		{"PUT", "/certificates/" + strings.Repeat("0", 64) + "?newStatus=BROKEN", "", 400, "InvalidRequestException"},
		{"GET", "/provisioning-templates/" + strings.Repeat("t", 37), "", 400, "InvalidRequestException"},
		{"GET", "/policies/" + strings.Repeat("p", 129), "", 400, "InvalidRequestException"},
		{"GET", "/principals/things", "", 400, "InvalidRequestException"},
		{"POST", "/attached-policies/not-an-arn", "", 400, "InvalidRequestException"},
		{"GET", "/thing-groups/nogroup/things", "", 404, "ResourceNotFoundException"},
	} {
		status, kind, msg := rawAPI(t, open, c.method, c.path, c.body)
		if status != c.status || kind != c.kind || msg == "" {
			t.Errorf("%s %s: %d %s %q, want %d %s with a message", c.method, c.path, status, kind, msg, c.status, c.kind)
		}
	}
	if err := open.Close(); err != nil {
		t.Fatal(err)
	}

	// With credentials, an unsigned request is refused, and no answer shows the secret.
	core, logs := observer.New(zap.DebugLevel)
	locked := startAPI(t, dir, func(o *Options) { o.Logger = zap.New(core) })
	status, kind, msg := rawAPI(t, locked, "GET", "/things", "")
	if status != 403 || kind != "MissingAuthenticationTokenException" {
		t.Errorf("unsigned request: %d %s %q", status, kind, msg)
	}
	req, _ := http.NewRequest("GET", "http://"+locked.APIAddr()+"/things", nil)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDFLEETSIMTEST/20260101/us-east-1/iot/aws4_request, SignedHeaders=host, Signature=00")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || strings.Contains(string(b), testSecret) {
		t.Errorf("forged signature: %d %s", resp.StatusCode, b)
	}
	_, err = sdkClient(locked, "wrong-secret").ListThings(context.Background(), &iot.ListThingsInput{})
	wantAPIError(t, err, "InvalidSignatureException")
	if logs.Len() == 0 {
		t.Fatal("refused requests were not logged")
	}
	for _, e := range logs.All() {
		line := fmt.Sprint(e.Message, e.ContextMap())
		if strings.Contains(line, testSecret) || strings.Contains(line, "wrong-secret") {
			t.Errorf("a log line shows a secret: %s", line)
		}
	}
}

// TestReadYourWrites provisions devices one after another and, with no pause, reads each
// back through what `fleetsim registry` uses and through the API: the answer a device
// gets is never ahead of the registry.
func TestReadYourWrites(t *testing.T) {
	dir := newDir(t)
	s := startAPI(t, dir, nil)
	api := sdkClient(s, testSecret)
	claim := dial(t, s.Addr(), claimTLS(t, dir), "claim")
	n := 200
	if testing.Short() {
		n = 20
	}
	for i := range n {
		serial := fmt.Sprintf("%04d", i)
		_, iss, reg := provisionCSR(t, claim, "json", serial)
		th, err := ReadThing(dir, reg.ThingName)
		if err != nil || len(th.Certificates) == 0 {
			t.Fatalf("device %d: ReadThing %s: %+v %v", i, reg.ThingName, th, err)
		}
		c, err := ReadCertificate(dir, iss.CertificateID)
		if err != nil || c.Status != StatusActive {
			t.Fatalf("device %d: ReadCertificate: %+v %v", i, c, err)
		}
		d, err := api.DescribeCertificate(context.Background(), &iot.DescribeCertificateInput{CertificateId: aws.String(iss.CertificateID)})
		if err != nil || d.CertificateDescription.Status != types.CertificateStatusActive {
			t.Fatalf("device %d: DescribeCertificate: %v", i, err)
		}
		if _, err := api.DescribeThing(context.Background(), &iot.DescribeThingInput{ThingName: aws.String(reg.ThingName)}); err != nil {
			t.Fatalf("device %d: DescribeThing: %v", i, err)
		}
	}
	if _, err := ReadThing(dir, "nobody"); !errorIsNotExist(err) {
		t.Errorf("ReadThing of a missing thing: %v", err)
	}
}

func errorIsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

func TestCertificateValidity(t *testing.T) {
	dir := newDir(t)
	s := start(t, dir, func(o *Options) { o.CertificateValidity = time.Hour })
	c := dial(t, s.Addr(), claimTLS(t, dir), "claim")
	before := time.Now()
	_, iss, _ := provisionCSR(t, c, "json", "0001")
	cert, err := parseCertPEM([]byte(iss.CertificatePEM))
	if err != nil {
		t.Fatal(err)
	}
	if cert.NotAfter.Before(before.Add(time.Hour-time.Second)) || cert.NotAfter.After(time.Now().Add(time.Hour)) {
		t.Errorf("NotAfter %v, want an hour after issue (%v)", cert.NotAfter, before)
	}
	if cert.Subject.CommonName != issuedCommonName {
		t.Errorf("subject %v", cert.Subject)
	}
}

func TestLegacyRegistryIsImportedOnce(t *testing.T) {
	dir := newDir(t)
	s := start(t, dir, nil)
	c := dial(t, s.Addr(), claimTLS(t, dir), "claim")
	provisionCSR(t, c, "json", "0001")
	c.Disconnect(0)
	want := s.Snapshot()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// What an earlier version kept: registry.json and no database.
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	legacy := filepath.Join(dir, "registry.json")
	if err := os.WriteFile(legacy, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"registry.db", "registry.db-wal", "registry.db-shm"} {
		_ = os.Remove(filepath.Join(dir, f))
	}
	if got, err := ReadRegistry(dir); err != nil || len(got.Things) != 1 {
		t.Fatalf("ReadRegistry of a folder with only registry.json: %+v %v", got, err)
	}
	s2 := start(t, dir, nil)
	got := s2.Snapshot()
	if len(got.Things) != 1 || len(got.Certificates) != 2 || got.Things[0].ThingName != "gw-0001" {
		t.Fatalf("imported registry %+v", got)
	}
	if _, err := os.Stat(legacy); !os.IsNotExist(err) {
		t.Errorf("registry.json still in place after the import: %v", err)
	}
	if _, err := os.Stat(legacy + ".imported"); err != nil {
		t.Errorf("registry.json.imported: %v", err)
	}
}
