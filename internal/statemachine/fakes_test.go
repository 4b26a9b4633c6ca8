package statemachine

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/claims"
	"github.com/provisiond/provisiond/internal/fleet"
	"github.com/provisiond/provisiond/internal/store"

	"github.com/provisiond/provisiond/internal/clock"
	"github.com/provisiond/provisiond/internal/keypair"
)

// fakeClock is the clock package's fake: a wall clock and a boot clock
// moved only by the test.
type fakeClock = clock.Fake

var newFakeClock = clock.NewFake

// waitArmed waits until some goroutine arms a timer, and returns its duration.
func waitArmed(t *testing.T, c *fakeClock) time.Duration {
	t.Helper()
	select {
	case d := <-c.Armed():
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no timer was armed")
		return 0
	}
}

// fakeNotifier records what the runner tells the service manager.
type fakeNotifier struct {
	mu       sync.Mutex
	ready    int
	watchdog int
	statuses []string
	ch       chan string
	dogs     chan struct{}
}

func newFakeNotifier() *fakeNotifier {
	return &fakeNotifier{ch: make(chan string, 10000), dogs: make(chan struct{}, 10000)}
}

func (n *fakeNotifier) Ready() { n.mu.Lock(); n.ready++; n.mu.Unlock() }
func (n *fakeNotifier) Watchdog() {
	n.mu.Lock()
	n.watchdog++
	n.mu.Unlock()
	n.dogs <- struct{}{}
}
func (n *fakeNotifier) Status(s string) {
	n.mu.Lock()
	n.statuses = append(n.statuses, s)
	n.mu.Unlock()
	n.ch <- s
}

func (n *fakeNotifier) counts() (ready, watchdog int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ready, n.watchdog
}

func (n *fakeNotifier) Statuses() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.statuses...)
}

// fakeService is Fleet Provisioning in miniature: it issues real
// certificates, keeps one-use ownership tokens, registers things and checks
// proofs. Each operation can be given a script of errors, consumed in order.
type fakeService struct {
	mu       sync.Mutex
	faults   map[string][]error // "dial", "create", "register", "prove"
	block    map[string]chan struct{}
	entered  chan string
	calls    []string
	tokens   map[string]*fakeToken
	certs    map[string][]byte // certificateId → certificate PEM
	things   map[string]string // certificateId → thing name
	regCalls map[string]int    // token → RegisterThing calls
	nthing   int
	// lifetimes, when set, end the next certificates issued, one each, at
	// these times instead of 2049 (short-lived certificates).
	lifetimes []time.Time
	// onEnter, when set, runs in the caller's goroutine at each call, after
	// it is recorded: runtime.Goexit there is a crash during the call.
	onEnter func(op string)
	// deviceKeys are the keys DialDevice sessions signed with.
	deviceKeys []crypto.Signer
	// claimList, when set, is what Claims lists (else one claim valid for
	// ever); refuseClaims are the certificate ids whose Dial is refused at
	// the handshake; dialed are the claims Dial was asked for, in order.
	claimList    []claims.Claim
	refuseClaims map[string]bool
	dialed       []string
}

// theClaim is the one claim a fakeService lists by default.
var theClaim = claims.Claim{Name: "claim.pem.crt", CertificateID: "claim-1", Ref: "claim",
	NotBefore: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)}

func (s *fakeService) Claims() []claims.Claim {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.claimList == nil {
		return []claims.Claim{theClaim}
	}
	return slices.Clone(s.claimList)
}

func (s *fakeService) setClaims(list ...claims.Claim) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claimList = append([]claims.Claim{}, list...)
}

// Dialed are the certificate ids of the claims dialed, in order.
func (s *fakeService) Dialed() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.dialed)
}

type fakeToken struct {
	certID string
	used   bool
	dead   bool
}

func newFakeService() *fakeService {
	return &fakeService{
		faults:   map[string][]error{},
		block:    map[string]chan struct{}{},
		entered:  make(chan string, 1000),
		tokens:   map[string]*fakeToken{},
		certs:    map[string][]byte{},
		things:   map[string]string{},
		regCalls: map[string]int{},
	}
}

// fail scripts errors for op; a nil entry lets that call through.
func (s *fakeService) fail(op string, errs ...error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[op] = append(s.faults[op], errs...)
}

// enter records a call, then applies a scripted fault or block.
func (s *fakeService) enter(ctx context.Context, op string) error {
	s.mu.Lock()
	s.calls = append(s.calls, op)
	var err error
	if f := s.faults[op]; len(f) > 0 {
		err, s.faults[op] = f[0], f[1:]
	}
	block := s.block[op]
	onEnter := s.onEnter
	s.mu.Unlock()
	s.entered <- op
	if onEnter != nil {
		onEnter(op)
	}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}

func (s *fakeService) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

func (s *fakeService) Dial(ctx context.Context, claim claims.Claim) (Session, error) {
	s.mu.Lock()
	s.dialed = append(s.dialed, claim.CertificateID)
	refused := s.refuseClaims[claim.CertificateID]
	s.mu.Unlock()
	if err := s.enter(ctx, "dial"); err != nil {
		return nil, err
	}
	if refused {
		return nil, errRefused()
	}
	return &fakeSession{svc: s}, nil
}

// DialDevice is Dial with the device's identity: the session is the claim
// session's, after the same check of the certificate as Prove's.
func (s *fakeService) DialDevice(ctx context.Context, thingName, template string, cert tls.Certificate) (Session, error) {
	if err := s.enter(ctx, "dial-device"); err != nil {
		return nil, err
	}
	if len(cert.Certificate) == 0 {
		return nil, errors.New("dial device: no certificate")
	}
	signer, ok := cert.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("dial device: no signing key")
	}
	// The handshake's signature, checked against the certificate.
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256([]byte("handshake"))
	sig, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("dial device: sign: %w", err)
	}
	if err := leaf.CheckSignature(x509.ECDSAWithSHA256, []byte("handshake"), sig); err != nil {
		return nil, fmt.Errorf("dial device: %w", err)
	}
	s.mu.Lock()
	s.deviceKeys = append(s.deviceKeys, signer)
	s.mu.Unlock()
	return &fakeSession{svc: s}, nil
}

func (s *fakeService) Prove(ctx context.Context, thingName string, cert tls.Certificate) error {
	if err := s.enter(ctx, "prove"); err != nil {
		return err
	}
	if len(cert.Certificate) == 0 {
		return errors.New("prove: no certificate")
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return err
	}
	key, ok := cert.PrivateKey.(crypto.Signer)
	if !ok {
		return errors.New("prove: no signing key")
	}
	if err := keypair.MatchPublic(leaf, key.Public()); err != nil {
		return err
	}
	id := certID(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}))
	s.mu.Lock()
	defer s.mu.Unlock()
	if got := s.things[id]; got == "" || got != thingName {
		return fmt.Errorf("prove: certificate %s is attached to %q, not %q", id, got, thingName)
	}
	return nil
}

// issue signs a certificate for pub and hands out a fresh token.
func (s *fakeService) issue(pub crypto.PublicKey) (*fleet.Issued, error) {
	ca := testCA()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "AWS IoT Certificate"},
		NotBefore:    time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC),
	}
	s.mu.Lock()
	if len(s.lifetimes) > 0 {
		tmpl.NotAfter, s.lifetimes = s.lifetimes[0], s.lifetimes[1:]
	}
	s.mu.Unlock()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	id := certID(certPEM)
	s.mu.Lock()
	defer s.mu.Unlock()
	token := fmt.Sprintf("secret-token-%d-%s", len(s.tokens)+1, id[:8])
	s.tokens[token] = &fakeToken{certID: id}
	s.certs[id] = certPEM
	cert, _ := x509.ParseCertificate(der)
	return &fleet.Issued{CertificateID: id, CertificatePEM: certPEM, Certificate: cert, OwnershipToken: token}, nil
}

// expire makes every token issued so far invalid, like the service deleting
// certificates whose token lived an hour.
func (s *fakeService) expireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		t.dead = true
	}
}

// unregistered counts certificates issued and never attached to a thing.
func (s *fakeService) unregistered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.certs) - len(s.things)
}

func (s *fakeService) maxRegisterCallsPerToken() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := 0
	for _, n := range s.regCalls {
		m = max(m, n)
	}
	return m
}

type fakeSession struct {
	svc    *fakeService
	closed bool
}

func (f *fakeSession) CreateKeysAndCertificate(ctx context.Context) (*fleet.Issued, error) {
	if err := f.svc.enter(ctx, "create"); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	issued, err := f.svc.issue(key.Public())
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	issued.PrivateKeyPEM = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	return issued, nil
}

func (f *fakeSession) CreateCertificateFromCSR(ctx context.Context, csrPEM []byte, key crypto.Signer) (*fleet.Issued, error) {
	if err := f.svc.enter(ctx, "create"); err != nil {
		return nil, err
	}
	block, _ := pem.Decode(csrPEM)
	if block == nil {
		return nil, errors.New("CSR is not PEM")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, err
	}
	pub, ok := csr.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) {
		return nil, errors.New("CSR is not for the given key")
	}
	return f.svc.issue(csr.PublicKey)
}

func (f *fakeSession) RegisterThing(ctx context.Context, template, token string, params map[string]string) (*fleet.Registration, error) {
	if err := f.svc.enter(ctx, "register"); err != nil {
		return nil, err
	}
	s := f.svc
	s.mu.Lock()
	defer s.mu.Unlock()
	s.regCalls[token]++
	t := s.tokens[token]
	if t == nil || t.used || t.dead {
		return nil, &fleet.RejectedError{Operation: fleet.OpRegisterThing, StatusCode: 400,
			ErrorCode: fleet.ErrorCodeInvalidToken, ErrorMessage: "Certificate ownership token is invalid."}
	}
	t.used = true
	s.nthing++
	name := fmt.Sprintf("thing-%d", s.nthing)
	s.things[t.certID] = name
	return &fleet.Registration{ThingName: name, DeviceConfiguration: map[string]string{"template": template, "serial": params["SerialNumber"]}}, nil
}

func (f *fakeSession) Close() error {
	f.closed = true
	return nil
}

func certID(certPEM []byte) string {
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return ""
	}
	sum := sha256.Sum256(block.Bytes)
	return hex.EncodeToString(sum[:])
}

type ca struct {
	cert *x509.Certificate
	key  crypto.Signer
}

var testCA = sync.OnceValue(func() ca {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		panic(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	return ca{cert: cert, key: key}
})

// recFiles is a Memory store that records the sequence of phases written to
// the state file.
type recFiles struct {
	*store.Memory
	mu     sync.Mutex
	phases []store.Phase
	// before, when set, is called before each write, outside any lock.
	before func(name string, data []byte)
}

func (f *recFiles) Write(name string, data []byte, perm fs.FileMode) error {
	f.mu.Lock()
	before := f.before
	f.mu.Unlock()
	if before != nil {
		before(name, data)
	}
	if err := f.Memory.Write(name, data, perm); err != nil {
		return err
	}
	if name == store.StateFile {
		var st store.State
		if err := json.Unmarshal(data, &st); err == nil {
			f.mu.Lock()
			if n := len(f.phases); n == 0 || f.phases[n-1] != st.Phase {
				f.phases = append(f.phases, st.Phase)
			}
			f.mu.Unlock()
		}
	}
	return nil
}

func (f *recFiles) Phases() []store.Phase {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]store.Phase(nil), f.phases...)
}
