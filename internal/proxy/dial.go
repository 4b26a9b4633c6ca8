package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/provisiond/provisiond/internal/fleet"
)

// Error is a failure to open a tunnel through the proxy. Its text names the
// proxy with the password as ***.
type Error struct {
	Proxy string // redacted URL
	Addr  string // the endpoint asked for
	// StatusCode is the proxy's answer to CONNECT; 0 when it was not reached
	// or did not answer.
	StatusCode int
	Status     string
	Err        error // the network or TLS error, when there is one
}

func (e *Error) Error() string {
	switch {
	case e.CredentialsRefused():
		return fmt.Sprintf("proxy %s refused the credentials (%s) for CONNECT %s", e.Proxy, e.Status, e.Addr)
	case e.StatusCode != 0:
		return fmt.Sprintf("proxy %s answered CONNECT %s with %s", e.Proxy, e.Addr, e.Status)
	}
	return fmt.Sprintf("proxy %s: CONNECT %s: %v", e.Proxy, e.Addr, e.Err)
}

// CredentialsRefused reports a 407, or the 401 some proxies (tinyproxy)
// answer CONNECT with when Basic auth fails.
func (e *Error) CredentialsRefused() bool {
	return e.StatusCode == http.StatusProxyAuthRequired || e.StatusCode == http.StatusUnauthorized
}

// Permanent reports whether retrying soon cannot help: the proxy refused
// the credentials (407, 401) or the tunnel (403 and other answers besides
// 502, 503 and 504). Connection failures and those three are transient.
func (e *Error) Permanent() bool {
	switch e.StatusCode {
	case 0, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return false
	}
	return true
}

// Unwrap gives the cause and, for a permanent refusal, a *fleet.OptionsError
// on the proxy setting, which fleet.Classify takes as permanent; transient
// failures carry the network error, or nothing fleet.Classify knows, which
// it takes as transient.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	if e.Permanent() {
		errs = append(errs, &fleet.OptionsError{Field: "proxy", Reason: e.Error()})
	}
	return errs
}

// DialContext connects to addr (host:port) directly or through the proxy
// For names, with CONNECT and, when the proxy URL has userinfo, Basic auth.
// Its signature is fleet.Options.DialContext's.
func (s *Settings) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	p := s.For(addr)
	if p == nil {
		return d.DialContext(ctx, network, addr)
	}
	var sent []string // the credentials, which the proxy's words must not carry into ours
	fail := func(status *http.Response, err error) error {
		e := &Error{Proxy: redactURL(p), Addr: addr, Err: err}
		if status != nil {
			e.StatusCode, e.Status = status.StatusCode, cleanText(status.Status, sent)
		}
		return e
	}
	conn, err := d.DialContext(ctx, "tcp", proxyAddr(p))
	if err != nil {
		return nil, fail(nil, err)
	}
	// The handshake with the proxy must end with ctx, whatever the proxy does.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if p.Scheme == "https" {
		tc := tls.Client(conn, &tls.Config{ServerName: p.Hostname(), RootCAs: s.CAs, MinVersion: tls.VersionTLS12})
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			return nil, fail(nil, err)
		}
		conn = tc
	}
	req := &http.Request{
		Method: http.MethodConnect,
		URL:    &url.URL{Opaque: addr},
		Host:   addr,
		Header: http.Header{},
	}
	if p.User != nil {
		pw, _ := p.User.Password()
		userPass := p.User.Username() + ":" + pw
		token := base64.StdEncoding.EncodeToString([]byte(userPass))
		req.Header.Set("Proxy-Authorization", "Basic "+token)
		sent = []string{token, userPass, pw, url.QueryEscape(pw), url.PathEscape(pw)}
	}
	if err := req.Write(conn); err != nil {
		_ = conn.Close()
		return nil, fail(nil, ctxErr(ctx, err))
	}
	// The answer is read through a bound, so that an endless status line,
	// header or body cannot exhaust the device's memory.
	answer := &boundedReader{r: conn, left: MaxAnswer}
	br := bufio.NewReaderSize(answer, 4096)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		_ = conn.Close()
		if answer.left <= 0 {
			err = ErrAnswerTooLarge
		}
		return nil, fail(nil, ctxErr(ctx, cleanError(err, sent)))
	}
	if resp.StatusCode != http.StatusOK {
		// The connection is dropped, so the refusal's body is never read.
		_ = conn.Close()
		return nil, fail(resp, nil)
	}
	if err := resp.Body.Close(); err != nil {
		_ = conn.Close()
		if answer.left <= 0 {
			err = ErrAnswerTooLarge
		}
		return nil, fail(nil, ctxErr(ctx, cleanError(err, sent)))
	}
	if !stop() {
		_ = conn.Close()
		return nil, fail(nil, ctx.Err())
	}
	if n := br.Buffered(); n > 0 {
		// The endpoint speaks only after our TLS hello, so nothing should
		// be buffered; keep it if a proxy sent it anyway. The bound was
		// for the answer only: the tunnel reads conn itself.
		early, _ := br.Peek(n)
		return &bufferedConn{Conn: conn, r: io.MultiReader(bytes.NewReader(early), conn)}, nil
	}
	return conn, nil
}

// MaxAnswer bounds the proxy's answer to CONNECT, status line, headers
// and body together. Real proxies answer in a few hundred bytes.
const MaxAnswer = 16 << 10

// ErrAnswerTooLarge is a proxy answering CONNECT with more than MaxAnswer
// bytes before the tunnel. It is transient: a proxy restarted or a path
// fixed can answer properly.
var ErrAnswerTooLarge = errors.New("proxy answer too large (over 16 KiB before the tunnel)")

// boundedReader gives at most left bytes of r, then ErrAnswerTooLarge.
type boundedReader struct {
	r    io.Reader
	left int
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, ErrAnswerTooLarge
	}
	if len(p) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= n
	return n, err
}

// ctxErr prefers the context's reason to the deadline it caused.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

func proxyAddr(p *url.URL) string {
	if p.Port() != "" {
		return p.Host
	}
	if p.Scheme == "https" {
		return net.JoinHostPort(p.Hostname(), "443")
	}
	return net.JoinHostPort(p.Hostname(), "80")
}

type bufferedConn struct {
	net.Conn
	r io.Reader
}

func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }
