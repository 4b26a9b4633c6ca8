// Command herd runs many of the daemon's state machines in one process
// against one fake Fleet Provisioning service that answers 503 until an
// instant T and then succeeds: a fleet that boots together after a power
// cut while the service is down. It reports the request rate the service
// sees when it comes back, and a histogram of request times, with the
// daemon's full-jitter backoff and, for comparison, without jitter.
//
// Time is virtual: the runners' Clock is a fake that jumps to the next
// timer once every runner is waiting, so a run of minutes of virtual time
// takes well under a second.
//
//	herd -devices 500 -down 60s
package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/provisiond/provisiond/bench/internal/report"
	"github.com/provisiond/provisiond/internal/claims"
	"github.com/provisiond/provisiond/internal/fleet"
	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/statemachine"
	"github.com/provisiond/provisiond/internal/store"
)

func main() {
	devices := flag.Int("devices", 500, "state machines in the herd")
	down := flag.Duration("down", 60*time.Second, "the service answers 503 until this long after the herd starts")
	flag.Parse()
	if err := run(*devices, *down); err != nil {
		fmt.Fprintf(os.Stderr, "herd: %v\n", err)
		os.Exit(1)
	}
}

func run(n int, down time.Duration) error {
	ca, err := newCA()
	if err != nil {
		return err
	}
	cmd := report.Command()
	jitter, err := herd(n, down, ca, nil)
	if err != nil {
		return err
	}
	flat, err := herd(n, down, ca, func() float64 { return 1 })
	if err != nil {
		return err
	}
	after := func(r *result) (int, time.Duration) { return r.peak(down, 10*time.Second) }
	jp, jat := after(jitter)
	fp, fat := after(flat)
	fmt.Fprintf(os.Stderr, "\nthundering herd: %d state machines, default retry (1 s initial, 5 min cap), service down for the first %s (virtual time)\n", n, down)
	jitter.histogram(down)
	report.Row(fmt.Sprintf("Thundering herd: peak requests per 100 ms in the 10 s after the service returns (%d runners, down %s, full jitter)", n, down),
		fmt.Sprintf("%d (at T+%s); all registered T+%s; %d requests in all; ran in %s", jp, jat.Round(time.Millisecond), jitter.allDone.Round(time.Second), len(jitter.requests), jitter.wall.Round(time.Millisecond)), cmd)
	report.Row("… the same herd without jitter (every wait at its ceiling), for comparison",
		fmt.Sprintf("%d (at T+%s); all registered T+%s", fp, fat.Round(time.Millisecond), flat.allDone.Round(time.Second)), cmd)
	return nil
}

// result is what the service saw, in virtual time since the herd started.
type result struct {
	requests []time.Duration // every request (create, register)
	allDone  time.Duration   // since T, when the last runner registered
	wall     time.Duration   // real time the run took
}

// peak is the busiest 100 ms bin in [from, from+span), and where it starts
// relative to from.
func (r *result) peak(from, span time.Duration) (int, time.Duration) {
	const bin = 100 * time.Millisecond
	counts := map[time.Duration]int{}
	for _, t := range r.requests {
		if t >= from && t < from+span {
			counts[(t-from)/bin*bin]++
		}
	}
	best, at := 0, time.Duration(0)
	for b, c := range counts {
		if c > best || (c == best && b < at) {
			best, at = c, b
		}
	}
	return best, at
}

// histogram prints requests per second from 10 s before T to 30 s after,
// and per 10 s afterwards until the last request.
func (r *result) histogram(t time.Duration) {
	type bin struct {
		from, width time.Duration
		n           int
	}
	var bins []bin
	for s := t - 10*time.Second; s < t+30*time.Second; s += time.Second {
		bins = append(bins, bin{from: s, width: time.Second})
	}
	last := slices.Max(r.requests)
	for s := t + 30*time.Second; s <= last; s += 10 * time.Second {
		bins = append(bins, bin{from: s, width: 10 * time.Second})
	}
	for _, req := range r.requests {
		for i := range bins {
			if req >= bins[i].from && req < bins[i].from+bins[i].width {
				bins[i].n++
				break
			}
		}
	}
	fmt.Fprintf(os.Stderr, "requests (create and register) by time since the service returned at T=%s; '#' = 2 requests\n", t)
	for _, b := range bins {
		fmt.Fprintf(os.Stderr, "  T%+6.0fs %-4s %4d %s\n", (b.from - t).Seconds(), "+"+b.width.String(), b.n, strings.Repeat("#", (b.n+1)/2))
	}
}

// herd runs n runners until all are registered. rnd replaces the backoff's
// random source when not nil.
func herd(n int, down time.Duration, ca *authority, rnd func() float64) (*result, error) {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := newVirtualClock(start, n)
	svc := &service{clock: clock, start: start, up: start.Add(down), ca: ca}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := make(chan error, n)
	var wg sync.WaitGroup
	wall := time.Now()
	for i := range n {
		r, err := statemachine.New(statemachine.Settings{
			Method:     statemachine.MethodCSR,
			KeyType:    "ec-p256",
			Template:   "GatewayTemplate",
			Parameters: map[string]string{"SerialNumber": fmt.Sprintf("herd-%04d", i)},
			Endpoint:   "fleet.invalid:8883",
			RootCAFile: "/nonexistent/ca.pem",
		}, statemachine.Deps{
			Files:  store.NewMemory(),
			Dialer: &dialer{svc: svc, thing: fmt.Sprintf("herd-%04d", i)},
			Clock:  clock,
			Notify: &notifier{clock: clock},
			Rand:   rnd,
			Boot:   bootClock{clock: clock},
		})
		if err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Run(ctx); err != nil {
				errs <- err
			}
		}()
	}
	doneAt, err := clock.drive(ctx, errs)
	cancel()
	wg.Wait()
	if err != nil {
		return nil, err
	}
	svc.mu.Lock()
	defer svc.mu.Unlock()
	return &result{requests: svc.requests, allDone: doneAt.Sub(svc.up), wall: time.Since(wall)}, nil
}

// virtualClock is a clock.Clock whose time moves only when every
// runner waits on one of its timers (or is registered): then it jumps to
// the earliest timer and fires it.
type virtualClock struct {
	mu      sync.Mutex
	changed *sync.Cond
	now     time.Time
	timers  []*timer
	runners int
	done    int
}

type timer struct {
	at time.Time
	c  chan time.Time
}

func newVirtualClock(now time.Time, runners int) *virtualClock {
	c := &virtualClock{now: now, runners: runners}
	c.changed = sync.NewCond(&c.mu)
	return c
}

func (c *virtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *virtualClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{at: c.now.Add(d), c: make(chan time.Time, 1)}
	c.timers = append(c.timers, t)
	c.changed.Broadcast()
	return t.c, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		i := slices.Index(c.timers, t)
		if i < 0 {
			return false
		}
		c.timers = slices.Delete(c.timers, i, i+1)
		c.changed.Broadcast()
		return true
	}
}

// registered counts a runner that reached registered: it waits on nothing.
func (c *virtualClock) registered() {
	c.mu.Lock()
	c.done++
	c.changed.Broadcast()
	c.mu.Unlock()
}

// drive advances time until every runner is registered, and returns the
// virtual time when the last one was.
func (c *virtualClock) drive(ctx context.Context, errs <-chan error) (time.Time, error) {
	wake := func() {
		c.mu.Lock()
		c.changed.Broadcast()
		c.mu.Unlock()
	}
	// A runner that fails stops waiting on the clock: wake the loop.
	failed := make(chan error, 1)
	go func() {
		select {
		case err := <-errs:
			failed <- err
			wake()
		case <-ctx.Done():
		}
	}()
	// A herd stuck with no runner waiting wakes nothing else: the deadline
	// wakes the loop itself, so that it fails instead of hanging.
	deadline := time.Now().Add(time.Minute)
	overdue := time.AfterFunc(time.Minute, wake)
	defer overdue.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for len(c.timers)+c.done < c.runners {
			select {
			case err := <-failed:
				return time.Time{}, fmt.Errorf("a runner stopped: %w", err)
			default:
			}
			if time.Now().After(deadline) {
				return time.Time{}, errors.New("the herd did not settle within a minute of real time")
			}
			c.changed.Wait()
		}
		if c.done == c.runners {
			return c.now, nil
		}
		next := c.timers[0].at
		for _, t := range c.timers[1:] {
			if t.at.Before(next) {
				next = t.at
			}
		}
		c.now = next
		c.timers = slices.DeleteFunc(c.timers, func(t *timer) bool {
			if t.at.After(next) {
				return false
			}
			t.c <- next
			return true
		})
	}
}

// notifier tells the clock when a runner is registered.
type notifier struct {
	clock *virtualClock
	once  sync.Once
}

func (n *notifier) Ready()    {}
func (n *notifier) Watchdog() {}
func (n *notifier) Stopping() {}
func (n *notifier) Status(text string) {
	if strings.HasPrefix(text, "registered") {
		n.once.Do(n.clock.registered)
	}
}

type bootClock struct{ clock *virtualClock }

func (b bootClock) Boot() (string, time.Duration, error) {
	return "herd-boot", b.clock.Now().Sub(time.Date(2029, 12, 31, 0, 0, 0, 0, time.UTC)), nil
}

// service is the fake Fleet Provisioning endpoint all runners share.
type service struct {
	clock *virtualClock
	start time.Time // the herd's start
	up    time.Time // 503 before this instant
	ca    *authority

	mu       sync.Mutex
	requests []time.Duration // since start
}

// request records a request and reports whether the service is up.
func (s *service) request() bool {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, now.Sub(s.start))
	return !now.Before(s.up)
}

func unavailable(op fleet.Operation) error {
	return &fleet.RejectedError{Operation: op, StatusCode: 503, ErrorCode: "ServiceUnavailable", ErrorMessage: "service unavailable"}
}

type dialer struct {
	svc   *service
	thing string
}

func (d *dialer) Claims() []claims.Claim { return []claims.Claim{claims.Installed("herd")} }

func (d *dialer) Dial(context.Context, claims.Claim) (statemachine.Session, error) {
	return &session{svc: d.svc, thing: d.thing}, nil
}

func (d *dialer) Prove(context.Context, string, tls.Certificate) error { return nil }

// DialDevice is not simulated: the herd rotates over the claim.
func (d *dialer) DialDevice(context.Context, string, string, tls.Certificate) (statemachine.Session, error) {
	return nil, errors.New("herd: only rotation over the claim is simulated")
}

type session struct {
	svc   *service
	thing string
}

func (s *session) CreateKeysAndCertificate(context.Context) (*fleet.Issued, error) {
	return nil, errors.New("herd: only CSR is simulated")
}

func (s *session) CreateCertificateFromCSR(_ context.Context, csrPEM []byte, _ crypto.Signer) (*fleet.Issued, error) {
	if !s.svc.request() {
		return nil, unavailable(fleet.OpCreateFromCSR)
	}
	return s.svc.ca.sign(csrPEM)
}

func (s *session) RegisterThing(_ context.Context, _, _ string, _ map[string]string) (*fleet.Registration, error) {
	if !s.svc.request() {
		return nil, unavailable(fleet.OpRegisterThing)
	}
	return &fleet.Registration{ThingName: s.thing, DeviceConfiguration: map[string]string{}}, nil
}

func (s *session) Close() error { return nil }

// authority signs the devices' CSRs, so that the runners' pair checks pass.
type authority struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func newCA() (*authority, error) {
	key, err := keypair.Generate("ec-p256")
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "herd CA"},
		NotBefore:             time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2049, 12, 31, 0, 0, 0, 0, time.UTC),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &authority{cert: cert, key: key}, nil
}

func (a *authority) sign(csrPEM []byte) (*fleet.Issued, error) {
	csr, err := keypair.CertificateRequest(csrPEM)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "AWS IoT Certificate"},
		NotBefore:    time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2049, 12, 31, 0, 0, 0, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}, a.cert, csr.PublicKey, a.key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	id := keypair.ID(cert)
	return &fleet.Issued{
		CertificateID:  id,
		CertificatePEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		Certificate:    cert,
		OwnershipToken: "herd-token-" + id[:16],
	}, nil
}
