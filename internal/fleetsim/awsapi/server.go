package awsapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/net/netutil"

	"github.com/provisiond/provisiond/internal/clock"
	"github.com/provisiond/provisiond/internal/fleetsim/registry"
	"github.com/provisiond/provisiond/internal/fleetsim/template"
)

// The control-plane API speaks AWS IoT's REST-JSON protocol, as the service model in
// botocore (data/iot/2015-05-28/service-2.json) defines it: paths, methods, query
// parameters, member names, and errors as {"message"} with x-amzn-ErrorType.

// apiHandler is an operation: it returns the response body (nil: none) or an error.
type apiHandler func(q apiRequest) (any, *restError)

// Service is what the API needs of the emulator beyond the registry: the MQTT side's
// address and CA, its connections, and its templates in use.
type Service interface {
	// Endpoint is the MQTT listener's address, HOST:PORT.
	Endpoint() string
	// CACertificateID is the certificateId of the CA that signs device certificates.
	CACertificateID() string
	// DropCertificate closes the connections made with a certificate that may no
	// longer connect (why is logged).
	DropCertificate(id, why string)
	// UseTemplate puts a template created or changed over the API in use; nil
	// forgets it.
	UseTemplate(name string, t *template.Template, enabled bool, hookURL string)
	// ReloadTemplates makes the next use of a template look at the folder again, after
	// the API changed it.
	ReloadTemplates()
	// NewCertificate makes an RSA-2048 key and a certificate for it signed by the CA,
	// registered ACTIVE or INACTIVE as a claim: its attached policies say what it may do.
	NewCertificate(active bool) (Issued, error)
	// NewProvisioningClaim makes a temporary claim for the template, valid until the
	// time it returns, from the provisioning claims' own issuer.
	NewProvisioningClaim(template string) (Issued, time.Time, error)
}

// Config is what Start needs.
type Config struct {
	Listen string // "127.0.0.1:0": a free port
	// Credentials, when set, is the only access key accepted, with the SigV4 signature
	// verified; nil accepts any request.
	Credentials  *Credentials
	Registry     *registry.Store
	TemplatesDir string // the folder of templates the Service loads
	Clock        clock.Clock
	Log          *zap.Logger
	Service      Service
}

// Server serves the control plane.
type Server struct {
	Config
	mux  *http.ServeMux
	http *http.Server
	ln   net.Listener
	// templatesMu serialises the operations that change templates (changingTemplates).
	templatesMu sync.Mutex
}

// The API's bounds on its clients: at most maxConns connections at once (the others
// wait in the kernel's backlog, holding no descriptor of the emulator's), a request read
// within readTimeout, and an idle keep-alive connection closed after idleTimeout. So
// clients that connect and stay cannot take the descriptors the MQTT side needs.
const (
	maxConns     = 128
	readTimeout  = 30 * time.Second
	writeTimeout = 30 * time.Second
	idleTimeout  = 30 * time.Second
)

// Start listens on c.Listen and serves the API until Close.
func Start(c Config) (*Server, error) {
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return nil, fmt.Errorf("API: listen on %s: %w", c.Listen, err)
	}
	a := &Server{Config: c, mux: http.NewServeMux(), ln: ln}
	a.routes()
	a.http = &http.Server{Handler: a, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: readTimeout,
		WriteTimeout: writeTimeout, IdleTimeout: idleTimeout, ErrorLog: zap.NewStdLog(c.Log.Named("api"))}
	go func() { _ = a.http.Serve(netutil.LimitListener(ln, maxConns)) }()
	return a, nil
}

// Addr is the address the API listens on.
func (a *Server) Addr() string { return a.ln.Addr().String() }

func (a *Server) now() time.Time { return a.Clock.Now() }

func (a *Server) handle(pattern string, h apiHandler) {
	a.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body) // ServeHTTP read it whole and put it back
		resp, aerr := a.call(h, apiRequest{r: r, body: body})
		if aerr != nil {
			a.writeError(w, r, aerr)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if resp == nil {
			resp = struct{}{}
		}
		_ = json.NewEncoder(w).Encode(resp)
	}))
}

// call runs an operation; a panic is an InternalFailureException, never a dead server.
func (a *Server) call(h apiHandler, q apiRequest) (resp any, aerr *restError) {
	defer func() {
		if p := recover(); p != nil {
			a.Log.Error("API: internal error", zap.String("path", q.r.URL.Path), zap.Any("panic", p))
			resp, aerr = nil, apiErr(500, "InternalFailureException", "internal error")
		}
	}()
	return h(q)
}

// ServeHTTP authenticates, reads the body and routes; anything the model does not
// define is answered in AWS's error shape.
func (a *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var auth sigv4Auth
	if a.Credentials != nil {
		var serr *sigError
		if auth, serr = checkSigV4Header(r, *a.Credentials, a.now()); serr != nil {
			a.refuseSignature(w, r, serr)
			return
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAPIBody+1))
	if err != nil {
		a.writeError(w, r, invalid("cannot read the request body: %v", err))
		return
	}
	if len(body) > maxAPIBody {
		a.writeError(w, r, apiErr(413, "InvalidRequestException", "the request body is over %d bytes", maxAPIBody))
		return
	}
	if a.Credentials != nil {
		if serr := verifySigV4(r, auth, body, *a.Credentials); serr != nil {
			a.refuseSignature(w, r, serr)
			return
		}
	}
	if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
		a.writeError(w, r, invalid("the query string is malformed: %v", err))
		return
	}
	// The mux would redirect an unclean path ("//things", "/things/.."); AWS has no such
	// operation, so it is the unknown operation's 404.
	if _, pattern := a.mux.Handler(r); pattern == "" || path.Clean(r.URL.Path) != r.URL.Path {
		a.writeError(w, r, apiErr(404, "UnknownOperationException", "no AWS IoT operation is %s %s", r.Method, r.URL.Path))
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	a.mux.ServeHTTP(w, r)
}

// refuseSignature answers 403 with the refusal's code and closes the connection, so
// that a client without the key holds no descriptor and sends no body.
func (a *Server) refuseSignature(w http.ResponseWriter, r *http.Request, e *sigError) {
	w.Header().Set("Connection", "close")
	a.writeError(w, r, apiErr(403, e.kind, "%s", e.msg))
}

func (a *Server) writeError(w http.ResponseWriter, r *http.Request, e *restError) {
	a.Log.Info("API request refused", zap.String("method", r.Method), zap.String("path", r.URL.Path),
		zap.Int("status", e.status), zap.String("error", e.kind), zap.String("message", e.msg))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", e.kind)
	w.WriteHeader(e.status)
	body := map[string]string{"message": e.msg}
	for k, v := range e.extra {
		body[k] = v
	}
	_ = json.NewEncoder(w).Encode(body)
}

// Close stops serving.
func (a *Server) Close() {
	_ = a.http.Close()
}
