// Package storm provisions many simulated devices at once against a Fleet Provisioning
// endpoint (the emulator, started in-process by default), through the device-side client
// in internal/fleet, and measures throughput and latency.
//
// With the CSR method, each device's own preparatory work, generating its EC P-256 key
// and signing its certificate signing request, is done for every device before the clock
// starts: a real device does it on its own CPU, not the service's, and a load generator
// sharing the service's CPUs would otherwise charge it to the service. Everything a device
// does with the service is timed: its own full mutual-TLS handshake (no session is
// resumed), CONNECT, CreateCertificateFromCsr and RegisterThing, and the checks of each
// answer.
package storm

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/provisiond/provisiond/internal/fleet"
	"github.com/provisiond/provisiond/internal/fleetsim"
	"go.uber.org/zap"
)

// Options for Run.
type Options struct {
	Dir         string // emulator folder: ca.pem, claim.pem.crt, claim.pem.key (and the emulator itself)
	Endpoint    string // host:port; "" starts the emulator from Dir in-process on 127.0.0.1:0
	Devices     int
	Concurrency int
	Method      string // csr (default) | create-keys
	Format      string // json (default) | cbor
	Template    string // default GatewayTemplate
	// Prefix makes client IDs and serial numbers unique to this run; "" picks one from
	// the clock and random bytes.
	Prefix string
	// Link shapes the in-process emulator's connections (fleetsim storm --link-rtt).
	Link fleetsim.Link
	// Prove makes each device connect once with its new certificate after
	// RegisterThing, as the daemon does (a stage of its own).
	Prove  bool
	Logger *zap.Logger
}

// Stage is one step of a device's provisioning, timed on the device's side.
type Stage int

// The stages, in the order a device goes through them.
const (
	StageTLS      Stage = iota // TCP connect and the TLS handshake with the claim
	StageConnack               // CONNECT to CONNACK
	StageCreate                // CreateCertificateFromCsr or CreateKeysAndCertificate
	StageRegister              // RegisterThing
	StageProve                 // the proving connect: TLS and CONNECT with the new certificate
	numStages
)

var stageNames = [numStages]string{"TLS handshake (TCP included)", "CONNACK", "CreateCertificate*", "RegisterThing", "proving connect"}

func (s Stage) String() string { return stageNames[s] }

// Failure is one device that did not provision.
type Failure struct {
	Device int
	Err    error
}

// Result is what a storm achieved.
type Result struct {
	Devices     int
	Provisioned int
	Elapsed     time.Duration
	Latencies   []time.Duration // per provisioned device, sorted
	// Stages holds, per stage, the provisioned devices' times, sorted (the proving
	// connect's only with Options.Prove).
	Stages   [numStages][]time.Duration
	Failures []Failure // in device order
	// EmulatorPID and EmulatorCPU are the process serving Endpoint when it runs on
	// this machine, and the CPU time (user and system) it used during the storm; 0
	// when it is not known (the emulator in-process shares its CPU with the devices).
	EmulatorPID int
	EmulatorCPU time.Duration
}

// CPULine says the emulator's CPU time per provisioned device, "" when not known.
func (r Result) CPULine() string {
	if r.EmulatorPID == 0 || r.Provisioned == 0 {
		return ""
	}
	per := r.EmulatorCPU / time.Duration(r.Provisioned)
	return fmt.Sprintf("emulator CPU: %.3f ms per provisioned device (pid %d, %.2f s for %d devices; %.0f devices/s on %d CPUs of its own)",
		float64(per)/1e6, r.EmulatorPID, r.EmulatorCPU.Seconds(), r.Provisioned,
		float64(runtime.NumCPU())/per.Seconds(), runtime.NumCPU())
}

// Rate is provisioned devices per second.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Provisioned) / r.Elapsed.Seconds()
}

// Percentile returns the p-th percentile (0-100) of the latencies, 0 if there are none.
func (r Result) Percentile(p float64) time.Duration { return percentile(r.Latencies, p) }

// percentile is the p-th percentile (0-100) of sorted, 0 if it is empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return sorted[i]
}

// StageLines are one line per stage timed, e.g.
// "stage RegisterThing: p50 4.1ms p95 9.0ms p99 12.3ms".
func (r Result) StageLines() []string {
	var out []string
	for st, d := range r.Stages {
		if len(d) == 0 {
			continue
		}
		out = append(out, fmt.Sprintf("stage %s: p50 %s p95 %s p99 %s", Stage(st),
			ms(percentile(d, 50)), ms(percentile(d, 95)), ms(percentile(d, 99))))
	}
	return out
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) + "ms" }

// Summary is the last line `fleetsim storm` prints, e.g.
// "provisioned 2000/2000 devices in 1.9s: 1052 devices/s, p50 41ms, p99 160ms".
func (r Result) Summary() string {
	return fmt.Sprintf("provisioned %d/%d devices in %.1fs: %.0f devices/s, p50 %dms, p99 %dms",
		r.Provisioned, r.Devices, r.Elapsed.Seconds(), r.Rate(),
		r.Percentile(50).Milliseconds(), r.Percentile(99).Milliseconds())
}

// Run provisions opts.Devices devices, opts.Concurrency at a time. Each device has its own
// connection, client ID and SerialNumber parameter. With the CSR method every device's key
// and CSR are made before the clock starts (see the package comment). Device failures are
// in the Result; the error is for a storm that could not run at all.
func Run(ctx context.Context, opts Options) (Result, error) {
	if opts.Devices < 1 {
		return Result{}, errors.New("--devices must be at least 1")
	}
	if opts.Concurrency < 1 {
		return Result{}, errors.New("--concurrency must be at least 1")
	}
	if opts.Method == "" {
		opts.Method = "csr"
	}
	if opts.Method != "csr" && opts.Method != "create-keys" {
		return Result{}, fmt.Errorf("--method %q: want csr or create-keys", opts.Method)
	}
	if opts.Format == "" {
		opts.Format = "json"
	}
	if opts.Format != "json" && opts.Format != "cbor" {
		return Result{}, fmt.Errorf("--format %q: want json or cbor", opts.Format)
	}
	if opts.Template == "" {
		opts.Template = fleetsim.DemoTemplate
	}
	if opts.Prefix == "" {
		opts.Prefix = defaultPrefix(time.Now())
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	roots, claim, err := loadClaim(opts.Dir)
	if err != nil {
		return Result{}, err
	}
	endpoint := opts.Endpoint
	if endpoint == "" {
		srv, err := fleetsim.Start(ctx, fleetsim.Options{Dir: opts.Dir, Listen: "127.0.0.1:0", Link: opts.Link, Logger: log.Named("emulator")})
		if err != nil {
			return Result{}, err
		}
		defer srv.Close()
		endpoint = srv.Addr()
	}

	var csrs []deviceCSR
	if opts.Method == "csr" {
		if csrs, err = prepareCSRs(ctx, opts.Prefix, opts.Devices); err != nil {
			return Result{}, err
		}
	}

	res := Result{Devices: opts.Devices}
	var cpu0 time.Duration
	if opts.Endpoint != "" {
		// An emulator in this very process shares its CPU time with the devices.
		if res.EmulatorPID = listenerPID(opts.Endpoint); res.EmulatorPID == os.Getpid() {
			res.EmulatorPID = 0
		} else if res.EmulatorPID != 0 {
			if cpu0, err = cpuTime(res.EmulatorPID); err != nil {
				res.EmulatorPID = 0
			}
		}
	}
	lat := make([]time.Duration, opts.Devices)
	stages := make([][numStages]time.Duration, opts.Devices)
	errs := make([]error, opts.Devices)
	next := make(chan int)
	var wg sync.WaitGroup
	begin := time.Now()
	for w := 0; w < opts.Concurrency && w < opts.Devices; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t0 := time.Now()
				var csr *deviceCSR
				if csrs != nil {
					csr = &csrs[i]
				}
				errs[i] = provision(ctx, opts, endpoint, roots, claim, i, csr, log, &stages[i])
				lat[i] = time.Since(t0)
			}
		}()
	}
feed:
	for i := 0; i < opts.Devices; i++ {
		select {
		case next <- i:
		case <-ctx.Done():
			for j := i; j < opts.Devices; j++ {
				errs[j] = ctx.Err()
			}
			break feed
		}
	}
	close(next)
	wg.Wait()
	res.Elapsed = time.Since(begin)
	if res.EmulatorPID != 0 {
		if cpu1, err := cpuTime(res.EmulatorPID); err == nil {
			res.EmulatorCPU = cpu1 - cpu0
		} else {
			res.EmulatorPID = 0
		}
	}
	for i, err := range errs {
		if err != nil {
			res.Failures = append(res.Failures, Failure{Device: i, Err: err})
			continue
		}
		res.Provisioned++
		res.Latencies = append(res.Latencies, lat[i])
		for st, d := range stages[i] {
			if d > 0 {
				res.Stages[st] = append(res.Stages[st], d)
			}
		}
	}
	slices.Sort(res.Latencies)
	for st := range res.Stages {
		slices.Sort(res.Stages[st])
	}
	return res, nil
}

// defaultPrefix names a run: the clock for readability, and random bytes so that two
// storms started in the same second do not share client IDs (each would drop the
// other's connections) nor serial numbers.
func defaultPrefix(now time.Time) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b) // crypto/rand does not fail on supported platforms
	return "storm-" + strconv.FormatInt(now.Unix(), 36) + "-" + hex.EncodeToString(b)
}

// serialNumber is device i's client ID and SerialNumber parameter.
func serialNumber(prefix string, i int) string {
	return fmt.Sprintf("%s-%06d", prefix, i)
}

// provision runs one device: connect with the claim, get a certificate, register, and
// with opts.Prove connect with the new certificate; each stage's time goes to stages. csr
// is the device's prepared key and CSR (CSR method only).
func provision(ctx context.Context, opts Options, endpoint string, roots *x509.CertPool, claim tls.Certificate, i int,
	csr *deviceCSR, log *zap.Logger, stages *[numStages]time.Duration) error {
	serial := serialNumber(opts.Prefix, i)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	certOp := fleet.OpCreateFromCSR
	if opts.Method == "create-keys" {
		certOp = fleet.OpCreateKeys
	}
	t := time.Now()
	lap := func(st Stage) {
		now := time.Now()
		stages[st], t = now.Sub(t), now
	}
	fo := fleet.Options{
		Endpoint:    endpoint,
		RootCAs:     roots,
		Certificate: claim,
		ClientID:    serial,
		Format:      fleet.Format(opts.Format),
		// As the daemon does: a CSR session carries no long-lived secret.
		ClassicalKeyExchange: opts.Method == "csr",
		Calls:                []fleet.Operation{certOp, fleet.OpRegisterThing},
		Template:             opts.Template,
		Logger:               log,
		HandshakeDone:        func() { lap(StageTLS) },
	}
	c, err := fleet.Dial(ctx, fo)
	if err != nil {
		return err
	}
	lap(StageConnack)
	defer c.Close()
	var iss *fleet.Issued
	if opts.Method == "create-keys" {
		iss, err = c.CreateKeysAndCertificate(ctx)
	} else {
		iss, err = c.CreateCertificateFromCSR(ctx, csr.pem, csr.key)
	}
	if err != nil {
		return err
	}
	lap(StageCreate)
	if _, err = c.RegisterThing(ctx, opts.Template, iss.OwnershipToken, map[string]string{"SerialNumber": serial}); err != nil {
		return err
	}
	lap(StageRegister)
	if !opts.Prove {
		return nil
	}
	_ = c.Close() // the service drops the older of two connections with one client ID
	if fo.Certificate, err = identity(iss, csr); err != nil {
		return err
	}
	fo.Calls, fo.HandshakeDone, fo.ClassicalKeyExchange = nil, nil, true
	t = time.Now()
	if err := fleet.Prove(ctx, fo); err != nil {
		return err
	}
	lap(StageProve)
	return nil
}

// identity is the device's new certificate with its key.
func identity(iss *fleet.Issued, csr *deviceCSR) (tls.Certificate, error) {
	if csr != nil {
		return tls.Certificate{Certificate: [][]byte{iss.Certificate.Raw}, PrivateKey: csr.key, Leaf: iss.Certificate}, nil
	}
	return tls.X509KeyPair(iss.CertificatePEM, iss.PrivateKeyPEM)
}

// loadClaim reads the CA and the claim certificate from an emulator folder.
func loadClaim(dir string) (*x509.CertPool, tls.Certificate, error) {
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, tls.Certificate{}, fmt.Errorf("%s: no PEM certificate", filepath.Join(dir, "ca.pem"))
	}
	claim, err := tls.LoadX509KeyPair(filepath.Join(dir, "claim.pem.crt"), filepath.Join(dir, "claim.pem.key"))
	if err != nil {
		return nil, tls.Certificate{}, fmt.Errorf("load the claim from %s: %w", dir, err)
	}
	return roots, claim, nil
}
