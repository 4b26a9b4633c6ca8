package fleetsim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/atomicfile"
	"github.com/provisiond/provisiond/internal/clock"
	"github.com/provisiond/provisiond/internal/fleetsim/awsapi"
	"github.com/provisiond/provisiond/internal/fleetsim/link"
	"github.com/provisiond/provisiond/internal/fleetsim/registry"
)

// Server is a running emulator.
type Server struct {
	// The options that matter once started, defaults applied.
	log            *zap.Logger
	clock          clock.Clock // the emulator's one time: now, and the sweep's timers
	ttl            time.Duration
	hookTimeout    time.Duration
	keepCSRSubject bool

	ca      *authority
	claimCA *authority // issues provisioning claims (CreateProvisioningClaim)
	// claimValidity is how long a provisioning claim is valid.
	claimValidity time.Duration
	secret        []byte
	reg           *registry.Store
	templates     *templateSet
	faults        *faultSet
	rates         map[operation]*bucket
	keys          *keyPool
	hookHTTP      *http.Client
	grants        grantCache // the claims' subscribe grants, by their policies' documents
	// workers runs connections and requests on goroutines kept between them.
	workers *workers

	broker    *mqtt.Server
	main      *tlsListener
	alpn      *tlsListener
	api       *awsapi.Server // nil unless Options.APIListen
	peers     sync.Map       // net.Conn -> *peer, filled by the listeners
	clients   sync.Map       // client ID -> *clientInfo of its latest accepted CONNECT, while its session lives
	ctx       context.Context
	cancel    context.CancelFunc
	mu        sync.RWMutex // guards closed and work.Add
	closed    bool
	work      sync.WaitGroup
	sweepDone chan struct{}
	closeOnce sync.Once
	closeErr  error
	lock      *os.File // dir/.fleetsim.lock, held until Close
}

// now is the emulator's time.
func (s *Server) now() time.Time { return s.clock.Now() }

// Start loads the folder and accepts connections before it returns. The server runs until
// Close, whatever becomes of ctx (callers commonly bound only the start with it).
func Start(ctx context.Context, opts Options) (_ *Server, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	opts, rates, err := withDefaults(opts)
	if err != nil {
		return nil, err
	}
	s := &Server{
		log:            opts.Logger,
		clock:          opts.Clock,
		ttl:            opts.TokenTTL,
		hookTimeout:    opts.HookTimeout,
		keepCSRSubject: opts.KeepCSRSubject,
		claimValidity:  opts.ProvisioningClaimValidity,
		faults:         newFaultSet(opts.Faults),
		hookHTTP:       &http.Client{Timeout: opts.HookTimeout},
		sweepDone:      make(chan struct{}),
		workers:        newWorkers(maxIdleWorkers),
	}
	s.rates = make(map[operation]*bucket, len(rates))
	for op, r := range rates {
		s.rates[op] = newBucket(r, s.now())
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.keys = newKeyPool(s.ctx)
	defer func() {
		if err != nil {
			s.abort()
		}
	}()
	serverCert, listen, err := s.openFolder(opts)
	if err != nil {
		return nil, err
	}
	if err := s.listen(opts, listen, serverCert); err != nil {
		return nil, err
	}
	if err := s.broker.Serve(); err != nil {
		return nil, err
	}
	go s.sweepLoop()
	s.log.Info("fleetsim listening", zap.String("address", s.Addr()), zap.Int("templates", s.templates.len()))
	return s, nil
}

// withDefaults checks the options and fills in their defaults; the rates come back by
// operation, without the unlimited ones.
func withDefaults(opts Options) (Options, map[operation]float64, error) {
	if opts.Dir == "" {
		return opts, nil, errors.New("fleetsim: Options.Dir is empty")
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = time.Hour
	}
	if opts.HookTimeout <= 0 {
		opts.HookTimeout = 5 * time.Second
	}
	if opts.ProvisioningClaimValidity == 0 {
		opts.ProvisioningClaimValidity = DefaultProvisioningClaimValidity
	}
	if opts.ProvisioningClaimValidity < time.Second {
		return opts, nil, fmt.Errorf("provisioning claim validity %s must be at least 1s", opts.ProvisioningClaimValidity)
	}
	if opts.CertificateValidity < 0 {
		return opts, nil, fmt.Errorf("certificate validity %s must not be negative", opts.CertificateValidity)
	}
	if err := opts.Link.Validate(); err != nil {
		return opts, nil, err
	}
	rates := make(map[operation]float64)
	for name, r := range opts.Rates {
		switch operation(name) {
		case opCreateKeys, opCreateFromCSR, opRegister:
		default:
			return opts, nil, fmt.Errorf("rate for %q: operation must be create-keys, create-from-csr or register", name)
		}
		if r < 0 {
			return opts, nil, fmt.Errorf("rate for %q must not be negative", name)
		}
		if r > 0 {
			rates[operation(name)] = r
		}
	}
	return opts, rates, nil
}

// openFolder loads what the folder holds: the CA, its lock, the token secret, the server
// certificate, the registry and the templates. It returns the server certificate and the
// address to listen on.
func (s *Server) openFolder(opts Options) (tls.Certificate, string, error) {
	var err error
	if s.ca, err = loadAuthority(opts.Dir); err != nil {
		return tls.Certificate{}, "", fmt.Errorf("load the CA (run fleetsim init first?): %w", err)
	}
	s.ca.validity = opts.CertificateValidity
	if s.claimCA, err = loadClaimAuthority(opts.Dir, s.now()); err != nil {
		return tls.Certificate{}, "", fmt.Errorf("load the provisioning claims' CA: %w", err)
	}
	if s.lock, err = lockDir(opts.Dir); err != nil {
		return tls.Certificate{}, "", err
	}
	if s.secret, err = loadTokenSecret(opts.Dir); err != nil {
		return tls.Certificate{}, "", err
	}
	serverCert, err := tls.LoadX509KeyPair(filepath.Join(opts.Dir, serverCertFile), filepath.Join(opts.Dir, serverKeyFile))
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("load the server certificate: %w", err)
	}
	if s.reg, err = registry.Open(opts.Dir); err != nil {
		return tls.Certificate{}, "", fmt.Errorf("open the registry: %w", err)
	}
	if s.templates, err = newTemplateSet(filepath.Join(opts.Dir, templatesDir), s.log, s.now()); err != nil {
		return tls.Certificate{}, "", err
	}
	if s.templates.api, err = loadDBTemplates(s.reg); err != nil {
		return tls.Certificate{}, "", fmt.Errorf("load the API's templates: %w", err)
	}
	listen := opts.Listen
	if listen == "" {
		set, err := readSettings(opts.Dir)
		if err != nil {
			return tls.Certificate{}, "", err
		}
		listen = set.Listen
	}
	return serverCert, listen, nil
}

// listen binds the MQTT listeners (mutual TLS, and ALPN when asked) and the API.
func (s *Server) listen(opts Options, addr string, serverCert tls.Certificate) error {
	roots := x509.NewCertPool()
	roots.AddCert(s.ca.cert)
	roots.AddCert(s.claimCA.cert)
	verifier := newClientVerifier(roots, s.clock.Now)
	s.broker = mqtt.New(&mqtt.Options{
		Capabilities: brokerCapabilities(),
		// mochi's own log says nothing the emulator does not; a disabled handler also
		// spares formatting its messages.
		Logger: slog.New(slog.DiscardHandler),
		// $SYS topics are not part of AWS IoT; publish them rarely.
		SysTopicResendInterval: 3600,
	})
	if err := s.broker.AddHook(&brokerHook{s: s}, nil); err != nil {
		return err
	}
	connected := &s.broker.Info.ClientsConnected
	if err := s.reg.SetCommitDelay(commitDelay, func() bool { return atomic.LoadInt64(connected) >= commitSiblings }); err != nil {
		return err
	}
	wire := link.NewWire(opts.Link, opts.Trace)
	newListener := func(id, addr string, requireALPN bool) (*tlsListener, error) {
		ln, err := listenTCP(addr)
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", addr, err)
		}
		return newTLSListener(id, ln, serverTLS(serverCert, verifier, requireALPN), &s.peers, s.log, s.workers.run, wire), nil
	}
	var err error
	if s.main, err = newListener("mtls", addr, false); err != nil {
		return err
	}
	if err := s.broker.AddListener(s.main); err != nil {
		return err
	}
	if opts.ALPNListen != "" {
		if s.alpn, err = newListener("alpn", opts.ALPNListen, true); err != nil {
			return err
		}
		if err := s.broker.AddListener(s.alpn); err != nil {
			return err
		}
	}
	if opts.APIListen != "" {
		s.api, err = awsapi.Start(awsapi.Config{
			Listen: opts.APIListen, Credentials: opts.APICredentials, Registry: s.reg,
			TemplatesDir: s.templates.dir, Clock: s.clock, Log: s.log, Service: apiService{s},
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// listenTCP binds a listener whose connections get no TCP keepalive probes: MQTT's own
// keepalive (enforced by the broker's read deadline) and the handshake deadline already
// end dead connections, and the four socket options a probe setting takes are system
// calls on every connection a storm makes.
func listenTCP(addr string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1}
	return lc.Listen(context.Background(), "tcp", addr)
}

// abort undoes a Start that failed: it closes what was opened so far, in the reverse
// order. Nothing changed the registry yet.
func (s *Server) abort() {
	if s.api != nil {
		s.api.Close()
	}
	for _, l := range []*tlsListener{s.main, s.alpn} {
		if l != nil {
			l.Close(nil)
		}
	}
	if s.broker != nil {
		_ = s.broker.Close()
	}
	s.cancel()
	s.workers.close()
	if s.reg != nil {
		_ = s.reg.Close()
	}
	if s.lock != nil {
		_ = s.lock.Close()
	}
}

// brokerCapabilities are AWS IoT's MQTT limits.
func brokerCapabilities() *mqtt.Capabilities {
	c := mqtt.NewDefaultServerCapabilities()
	c.MaximumQos = 1
	// Room for a 128 KB payload plus topic and properties; larger payloads are refused
	// by the publish hook with a clear reason.
	c.MaximumPacketSize = maxPayload + 64*1024
	c.MaximumSessionExpiryInterval = 3600
	// mochi's default of 8192 pending writes per client is a 64 KB buffer allocated at
	// every CONNECT, a large part of a storm's garbage; the emulator's answers do not use
	// it (respond writes directly) and 512 messages queued for a subscriber is plenty.
	c.MaximumClientWritesPending = 512
	return c
}

// maxIdleWorkers bounds the goroutines kept idle between connections and requests: a
// storm's concurrency of each, with room to spare.
const maxIdleWorkers = 512

// A registry batch waits up to commitDelay for more changes while at least
// commitSiblings devices are connected and changes stream in: in a storm a batch then
// shares one commit (its WAL frames, its page writes) among a few devices instead of
// one, which cut the emulator's CPU a device by 4 to 9% (docs/PERFORMANCE.md),
// while a lone device, or a few, never waits. 0.5 to 5 ms measured alike; 1 ms adds the
// least to a storm's answers.
const (
	commitDelay    = time.Millisecond
	commitSiblings = 8
)

// maxPayload is AWS IoT's message size limit.
const maxPayload = 128 * 1024

// Addr is the address the main (mutual TLS) listener is bound to.
func (s *Server) Addr() string { return s.main.Address() }

// ALPNAddr is the address of the ALPN listener, "" when there is none.
func (s *Server) ALPNAddr() string {
	if s.alpn == nil {
		return ""
	}
	return s.alpn.Address()
}

// Snapshot is the whole registry, with expired tokens' certificates deleted first. A
// registry that cannot be read is logged and comes back empty.
func (s *Server) Snapshot() Registry {
	if _, err := s.reg.Sweep(s.now(), s.ttl); err != nil {
		s.log.Error("cannot delete expired certificates", zap.Error(err))
	}
	r, err := s.reg.Snapshot()
	if err != nil {
		s.log.Error("cannot read the registry", zap.Error(err))
		return registry.Empty()
	}
	return r
}

// Close stops the broker, waits for requests being processed and saves the registry.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel()
		if s.api != nil {
			s.api.Close()
		}
		_ = s.broker.Close()
		s.main.accepted.Wait()
		if s.alpn != nil {
			s.alpn.accepted.Wait()
		}
		s.work.Wait()
		s.workers.close()
		<-s.sweepDone
		_, sweepErr := s.reg.Sweep(s.now(), s.ttl)
		s.closeErr = errors.Join(sweepErr, s.reg.Close())
		_ = s.lock.Close()
	})
	return s.closeErr
}

// sweptMessage is logged when the sweep deleted certificates.
const sweptMessage = "deleted certificates whose ownership token expired unused"

// sweepLoop deletes certificates whose token expired unused, once a second.
func (s *Server) sweepLoop() {
	defer close(s.sweepDone)
	for {
		fire, stop := s.clock.NewTimer(time.Second)
		select {
		case <-s.ctx.Done():
			stop()
			return
		case <-fire:
			n, err := s.reg.Sweep(s.now(), s.ttl)
			if err != nil {
				s.log.Error("cannot delete expired certificates", zap.Error(err))
			} else if n > 0 {
				s.log.Info(sweptMessage, zap.Int("count", n))
			}
		}
	}
}

// loadTokenSecret reads dir/token.key, creating it for folders made before it existed.
func loadTokenSecret(dir string) ([]byte, error) {
	path := filepath.Join(dir, tokenSecretFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		secret, file, err := newTokenSecret()
		if err != nil {
			return nil, err
		}
		if err := atomicfile.Write(path, file, 0o600); err != nil {
			return nil, err
		}
		return secret, nil
	}
	if err != nil {
		return nil, err
	}
	secret, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(secret) < 16 {
		return nil, fmt.Errorf("%s: want at least 16 bytes in hex", path)
	}
	return secret, nil
}
