package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// watcher reads credentials.json and the pair it names as a consumer on the
// device does (crypto/tls), all the time, and records every read that gives
// an unusable pair.
type watcher struct {
	path string

	mu       sync.Mutex
	reads    int
	raced    int
	failures []string
	ids      map[string]bool
}

// watchResult is what the watcher saw over the run.
type watchResult struct {
	reads, raced int
	failures     []string
	identities   int
}

func newWatcher(state string) *watcher {
	return &watcher{path: filepath.Join(state, "credentials.json"), ids: map[string]bool{}}
}

// watchEvery paces the reads: about a hundred a second.
const watchEvery = 10 * time.Millisecond

func (w *watcher) run(ctx context.Context) {
	for ctx.Err() == nil {
		w.readOnce()
		select {
		case <-ctx.Done():
		case <-time.After(watchEvery):
		}
	}
}

// readOnce reads the handoff once. A failure whose credentials.json changed
// meanwhile is a read that raced two handoffs (the pair it named was
// removed as the one before the previous), not an unusable pair; the next
// read uses the new one.
func (w *watcher) readOnce() {
	data, err := os.ReadFile(w.path)
	if errors.Is(err, fs.ErrNotExist) {
		return // not provisioned yet
	}
	id, perr := checkPair(data, err)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.reads++
	if perr == nil {
		w.ids[id] = true
		return
	}
	if again, err := os.ReadFile(w.path); err == nil && !bytes.Equal(again, data) {
		w.raced++
		return
	}
	w.failures = append(w.failures, fmt.Sprintf("%s: %v", time.Now().Format("15:04:05.000"), perr))
}

// checkPair parses credentials.json and loads the pair it names; it returns
// the certificate ID.
func checkPair(data []byte, readErr error) (string, error) {
	if readErr != nil {
		return "", readErr
	}
	var c struct {
		CertificateID   string `json:"certificateId"`
		CertificateFile string `json:"certificateFile"`
		PrivateKeyFile  string `json:"privateKeyFile"`
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return "", fmt.Errorf("credentials.json: %w", err)
	}
	pair, err := tls.LoadX509KeyPair(c.CertificateFile, c.PrivateKeyFile)
	if err != nil {
		return "", fmt.Errorf("pair %s, %s: %w", c.CertificateFile, c.PrivateKeyFile, err)
	}
	sum := sha256.Sum256(pair.Certificate[0])
	if id := hex.EncodeToString(sum[:]); !strings.EqualFold(id, c.CertificateID) {
		return "", fmt.Errorf("certificateId %s, but %s is %s", c.CertificateID, c.CertificateFile, id)
	}
	return c.CertificateID, nil
}

func (w *watcher) result() watchResult {
	w.mu.Lock()
	defer w.mu.Unlock()
	return watchResult{reads: w.reads, raced: w.raced, failures: append([]string(nil), w.failures...), identities: len(w.ids)}
}
