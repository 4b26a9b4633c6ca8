package crashstate

import (
	"math"
	"math/rand/v2"
	"sort"
)

// dataCut is how much of a file's un-synced data survives: the bytes at
// file offsets below Cutoff (math.MaxInt64: all); with Zero, the file keeps
// its full size and the lost bytes read as zeros.
type dataCut struct {
	Cutoff int64
	Zero   bool
}

var allData = dataCut{Cutoff: math.MaxInt64}

// space is every crash state a model allows at one point of a recording:
// a choice of surviving metadata ops times, for each file with un-synced
// data, a choice of cut.
type space struct {
	point   int
	durable []int
	meta    [][]int // each: the un-synced metadata ops that survive
	inos    []int
	cuts    [][]dataCut
}

func (s *space) size() int {
	n := len(s.meta)
	for _, c := range s.cuts {
		n *= len(c)
		if n > 1<<40 {
			return 1 << 40
		}
	}
	return n
}

// choice decodes a state index into the surviving metadata ops and cuts.
func (s *space) choice(c int) (map[int]bool, map[int]dataCut) {
	meta := map[int]bool{}
	cuts := map[int]dataCut{}
	for k := len(s.inos) - 1; k >= 0; k-- {
		n := len(s.cuts[k])
		cuts[s.inos[k]] = s.cuts[k][c%n]
		c /= n
	}
	for _, j := range s.meta[c%len(s.meta)] {
		meta[j] = true
	}
	return meta, cuts
}

// maxSubsets bounds the POSIX model's subsets of un-synced metadata ops
// enumerated at one point; beyond it they are sampled.
const maxSubsets = 1 << 12

// newSpace builds the states allowed after ops[:point].
func newSpace(m Model, ops []Op, durable []int, point int, rng *rand.Rand) *space {
	s := &space{point: point, durable: durable}
	var pending []int
	for j := 0; j < point; j++ {
		if ops[j].metadata() && durable[j] >= point {
			pending = append(pending, j)
		}
	}
	if m.Journal {
		for n := 0; n <= len(pending); n++ {
			s.meta = append(s.meta, pending[:n])
		}
	} else {
		s.meta = closedSubsets(ops, pending, rng)
	}
	// Files with un-synced data, and where it lies.
	type span struct{ lo, hi int64 }
	spans := map[int]*span{}
	for j := 0; j < point; j++ {
		o := ops[j]
		if o.Kind != Write || durable[j] < point || len(o.Data) == 0 {
			continue
		}
		sp := spans[o.Ino]
		if sp == nil {
			sp = &span{lo: o.Off, hi: o.Off}
			spans[o.Ino] = sp
		}
		sp.lo = min(sp.lo, o.Off)
		sp.hi = max(sp.hi, o.Off+int64(len(o.Data)))
	}
	for ino := range spans {
		s.inos = append(s.inos, ino)
	}
	sort.Ints(s.inos)
	for _, ino := range s.inos {
		sp := spans[ino]
		var cuts []dataCut
		for c := sp.lo / m.Block * m.Block; c < sp.hi; c += m.Block {
			cuts = append(cuts, dataCut{Cutoff: c})
			if m.ZeroFill {
				cuts = append(cuts, dataCut{Cutoff: c, Zero: true})
			}
		}
		s.cuts = append(s.cuts, append(cuts, allData))
	}
	return s
}

// closedSubsets lists the subsets of pending that keep every op's
// prerequisites (the op that made the name it acts on, the mkdir of its
// folder): all of them up to maxSubsets, a seeded sample beyond.
func closedSubsets(ops []Op, pending []int, rng *rand.Rand) [][]int {
	if len(pending) == 0 {
		return [][]int{nil}
	}
	inPending := map[int]int{}
	for k, j := range pending {
		inPending[j] = k
	}
	deps := make([]uint64, len(pending))
	maker := map[string]int{}
	for j := 0; j <= pending[len(pending)-1]; j++ {
		o := ops[j]
		if k, ok := inPending[j]; ok {
			for _, name := range []string{o.Path, parentDir(o.Path), parentDir(o.Path2)} {
				if mj, ok := maker[name]; ok {
					if mk, ok := inPending[mj]; ok && mk != k {
						deps[k] |= 1 << mk
					}
				}
			}
		}
		switch o.Kind {
		case Create, Mkdir:
			maker[o.Path] = j
		case Rename:
			maker[o.Path2] = j
		}
	}
	closed := func(mask uint64) bool {
		for k := range pending {
			if mask&(1<<k) != 0 && deps[k]&^mask != 0 {
				return false
			}
		}
		return true
	}
	close := func(mask uint64) uint64 {
		for changed := true; changed; {
			changed = false
			for k := range pending {
				if mask&(1<<k) != 0 && deps[k]&^mask != 0 {
					mask |= deps[k]
					changed = true
				}
			}
		}
		return mask
	}
	var masks []uint64
	if len(pending) <= 12 {
		for mask := uint64(0); mask < 1<<len(pending); mask++ {
			if closed(mask) {
				masks = append(masks, mask)
			}
		}
	} else {
		seen := map[uint64]bool{0: true, close(1<<len(pending) - 1): true}
		masks = []uint64{0, 1<<len(pending) - 1}
		for range maxSubsets * 4 {
			if len(masks) >= maxSubsets {
				break
			}
			if m := close(rng.Uint64() & (1<<len(pending) - 1)); !seen[m] {
				seen[m] = true
				masks = append(masks, m)
			}
		}
	}
	out := make([][]int, len(masks))
	for i, mask := range masks {
		for k, j := range pending {
			if mask&(1<<k) != 0 {
				out[i] = append(out[i], j)
			}
		}
	}
	return out
}

// replay builds the directory a crash after ops[:point] leaves when the
// un-synced metadata ops in meta survive and un-synced data is cut as
// cuts says. With full, everything survives: the live view.
func replay(m Model, initial *Tree, ops []Op, durable []int, point int, meta map[int]bool, cuts map[int]dataCut, full bool) *Tree {
	names := map[string]int{}
	data := map[int][]byte{}
	dirs := map[string]bool{}
	for d := range initial.Dirs {
		dirs[d] = true
	}
	for k, n := range initial.sortedFiles() {
		names[n] = k + 1
		data[k+1] = append([]byte(nil), initial.Files[n]...)
	}
	survives := func(j int) bool { return full || durable[j] < point || meta[j] }
	flushed := map[int]bool{}
	if m.Journal {
		for j := 0; j < point; j++ {
			if ops[j].Kind == Rename && ops[j].Replaces && survives(j) {
				flushed[ops[j].Ino] = true // auto_da_alloc
			}
		}
	}
	for j := 0; j < point; j++ {
		o := ops[j]
		switch o.Kind {
		case Write:
			cut := allData
			if !full && durable[j] >= point && !flushed[o.Ino] {
				if c, ok := cuts[o.Ino]; ok {
					cut = c
				}
			}
			data[o.Ino] = applyWrite(data[o.Ino], o.Off, o.Data, cut)
		case Truncate:
			if survives(j) && int64(len(data[o.Ino])) > o.Size {
				data[o.Ino] = data[o.Ino][:o.Size]
			}
		case Create:
			if survives(j) {
				names[o.Path] = o.Ino
			}
		case Mkdir:
			if survives(j) {
				dirs[o.Path] = true
			}
		case Rmdir:
			if survives(j) {
				delete(dirs, o.Path)
			}
		case Rename:
			if survives(j) {
				delete(names, o.Path)
				names[o.Path2] = o.Ino
			}
		case Unlink:
			if survives(j) && names[o.Path] == o.Ino {
				delete(names, o.Path)
			}
		}
	}
	t := newTree()
	for d := range dirs {
		if reachable(dirs, d) {
			t.Dirs[d] = true
		}
	}
	for n, ino := range names {
		if reachable(dirs, parentDir(n)) {
			t.Files[n] = append([]byte{}, data[ino]...)
		}
	}
	return t
}

// applyWrite puts b at off in f, keeping only what cut lets survive.
func applyWrite(f []byte, off int64, b []byte, cut dataCut) []byte {
	end := off + int64(len(b))
	keep := min(end, max(cut.Cutoff, off))
	size := keep
	if cut.Zero {
		size = end
	}
	if size <= off {
		return f
	}
	if int64(len(f)) < size {
		f = append(f, make([]byte, size-int64(len(f)))...)
	}
	copy(f[off:keep], b[:keep-off])
	return f
}

func reachable(dirs map[string]bool, d string) bool {
	for ; d != ""; d = parentDir(d) {
		if !dirs[d] {
			return false
		}
	}
	return true
}
