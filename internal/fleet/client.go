package fleet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/zap"
)

// Client is one MQTT 3.1.1 session with the Fleet Provisioning endpoint.
//
// Calls of different operations may run at the same time. The API has no
// correlation token, so a second call of an operation already in flight waits
// until the first one ends; the wait counts against its context and its
// response timeout. For the same reason, once a call times out or is
// cancelled after its request went out, its answer may still come and would
// end the next call of that operation with the wrong result: later calls of
// that operation on this connection fail with ErrRedial, and the caller
// dials again.
type Client struct {
	s    settings
	log  *zap.Logger
	mqtt mqtt.Client

	// opLocks holds one token per operation; taking it is cancellable.
	opLocks map[Operation]chan struct{}

	mu         sync.Mutex
	subscribed map[string]bool
	// inflight holds the topics of a SUBSCRIBE whose SUBACK no call has read yet.
	inflight map[string]*subscription
	waiters  map[Operation]*waiter
	// stale holds the operations whose call ended unanswered after its
	// request went out; they are refused with ErrRedial from then on.
	stale map[Operation]bool

	lost     chan struct{}
	lostErr  error
	lostOnce sync.Once

	closed    chan struct{}
	closeOnce sync.Once
}

// Dial opens a mutual-TLS MQTT connection with opts.Certificate. It does not
// reconnect: a lost connection fails the call in flight and the caller dials again.
// With opts.Calls set, the one SUBSCRIBE for every response topic of those
// calls goes out right behind CONNACK, and the first call only waits for its SUBACK.
func Dial(ctx context.Context, opts Options) (*Client, error) {
	s, err := opts.settle()
	if err != nil {
		return nil, err
	}
	return dial(ctx, s, s.dialTCP)
}

// dial connects over the TCP connection tcp opens: a new one, or one opened
// ahead (see DialAhead).
func dial(ctx context.Context, s settings, tcp func(context.Context) (net.Conn, error)) (*Client, error) {
	c := &Client{
		s:          s,
		log:        s.Logger.With(zap.String("endpoint", s.Endpoint), zap.String("clientId", s.ClientID)),
		opLocks:    map[Operation]chan struct{}{},
		subscribed: map[string]bool{},
		inflight:   map[string]*subscription{},
		waiters:    map[Operation]*waiter{},
		stale:      map[Operation]bool{},
		lost:       make(chan struct{}),
		closed:     make(chan struct{}),
	}
	for _, op := range []Operation{OpCreateKeys, OpCreateFromCSR, OpRegisterThing} {
		c.opLocks[op] = make(chan struct{}, 1)
	}

	dctx, cancel := context.WithTimeout(ctx, s.ConnectTimeout)
	defer cancel()
	d := &connDialer{ctx: dctx, s: s, tcp: tcp}

	mo := mqtt.NewClientOptions().
		AddBroker((&url.URL{Scheme: "tls", Host: net.JoinHostPort(s.host, s.port)}).String()).
		SetClientID(s.ClientID).
		SetProtocolVersion(4).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetResumeSubs(false).
		SetKeepAlive(s.KeepAlive).
		SetConnectTimeout(s.ConnectTimeout).
		SetCustomOpenConnectionFn(d.open).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) { c.connectionLost(err) })
	c.mqtt = mqtt.NewClient(mo)

	c.log.Debug("connecting")
	tok := c.mqtt.Connect()
	<-tok.Done() // bounded: dctx ends the dial, and the open connection with it
	detached := d.release()
	if tok.Error() == nil && !detached {
		// The connect deadline closed the connection just as CONNACK arrived.
		c.mqtt.Disconnect(0)
		return nil, fmt.Errorf("connect to %s: %w after %s", s.Endpoint, ErrTimeout, s.ConnectTimeout)
	}
	if err := tok.Error(); err != nil {
		err = judgeExpiredAlert(err, s.leaf(), s.now())
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("connect to %s: %w (%w)", s.Endpoint, ctxErr, err)
		}
		if dctx.Err() != nil {
			return nil, fmt.Errorf("connect to %s: %w after %s: %w", s.Endpoint, ErrTimeout, s.ConnectTimeout, err)
		}
		return nil, fmt.Errorf("connect to %s: %w", s.Endpoint, err)
	}
	c.log.Debug("connected")
	c.subscribeAhead()
	return c, nil
}

// connDialer opens the TLS connection itself so that x509 errors keep their
// type, and closes it if the dial context ends before CONNACK.
type connDialer struct {
	ctx context.Context
	s   settings
	tcp func(context.Context) (net.Conn, error)

	mu   sync.Mutex
	stop func() bool
}

func (d *connDialer) open(_ *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
	raw, err := d.tcp(d.ctx)
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, d.s.tlsConfig())
	if err := conn.HandshakeContext(d.ctx); err != nil {
		_ = raw.Close()
		return nil, err
	}
	if d.s.HandshakeDone != nil {
		d.s.HandshakeDone()
	}
	d.mu.Lock()
	d.stop = context.AfterFunc(d.ctx, func() { _ = conn.Close() })
	d.mu.Unlock()
	return limitPackets(conn), nil
}

// release detaches the connection from the dial context once CONNACK is in.
// It reports false if the context already closed the connection.
func (d *connDialer) release() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stop == nil || d.stop()
}

func (c *Client) connectionLost(err error) {
	c.lostOnce.Do(func() {
		if err == nil {
			err = errors.New("no cause given")
		}
		c.lostErr = err
		close(c.lost)
	})
	c.log.Debug("connection lost", zap.Error(err))
}

// Close disconnects. Calls in flight fail with ErrClosed.
// ClientID is the MQTT client id the connection was opened with: the
// hook's clientId, which an attestation statement names.
func (c *Client) ClientID() string { return c.s.ClientID }

func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.mqtt.Disconnect(250)
		c.log.Debug("disconnected")
	})
	return nil
}

// Prove connects once with a new device certificate (opts.Certificate) and
// returns nil if the endpoint accepted the CONNECT, then disconnects.
// The claim session with the same client ID should be closed first: the
// service drops the older of two connections with one client ID.
func Prove(ctx context.Context, opts Options) error {
	c, err := Dial(ctx, opts)
	if err != nil {
		return fmt.Errorf("prove the new certificate: %w", err)
	}
	return c.Close()
}
