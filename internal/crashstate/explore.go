package crashstate

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/provisiond/provisiond/internal/store"
	"github.com/provisiond/provisiond/internal/testtool/fleetsimproc"
	"github.com/provisiond/provisiond/internal/testtool/swtpm"
)

// Options configure an exploration.
type Options struct {
	Tools
	Base     string // a fresh folder for everything
	Flows    []Flow
	Models   []Model
	Limit    int    // states checked per point of a recording, at most
	Seed     uint64 // drives every sample
	Sample   int    // when > 0: check this many states, drawn with Seed
	Parallel int    // checks at once
	Only     string // check only the states whose ID has this prefix
	Fixtures string // where a failing state is saved
	Timeout  time.Duration
	Out      io.Writer
}

// Tally counts states for one flow and model.
type Tally struct {
	Drawn, Distinct, Checked, Recovered, Refused, Failed int
	// HandleUnchecked counts the recovered states whose key at tpm.handle
	// was not judged (see worker.check).
	HandleUnchecked int
	// TokenTorn counts the states not recovered in which the cut tore
	// softhsm2's own token files; neither recovered nor failed.
	TokenTorn int
	Took      time.Duration
}

// Explore records every flow, generates its crash states under every
// model and checks them; it prints a line per failing state and a table,
// and returns the tallies by "flow/model".
func Explore(o Options) (map[string]*Tally, error) {
	tallies := map[string]*Tally{}
	var all []*State
	recs := map[string]*Recording{}
	for i, flow := range o.Flows {
		rec, err := Record(o.Tools, flow, o.Base, stateDir(o.Base, "r", i))
		if err != nil {
			return nil, err
		}
		recs[flow.Name] = rec
		defer rec.Attestation.Stop()
		fmt.Fprintf(o.Out, "recorded %s: %d file-system ops, %d certificates issued\n", flow.Name, len(rec.Ops), len(rec.IssuedAt))
		for _, m := range o.Models {
			states, drawn := Generate(rec, m, o.Limit, o.Seed)
			tallies[flow.Name+"/"+m.Name] = &Tally{Drawn: drawn, Distinct: len(states)}
			for _, s := range states {
				if strings.HasPrefix(s.ID(), o.Only) {
					all = append(all, s)
				}
			}
		}
	}
	if o.Sample > 0 && o.Sample < len(all) {
		rng := rand.New(rand.NewPCG(o.Seed, stateSeed("sample")))
		rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		all = all[:o.Sample]
	}
	fmt.Fprintf(o.Out, "checking %d crash states (seed %d, limit %d per point, %d at once)\n", len(all), o.Seed, o.Limit, o.Parallel)
	start := time.Now()
	for _, flow := range o.Flows {
		var states []*State
		for _, s := range all {
			if s.Rec.Flow.Name == flow.Name {
				states = append(states, s)
			}
		}
		if err := checkAll(o, recs[flow.Name], states, tallies); err != nil {
			return tallies, err
		}
	}
	printTallies(o.Out, tallies, time.Since(start))
	return tallies, nil
}

// tornTokenTimeout bounds a check on a state whose token softhsm2 tore.
const tornTokenTimeout = 5 * time.Second

// stateDir names state directories so that a recording's and a check's
// have the same length: paths in credentials.json are rewritten in place.
func stateDir(base, kind string, n int) string {
	return filepath.Join(base, "s", fmt.Sprintf("%s%06d", kind, n))
}

var checkSeq atomic.Int64

// checkAll checks one flow's states on Parallel copies of its fleetsim.
func checkAll(o Options, rec *Recording, states []*State, tallies map[string]*Tally) error {
	if len(states) == 0 {
		return nil
	}
	queue := make(chan *State)
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, o.Parallel)
	for w := range o.Parallel {
		wk, err := newWorker(o, rec, w)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var done []*checked
			for s := range queue {
				c, err := wk.check(s)
				if err != nil {
					wk.srv.Stop()
					errs <- err
					return
				}
				done = append(done, c)
			}
			if err := wk.finish(done); err != nil {
				errs <- err
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, c := range done {
				t := tallies[rec.Flow.Name+"/"+c.state.Model.Name]
				t.Checked++
				t.Took += c.res.Took
				switch {
				case c.res.TokenTorn:
					t.TokenTorn++
				case c.res.Fault != "":
					t.Failed++
					fmt.Fprintf(o.Out, "FAIL %s (seed %d): %s\n", c.state.ID(), o.Seed, c.res.Fault)
				case c.res.Refused:
					t.Refused++
				case c.res.HandleUnchecked:
					t.HandleUnchecked++
					t.Recovered++
				default:
					t.Recovered++
				}
			}
		}()
	}
	for _, s := range states {
		select {
		case queue <- s:
		case err := <-errs:
			close(queue)
			wg.Wait()
			return err
		}
	}
	close(queue)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	return nil
}

// worker checks states one at a time against its own fleetsim, so that
// the certificates a check creates can be told from the others'.
type worker struct {
	o   Options
	rec *Recording
	srv *fleetsimproc.Server
	dir string
}

// checked is a check whose orphans are counted once its worker's fleetsim
// has stopped and saved its registry: the certificates it created are
// those with a creation time inside its window.
type checked struct {
	state      *State
	res        Result
	id, log    string
	start, end time.Time
	// tornFile is a token file the cut tore (PKCS#11 flows).
	tornFile string
}

func newWorker(o Options, rec *Recording, n int) (*worker, error) {
	dir := filepath.Join(rec.Base, fmt.Sprintf("worker%d", n))
	if err := copyDir(rec.Fleet, dir); err != nil {
		return nil, err
	}
	// The endpoint is written into credentials.json too, so it must keep
	// its length: ports of the same width.
	for range 20 {
		srv, err := startServer(o.Fleetsim, dir, rec.Flow.ServeArgs)
		if err != nil {
			return nil, err
		}
		if len(srv.Addr) == len(rec.Endpoint) {
			return &worker{o: o, rec: rec, srv: srv, dir: dir}, nil
		}
		srv.Stop()
	}
	return nil, fmt.Errorf("no port of the width of %s for fleetsim", rec.Endpoint)
}

// check runs the daemon on one crash state and judges it, but for its
// orphans (see finish).
func (w *worker) check(s *State) (*checked, error) {
	t0 := time.Now()
	n := int(checkSeq.Add(1))
	dir := stateDir(w.o.Base, "c", n)
	old, new := []string{w.rec.StateDir, w.rec.Endpoint}, []string{dir, w.srv.Addr}
	if w.rec.RecordedFleet != "" {
		old, new = append(old, w.rec.RecordedFleet), append(new, w.rec.Fleet)
	}
	if err := s.Tree.WriteTo(dir, old, new); err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	tpm, err := w.startTPM()
	if err != nil {
		return nil, err
	}
	if tpm != nil {
		defer tpm.Stop()
	}
	cfg := filepath.Join(w.rec.Base, fmt.Sprintf("c%06d.yaml", n))
	if err := os.WriteFile(cfg, []byte(w.rec.config(w.srv.Addr, dir, deviceOrNone(tpm), w.o.PKCS11Module)), 0o644); err != nil {
		return nil, err
	}
	defer os.Remove(cfg)
	tokenConf := filepath.Join(w.rec.Base, fmt.Sprintf("c%06d.softhsm2.conf", n))
	tokenEnv, err := w.rec.softHSMEnv(tokenConf, dir)
	if err != nil {
		return nil, err
	}
	defer os.Remove(tokenConf)
	// The identity that must stay usable is the one the cut left handed
	// over on disk: after a power cut every consumer starts again from
	// credentials.json as it is, so a handoff the cut lost was never one.
	var previous *handoff
	if data, ok := s.Tree.Files[store.CredentialsFile]; ok {
		if h, err := parseHandoff(data); err == nil {
			h.CertificateFile = strings.Replace(h.CertificateFile, w.rec.StateDir, dir, 1)
			h.PrivateKeyFile = strings.Replace(h.PrivateKeyFile, w.rec.StateDir, dir, 1)
			previous = &h
		}
	}
	watch, err := startWatcher(filepath.Join(dir, store.CredentialsFile), previous)
	if err != nil {
		return nil, err
	}
	var importErr error
	if s.Reimport {
		importErr = importClaim(w.o.Provisiond, cfg, w.rec.Fleet)
	}
	tornFile := ""
	if w.rec.Flow.PKCS11 {
		tornFile = tornTokenFile(s.Tree, w.rec.TokenWhole)
	}
	timeout := w.o.Timeout
	if tornFile != "" {
		// softhsm2 no longer has the token or the key: a daemon that
		// recovers does so at once, one that cannot retries for ever.
		timeout = min(timeout, tornTokenTimeout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	id, exit, log, runErr := runDaemon(ctx, w.o.Provisiond, cfg, dir, tokenEnv)
	cancel()
	c := &checked{state: s, id: id, log: log, start: t0, tornFile: tornFile}
	fault := watch.finish()
	stateData, hadState := s.Tree.Files[store.StateFile]
	torn := hadState && !json.Valid(stateData)
	switch {
	case exit == 65 && id == "":
		now, _ := os.ReadFile(filepath.Join(dir, store.StateFile))
		if torn && string(now) == string(stateData) && strings.Contains(log, "corrupt") {
			c.res.Refused = true
		} else {
			fault = "exit 65 (corrupt state) on a state file the model left readable"
		}
	case id == "":
		fault = fmt.Sprintf("not registered (exit %d, %v): %s", exit, runErr, lastLines(log, 3))
		if w.rec.Flow.ClaimImport {
			fault = claimVerdict(s, dir, importErr) + ": " + fault
		}
	case torn:
		fault = "state.json was unreadable and the daemon went on (a silent reset)"
	case fault == "" && id != w.rec.Final && s.Retired[id]:
		// The daemon kept an identity handed over before the cut, and
		// the TPM is from the recording's end, when its handle held a
		// later identity's key: a pair no real cut leaves (tpm.handle
		// changes only after state.json durably names the new identity).
		c.res.HandleUnchecked = w.rec.Flow.TPMHandle != ""
	case fault == "":
		fault = w.checkHandle(tpm, dir)
	}
	if fault == "" && w.rec.Flow.ClaimImport {
		fault = tempDropsLeft(dir)
	}
	if fault == "" && id != "" && w.rec.Flow.PKCS11 {
		fault = w.checkToken(tokenEnv, dir)
	}
	if fault == "" && w.rec.Attestation != nil {
		fault = w.rec.Attestation.checkAK(tpm)
	}
	c.res.Fault = fault
	c.end = time.Now()
	c.res.Took = c.end.Sub(t0)
	return c, nil
}

// startTPM starts, for a TPM flow, a swtpm on a fresh copy of the TPM's
// state as the recording left it: each check starts from the same TPM.
func (w *worker) startTPM() (*swtpm.TPM, error) {
	if !w.rec.Flow.TPM {
		return nil, nil
	}
	dir := filepath.Join(w.dir, "tpm")
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := copyDir(w.rec.TPMState, dir); err != nil {
		return nil, err
	}
	return startSWTPM(w.o.SWTPM, dir)
}

// checkHandle reports, once the daemon has stopped, why the key at the
// persistent handle credentials.json names is not its certificate's.
func (w *worker) checkHandle(tpm *swtpm.TPM, stateDir string) string {
	data, err := os.ReadFile(filepath.Join(stateDir, store.CredentialsFile))
	if err != nil || tpm == nil {
		return ""
	}
	h, err := parseHandoff(data)
	if err != nil || h.PrivateKeyHandle == "" {
		return ""
	}
	cert, err := h.certificate()
	if err != nil {
		return err.Error()
	}
	held, err := heldAt(tpm, h.PrivateKeyHandle)
	switch {
	case err != nil:
		return "the TPM key credentials.json names: " + err.Error()
	case !samePublic(cert.PublicKey, held):
		return fmt.Sprintf("the TPM holds at %s another key than certificate %s's", h.PrivateKeyHandle, short(h.CertificateID))
	}
	return ""
}

// checkToken reports, once the daemon has stopped, why the token is not
// as the identity credentials.json names leaves it.
func (w *worker) checkToken(env []string, stateDir string) string {
	data, err := os.ReadFile(filepath.Join(stateDir, store.CredentialsFile))
	if err != nil {
		return err.Error()
	}
	h, err := parseHandoff(data)
	if err != nil {
		return err.Error()
	}
	keys, err := readToken(w.o.Tools, env)
	if err != nil {
		return "reading the token: " + err.Error()
	}
	return keys.judge(h, retiredLabel(stateDir, h))
}

// finish stops the worker's fleetsim, counts each check's orphans (the
// certificates issued before the cut and those created in its window,
// less the one handed over at the end and those handed over before the
// cut) and saves the failing states.
func (w *worker) finish(done []*checked) error {
	w.srv.Stop()
	certs, err := deviceCerts(w.o.Fleetsim, w.srv.Dir)
	if err != nil {
		return err
	}
	for _, c := range done {
		obtained := slices.Clone(c.state.Issued)
		for id, cert := range certs {
			if !cert.CreatedAt.Before(c.start) && !cert.CreatedAt.After(c.end) {
				obtained = append(obtained, id)
			}
		}
		for _, id := range obtained {
			if id != c.id && !c.state.Retired[id] {
				c.res.Orphans++
			}
		}
		if c.res.Fault == "" && c.res.Orphans > 1 {
			c.res.Fault = fmt.Sprintf("%d orphaned certificates for one crash", c.res.Orphans)
		}
		c.res.TokenTorn = c.res.Fault != "" && c.tornFile != ""
		if c.res.TokenTorn {
			c.res.Fault = "softhsm2 left " + c.tornFile + " torn: " + c.res.Fault
		}
		c.res.Recovered = c.res.Fault == "" && !c.res.Refused
		if c.res.Fault != "" && !c.res.TokenTorn {
			if err := w.saveFixture(c.state, c.res, c.log); err != nil {
				return err
			}
		}
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

func printTallies(out io.Writer, tallies map[string]*Tally, took time.Duration) {
	keys := make([]string, 0, len(tallies))
	for k := range tallies {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	fmt.Fprintf(out, "%-40s %7s %8s %7s %9s %7s %6s %8s\n", "flow/model", "drawn", "distinct", "checked", "recovered", "refused", "failed", "ms/check")
	var sum Tally
	for _, k := range keys {
		t := tallies[k]
		fmt.Fprintf(out, "%-40s %7d %8d %7d %9d %7d %6d %8s\n", k, t.Drawn, t.Distinct, t.Checked, t.Recovered, t.Refused, t.Failed, perCheck(t))
		add(&sum, t)
	}
	byModel := map[string]*Tally{}
	for _, k := range keys {
		model := k[strings.LastIndexByte(k, '/')+1:]
		if byModel[model] == nil {
			byModel[model] = &Tally{}
		}
		add(byModel[model], tallies[k])
	}
	for _, model := range sortedKeys(byModel) {
		t := byModel[model]
		fmt.Fprintf(out, "%-40s %7d %8d %7d %9d %7d %6d %8s\n", "all flows/"+model, t.Drawn, t.Distinct, t.Checked, t.Recovered, t.Refused, t.Failed, perCheck(t))
	}
	fmt.Fprintf(out, "%-40s %7d %8d %7d %9d %7d %6d %8s\n", "total", sum.Drawn, sum.Distinct, sum.Checked, sum.Recovered, sum.Refused, sum.Failed, perCheck(&sum))
	for _, k := range keys {
		if n := tallies[k].TokenTorn; n > 0 {
			fmt.Fprintf(out, "%s: %d states not recovered in which the cut tore softhsm2's own token files (it never syncs them): neither recovered nor failed\n", k, n)
		}
		if n := tallies[k].HandleUnchecked; n > 0 {
			fmt.Fprintf(out, "%s: tpm.handle not judged in %d recovered states (the daemon kept an identity handed over before the cut; the TPM is from the recording's end)\n", k, n)
		}
	}
	fmt.Fprintf(out, "checked in %s\n", took.Round(time.Second))
}

func add(sum, t *Tally) {
	sum.Drawn += t.Drawn
	sum.Distinct += t.Distinct
	sum.Checked += t.Checked
	sum.Recovered += t.Recovered
	sum.Refused += t.Refused
	sum.Failed += t.Failed
	sum.Took += t.Took
}

func perCheck(t *Tally) string {
	if t.Checked == 0 {
		return "-"
	}
	return fmt.Sprint((t.Took / time.Duration(t.Checked)).Milliseconds())
}
