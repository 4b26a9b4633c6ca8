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
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/atomicfile"
	"github.com/provisiond/provisiond/internal/clock"
)

// Server is a running emulator.
type Server struct {
	// The options that matter once started, defaults applied.
	log            *zap.Logger
	now            func() time.Time
	clock          clock.Clock // now is its Now; its timers pace the sweep
	ttl            time.Duration
	hookTimeout    time.Duration
	keepCSRSubject bool

	ca        *authority
	secret    []byte
	reg       *registry
	templates *templateSet
	faults    *faultSet
	rates     map[operation]*bucket
	keys      *keyPool
	hookHTTP  *http.Client
	// workers runs connections and requests on goroutines kept between them.
	workers *workers

	broker    *mqtt.Server
	main      *tlsListener
	alpn      *tlsListener
	api       *apiServer // nil unless Options.APIListen
	peers     sync.Map   // net.Conn -> *peer, filled by the listeners
	clients   sync.Map   // client ID -> *clientInfo of its latest accepted CONNECT, while its session lives
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

// Start loads the folder and accepts connections before it returns. The server runs until
// Close, whatever becomes of ctx (callers commonly bound only the start with it).
func Start(ctx context.Context, opts Options) (_ *Server, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.Dir == "" {
		return nil, errors.New("fleetsim: Options.Dir is empty")
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	clk := opts.Clock
	if clk == nil {
		clk = clock.Real()
	}
	now := clk.Now
	ttl := opts.TokenTTL
	if ttl <= 0 {
		ttl = time.Hour
	}
	hookTimeout := opts.HookTimeout
	if hookTimeout <= 0 {
		hookTimeout = 5 * time.Second
	}
	ca, err := loadAuthority(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("load the CA (run fleetsim init first?): %w", err)
	}
	if opts.CertificateValidity < 0 {
		return nil, fmt.Errorf("certificate validity %s must not be negative", opts.CertificateValidity)
	}
	ca.validity = opts.CertificateValidity
	lock, err := lockDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = lock.Close()
		}
	}()
	secret, err := loadTokenSecret(opts.Dir)
	if err != nil {
		return nil, err
	}
	serverCert, err := tls.LoadX509KeyPair(filepath.Join(opts.Dir, serverCertFile), filepath.Join(opts.Dir, serverKeyFile))
	if err != nil {
		return nil, fmt.Errorf("load the server certificate: %w", err)
	}
	db, err := openRegistryDB(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("open the registry: %w", err)
	}
	rdb, err := openDB(filepath.Join(opts.Dir, registryDB), false)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	reg := newRegistry(db, rdb)
	defer func() {
		if err != nil {
			_ = reg.close()
		}
	}()
	tmpls, err := newTemplateSet(filepath.Join(opts.Dir, templatesDir), log, now())
	if err != nil {
		return nil, err
	}
	listen := opts.Listen
	if listen == "" {
		set, err := readSettings(opts.Dir)
		if err != nil {
			return nil, err
		}
		listen = set.Listen
	}
	rates := make(map[operation]*bucket)
	for name, r := range opts.Rates {
		switch operation(name) {
		case opCreateKeys, opCreateFromCSR, opRegister:
		default:
			return nil, fmt.Errorf("rate for %q: operation must be create-keys, create-from-csr or register", name)
		}
		if r < 0 {
			return nil, fmt.Errorf("rate for %q must not be negative", name)
		}
		if r > 0 {
			rates[operation(name)] = newBucket(r, now())
		}
	}

	s := &Server{
		log:            log,
		now:            now,
		clock:          clk,
		ttl:            ttl,
		hookTimeout:    hookTimeout,
		keepCSRSubject: opts.KeepCSRSubject,
		ca:             ca,
		secret:         secret,
		templates:      tmpls,
		faults:         newFaultSet(opts.Faults),
		rates:          rates,
		hookHTTP:       &http.Client{Timeout: hookTimeout},
		sweepDone:      make(chan struct{}),
		lock:           lock,
		reg:            reg,
		workers:        newWorkers(maxIdleWorkers),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.keys = newKeyPool(s.ctx)
	s.reg = reg

	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	verifier := newClientVerifier(roots, now)
	s.broker = mqtt.New(&mqtt.Options{
		Capabilities: brokerCapabilities(),
		// mochi's own log says nothing the emulator does not; a disabled handler also
		// spares formatting its messages.
		Logger: slog.New(slog.DiscardHandler),
		// $SYS topics are not part of AWS IoT; publish them rarely.
		SysTopicResendInterval: 3600,
	})
	if err := s.broker.AddHook(&brokerHook{s: s}, nil); err != nil {
		s.abort()
		return nil, err
	}
	if err := opts.Link.Validate(); err != nil {
		s.abort()
		return nil, err
	}
	wire := newWire(opts.Link, opts.Trace)
	ln, err := listenTCP(listen)
	if err != nil {
		s.abort()
		return nil, fmt.Errorf("listen on %s: %w", listen, err)
	}
	s.main = newTLSListener("mtls", ln, serverTLS(serverCert, verifier, false), &s.peers, log, s.workers.run, wire)
	if err := s.broker.AddListener(s.main); err != nil {
		s.abort()
		return nil, err
	}
	if opts.ALPNListen != "" {
		aln, err := listenTCP(opts.ALPNListen)
		if err != nil {
			s.abort()
			return nil, fmt.Errorf("listen on %s: %w", opts.ALPNListen, err)
		}
		s.alpn = newTLSListener("alpn", aln, serverTLS(serverCert, verifier, true), &s.peers, log, s.workers.run, wire)
		if err := s.broker.AddListener(s.alpn); err != nil {
			s.abort()
			return nil, err
		}
	}
	if s.templates.api, err = loadDBTemplates(reg.rdb); err != nil {
		s.abort()
		return nil, fmt.Errorf("load the API's templates: %w", err)
	}
	if opts.APIListen != "" {
		if err := s.startAPI(opts.APIListen, opts.APICredentials); err != nil {
			s.abort()
			return nil, err
		}
	}
	go s.sweepLoop()
	if err := s.broker.Serve(); err != nil {
		_ = s.Close()
		return nil, err
	}
	log.Info("fleetsim listening", zap.String("address", s.Addr()), zap.Int("templates", tmpls.len()))
	return s, nil
}

// listenTCP binds a listener whose connections get no TCP keepalive probes: MQTT's own
// keepalive (enforced by the broker's read deadline) and the handshake deadline already
// end dead connections, and the four socket options a probe setting takes are system
// calls on every connection a storm makes.
func listenTCP(addr string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1}
	return lc.Listen(context.Background(), "tcp", addr)
}

// abort undoes a Start that failed before the broker served: it closes the sockets
// bound so far. Nothing changed the registry yet; Start's caller closes it.
func (s *Server) abort() {
	if s.api != nil {
		s.api.close()
	}
	for _, l := range []*tlsListener{s.main, s.alpn} {
		if l != nil {
			_ = l.ln.Close()
		}
	}
	s.cancel()
	close(s.sweepDone)
	s.workers.close()
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
	if _, err := s.reg.sweep(s.now(), s.ttl); err != nil {
		s.log.Error("cannot delete expired certificates", zap.Error(err))
	}
	r, err := s.reg.snapshot()
	if err != nil {
		s.log.Error("cannot read the registry", zap.Error(err))
		r.fillEmpty()
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
			s.api.close()
		}
		_ = s.broker.Close()
		s.main.accepted.Wait()
		if s.alpn != nil {
			s.alpn.accepted.Wait()
		}
		s.work.Wait()
		s.workers.close()
		<-s.sweepDone
		_, sweepErr := s.reg.sweep(s.now(), s.ttl)
		s.closeErr = errors.Join(sweepErr, s.reg.close())
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
			n, err := s.reg.sweep(s.now(), s.ttl)
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
