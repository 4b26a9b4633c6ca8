package store

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/provisiond/provisiond/internal/watch"
)

// recheckEvery is how often wait looks again while the state directory
// cannot be watched: neither it nor its parent exists yet, or the system has
// no inotify watches to spare.
const recheckEvery = 2 * time.Second

// waitDebounce keeps wait prompt: credentials.json appears in one rename.
const waitDebounce = 10 * time.Millisecond

// WaitForCredentials returns once dir/credentials.json is valid and, when
// notID is set, names another certificate. It watches the folder, not the file.
func WaitForCredentials(ctx context.Context, dir, notID string) (Credentials, error) {
	path := filepath.Join(dir, CredentialsFile)
	var lastErr error
	check := func() (Credentials, bool) {
		c, err := ReadCredentials(path)
		if err != nil {
			lastErr = err
			return c, false
		}
		if notID != "" && c.CertificateID == notID {
			lastErr = fmt.Errorf("%s still names certificate %s", path, notID)
			return c, false
		}
		return c, true
	}
	var creds Credentials
	err := waitFor(ctx, path, func() bool {
		c, ok := check()
		creds = c
		return ok
	})
	if err != nil {
		return Credentials{}, fmt.Errorf("timed out: %v", lastErr)
	}
	return creds, nil
}

// WaitForState returns the state saved in dir once until holds for it, as
// `provisiond claim import --wait` waits for the claim's outcome. It
// watches the folder, not the file.
func WaitForState(ctx context.Context, dir string, until func(State) bool) (State, error) {
	var st State
	err := waitFor(ctx, filepath.Join(dir, StateFile), func() bool {
		s, err := LoadState(ReadOnlyDir(dir))
		st = s
		return err == nil && until(s)
	})
	return st, err
}

// waitFor returns once check holds, looking again at each change of path
// (a file in a watched folder), or ctx's error.
func waitFor(ctx context.Context, path string, check func() bool) error {
	changed := make(chan struct{}, 1)
	onChange := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	// A state folder not created yet is watched through its parent. Only
	// when even that fails, re-check on a slow ticker until it can be
	// watched, then only on its events.
	var w *watch.Watcher
	defer func() {
		if w != nil {
			w.Close()
		}
	}()
	ticker := time.NewTicker(recheckEvery)
	defer ticker.Stop()
	for {
		if w == nil {
			if nw, err := watch.Start(ctx, watch.Options{Paths: []string{path}, Debounce: waitDebounce}, onChange); err == nil {
				w = nw
				ticker.Stop()
			}
		}
		if check() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-ticker.C:
		}
	}
}
