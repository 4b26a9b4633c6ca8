package fleetsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/atomicfile"
)

func encodeRegistry(r Registry) ([]byte, error) {
	var e registryEncoder
	return e.encode(r)
}

// registryEncoder writes registry.json. It keeps its buffers between calls: a storm
// saves a registry of megabytes every few seconds, and growing fresh buffers for each
// save was a tenth of the emulator's allocations.
type registryEncoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

// encode returns the registry's JSON, valid until the next call.
func (e *registryEncoder) encode(r Registry) ([]byte, error) {
	r.fillEmpty()
	if e.enc == nil {
		e.enc = json.NewEncoder(&e.buf)
		e.enc.SetIndent("", "  ")
		e.enc.SetEscapeHTML(false)
	}
	e.buf.Reset()
	if err := e.enc.Encode(r); err != nil {
		return nil, err
	}
	return e.buf.Bytes(), nil
}

// ReadRegistry reads dir/registry.json without starting a server (for `fleetsim registry`).
func ReadRegistry(dir string) (Registry, error) {
	path := filepath.Join(dir, registryFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return Registry{}, err
	}
	var r Registry
	if err := json.Unmarshal(b, &r); err != nil {
		return Registry{}, fmt.Errorf("%s: %w", path, err)
	}
	r.fillEmpty()
	return r, nil
}

// fillEmpty makes absent lists empty, so that the JSON always holds arrays
// (scripts index them) and never null.
func (r *Registry) fillEmpty() {
	if r.Things == nil {
		r.Things = []Thing{}
	}
	if r.Certificates == nil {
		r.Certificates = []Certificate{}
	}
	if r.Policies == nil {
		r.Policies = []Policy{}
	}
	if r.Orphans == nil {
		r.Orphans = []Certificate{}
	}
}

// flusher writes the registry to disk after changes, coalescing bursts so that a storm
// of provisioning does not fsync once per device.
type flusher struct {
	path  string
	snap  func() Registry
	log   *zap.Logger
	delay time.Duration
	kick  chan struct{}
	stop  chan struct{}
	done  chan struct{}
	// enc and lastWrite (how long the last save took) belong to flush, which runs on
	// loop's goroutine, then once more from close after the loop has ended: never two
	// at once.
	enc       registryEncoder
	lastWrite time.Duration
	closed    sync.Once
}

func newFlusher(path string, snap func() Registry, log *zap.Logger) *flusher {
	f := &flusher{
		path:  path,
		snap:  snap,
		log:   log,
		delay: 200 * time.Millisecond,
		kick:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go f.loop()
	return f
}

// changed asks for a write soon.
func (f *flusher) changed() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

func (f *flusher) loop() {
	defer close(f.done)
	for {
		select {
		case <-f.stop:
			return
		case <-f.kick:
		}
		// Save at once, so that a single change is on disk quickly (`fleetsim registry`
		// reads the file); changes during the pause below are saved together after it.
		if err := f.flush(); err != nil {
			f.log.Error("cannot save the registry", zap.String("file", f.path), zap.Error(err))
		}
		// Pause at least delay, and fifty times the last save's duration, so that saving
		// a large registry during a storm takes at most a fiftieth of the time (Close
		// saves the final state whatever the pause).
		t := time.NewTimer(max(f.delay, 50*f.lastWrite))
		select {
		case <-f.stop:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// flush writes the registry now.
func (f *flusher) flush() error {
	t0 := time.Now()
	data, err := f.enc.encode(f.snap())
	if err != nil {
		return err
	}
	err = atomicfile.Write(f.path, data, 0o644)
	f.lastWrite = time.Since(t0)
	return err
}

// close stops the loop and writes a final time.
func (f *flusher) close() error {
	f.stopLoop()
	return f.flush()
}

// stopLoop stops the loop without writing.
func (f *flusher) stopLoop() {
	f.closed.Do(func() { close(f.stop) })
	<-f.done
}
