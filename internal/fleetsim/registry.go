package fleetsim

import (
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/provisiond/provisiond/internal/fleetsim/template"
)

// registry is the live, in-memory registry. All fields are guarded by mu.
type registry struct {
	mu       sync.Mutex
	certs    map[string]*Certificate
	things   map[string]*Thing
	policies map[string]Policy
	orphans  []Certificate
	// pending holds PENDING_ACTIVATION certificates, the only ones a token may name.
	pending map[string]struct{}
	// busy marks certificates whose RegisterThing is being processed, so that a token is
	// used at most once even when two requests race.
	busy map[string]bool
	// subjects holds, for pending certificates issued since start, the
	// AWS::IoT::Certificate::* parameters of the subject they were signed with, so that
	// RegisterThing does not parse the certificate again; a pending certificate without
	// an entry (issued before a restart) is parsed.
	subjects map[string]template.CertificateInfo
	// changed asks for the registry to be saved; it never blocks.
	changed func()
}

func newRegistry(r Registry, changed func()) *registry {
	g := &registry{
		certs:    make(map[string]*Certificate, len(r.Certificates)),
		things:   make(map[string]*Thing, len(r.Things)),
		policies: make(map[string]Policy, len(r.Policies)),
		orphans:  slices.Clone(r.Orphans),
		pending:  make(map[string]struct{}),
		busy:     make(map[string]bool),
		subjects: make(map[string]template.CertificateInfo),
		changed:  changed,
	}
	for _, c := range r.Certificates {
		c := copyCert(c)
		g.certs[c.CertificateID] = &c
		if c.Status == StatusPendingActivation {
			g.pending[c.CertificateID] = struct{}{}
		}
	}
	for _, t := range r.Things {
		t := copyThing(t)
		g.things[t.ThingName] = &t
	}
	for _, p := range r.Policies {
		g.policies[p.PolicyName] = p
	}
	return g
}

func copyCert(c Certificate) Certificate {
	c.Policies = slices.Clone(c.Policies)
	return c
}

func copyThing(t Thing) Thing {
	t.Attributes = maps.Clone(t.Attributes)
	t.Groups = slices.Clone(t.Groups)
	t.Certificates = slices.Clone(t.Certificates)
	if t.Certificates == nil {
		t.Certificates = []string{}
	}
	return t
}

// snapshot is a deep copy in a stable order.
func (g *registry) snapshot() Registry {
	g.mu.Lock()
	r := Registry{
		Things:       make([]Thing, 0, len(g.things)),
		Certificates: make([]Certificate, 0, len(g.certs)),
		Policies:     make([]Policy, 0, len(g.policies)),
		Orphans:      make([]Certificate, 0, len(g.orphans)),
	}
	for _, t := range g.things {
		r.Things = append(r.Things, copyThing(*t))
	}
	for _, c := range g.certs {
		r.Certificates = append(r.Certificates, copyCert(*c))
	}
	for _, p := range g.policies {
		r.Policies = append(r.Policies, p)
	}
	for _, c := range g.orphans {
		r.Orphans = append(r.Orphans, copyCert(c))
	}
	g.mu.Unlock()
	sort.Slice(r.Things, func(i, j int) bool { return r.Things[i].ThingName < r.Things[j].ThingName })
	byAge := func(s []Certificate) func(i, j int) bool {
		return func(i, j int) bool {
			if !s[i].CreatedAt.Equal(s[j].CreatedAt) {
				return s[i].CreatedAt.Before(s[j].CreatedAt)
			}
			return s[i].CertificateID < s[j].CertificateID
		}
	}
	sort.Slice(r.Certificates, byAge(r.Certificates))
	sort.Slice(r.Orphans, byAge(r.Orphans))
	sort.Slice(r.Policies, func(i, j int) bool { return r.Policies[i].PolicyName < r.Policies[j].PolicyName })
	return r
}

// certificate returns a copy of one certificate.
func (g *registry) certificate(id string) (Certificate, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c, ok := g.certs[id]
	if !ok {
		return Certificate{}, false
	}
	return copyCert(*c), true
}

// addPending records a newly issued device certificate, and the certificate parameters
// of its subject when known (nil: RegisterThing parses the certificate).
func (g *registry) addPending(c Certificate, subject *template.CertificateInfo) {
	g.mu.Lock()
	g.certs[c.CertificateID] = &c
	g.pending[c.CertificateID] = struct{}{}
	if subject != nil {
		g.subjects[c.CertificateID] = *subject
	}
	g.mu.Unlock()
	g.changed()
}

// sweep deletes the PENDING_ACTIVATION certificates whose token expired unused:
// they move to orphans with status DELETED. It returns how many.
func (g *registry) sweep(now time.Time, ttl time.Duration) int {
	g.mu.Lock()
	n := 0
	for id := range g.pending {
		c := g.certs[id]
		if g.busy[id] || now.Before(c.CreatedAt.Add(ttl)) {
			continue
		}
		delete(g.pending, id)
		delete(g.certs, id)
		delete(g.subjects, id)
		dead := copyCert(*c)
		dead.Status = StatusDeleted
		g.orphans = append(g.orphans, dead)
		n++
	}
	g.mu.Unlock()
	if n > 0 {
		g.changed()
	}
	return n
}

// reserve marks a pending certificate as being registered, and returns it with its
// subject's certificate parameters when addPending was given them. It fails if the
// certificate is not pending (unknown, deleted, already used) or another request holds it.
func (g *registry) reserve(id string, now time.Time, ttl time.Duration) (Certificate, *template.CertificateInfo, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.pending[id]; !ok || g.busy[id] {
		return Certificate{}, nil, false
	}
	c := g.certs[id]
	if !now.Before(c.CreatedAt.Add(ttl)) {
		return Certificate{}, nil, false
	}
	g.busy[id] = true
	var subject *template.CertificateInfo
	if info, ok := g.subjects[id]; ok {
		subject = &info
	}
	return copyCert(*c), subject, true
}

// release gives back a reservation after a failed RegisterThing: the token stays usable.
func (g *registry) release(id string) {
	g.mu.Lock()
	delete(g.busy, id)
	g.mu.Unlock()
}

// changedLocked is changed for callers holding mu (changed never blocks nor locks).
func (g *registry) changedLocked() { g.changed() }
