package awsapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
)

// Credentials are the one access key the control-plane API accepts.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
}

// String never shows the secret.
func (c Credentials) String() string { return c.AccessKeyID + ":<secret>" }

// sigv4Auth is a parsed Authorization header of AWS Signature Version 4.
type sigv4Auth struct {
	accessKey, date, region, service string
	signedHeaders                    []string
	signature                        string
}

var errUnsigned = errors.New("the request is not signed with AWS Signature Version 4 (no Authorization: AWS4-HMAC-SHA256 header)")

func parseSigV4(h string) (sigv4Auth, error) {
	var a sigv4Auth
	rest, ok := strings.CutPrefix(h, "AWS4-HMAC-SHA256 ")
	if !ok {
		return a, errUnsigned
	}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, errors.New("malformed Authorization header: " + part)
		}
		switch k {
		case "Credential":
			f := strings.Split(v, "/")
			if len(f) != 5 || f[4] != "aws4_request" {
				return a, errors.New("malformed Credential in the Authorization header: want KEY/DATE/REGION/SERVICE/aws4_request")
			}
			a.accessKey, a.date, a.region, a.service = f[0], f[1], f[2], f[3]
		case "SignedHeaders":
			a.signedHeaders = strings.Split(v, ";")
		case "Signature":
			a.signature = v
		}
	}
	if a.accessKey == "" || len(a.signedHeaders) == 0 || a.signature == "" {
		return a, errors.New("the Authorization header lacks Credential, SignedHeaders or Signature")
	}
	return a, nil
}

// maxSkew is how far a request's X-Amz-Date may be from the emulator's clock, as AWS
// allows: a captured request cannot be replayed after it.
const maxSkew = 15 * time.Minute

// amzDateLayout is X-Amz-Date's form, 20261207T145500Z.
const amzDateLayout = "20060102T150405Z"

// sigError is a refused signature with AWS's error code; it never holds the secret.
type sigError struct {
	kind, msg string
}

func (e *sigError) Error() string { return e.msg }

func sigErr(kind, format string, args ...any) *sigError {
	return &sigError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// checkSigV4Header checks what can be checked before the body is read: the
// Authorization header, the access key, the date within maxSkew of now, host signed
// and no UNSIGNED-PAYLOAD. An unsigned or stale request is refused without its body.
func checkSigV4Header(r *http.Request, creds Credentials, now time.Time) (sigv4Auth, *sigError) {
	a, err := parseSigV4(r.Header.Get("Authorization"))
	switch {
	case errors.Is(err, errUnsigned):
		return a, sigErr("MissingAuthenticationTokenException", "%v", err)
	case err != nil:
		return a, sigErr("IncompleteSignatureException", "%v", err)
	}
	if a.accessKey != creds.AccessKeyID {
		return a, sigErr("UnrecognizedClientException", "the access key ID is not known to this emulator")
	}
	amzDate := r.Header.Get("X-Amz-Date")
	at, err := time.Parse(amzDateLayout, amzDate)
	if err != nil {
		return a, sigErr("IncompleteSignatureException", "X-Amz-Date is missing or not of the form %s", amzDateLayout)
	}
	if amzDate[:8] != a.date {
		return a, sigErr("InvalidSignatureException", "X-Amz-Date does not match the credential scope's date")
	}
	nowText := now.UTC().Format(amzDateLayout)
	switch {
	case at.Before(now.Add(-maxSkew)):
		return a, sigErr("InvalidSignatureException", "Signature expired: %s is now earlier than %s (%s - 15 min.)",
			amzDate, now.Add(-maxSkew).UTC().Format(amzDateLayout), nowText)
	case at.After(now.Add(maxSkew)):
		return a, sigErr("InvalidSignatureException", "Signature not yet current: %s is still later than %s (%s + 15 min.)",
			amzDate, now.Add(maxSkew).UTC().Format(amzDateLayout), nowText)
	}
	if !slices.Contains(a.signedHeaders, "host") {
		return a, sigErr("IncompleteSignatureException", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	if r.Header.Get("X-Amz-Content-Sha256") == "UNSIGNED-PAYLOAD" {
		return a, sigErr("InvalidSignatureException", "UNSIGNED-PAYLOAD is accepted by Amazon S3 only: sign the payload's SHA-256")
	}
	return a, nil
}

// verifySigV4 checks the signature of a request whose header checkSigV4Header passed,
// over its body. A payload hash in X-Amz-Content-Sha256 must be the body's.
func verifySigV4(r *http.Request, a sigv4Auth, body []byte, creds Credentials) *sigError {
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != payloadHash {
		return sigErr("InvalidSignatureException", "X-Amz-Content-Sha256 is not the SHA-256 of the request body")
	}
	canonical := strings.Join([]string{
		r.Method,
		sigv4Escape(r.URL.EscapedPath(), false),
		canonicalQuery(r.URL.RawQuery),
		canonicalHeaders(r, a.signedHeaders),
		strings.Join(a.signedHeaders, ";"),
		payloadHash,
	}, "\n")
	scope := strings.Join([]string{a.date, a.region, a.service, "aws4_request"}, "/")
	ch := sha256.Sum256([]byte(canonical))
	toSign := "AWS4-HMAC-SHA256\n" + r.Header.Get("X-Amz-Date") + "\n" + scope + "\n" + hex.EncodeToString(ch[:])
	key := []byte("AWS4" + creds.SecretAccessKey)
	for _, s := range []string{a.date, a.region, a.service, "aws4_request"} {
		key = hmacSHA256(key, s)
	}
	want := hex.EncodeToString(hmacSHA256(key, toSign))
	if !hmac.Equal([]byte(want), []byte(a.signature)) {
		return sigErr("InvalidSignatureException", "the request signature does not match: check the secret access key")
	}
	return nil
}

func hmacSHA256(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

// sigv4Escape percent-encodes all but the unreserved characters (and "/" in paths).
// The AWS SDKs sign a REST path escaped twice: the path as sent, escaped again.
func sigv4Escape(s string, encodeSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '~' || (c == '/' && !encodeSlash) {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{c})))
	}
	return b.String()
}

func canonicalQuery(raw string) string {
	v, _ := url.ParseQuery(raw)
	var pairs []string
	for k, vs := range v {
		for _, x := range vs {
			pairs = append(pairs, sigv4Escape(k, true)+"="+sigv4Escape(x, true))
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

func canonicalHeaders(r *http.Request, names []string) string {
	var b strings.Builder
	for _, n := range names {
		var vals []string
		if n == "host" {
			vals = []string{r.Host}
		} else {
			vals = slices.Clone(r.Header.Values(n))
		}
		for i, v := range vals {
			vals[i] = strings.Join(strings.Fields(v), " ")
		}
		b.WriteString(n + ":" + strings.Join(vals, ",") + "\n")
	}
	return b.String()
}
