package awsapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/provisiond/provisiond/internal/fleetsim/registry"
)

// paging is how a list operation of the model names its page: the size parameter, the
// token it is given and the member the next page's token comes back in. Both kinds take
// 1 to 250 items, 250 unless told.
type paging struct{ size, token, next string }

var (
	byNextToken = paging{size: "maxResults", token: "nextToken", next: "nextToken"}
	byMarker    = paging{size: "pageSize", token: "marker", next: "nextMarker"}
)

const (
	defaultPageSize = 250
	maxPageSize     = 250
)

// listOp is one list operation: where it is, how it pages, the member its items are
// answered in, and the function that lists one page (its filter read from the request).
type listOp struct {
	pattern string
	paging  paging
	items   string
	list    func(q apiRequest, p registry.Page) (items any, next string, aerr *restError)
}

// lists are the API's list operations, one shape for all: page parameters checked
// first, then the operation's own, and the next page's token only when there is one.
func (a *Server) lists() []listOp {
	return []listOp{
		{"GET /things", byNextToken, "things", a.listThings},
		{"GET /things/{thingName}/principals", byNextToken, "principals", a.listThingPrincipals},
		{"GET /principals/things", byNextToken, "things", a.listPrincipalThings},
		{"GET /thing-groups", byNextToken, "thingGroups", a.listThingGroups},
		{"GET /thing-groups/{thingGroupName}/things", byNextToken, "things", a.listThingsInThingGroup},
		{"GET /certificates", byMarker, "certificates", a.listCertificates},
		{"GET /policies", byMarker, "policies", a.listPolicies},
		{"POST /attached-policies/{target}", byMarker, "policies", a.listAttachedPolicies},
		{"GET /provisioning-templates", byNextToken, "templates", a.listTemplates},
	}
}

func (l listOp) handler(q apiRequest) (any, *restError) {
	p, aerr := q.pageOf(l.paging)
	if aerr != nil {
		return nil, aerr
	}
	items, next, aerr := l.list(q, p)
	if aerr != nil {
		return nil, aerr
	}
	out := map[string]any{l.items: items}
	if next != "" {
		out[l.paging.next] = nextToken(next)
	}
	return out, nil
}

// pageOf reads the page size and token parameters of a list operation.
func (q apiRequest) pageOf(pg paging) (registry.Page, *restError) {
	p := registry.Page{Size: defaultPageSize}
	if v, ok := q.query(pg.size); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			return p, invalid("%s must be an integer from 1 to %d, not %q", pg.size, maxPageSize, shown(v))
		}
		p.Size = n
	}
	if v, ok := q.query(pg.token); ok && v != "" {
		key, ok := tokenKey(v)
		if !ok {
			return p, invalid("%s %q is not a token this API returned", pg.token, shown(v))
		}
		p.After = key
	}
	return p, nil
}

// tokenSecret authenticates pagination tokens, so that a made-up or edited one is
// refused; it lives as long as the process, so tokens do not survive a restart, as
// AWS's expire.
var tokenSecret = func() []byte {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return b
}()

func tokenMAC(key string) []byte {
	m := hmac.New(sha256.New, tokenSecret)
	m.Write([]byte(key))
	return m.Sum(nil)[:16]
}

// nextToken is the token of the page after the one ending at key: the key and its MAC.
func nextToken(key string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(key)) + "." + enc.EncodeToString(tokenMAC(key))
}

// tokenKey is the key a token nextToken made carries; false for any other string.
func tokenKey(token string) (string, bool) {
	enc := base64.RawURLEncoding
	k, m, ok := strings.Cut(token, ".")
	if !ok {
		return "", false
	}
	key, err1 := enc.DecodeString(k)
	mac, err2 := enc.DecodeString(m)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, tokenMAC(string(key))) {
		return "", false
	}
	return string(key), true
}

// pageIn is one page of a list held in memory, sorted: the items after p.After, and the
// key of the page's last item when more follow.
func pageIn(sorted []string, p registry.Page) ([]string, string) {
	var out []string
	for _, n := range sorted {
		if n > p.After {
			out = append(out, n)
		}
	}
	if len(out) > p.Size {
		return out[:p.Size], out[p.Size-1]
	}
	return out, ""
}
