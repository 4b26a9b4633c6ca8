package awsapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
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

// verifySigV4 checks a request's signature against creds. It returns an error that
// names what is wrong and never the secret.
func verifySigV4(r *http.Request, body []byte, creds Credentials) error {
	a, err := parseSigV4(r.Header.Get("Authorization"))
	if err != nil {
		return err
	}
	if a.accessKey != creds.AccessKeyID {
		return errors.New("the access key ID is not known to this emulator")
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if len(amzDate) < 8 || amzDate[:8] != a.date {
		return errors.New("X-Amz-Date is missing or does not match the credential scope's date")
	}
	payloadHash := r.Header.Get("X-Amz-Content-Sha256")
	if payloadHash == "" || payloadHash != "UNSIGNED-PAYLOAD" {
		sum := sha256.Sum256(body)
		payloadHash = hex.EncodeToString(sum[:])
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
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(ch[:])
	key := []byte("AWS4" + creds.SecretAccessKey)
	for _, s := range []string{a.date, a.region, a.service, "aws4_request"} {
		key = hmacSHA256(key, s)
	}
	want := hex.EncodeToString(hmacSHA256(key, toSign))
	if !hmac.Equal([]byte(want), []byte(a.signature)) {
		return errors.New("the request signature does not match: check the secret access key")
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
