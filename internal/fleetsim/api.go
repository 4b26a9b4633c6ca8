package fleetsim

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// The control-plane API speaks AWS IoT's REST-JSON protocol, as the service model in
// botocore (data/iot/2015-05-28/service-2.json) defines it: paths, methods, query
// parameters, member names, and errors as {"message"} with x-amzn-ErrorType.

// The emulator's one account and region, in the ARNs it answers.
const (
	apiAccount = "123456789012"
	apiRegion  = "us-east-1"
	arnPrefix  = "arn:aws:iot:" + apiRegion + ":" + apiAccount + ":"
)

// maxAPIBody bounds a request body: a template body is at most 10 KB.
const maxAPIBody = 1 << 20

// awsError is an answer of the API in AWS's error shape.
type awsError struct {
	status int
	kind   string // x-amzn-ErrorType: the exception's name
	msg    string
	extra  map[string]string // members beside message (resourceId, resourceArn)
}

func (e *awsError) Error() string { return e.kind + ": " + e.msg }

func apiErr(status int, kind, format string, args ...any) *awsError {
	return &awsError{status: status, kind: kind, msg: fmt.Sprintf(format, args...)}
}

func invalid(format string, args ...any) *awsError {
	return apiErr(400, "InvalidRequestException", format, args...)
}

func notFound(format string, args ...any) *awsError {
	return apiErr(404, "ResourceNotFoundException", format, args...)
}

func internalErr(err error) *awsError {
	return apiErr(500, "InternalFailureException", "%v", err)
}

// apiRequest is one decoded request: path values, query, header and JSON body.
type apiRequest struct {
	r    *http.Request
	body []byte
}

func (q apiRequest) path(name string) string { return q.r.PathValue(name) }

// query returns a query parameter; has says whether it was given.
func (q apiRequest) query(name string) (string, bool) {
	v, ok := q.r.URL.Query()[name]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}

// decodeJSON reads the body into v; an empty body is an empty object.
func (q apiRequest) decodeJSON(v any) *awsError {
	if len(bytes.TrimSpace(q.body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(q.body, v); err != nil {
		return invalid("the request body is not valid JSON for this operation: %v", describeJSONError(err))
	}
	return nil
}

// boolQuery reads a boolean query parameter.
func (q apiRequest) boolQuery(name string) (bool, *awsError) {
	v, ok := q.query(name)
	if !ok {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, invalid("query parameter %s must be true or false, not %q", name, v)
	}
	return b, nil
}

// page is pagination: the size asked for (default and bounds of the model) and where
// to start, from an opaque token this API made.
type page struct {
	size  int
	after string
}

// pageOf reads the page size and token parameters of a list operation.
func (q apiRequest) pageOf(sizeParam, tokenParam string) (page, *awsError) {
	p := page{size: 250}
	if v, ok := q.query(sizeParam); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 250 {
			return p, invalid("%s must be an integer from 1 to 250, not %q", sizeParam, v)
		}
		p.size = n
	}
	if v, ok := q.query(tokenParam); ok && v != "" {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil || !bytes.HasPrefix(b, []byte(tokenMagic)) {
			return p, invalid("%s %q is not a token this API returned", tokenParam, v)
		}
		p.after = string(b[len(tokenMagic):])
	}
	return p, nil
}

// tokenMagic starts every pagination token, so that a made-up one is refused.
const tokenMagic = "fleetsim-page:"

// nextToken is the token of the page after the one ending at key.
func nextToken(key string) string {
	return base64.StdEncoding.EncodeToString([]byte(tokenMagic + key))
}

// Name checks of the model.
var (
	thingNameRE    = regexp.MustCompile(`^[a-zA-Z0-9:_-]{1,128}$`)
	certificateRE  = regexp.MustCompile(`^[a-fA-F0-9]{64}$`)
	policyNameRE   = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)
	templateNameRE = regexp.MustCompile(`^[0-9A-Za-z_-]{1,36}$`)
)

func checkName(what, v string, re *regexp.Regexp) *awsError {
	if !re.MatchString(v) {
		return invalid("%s %q is not valid: it must match %s", what, v, re.String())
	}
	return nil
}

// epoch is a timestamp as REST-JSON carries it: seconds since 1970.
func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func certificateARN(id string) string { return arnPrefix + "cert/" + id }
func thingARN(name string) string     { return arnPrefix + "thing/" + name }
func policyARN(name string) string    { return arnPrefix + "policy/" + name }
func groupARN(name string) string     { return arnPrefix + "thinggroup/" + name }

// certificateFromARN is the id in a certificate ARN.
func certificateFromARN(arn string) (string, *awsError) {
	id, ok := strings.CutPrefix(arn, arnPrefix+"cert/")
	if !ok {
		i := strings.LastIndex(arn, ":cert/")
		if i < 0 || !strings.HasPrefix(arn, "arn:aws:iot:") {
			return "", invalid("principal %q is not a certificate ARN (arn:aws:iot:REGION:ACCOUNT:cert/ID)", arn)
		}
		id = arn[i+len(":cert/"):]
	}
	if err := checkName("certificate id", id, certificateRE); err != nil {
		return "", err
	}
	return strings.ToLower(id), nil
}

// apiHandler is an operation: it returns the response body (nil: none) or an error.
type apiHandler func(q apiRequest) (any, *awsError)

// apiServer serves the control plane for a Server.
type apiServer struct {
	s     *Server
	creds *APICredentials
	mux   *http.ServeMux
	http  *http.Server
	ln    net.Listener
}

// startAPI listens on addr and serves the API until Close.
func (s *Server) startAPI(addr string, creds *APICredentials) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("API: listen on %s: %w", addr, err)
	}
	a := &apiServer{s: s, creds: creds, mux: http.NewServeMux(), ln: ln}
	a.routes()
	a.http = &http.Server{Handler: a, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: zap.NewStdLog(s.log.Named("api"))}
	s.api = a
	go func() { _ = a.http.Serve(ln) }()
	return nil
}

// APIAddr is the control-plane API's address, "" when it is not served.
func (s *Server) APIAddr() string {
	if s.api == nil {
		return ""
	}
	return s.api.ln.Addr().String()
}

func (a *apiServer) handle(pattern string, h apiHandler) {
	a.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := r.Context().Value(bodyKey{}).([]byte)
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
func (a *apiServer) call(h apiHandler, q apiRequest) (resp any, aerr *awsError) {
	defer func() {
		if p := recover(); p != nil {
			a.s.log.Error("API: internal error", zap.String("path", q.r.URL.Path), zap.Any("panic", p))
			resp, aerr = nil, apiErr(500, "InternalFailureException", "internal error")
		}
	}()
	return h(q)
}

type bodyKey struct{}

// ServeHTTP authenticates, reads the body and routes; anything the model does not
// define is answered in AWS's error shape.
func (a *apiServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAPIBody+1))
	if err != nil {
		a.writeError(w, r, invalid("cannot read the request body: %v", err))
		return
	}
	if len(body) > maxAPIBody {
		a.writeError(w, r, apiErr(413, "InvalidRequestException", "the request body is over %d bytes", maxAPIBody))
		return
	}
	if a.creds != nil {
		if err := verifySigV4(r, body, *a.creds); err != nil {
			kind := "InvalidSignatureException"
			if errors.Is(err, errUnsigned) {
				kind = "MissingAuthenticationTokenException"
			}
			a.writeError(w, r, apiErr(403, kind, "%v", err))
			return
		}
	}
	if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
		a.writeError(w, r, invalid("the query string is malformed: %v", err))
		return
	}
	if _, pattern := a.mux.Handler(r); pattern == "" {
		a.writeError(w, r, apiErr(404, "UnknownOperationException", "no AWS IoT operation is %s %s", r.Method, r.URL.Path))
		return
	}
	a.mux.ServeHTTP(w, r.WithContext(contextWithBody(r, body)))
}

func (a *apiServer) writeError(w http.ResponseWriter, r *http.Request, e *awsError) {
	a.s.log.Info("API request refused", zap.String("method", r.Method), zap.String("path", r.URL.Path),
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

func (a *apiServer) close() {
	_ = a.http.Close()
}

func contextWithBody(r *http.Request, body []byte) context.Context {
	return context.WithValue(r.Context(), bodyKey{}, body)
}
