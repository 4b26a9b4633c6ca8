package fleet

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
)

// fakeService answers like Fleet Provisioning: CSR and create-keys issue a
// certificate from the PKI, RegisterThing accepts the last token it issued.
type fakeService struct {
	t   testing.TB
	pki *testPKI

	mu     sync.Mutex
	tokens map[string]bool
}

func newFakeService(t testing.TB, p *testPKI) *fakeService {
	return &fakeService{t: t, pki: p, tokens: map[string]bool{}}
}

func (s *fakeService) token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok := "tok-" + time.Now().Format("150405.000000000")
	s.tokens[tok] = true
	return tok
}

func (s *fakeService) encode(f Format, v any) []byte {
	b, err := Encode(f, v)
	if err != nil {
		s.t.Error(err)
	}
	return b
}

func (s *fakeService) rejected(f Format, status int, code string) []reply {
	return []reply{{kind: TopicRejected, payload: s.encode(f, &Rejected{StatusCode: status, ErrorCode: code, ErrorMessage: "test"})}}
}

func (s *fakeService) respond(req Topic, payload []byte) ([]reply, bool) {
	f := req.Format
	switch req.Operation {
	case OpCreateKeys:
		k := testKey(s.t)
		certPEM, id := s.pki.signPEM(s.t, k.Public())
		return []reply{{kind: TopicAccepted, payload: s.encode(f, &CreateKeysAccepted{
			CertificateID: id, CertificatePEM: certPEM, PrivateKey: testKeyPEM(s.t, k), CertificateOwnershipToken: s.token(),
		})}}, false
	case OpCreateFromCSR:
		var r CreateFromCSRRequest
		if err := Decode(f, payload, &r); err != nil {
			return s.rejected(f, 400, "InvalidPayload"), false
		}
		block, _ := pem.Decode([]byte(r.CertificateSigningRequest))
		if block == nil {
			return s.rejected(f, 400, "InvalidCsr"), false
		}
		csr, err := x509.ParseCertificateRequest(block.Bytes)
		if err != nil {
			return s.rejected(f, 400, "InvalidCsr"), false
		}
		certPEM, id := s.pki.signPEM(s.t, csr.PublicKey)
		return []reply{{kind: TopicAccepted, payload: s.encode(f, &CreateFromCSRAccepted{
			CertificateID: id, CertificatePEM: certPEM, CertificateOwnershipToken: s.token(),
		})}}, false
	case OpRegisterThing:
		var r RegisterThingRequest
		if err := Decode(f, payload, &r); err != nil {
			return s.rejected(f, 400, "InvalidPayload"), false
		}
		s.mu.Lock()
		ok := s.tokens[r.CertificateOwnershipToken]
		s.mu.Unlock()
		if !ok {
			return s.rejected(f, 400, ErrorCodeInvalidToken), false
		}
		return []reply{{kind: TopicAccepted, payload: s.encode(f, &RegisterThingAccepted{
			ThingName: "gw-" + r.Parameters["SerialNumber"], DeviceConfiguration: map[string]string{"template": req.Template},
		})}}, false
	}
	return nil, false
}

type harness struct {
	pki    *testPKI
	broker *testBroker
	svc    *fakeService
	claim  tls.Certificate
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	p := newTestPKI(t)
	svc := newFakeService(t, p)
	b := startTestBroker(t, p, svc.respond)
	return &harness{pki: p, broker: b, svc: svc,
		claim: p.issue(t, testKey(t), "", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))}
}

func (h *harness) options(t *testing.T, f Format) Options {
	return Options{
		Endpoint:        h.broker.addr,
		RootCAs:         h.pki.pool,
		Certificate:     h.claim,
		ClientID:        "device-" + strings.ReplaceAll(t.Name(), "/", "-"),
		Format:          f,
		ResponseTimeout: 5 * time.Second,
		ConnectTimeout:  5 * time.Second,
		Logger:          zaptest.NewLogger(t),
	}
}

func (h *harness) dial(t *testing.T, f Format) *Client {
	t.Helper()
	c, err := Dial(testContext(t), h.options(t, f))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func testCSR(t testing.TB, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "device"}}, k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func TestClientAllOperations(t *testing.T) {
	h := newHarness(t)
	for _, f := range []Format{JSON, CBOR} {
		t.Run(string(f), func(t *testing.T) {
			c := h.dial(t, f)
			ctx := testContext(t)

			k := testKey(t)
			iss, err := c.CreateCertificateFromCSR(ctx, testCSR(t, k), k)
			if err != nil {
				t.Fatalf("CreateCertificateFromCSR: %v", err)
			}
			if !k.PublicKey.Equal(iss.Certificate.PublicKey) || len(iss.CertificateID) != 64 || iss.PrivateKeyPEM != nil {
				t.Errorf("unexpected CSR answer %+v", iss)
			}
			reg, err := c.RegisterThing(ctx, "GatewayTemplate", iss.OwnershipToken, map[string]string{"SerialNumber": "0001"})
			if err != nil {
				t.Fatalf("RegisterThing: %v", err)
			}
			if reg.ThingName != "gw-0001" || reg.DeviceConfiguration["template"] != "GatewayTemplate" {
				t.Errorf("unexpected registration %+v", reg)
			}

			keys, err := c.CreateKeysAndCertificate(ctx)
			if err != nil {
				t.Fatalf("CreateKeysAndCertificate: %v", err)
			}
			if len(keys.PrivateKeyPEM) == 0 || keys.OwnershipToken == "" {
				t.Errorf("unexpected create-keys answer")
			}
			// A second call of the same operation reuses the subscriptions.
			if _, err := c.CreateKeysAndCertificate(ctx); err != nil {
				t.Fatalf("second CreateKeysAndCertificate: %v", err)
			}
		})
	}
}

func TestClientRejections(t *testing.T) {
	h := newHarness(t)
	c := h.dial(t, JSON)
	ctx := testContext(t)
	cases := []struct {
		status int
		code   string
		want   Kind
	}{
		{500, "InternalFailure", KindTransient},
		{429, "Throttling", KindTransient},
		{403, "AccessDenied", KindPermanent},
		{400, ErrorCodeInvalidToken, KindInvalidToken},
	}
	for _, tc := range cases {
		h.broker.setResponder(func(req Topic, _ []byte) ([]reply, bool) {
			return h.svc.rejected(req.Format, tc.status, tc.code), false
		})
		_, err := c.RegisterThing(ctx, "GatewayTemplate", "some-token", nil)
		var rej *RejectedError
		if !errors.As(err, &rej) || rej.StatusCode != tc.status || rej.ErrorCode != tc.code || rej.Operation != OpRegisterThing {
			t.Fatalf("%d %s: got %v", tc.status, tc.code, err)
		}
		if Classify(err) != tc.want {
			t.Errorf("%d %s: Classify = %v, want %v", tc.status, tc.code, Classify(err), tc.want)
		}
	}
}

func TestClientInvalidAnswers(t *testing.T) {
	h := newHarness(t)
	c := h.dial(t, CBOR)
	ctx := testContext(t)
	k := testKey(t)
	goodPEM, goodID := h.pki.signPEM(t, k.Public())
	cases := []struct {
		name  string
		ans   *CreateFromCSRAccepted
		raw   []byte
		field string
	}{
		{"short id", &CreateFromCSRAccepted{CertificateID: goodID[:10], CertificatePEM: goodPEM, CertificateOwnershipToken: "t"}, nil, "certificateId"},
		{"empty token", &CreateFromCSRAccepted{CertificateID: goodID, CertificatePEM: goodPEM}, nil, "certificateOwnershipToken"},
		{"bad pem", &CreateFromCSRAccepted{CertificateID: goodID, CertificatePEM: "x", CertificateOwnershipToken: "t"}, nil, "certificatePem"},
		{"undecodable", nil, []byte{0xa1, 0x01}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h.broker.setResponder(func(req Topic, _ []byte) ([]reply, bool) {
				p := tc.raw
				if tc.ans != nil {
					p = h.svc.encode(req.Format, tc.ans)
				}
				return []reply{{kind: TopicAccepted, payload: p}}, false
			})
			_, err := c.CreateCertificateFromCSR(ctx, testCSR(t, k), k)
			var inv *InvalidAnswerError
			if !errors.As(err, &inv) || inv.Field != tc.field || !strings.Contains(err.Error(), "$aws/certificates/create-from-csr/cbor/accepted") {
				t.Fatalf("got %v, want an invalid %q naming the topic", err, tc.field)
			}
			if Classify(err) != KindPermanent {
				t.Errorf("Classify = %v", Classify(err))
			}
		})
	}
}

func TestClientIgnoresAnswersForOthers(t *testing.T) {
	h := newHarness(t)
	c := h.dial(t, JSON)
	ctx := testContext(t)
	k, other := testKey(t), testKey(t)
	otherPEM, otherID := h.pki.signPEM(t, other.Public())
	h.broker.setResponder(func(req Topic, payload []byte) ([]reply, bool) {
		mine, _ := h.svc.respond(req, payload)
		foreign := reply{kind: TopicAccepted, payload: h.svc.encode(req.Format, &CreateFromCSRAccepted{
			CertificateID: otherID, CertificatePEM: otherPEM, CertificateOwnershipToken: "theirs"})}
		// Stray messages: another template's answer and someone else's certificate, then ours.
		stray := reply{topic: "$aws/provisioning-templates/Other/provision/json/accepted", payload: []byte(`{"thingName":"x"}`)}
		return append([]reply{stray, foreign}, mine...), false
	})
	iss, err := c.CreateCertificateFromCSR(ctx, testCSR(t, k), k)
	if err != nil {
		t.Fatalf("CreateCertificateFromCSR: %v", err)
	}
	if iss.OwnershipToken == "theirs" || !k.PublicKey.Equal(iss.Certificate.PublicKey) {
		t.Errorf("took someone else's answer")
	}
}

func TestClientTimeoutAndLateAnswer(t *testing.T) {
	h := newHarness(t)
	opts := h.options(t, JSON)
	opts.ResponseTimeout = 200 * time.Millisecond
	c, err := Dial(testContext(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Cancellation before anything is sent is reported as such, and leaves
	// the operation usable.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err = c.CreateKeysAndCertificate(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	h.broker.setResponder(func(Topic, []byte) ([]reply, bool) { return nil, false })
	_, err = c.CreateKeysAndCertificate(testContext(t))
	if !errors.Is(err, ErrTimeout) || Classify(err) != KindTransient {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	// The caller's earlier deadline wins over ResponseTimeout.
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = c.RegisterThing(ctx, "T", "tok", nil)
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want ErrTimeout and DeadlineExceeded", err)
	}
	// A late answer could end the next call of a timed-out operation with
	// the wrong result: such calls are refused on this connection.
	h.broker.setResponder(h.svc.respond)
	for _, call := range []func() error{
		func() error { _, err := c.CreateKeysAndCertificate(testContext(t)); return err },
		func() error { _, err := c.RegisterThing(testContext(t), "T", "tok", nil); return err },
	} {
		if err := call(); !errors.Is(err, ErrRedial) || Classify(err) != KindTransient {
			t.Fatalf("after a timeout: got %v, want ErrRedial (transient)", err)
		}
	}
	if n := h.broker.requestCount(); n != 2 {
		t.Errorf("broker saw %d requests, want only the 2 that timed out", n)
	}
	// A new connection works (with room for an RSA key on a loaded machine).
	// It is made as the caller of ErrRedial makes it: the old one closed
	// first. Its own client ID keeps the test broker's session takeover,
	// which may drop the new session's subscriptions as it cleans up the
	// old one, out of the test.
	c.Close()
	opts.ResponseTimeout = 30 * time.Second
	opts.ClientID += "-redialled"
	c2, err := Dial(testContext(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := c2.CreateKeysAndCertificate(testContext(t)); err != nil {
		t.Fatalf("on a new connection: %v", err)
	}
}

func TestClientConnectionLost(t *testing.T) {
	h := newHarness(t)
	c := h.dial(t, JSON)
	h.broker.setResponder(func(Topic, []byte) ([]reply, bool) { return nil, true })
	_, err := c.CreateKeysAndCertificate(testContext(t))
	if !errors.Is(err, ErrConnectionLost) || Classify(err) != KindTransient {
		t.Fatalf("got %v, want ErrConnectionLost", err)
	}
	// Later calls fail at once with the same cause.
	if _, err := c.RegisterThing(testContext(t), "T", "tok", nil); !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("after loss: %v", err)
	}
}

func TestClientSameOperationWaitsItsTurn(t *testing.T) {
	h := newHarness(t)
	c := h.dial(t, JSON)
	ctx := testContext(t)
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := c.CreateKeysAndCertificate(ctx)
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent call: %v", err)
		}
	}
	if n := h.broker.requestCount(); n != 2 {
		t.Errorf("broker saw %d requests, want 2", n)
	}
}

func TestClientClose(t *testing.T) {
	h := newHarness(t)
	c := h.dial(t, JSON)
	sent := make(chan struct{}, 1)
	h.broker.setResponder(func(Topic, []byte) ([]reply, bool) {
		select {
		case sent <- struct{}{}:
		default:
		}
		return nil, false
	})
	done := make(chan error, 1)
	go func() {
		_, err := c.CreateKeysAndCertificate(testContext(t))
		done <- err
	}()
	// Wait until the request is out, then close.
	select {
	case err := <-done:
		t.Fatalf("call ended early: %v", err)
	case <-sent:
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("in-flight call: %v, want ErrClosed", err)
	}
	if _, err := c.CreateKeysAndCertificate(testContext(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestClientArgumentErrors(t *testing.T) {
	h := newHarness(t)
	c := h.dial(t, JSON)
	ctx := testContext(t)
	k, other := testKey(t), testKey(t)
	if _, err := c.CreateCertificateFromCSR(ctx, testCSR(t, other), k); Classify(err) != KindPermanent || err == nil {
		t.Errorf("CSR for another key: %v", err)
	}
	if _, err := c.CreateCertificateFromCSR(ctx, []byte("nope"), k); err == nil {
		t.Error("garbage CSR accepted")
	}
	if _, err := c.RegisterThing(ctx, "bad/name", "tok", nil); err == nil {
		t.Error("bad template accepted")
	}
	if _, err := c.RegisterThing(ctx, "T", "", nil); !errors.Is(err, ErrEmptyToken) || Classify(err) != KindInvalidToken {
		t.Errorf("empty token: %v", err)
	}
	if n := h.broker.requestCount(); n != 0 {
		t.Errorf("%d requests sent for bad arguments", n)
	}
}

func TestClientDropsUnsolicitedAnswers(t *testing.T) {
	h := newHarness(t)
	const dropped = "ignored message: no call waits for it"
	seen := make(chan struct{}, 1)
	core, logs := observer.New(zap.DebugLevel)
	opts := h.options(t, JSON)
	opts.Logger = zap.New(zapcore.RegisterHooks(core, func(e zapcore.Entry) error {
		if e.Message == dropped {
			select {
			case seen <- struct{}{}:
			default:
			}
		}
		return nil
	}))
	c, err := Dial(testContext(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := testContext(t)
	iss, err := c.CreateKeysAndCertificate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterThing(ctx, "GatewayTemplate", iss.OwnershipToken, map[string]string{"SerialNumber": "1"}); err != nil {
		t.Fatal(err)
	}
	// An answer nobody asked for, on a topic the client is subscribed to.
	topic := "$aws/provisioning-templates/GatewayTemplate/provision/json/accepted"
	if err := h.broker.srv.Publish(topic, []byte(`{"thingName":"stray"}`), false, 1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
		t.Fatal("the stray answer was never seen")
	case <-seen:
	}
	if logs.FilterMessage(dropped).Len() == 0 {
		t.Fatal("the stray answer was not logged as dropped")
	}
	reg, err := c.RegisterThing(ctx, "GatewayTemplate", iss.OwnershipToken, map[string]string{"SerialNumber": "2"})
	if err != nil || reg.ThingName != "gw-2" {
		t.Fatalf("got %+v, %v; want gw-2", reg, err)
	}
	if logs.Len() == 0 {
		t.Fatal("no debug logs to check")
	}
	for _, e := range logs.All() {
		line := fmt.Sprint(e.Message, e.ContextMap())
		if strings.Contains(line, iss.OwnershipToken) || strings.Contains(line, "PRIVATE KEY") {
			t.Errorf("log line leaks a secret: %s", line)
		}
	}
}

func TestClientUndecodableRejection(t *testing.T) {
	h := newHarness(t)
	c := h.dial(t, CBOR)
	h.broker.setResponder(func(Topic, []byte) ([]reply, bool) {
		return []reply{{kind: TopicRejected, payload: []byte("not cbor")}}, false
	})
	_, err := c.CreateKeysAndCertificate(testContext(t))
	var inv *InvalidAnswerError
	if !errors.As(err, &inv) || inv.Topic != "$aws/certificates/create/cbor/rejected" || Classify(err) != KindPermanent {
		t.Fatalf("got %v, want an invalid answer on the rejected topic", err)
	}
}
