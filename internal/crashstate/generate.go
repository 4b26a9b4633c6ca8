package crashstate

import (
	"fmt"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/provisiond/provisiond/internal/store"
)

// State is one crash state: the directory a power cut after Point ops of a
// recording leaves under a model, with the identity a consumer may hold
// and the certificates the service had issued by then.
type State struct {
	Rec    *Recording
	Model  Model
	Point  int
	Choice int
	Tree   *Tree
	// Handed is the handoff consumers could read just before the cut.
	Handed *handoff
	// Retired are the certificates handed over before the cut: one a
	// reprovision replaces later is retired on purpose, not orphaned.
	Retired map[string]bool
	Issued  []string
	// Reimport: the cut came before the imported claim's drop was durable,
	// so the installer never saw success and imports again.
	Reimport bool
	meta     map[int]bool
	cuts     map[int]dataCut
}

// ID names the state so that it can be checked again (-only).
func (s *State) ID() string {
	return fmt.Sprintf("%s/%s/p%d/c%d", s.Rec.Flow.Name, s.Model.Name, s.Point, s.Choice)
}

// Generate lists the distinct crash states a model allows at every point
// of a recording: all of them where a point allows at most limit, a sample
// of limit drawn with seed beyond. It also returns how many it drew
// before removing duplicates.
func Generate(rec *Recording, m Model, limit int, seed uint64) (states []*State, drawn int) {
	durable := m.durableAt(rec.Ops)
	seen := map[string]bool{}
	retired := map[string]bool{}
	for point := 0; point <= len(rec.Ops); point++ {
		rng := rand.New(rand.NewPCG(seed, stateSeed(rec.Flow.Name, m.Name, point)))
		sp := newSpace(m, rec.Ops, durable, point, rng)
		live := replay(m, rec.Initial, rec.Ops, durable, point, nil, nil, true)
		var handed *handoff
		if h, err := parseHandoff(live.Files[store.CredentialsFile]); err == nil {
			handed = &h
			retired[h.CertificateID] = true
		}
		var issued []string
		for id, at := range rec.IssuedAt {
			if at <= point {
				issued = append(issued, id)
			}
		}
		sort.Strings(issued)
		reimport := rec.Flow.ClaimImport && point < rec.DropDurableAt
		for _, c := range choices(sp.size(), limit, rng) {
			drawn++
			meta, cuts := sp.choice(c)
			t := replay(m, rec.Initial, rec.Ops, durable, point, meta, cuts, false)
			key := t.digest() + fmt.Sprint(handed, issued, reimport)
			if seen[key] {
				continue
			}
			seen[key] = true
			states = append(states, &State{Rec: rec, Model: m, Point: point, Choice: c, Tree: t,
				Handed: handed, Retired: maps.Clone(retired), Issued: issued, meta: meta, cuts: cuts,
				Reimport: reimport})
		}
	}
	return states, drawn
}

// choices is every index below n, or limit of them drawn with rng.
func choices(n, limit int, rng *rand.Rand) []int {
	if n <= limit {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	picked := map[int]bool{0: true, n - 1: true}
	out := []int{0, n - 1}
	for len(out) < limit {
		if c := rng.IntN(n); !picked[c] {
			picked[c] = true
			out = append(out, c)
		}
	}
	sort.Ints(out)
	return out
}

func stateSeed(parts ...any) uint64 {
	h := fnv.New64a()
	fmt.Fprint(h, parts...)
	return h.Sum64()
}

// Describe lists the ops up to the state's point, each marked durable (D),
// not durable but survived (S) or lost (-), with a write's surviving cut:
// the operation list that produced the state.
func (s *State) Describe() string {
	durable := s.Model.durableAt(s.Rec.Ops)
	var b strings.Builder
	fmt.Fprintf(&b, "# %s: crash after %d of %d ops (model %s)\n", s.ID(), s.Point, len(s.Rec.Ops), s.Model.Name)
	for j, o := range s.Rec.Ops[:s.Point] {
		mark := "-"
		switch {
		case durable[j] < s.Point:
			mark = "D"
		case o.metadata() && s.meta[j]:
			mark = "S"
		case o.Kind == Write:
			if c, ok := s.cuts[o.Ino]; ok && c != allData {
				mark = fmt.Sprintf("cut<%d", c.Cutoff)
				if c.Zero {
					mark += ",zeros"
				}
			} else {
				mark = "S"
			}
		case o.Kind == Fsync || o.Kind == FsyncDir:
			mark = " "
		}
		fmt.Fprintf(&b, "%4d %-12s %s\n", j, mark, o)
	}
	return b.String()
}
