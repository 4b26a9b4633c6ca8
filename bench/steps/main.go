// Command steps runs the daemon's state machine in-process with the real
// fleet client and the real file store against a local fleetsim, and times
// each step of provisioning a fresh device: key generation, every durable
// write, the claim connection, each call, closing, and the proving
// connection. It shows where the time to provisioned goes, apart from
// process start.
//
//	steps -bin DIR -devices 20 [-method csr] [-format json]
package main

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/provisiond/provisiond/bench/internal/report"
	"github.com/provisiond/provisiond/bench/internal/sim"
	"github.com/provisiond/provisiond/internal/claims"
	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/fleet"
	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/keypair/keystore"
	"github.com/provisiond/provisiond/internal/statemachine"
	"github.com/provisiond/provisiond/internal/store"
)

func main() {
	bin := flag.String("bin", os.Getenv("BIN"), "folder holding the fleetsim binary")
	method := flag.String("method", "csr", "csr | create-keys")
	format := flag.String("format", "json", "json | cbor")
	devices := flag.Int("devices", 20, "fresh devices to provision, one after the other")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "steps: -bin (or $BIN) is required")
		os.Exit(1)
	}
	if err := run(filepath.Join(*bin, "fleetsim"), *method, *format, *devices); err != nil {
		fmt.Fprintf(os.Stderr, "steps: %v\n", err)
		os.Exit(1)
	}
}

// timings collects the duration of each named step of one device.
type timings struct {
	mu     sync.Mutex
	frozen bool // set once credentials.json is written: later steps do not count
	order  []string
	d      map[string]time.Duration
	count  map[string]int
	spans  []span // every timed step, to find the time they overlap
}

type span struct{ begin, end time.Time }

func (t *timings) add(name string, begin time.Time) {
	end := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.frozen {
		return
	}
	if _, ok := t.d[name]; !ok {
		t.order = append(t.order, name)
	}
	t.d[name] += end.Sub(begin)
	t.count[name]++
	t.spans = append(t.spans, span{begin, end})
}

// covered is the wall-clock time during which at least one step ran: the
// steps' sum less the time they ran at the same time as each other (the
// daemon dials while it saves, and proves while it saves).
func (t *timings) covered() time.Duration {
	spans := slices.Clone(t.spans)
	slices.SortFunc(spans, func(a, b span) int { return a.begin.Compare(b.begin) })
	var sum time.Duration
	var cur span
	for i, s := range spans {
		switch {
		case i == 0:
			cur = s
		case s.begin.After(cur.end):
			sum += cur.end.Sub(cur.begin)
			cur = s
		case s.end.After(cur.end):
			cur.end = s.end
		}
	}
	if len(spans) > 0 {
		sum += cur.end.Sub(cur.begin)
	}
	return sum
}

func (t *timings) freeze() {
	t.mu.Lock()
	t.frozen = true
	t.mu.Unlock()
}

func (t *timings) time(name string) func() {
	begin := time.Now()
	return func() { t.add(name, begin) }
}

func run(fleetsim, method, format string, n int) error {
	emu, stop, err := sim.StartInTemp(fleetsim, "bench-steps")
	if err != nil {
		return err
	}
	defer stop()

	var all []*timings
	var totals []time.Duration
	for i := range n {
		t := &timings{d: map[string]time.Duration{}, count: map[string]int{}}
		total, err := provision(emu, method, format, fmt.Sprintf("steps-%03d", i), t)
		if err != nil {
			return err
		}
		all = append(all, t)
		totals = append(totals, total)
	}
	// Median of each step, in the order of the first device, and of what
	// the steps do not cover.
	fmt.Fprintf(os.Stderr, "\nwhere the time goes, in-process (%s, %s; median of %d fresh devices):\n", method, format, n)
	others := make([]time.Duration, len(all))
	overlaps := make([]time.Duration, len(all))
	var writes []time.Duration
	writeCount := 0
	for i, t := range all {
		cov := t.covered()
		others[i] = totals[i] - cov
		overlaps[i] = -cov
		var w time.Duration
		for name, d := range t.d {
			overlaps[i] += d
			if strings.HasPrefix(name, "write ") || name == "open state folder" {
				w += d
			}
		}
		writes = append(writes, w)
	}
	for _, name := range all[0].order {
		var ds []time.Duration
		for _, t := range all {
			ds = append(ds, t.d[name])
		}
		label := name
		if c := all[0].count[name]; c > 1 {
			label = fmt.Sprintf("%s (x%d)", name, c)
		}
		if strings.HasPrefix(name, "write ") {
			writeCount += all[0].count[name]
		}
		fmt.Fprintf(os.Stderr, "  %-46s %7.2f ms\n", label, float64(report.Median(ds))/1e6)
	}
	med := report.Median(totals)
	fmt.Fprintf(os.Stderr, "  %-46s %7.2f ms\n", "less the steps' overlap (run at the same time)", -float64(report.Median(overlaps))/1e6)
	fmt.Fprintf(os.Stderr, "  %-46s %7.2f ms\n", "other (CSR, state machine, logging)", float64(report.Median(others))/1e6)
	fmt.Fprintf(os.Stderr, "  %-46s %7.2f ms\n", "total, Run to credentials.json written", float64(med)/1e6)
	cmd := report.Command()
	report.Row(fmt.Sprintf("In-process state machine, Run to credentials.json written, %s, %s (median, n=%d)", method, format, n), report.Ms(med), cmd)
	report.Row(fmt.Sprintf("… of which %d durable writes (temp, fsync, rename, folder fsync) and opening the store", writeCount), report.Ms(report.Median(writes)), cmd)
	for _, name := range []string{"dial (TLS + CONNECT, claim)", "prove (TLS + CONNECT, new identity)"} {
		var ds []time.Duration
		for _, t := range all {
			ds = append(ds, t.d[name])
		}
		report.Row("… of which "+name, report.Ms(report.Median(ds)), cmd)
	}
	var calls []time.Duration
	for _, t := range all {
		var c time.Duration
		for name, d := range t.d {
			if strings.HasPrefix(name, "call ") {
				c += d
			}
		}
		calls = append(calls, c)
	}
	report.Row("… of which the calls (subscribe, request, answer, signing)", report.Ms(report.Median(calls)), cmd)
	report.Row("… less the time those steps overlap (the claim connection opens during the save before the call, the proof runs during the registration's save, and the certificate file is written during the state's save)", report.Ms(report.Median(overlaps)), cmd)
	report.Row("… and the rest, in no step above (CSR, state machine, logging)", report.Ms(report.Median(others)), cmd)
	return nil
}

// provision runs one state machine for a fresh device until it is registered.
func provision(emu *sim.Emulator, method, format, name string, t *timings) (time.Duration, error) {
	state := filepath.Join(emu.Dir, name, "state")
	params := map[string]string{"SerialNumber": name}
	begin := time.Now()
	done := t.time("open state folder")
	dirStore, err := store.OpenDir(state)
	done()
	if err != nil {
		return 0, err
	}
	files := &timedFiles{Files: dirStore, t: t, handedOver: make(chan struct{})}
	r, err := statemachine.New(statemachine.Settings{
		Method:     method,
		KeyType:    "ec-p256",
		Template:   "GatewayTemplate",
		Parameters: params,
		Endpoint:   emu.Addr,
		RootCAFile: filepath.Join(emu.Dir, "ca.pem"),
		Retry:      config.Retry{ResponseTimeout: 10 * time.Second},
	}, statemachine.Deps{
		Files:  files,
		Dialer: &timedDialer{dir: emu.Dir, addr: emu.Addr, format: fleet.Format(format), method: method, clientID: name, t: t},
		KeyStore: keystore.NewFiles(files, func(keyType string) (crypto.Signer, error) {
			defer t.time("generate key")()
			return keypair.Generate(keyType)
		}),
	})
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- r.Run(ctx) }()
	var total time.Duration
	select {
	case <-files.handedOver:
		total = time.Since(begin)
	case err := <-errc:
		return 0, fmt.Errorf("runner stopped: %v", err)
	case <-time.After(30 * time.Second):
		return 0, errors.New("not registered within 30s")
	}
	cancel()
	if err := <-errc; err != nil {
		return 0, err
	}
	return total, nil
}

// timedFiles times every durable write by file kind.
type timedFiles struct {
	store.Files
	t *timings
	// handedOver is closed once credentials.json is written.
	handedOver chan struct{}
}

func (f *timedFiles) Write(name string, data []byte, perm fs.FileMode) error {
	done := f.t.time("write " + kind(name))
	err := f.Files.Write(name, data, perm)
	done()
	if err == nil && name == store.CredentialsFile {
		f.t.freeze()
		close(f.handedOver)
	}
	return err
}

// kind names a state file without its identity number.
func kind(name string) string {
	if strings.HasPrefix(name, "identities/") {
		return "identities/N/" + filepath.Base(name)
	}
	return name
}

// timedDialer connects the way the daemon does (files read on every dial;
// the hybrid post-quantum key exchange only on a session that receives a
// private key) and times the connections.
type timedDialer struct {
	dir, addr string
	format    fleet.Format
	method    string
	clientID  string
	t         *timings
}

func (d *timedDialer) options(cert tls.Certificate, clientID string, carriesKey bool) (fleet.Options, error) {
	pem, err := os.ReadFile(filepath.Join(d.dir, "ca.pem"))
	if err != nil {
		return fleet.Options{}, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fleet.Options{}, errors.New("ca.pem holds no certificate")
	}
	return fleet.Options{Endpoint: d.addr, RootCAs: pool, Certificate: cert, ClientID: clientID,
		Format: d.format, ResponseTimeout: 10 * time.Second, ClassicalKeyExchange: !carriesKey}, nil
}

func (d *timedDialer) Claims() []claims.Claim {
	return []claims.Claim{claims.Installed("claim.pem.crt")}
}

func (d *timedDialer) Dial(ctx context.Context, _ claims.Claim) (statemachine.Session, error) {
	defer d.t.time("dial (TLS + CONNECT, claim)")()
	cert, err := tls.LoadX509KeyPair(filepath.Join(d.dir, "claim.pem.crt"), filepath.Join(d.dir, "claim.pem.key"))
	if err != nil {
		return nil, err
	}
	opts, err := d.options(cert, d.clientID, d.method == statemachine.MethodCreateKeys)
	if err != nil {
		return nil, err
	}
	c, err := fleet.Dial(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &timedSession{c: c, t: d.t}, nil
}

// DialDevice is not timed: the steps measured are the first provisioning's.
func (d *timedDialer) DialDevice(context.Context, string, string, tls.Certificate) (statemachine.Session, error) {
	return nil, errors.New("steps: only the claim session is timed")
}

func (d *timedDialer) Prove(ctx context.Context, thingName string, cert tls.Certificate) error {
	defer d.t.time("prove (TLS + CONNECT, new identity)")()
	opts, err := d.options(cert, thingName, false)
	if err != nil {
		return err
	}
	return fleet.Prove(ctx, opts)
}

type timedSession struct {
	c *fleet.Client
	t *timings
}

func (s *timedSession) CreateKeysAndCertificate(ctx context.Context) (*fleet.Issued, error) {
	defer s.t.time("call CreateKeysAndCertificate")()
	return s.c.CreateKeysAndCertificate(ctx)
}

func (s *timedSession) CreateCertificateFromCSR(ctx context.Context, csrPEM []byte, key crypto.Signer) (*fleet.Issued, error) {
	defer s.t.time("call CreateCertificateFromCsr")()
	return s.c.CreateCertificateFromCSR(ctx, csrPEM, key)
}

func (s *timedSession) RegisterThing(ctx context.Context, template, token string, parameters map[string]string) (*fleet.Registration, error) {
	defer s.t.time("call RegisterThing")()
	return s.c.RegisterThing(ctx, template, token, parameters)
}

func (s *timedSession) Close() error {
	defer s.t.time("close claim session (DISCONNECT)")()
	return s.c.Close()
}
