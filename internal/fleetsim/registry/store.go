package registry

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/provisiond/provisiond/internal/fleetsim/template"
)

// Store is the live registry, in dir/registry.db. Every method that changes it returns
// after its transaction committed, so an answer built from its result never reports
// something a reader of the database (fleetsim registry, the API) could not see yet.
type Store struct {
	// db writes, on one connection owned by the writer's goroutine: the changes sent on
	// queue are committed in batches (see the package documentation), each change a
	// read-check-write nobody interleaves.
	db      *sql.DB
	queue   chan *change
	writer  *writer
	stopped chan struct{} // closed when the writer's goroutine has ended
	// closeMu guards closed and the sends on queue.
	closeMu sync.RWMutex
	closed  bool
	// rdb reads, on several connections (WAL readers do not wait for the writer), its
	// statements kept prepared.
	rdb    *sql.DB
	rstmts *stmtCache

	mu sync.Mutex // guards busy and subjects
	// busy marks certificates whose RegisterThing is being processed, so that a token is
	// used at most once even when two requests race.
	busy map[string]bool
	// subjects holds, for pending certificates issued since start, the
	// AWS::IoT::Certificate::* parameters of the subject they were signed with, so that
	// RegisterThing does not parse the certificate again; a pending certificate without
	// an entry (issued before a restart) is parsed.
	subjects map[string]template.CertificateInfo
}

// Open opens dir/registry.db for serve, creating it from an old registry.json
// (imported once, then renamed aside to registry.json.imported) or empty.
func Open(dir string) (*Store, error) {
	db, err := openRegistryDB(dir)
	if err != nil {
		return nil, err
	}
	rdb, err := openDB(filepath.Join(dir, File), false)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		_ = db.Close()
		_ = rdb.Close()
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, File), err)
	}
	rdb.SetMaxOpenConns(8)
	rdb.SetMaxIdleConns(8)
	g := &Store{db: db, rdb: rdb, rstmts: newStmtCache(rdb),
		queue:   make(chan *change, maxBatch),
		writer:  &writer{conn: conn, stmts: map[string]*sql.Stmt{}},
		stopped: make(chan struct{}),
		busy:    map[string]bool{}, subjects: map[string]template.CertificateInfo{}}
	go func() {
		defer close(g.stopped)
		g.writer.run(g.queue)
	}()
	return g, nil
}

// Close commits the changes already asked for, then closes both connections.
func (g *Store) Close() error {
	g.closeMu.Lock()
	if !g.closed {
		g.closed = true
		close(g.queue)
	}
	g.closeMu.Unlock()
	<-g.stopped
	g.rstmts.close()
	return errors.Join(g.rdb.Close(), g.db.Close())
}

// read is the read connection, through prepared statements.
func (g *Store) read() cachedDB { return cachedDB{g.rstmts} }

// Write runs f as one change of the registry and returns once the transaction that holds
// it has committed: what f wrote is then visible to every reader. An error from f undoes
// f's writes only, and comes back as it is, so that a refusal it made comes back typed; a
// transaction that does not commit fails every change in it, with an error that says so.
// f runs on the writer's goroutine, after the changes asked before it: it must not call
// Write.
func (g *Store) Write(f func(tx *Tx) error) error {
	c := &change{f: f, done: make(chan error, 1)}
	g.closeMu.RLock()
	if g.closed {
		g.closeMu.RUnlock()
		return ErrClosed
	}
	g.queue <- c
	g.closeMu.RUnlock()
	return <-c.done
}

// Snapshot is the whole registry in a stable order.
func (g *Store) Snapshot() (Snapshot, error) { return readAll(g.rdb) }

// Certificate returns one certificate; false if unknown (or deleted).
func (g *Store) Certificate(id string) (Certificate, bool, error) {
	return readCertificate(g.read(), id)
}

// AddPending records a newly issued device certificate, and the certificate parameters
// of its subject when known (nil: RegisterThing parses the certificate).
func (g *Store) AddPending(c Certificate, subject *template.CertificateInfo) error {
	if subject != nil {
		g.mu.Lock()
		g.subjects[c.CertificateID] = *subject
		g.mu.Unlock()
	}
	err := g.Write(func(tx *Tx) error { return tx.InsertCertificate(c) })
	if err != nil && subject != nil {
		g.mu.Lock()
		delete(g.subjects, c.CertificateID)
		g.mu.Unlock()
	}
	return err
}

// Sweep deletes the PENDING_ACTIVATION certificates whose token expired unused:
// they move to orphans with status DELETED. It returns how many.
func (g *Store) Sweep(now time.Time, ttl time.Duration) (int, error) {
	// Most sweeps find nothing: look before taking the writer.
	var n int
	if err := g.read().QueryRow(`SELECT count(*) FROM certificates WHERE status = ? AND created_at <= ?`,
		StatusPendingActivation, now.Add(-ttl).UnixNano()).Scan(&n); err != nil || n == 0 {
		return 0, err
	}
	g.mu.Lock()
	busy := make([]string, 0, len(g.busy))
	for id := range g.busy {
		busy = append(busy, id)
	}
	g.mu.Unlock()
	var swept []string
	err := g.Write(func(tx *Tx) error {
		ids, err := columnOf(tx.q, `SELECT id FROM certificates WHERE status = ? AND created_at <= ?`,
			StatusPendingActivation, now.Add(-ttl).UnixNano())
		if err != nil {
			return err
		}
		for _, id := range ids {
			if slices.Contains(busy, id) {
				continue
			}
			if _, err := tx.q.Exec(`INSERT INTO orphans(id, kind, policies, created_at, pem)
				SELECT id, kind, policies, created_at, pem FROM certificates WHERE id = ?`, id); err != nil {
				return err
			}
			if _, err := tx.q.Exec(`DELETE FROM certificates WHERE id = ?`, id); err != nil {
				return err
			}
			swept = append(swept, id)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	g.mu.Lock()
	for _, id := range swept {
		delete(g.subjects, id)
	}
	g.mu.Unlock()
	return len(swept), nil
}

// ErrNotReservable is Reserve's refusal: the certificate is not pending (unknown,
// deleted, already used), its token's hour has passed, or another request holds it.
var ErrNotReservable = errors.New("the certificate cannot be registered")

// Reserve marks a pending certificate as being registered, and returns it with its
// subject's certificate parameters when AddPending was given them. It fails with
// ErrNotReservable when the certificate cannot be registered, and with another error
// when the registry cannot be read, which is the service's fault, not the device's.
// The Certificate holds what RegisterThing uses (ID, status, creation, PEM), read without
// the joins that readCertificate makes for the API.
func (g *Store) Reserve(id string, now time.Time, ttl time.Duration) (Certificate, *template.CertificateInfo, error) {
	c := Certificate{CertificateID: id}
	var created int64
	err := g.read().QueryRow(`SELECT status, created_at, pem FROM certificates WHERE id = ?`, id).Scan(&c.Status, &created, &c.CertificatePEM)
	if errors.Is(err, sql.ErrNoRows) {
		return Certificate{}, nil, ErrNotReservable
	}
	if err != nil {
		return Certificate{}, nil, fmt.Errorf("read certificate %s: %w", id, err)
	}
	c.CreatedAt = time.Unix(0, created).UTC()
	if c.Status != StatusPendingActivation || !now.Before(c.CreatedAt.Add(ttl)) {
		return Certificate{}, nil, ErrNotReservable
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.busy[id] {
		return Certificate{}, nil, ErrNotReservable
	}
	g.busy[id] = true
	var subject *template.CertificateInfo
	if info, ok := g.subjects[id]; ok {
		subject = &info
	}
	return c, subject, nil
}

// Held says whether a reservation is still held (the sweep has not taken it back).
func (g *Store) Held(id string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.busy[id]
}

// Release gives back a reservation after a failed RegisterThing: the token stays usable.
func (g *Store) Release(id string) {
	g.mu.Lock()
	delete(g.busy, id)
	g.mu.Unlock()
}

// Finish ends a reservation after a successful RegisterThing.
func (g *Store) Finish(id string) {
	g.mu.Lock()
	delete(g.busy, id)
	delete(g.subjects, id)
	g.mu.Unlock()
}

// newThingID is a thing's thingId, as random as AWS's UUIDs.
func newThingID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// columnOf reads a one-column query.
func columnOf(q querier, query string, args ...any) ([]string, error) {
	rows, err := q.Query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// exists runs a count query.
func exists(q querier, query string, args ...any) (bool, error) {
	var n int
	if err := q.QueryRow(query, args...).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}
