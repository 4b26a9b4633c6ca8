package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// maxBatch bounds the changes one transaction commits (see the package documentation).
const maxBatch = 64

// ErrClosed is a change asked of a closed registry.
var ErrClosed = errors.New("the registry is closed")

// change is one Write waiting for its batch's commit.
type change struct {
	f    func(*Tx) error
	done chan error // buffered: the writer never waits for the one who asked
}

// writer owns the connection that writes, and every statement prepared on it. Only its
// goroutine (run) touches it.
type writer struct {
	conn  *sql.Conn
	stmts map[string]*sql.Stmt
	// beforeCommit, when set, runs before each batch's COMMIT; an error it returns fails
	// the batch as a failed COMMIT would (SetBeforeCommit).
	beforeCommit func(batch int) error
	hookChanged  bool // SetBeforeCommit ran in this batch, which is spared the hook
	// delay and busy are SetCommitDelay's: how long a batch may wait for more changes,
	// and whether enough writers are about for it to be worth it.
	delay time.Duration
	busy  func() bool
}

// run commits the changes sent on queue, in batches, until queue is closed.
func (w *writer) run(queue <-chan *change) {
	batch := make([]*change, 0, maxBatch)
	results := make([]error, 0, maxBatch)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	var lastCommit time.Time
	for c := range queue {
		batch = append(batch[:0], c)
		var wait <-chan time.Time
		if w.lingers(lastCommit) {
			linger.Reset(w.delay)
			wait = linger.C
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case c, ok := <-queue:
				if !ok {
					break fill
				}
				batch = append(batch, c)
				continue
			default:
			}
			if wait == nil {
				break fill
			}
			select {
			case c, ok := <-queue:
				if !ok {
					break fill
				}
				batch = append(batch, c)
			case <-wait:
				break fill
			}
		}
		linger.Stop()
		results = w.commit(batch, results[:0])
		lastCommit = time.Now()
		for i, c := range batch {
			c.done <- results[i]
			batch[i] = nil
		}
	}
	for _, s := range w.stmts {
		_ = s.Close()
	}
	_ = w.conn.Close()
}

// lingers says whether a batch waits for more changes before it commits: only while
// changes stream in (the last commit ended less than the delay ago) and busy says other
// writers are about, so that a lone change never waits.
func (w *writer) lingers(lastCommit time.Time) bool {
	return w.delay > 0 && time.Since(lastCommit) < w.delay && w.busy != nil && w.busy()
}

// commit runs a batch in one transaction, each change inside a savepoint of its own so
// that a change that refuses (returns an error) undoes only itself; a batch of one, the
// common case when changes do not arrive together, needs none: its refusal rolls the
// transaction back. If the transaction does not commit, every change in it fails, the
// refusals too (a refusal may rest on what an earlier change of the batch wrote).
func (w *writer) commit(batch []*change, results []error) []error {
	if _, err := w.Exec("BEGIN IMMEDIATE"); err != nil {
		for range batch {
			results = append(results, fmt.Errorf("begin a registry transaction: %w", err))
		}
		return results
	}
	tx := &Tx{q: w}
	if len(batch) == 1 {
		if err := run(tx, batch[0].f); err != nil {
			if _, rerr := w.Exec("ROLLBACK"); rerr != nil {
				err = errors.Join(err, rerr)
			}
			return append(results, err)
		}
		results = append(results, nil)
	} else {
		for _, c := range batch {
			results = append(results, w.apply(tx, c.f))
		}
	}
	err := error(nil)
	if w.beforeCommit != nil && !w.hookChanged {
		err = w.beforeCommit(len(batch))
	}
	w.hookChanged = false
	if err == nil {
		_, err = w.Exec("COMMIT")
	}
	if err != nil {
		_, _ = w.Exec("ROLLBACK")
		for i := range results {
			results[i] = fmt.Errorf("commit the registry transaction: %w", err)
		}
	}
	return results
}

// apply runs one change of a batch in a savepoint.
func (w *writer) apply(tx *Tx, f func(*Tx) error) (err error) {
	if _, err := w.Exec("SAVEPOINT change"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			if _, rerr := w.Exec("ROLLBACK TO change"); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
		if _, rerr := w.Exec("RELEASE change"); rerr != nil && err == nil {
			err = rerr
		}
	}()
	return run(tx, f)
}

// run runs one change; a panic in it is its error.
func run(tx *Tx, f func(*Tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error in a registry change: %v", p)
		}
	}()
	return f(tx)
}

// stmt is query prepared on the writer's connection, once.
func (w *writer) stmt(query string) (*sql.Stmt, error) {
	if s, ok := w.stmts[query]; ok {
		return s, nil
	}
	s, err := w.conn.PrepareContext(context.Background(), query)
	if err != nil {
		return nil, err
	}
	w.stmts[query] = s
	return s, nil
}

func (w *writer) Exec(query string, args ...any) (sql.Result, error) {
	s, err := w.stmt(query)
	if err != nil {
		return nil, err
	}
	return s.Exec(args...)
}

func (w *writer) Query(query string, args ...any) (*sql.Rows, error) {
	s, err := w.stmt(query)
	if err != nil {
		return nil, err
	}
	return s.Query(args...)
}

func (w *writer) QueryRow(query string, args ...any) *sql.Row {
	s, err := w.stmt(query)
	if err != nil {
		return w.conn.QueryRowContext(context.Background(), query, args...) // reports the same error
	}
	return s.QueryRow(args...)
}

// SetCommitDelay makes a batch wait up to d for more changes before it commits, while
// busy says that enough writers are about (as PostgreSQL's commit_delay waits only with
// commit_siblings open transactions) and changes stream in. d of 0 commits at once.
func (g *Store) SetCommitDelay(d time.Duration, busy func() bool) error {
	return g.Write(func(*Tx) error {
		g.writer.delay, g.writer.busy = d, busy
		return nil
	})
}

// SetBeforeCommit makes f run on the writer before each batch's COMMIT, with the number of
// changes in the batch; an error it returns fails the batch as a failed COMMIT would. It is
// how tests fail commits on purpose; nil removes it. Its own batch commits without it.
func (g *Store) SetBeforeCommit(f func(batch int) error) error {
	return g.Write(func(*Tx) error {
		g.writer.beforeCommit, g.writer.hookChanged = f, true
		return nil
	})
}
