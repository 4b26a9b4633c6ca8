package fleetsim

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// signedRequest is GET /things signed by the AWS SDK's SigV4 signer at the
// given time with payloadHash, then changed by edit (nil: unchanged).
func signedRequest(t *testing.T, s *Server, at time.Time, payloadHash string, edit func(*http.Request)) *http.Request {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+s.APIAddr()+"/things", nil)
	if err != nil {
		t.Fatal(err)
	}
	if payloadHash == "UNSIGNED-PAYLOAD" {
		req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	}
	creds := aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, payloadHash, "iot", "us-east-1", at); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(req)
	}
	return req
}

// SigV4 as AWS checks it: the date within 15 minutes, host signed, the
// payload's hash signed (no UNSIGNED-PAYLOAD); each refusal is a 403 with
// AWS's error code.
func TestHostileSigV4Refusals(t *testing.T) {
	dir := newDir(t)
	s := start(t, dir, func(o *Options) {
		o.APIListen = "127.0.0.1:0"
		o.APICredentials = &APICredentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret}
	})
	empty := sha256.Sum256(nil)
	emptyHash := hex.EncodeToString(empty[:])
	now := time.Now()
	for _, tc := range []struct {
		name   string
		req    *http.Request
		status int
		kind   string
	}{
		{"signed now", signedRequest(t, s, now, emptyHash, nil), 200, ""},
		{"signed 20 minutes ago (a replay)", signedRequest(t, s, now.Add(-20*time.Minute), emptyHash, nil), 403, "InvalidSignatureException"},
		{"signed in 2001", signedRequest(t, s, time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC), emptyHash, nil), 403, "InvalidSignatureException"},
		{"signed in 2099", signedRequest(t, s, time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), emptyHash, nil), 403, "InvalidSignatureException"},
		{"host not signed", signedRequest(t, s, now, emptyHash, func(r *http.Request) {
			auth := r.Header.Get("Authorization")
			auth = strings.Replace(strings.Replace(auth, "host;", "", 1), ";host", "", 1)
			r.Header.Set("Authorization", auth)
		}), 403, "IncompleteSignatureException"},
		{"UNSIGNED-PAYLOAD", signedRequest(t, s, now, "UNSIGNED-PAYLOAD", nil), 403, "InvalidSignatureException"},
		{"a payload hash not the body's", signedRequest(t, s, now, strings.Repeat("0", 64), func(r *http.Request) {
			r.Header.Set("X-Amz-Content-Sha256", strings.Repeat("0", 64))
		}), 403, "InvalidSignatureException"},
		{"unknown access key", signedRequest(t, s, now, emptyHash, func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), testAccessKey, "AKIDSOMEONEELSE", 1))
		}), 403, "UnrecognizedClientException"},
	} {
		resp, err := http.DefaultClient.Do(tc.req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("X-Amzn-ErrorType") != tc.kind {
			t.Errorf("%s: %d %s, want %d %s", tc.name, resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), tc.status, tc.kind)
		}
	}
}

// An unsigned request announcing a 1 MB body is refused before the body is
// sent: the 403 arrives while the client still holds the body back.
func TestHostileUnsignedBodyIsNotRead(t *testing.T) {
	dir := newDir(t)
	s := start(t, dir, func(o *Options) {
		o.APIListen = "127.0.0.1:0"
		o.APICredentials = &APICredentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret}
	})
	c, err := net.Dial("tcp", s.APIAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("POST /provisioning-templates HTTP/1.1\r\nHost: " + s.APIAddr() + "\r\nContent-Length: 1000000\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer while the body is held back: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 || resp.Header.Get("X-Amzn-ErrorType") != "MissingAuthenticationTokenException" || !resp.Close {
		t.Fatalf("%d %s (close %v), want 403 MissingAuthenticationTokenException and the connection closed",
			resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), resp.Close)
	}
}
