package fleetsim

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/provisiond/provisiond/internal/fleetsim/registry"
)

// subscribeGrant is what a claim certificate's attached policies allow it to
// subscribe to and receive: the resources of their iot:Subscribe statements,
// as patterns. AWS IoT answers SUBACK 0x80 for a topic filter the policy does
// not allow, which is how a claim whose policy misses the template fails.
// Only iot:Subscribe is evaluated; publishing stays claimMayUse's.
type subscribeGrant struct {
	allow, deny []*regexp.Regexp
}

// allows reports whether the grant covers a topic filter (or a delivered topic).
func (g *subscribeGrant) allows(filter string) bool {
	for _, re := range g.deny {
		if re.MatchString(filter) {
			return false
		}
	}
	for _, re := range g.allow {
		if re.MatchString(filter) {
			return true
		}
	}
	return false
}

// claimGrant reads the documents of the policies attached to a claim.
func claimGrant(reg *registry.Store, cache *grantCache, policies []string) (*subscribeGrant, error) {
	var key strings.Builder
	docs := make([]string, len(policies))
	for i, name := range policies {
		doc, ok, err := reg.PolicyDocument(name)
		if err != nil {
			return nil, err
		}
		if ok {
			docs[i] = doc // a policy that does not exist grants nothing
		}
		key.WriteString(name + "\x00" + docs[i] + "\x00")
	}
	return cache.get(key.String(), func() (*subscribeGrant, error) {
		grant := &subscribeGrant{}
		for i, doc := range docs {
			if doc == "" {
				continue
			}
			if err := grant.add(doc); err != nil {
				return nil, fmt.Errorf("policy %s: %w", policies[i], err)
			}
		}
		return grant, nil
	})
}

// grantCache keeps the grants made from the policy documents read last: a storm's
// claims all present one policy, whose JSON and patterns would otherwise be parsed and
// compiled at every CONNECT. It is keyed by the documents themselves, so that a policy
// edited while serve runs (SetClaimPolicy) makes a new grant at the next CONNECT. A
// grant is never changed once made, so connections share it.
type grantCache struct {
	mu sync.Mutex
	m  map[string]*subscribeGrant
}

// maxGrants bounds the grants kept; the cache is forgotten when full.
const maxGrants = 64

func (c *grantCache) get(key string, build func() (*subscribeGrant, error)) (*subscribeGrant, error) {
	c.mu.Lock()
	g, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return g, nil
	}
	g, err := build()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxGrants {
		c.m = map[string]*subscribeGrant{}
	}
	c.m[key] = g
	c.mu.Unlock()
	return g, nil
}

// policyDocument is the part of an IAM-style policy the emulator reads.
// Statement, Action and Resource may each be one value or a list.
type policyDocument struct {
	Statement oneOrMany[struct {
		Effect   string
		Action   oneOrMany[string]
		Resource oneOrMany[string]
	}]
}

func (g *subscribeGrant) add(doc string) error {
	var p policyDocument
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return err
	}
	for _, st := range p.Statement {
		if !grantsSubscribe(st.Action) {
			continue
		}
		for _, r := range st.Resource {
			re := topicPattern(r)
			if strings.EqualFold(st.Effect, "Deny") {
				g.deny = append(g.deny, re)
			} else if strings.EqualFold(st.Effect, "Allow") {
				g.allow = append(g.allow, re)
			}
		}
	}
	return nil
}

func grantsSubscribe(actions []string) bool {
	for _, a := range actions {
		switch strings.ToLower(a) {
		case "*", "iot:*", "iot:subscribe":
			return true
		}
	}
	return false
}

// topicPattern turns a resource (arn:aws:iot:REGION:ACCOUNT:topicfilter/PATTERN,
// topic/PATTERN, or *) into a regexp: * matches any run of characters, ? one.
func topicPattern(resource string) *regexp.Regexp {
	pattern := resource
	for _, kind := range []string{":topicfilter/", ":topic/"} {
		if i := strings.Index(resource, kind); i >= 0 {
			pattern = resource[i+len(kind):]
			break
		}
	}
	quoted := regexp.QuoteMeta(pattern)
	quoted = strings.ReplaceAll(quoted, `\*`, ".*")
	quoted = strings.ReplaceAll(quoted, `\?`, ".")
	return regexp.MustCompile("^" + quoted + "$")
}

// oneOrMany is a JSON value that is either one T or a list of them.
type oneOrMany[T any] []T

func (o *oneOrMany[T]) UnmarshalJSON(data []byte) error {
	if len(data) > 0 && data[0] == '[' {
		return json.Unmarshal(data, (*[]T)(o))
	}
	var one T
	if err := json.Unmarshal(data, &one); err != nil {
		return err
	}
	*o = oneOrMany[T]{one}
	return nil
}

// SetClaimPolicy replaces the document of the policy Init attaches to the
// claim certificate in dir's registry, as an administrator edits it in an
// account. serve reads it at each claim's CONNECT, so it may be running.
func SetClaimPolicy(dir, document string) error {
	var probe policyDocument
	if err := json.Unmarshal([]byte(document), &probe); err != nil {
		return fmt.Errorf("policy document: %w", err)
	}
	return registry.SetPolicyDocument(dir, claimPolicyName, document)
}
