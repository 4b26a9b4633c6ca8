package crashstate

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// fixture is what a saved failing state needs to be checked again: the
// recording's paths and endpoint (written into its files), the flow's
// method, and what the verdict counts.
type fixture struct {
	ID       string   `json:"id"`
	Seed     uint64   `json:"seed"`
	Fault    string   `json:"fault"`
	Flow     string   `json:"flow"`
	Method   string   `json:"method"`
	KeyType  string   `json:"keyType,omitempty"`
	Model    string   `json:"model"`
	Base     string   `json:"base"`
	StateDir string   `json:"stateDirectory"`
	Fleet    string   `json:"fleet"`
	Endpoint string   `json:"endpoint"`
	Handed   *handoff `json:"handedOver,omitempty"`
	Retired  []string `json:"retired,omitempty"`
	Issued   []string `json:"issued,omitempty"`
	Reimport bool     `json:"importAgain,omitempty"`
	// Spec is the whole flow: its config, fleetsim flags and TPM.
	Spec      *Flow  `json:"flowSpec,omitempty"`
	Final     string `json:"finalCertificateId,omitempty"`
	StatePath string `json:"-"`
}

// saveFixture keeps a failing state under Fixtures/<flow>-<model>-p<point>-c<choice>:
// state/ (the directory the cut left), ops.txt (the ops that produced it),
// verdict.txt, fleet/ (the service's folder as the recording left it),
// tpm/ (the TPM's state, for a TPM flow) and fixture.json, from which
// Replay checks it again.
func (w *worker) saveFixture(s *State, res Result, log string) error {
	if w.o.Fixtures == "" {
		return nil
	}
	dir := filepath.Join(w.o.Fixtures, strings.ReplaceAll(s.ID(), "/", "-"))
	if err := s.Tree.WriteTo(filepath.Join(dir, "state"), nil, nil); err != nil {
		return err
	}
	if err := copyDir(w.rec.Fleet, filepath.Join(dir, "fleet")); err != nil {
		return err
	}
	if w.rec.TPMState != "" {
		if err := copyDir(w.rec.TPMState, filepath.Join(dir, "tpm")); err != nil {
			return err
		}
	}
	fx := fixture{ID: s.ID(), Seed: w.o.Seed, Fault: res.Fault, Flow: w.rec.Flow.Name, Method: w.rec.Flow.Method, KeyType: w.rec.Flow.KeyType,
		Model: s.Model.Name, Base: w.o.Base, StateDir: w.rec.StateDir, Fleet: w.rec.Fleet, Endpoint: w.rec.Endpoint,
		Handed: s.Handed, Retired: sortedKeys(s.Retired), Issued: s.Issued, Reimport: s.Reimport, Spec: &w.rec.Flow, Final: w.rec.Final}
	if w.rec.RecordedFleet != "" {
		fx.Fleet = w.rec.RecordedFleet
	}
	meta, err := json.MarshalIndent(fx, "", "  ")
	if err != nil {
		return err
	}
	verdict := fmt.Sprintf("state %s\nseed %d\nfault: %s\n\ndaemon log:\n%s", s.ID(), w.o.Seed, res.Fault, log)
	for name, data := range map[string][]byte{
		"fixture.json": meta, "verdict.txt": []byte(verdict), "ops.txt": []byte(s.Describe()),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Replay checks a saved fixture again with o's binaries, in o.Base, and
// returns the verdict: a failing state, once fixed, is a regression test.
func Replay(o Options, dir string) (Result, error) {
	data, err := os.ReadFile(filepath.Join(dir, "fixture.json"))
	if err != nil {
		return Result{}, err
	}
	var fx fixture
	if err := json.Unmarshal(data, &fx); err != nil {
		return Result{}, fmt.Errorf("%s: %w", filepath.Join(dir, "fixture.json"), err)
	}
	// Paths are rewritten in place, so the replay's folders take the
	// recording's lengths.
	pad := len(fx.Base) - len(o.Base) - 1
	if pad < 1 {
		return Result{}, fmt.Errorf("replay folder %s is too long for a recording made in %s", o.Base, fx.Base)
	}
	o.Base = filepath.Join(o.Base, strings.Repeat("p", pad))
	o.Fixtures, o.Parallel = "", 1
	flow := Flow{Name: fx.Flow, Method: fx.Method, KeyType: fx.KeyType}
	if fx.Spec != nil {
		flow = *fx.Spec
	}
	if flow.Attest {
		return Result{}, fmt.Errorf("fixture %s: an attestation flow's state is not replayed: its OEM CA and hook are not saved with it; run the flow again (-flows %s -only %s)", dir, flow.Name, fx.ID)
	}
	rec := &Recording{Flow: flow, StateDir: fx.StateDir, Endpoint: fx.Endpoint, RecordedFleet: fx.Fleet, Final: fx.Final}
	if flow.TPM {
		rec.TPMState = filepath.Join(dir, "tpm")
	}
	rec.Base = filepath.Join(o.Base, fx.Flow)
	rec.Fleet = filepath.Join(rec.Base, "fleet")
	if len(rec.Fleet) != len(fx.Fleet) {
		return Result{}, fmt.Errorf("fixture %s: fleet folder %s and %s differ in length", dir, fx.Fleet, rec.Fleet)
	}
	if err := copyDir(filepath.Join(dir, "fleet"), rec.Fleet); err != nil {
		return Result{}, err
	}
	tree, err := ReadTree(filepath.Join(dir, "state"))
	if err != nil {
		return Result{}, err
	}
	model := Model{Name: fx.Model}
	for _, m := range Models {
		if m.Name == fx.Model {
			model = m
		}
	}
	s := &State{Rec: rec, Model: model, Tree: tree, Handed: fx.Handed, Issued: fx.Issued, Reimport: fx.Reimport, Retired: map[string]bool{}}
	for _, id := range fx.Retired {
		s.Retired[id] = true
	}
	w, err := newWorker(o, rec, 0)
	if err != nil {
		return Result{}, err
	}
	c, err := w.check(s)
	if err != nil {
		w.srv.Stop()
		return Result{}, err
	}
	if err := w.finish([]*checked{c}); err != nil {
		return Result{}, err
	}
	return c.res, nil
}
