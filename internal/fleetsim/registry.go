package fleetsim

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/provisiond/provisiond/internal/fleetsim/template"
)

// registry is the live registry, in dir/registry.db. Every method that changes it returns
// after its transaction committed, so an answer built from its result never reports
// something a reader of the database (fleetsim registry, the API) could not see yet.
type registry struct {
	// db writes, one transaction at a time (wmu): SQLite has one writer anyway, and
	// this makes each read-check-write method a transaction nobody interleaves. It has
	// a second connection so that a statement can be prepared while a transaction runs.
	db  *sql.DB
	wmu sync.Mutex
	// rdb reads, on several connections (WAL readers do not wait for the writer).
	rdb *sql.DB
	// wstmts and rstmts keep the statements of db and rdb prepared.
	wstmts, rstmts *stmtCache

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

func newRegistry(db, rdb *sql.DB) *registry {
	db.SetMaxOpenConns(2)
	rdb.SetMaxOpenConns(8)
	rdb.SetMaxIdleConns(8)
	return &registry{db: db, rdb: rdb, wstmts: newStmtCache(db), rstmts: newStmtCache(rdb),
		busy: map[string]bool{}, subjects: map[string]template.CertificateInfo{}}
}

func (g *registry) close() error {
	g.wstmts.close()
	g.rstmts.close()
	return errors.Join(g.rdb.Close(), g.db.Close())
}

// write runs f in a transaction and commits it.
func (g *registry) write(f func(tx dbtx) error) error {
	g.wmu.Lock()
	defer g.wmu.Unlock()
	tx, err := g.db.BeginTx(context.Background(), nil)
	if err != nil {
		return err
	}
	if err := f(cachedTx{tx: tx, c: g.wstmts}); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// snapshot is the whole registry in a stable order.
func (g *registry) snapshot() (Registry, error) { return readAll(g.rdb) }

// certificate returns one certificate; false if unknown (or deleted).
func (g *registry) certificate(id string) (Certificate, bool, error) {
	return readCertificate(cachedDB{g.rstmts}, id)
}

// addPending records a newly issued device certificate, and the certificate parameters
// of its subject when known (nil: RegisterThing parses the certificate).
func (g *registry) addPending(c Certificate, subject *template.CertificateInfo) error {
	if subject != nil {
		g.mu.Lock()
		g.subjects[c.CertificateID] = *subject
		g.mu.Unlock()
	}
	err := g.write(func(tx dbtx) error { return insertCertificate(tx, c) })
	if err != nil && subject != nil {
		g.mu.Lock()
		delete(g.subjects, c.CertificateID)
		g.mu.Unlock()
	}
	return err
}

// sweep deletes the PENDING_ACTIVATION certificates whose token expired unused:
// they move to orphans with status DELETED. It returns how many.
func (g *registry) sweep(now time.Time, ttl time.Duration) (int, error) {
	// Most sweeps find nothing: look before taking the writer.
	var n int
	look := cachedDB{g.rstmts}
	if err := look.QueryRow(`SELECT count(*) FROM certificates WHERE status = ? AND created_at <= ?`,
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
	err := g.write(func(tx dbtx) error {
		rows, err := tx.Query(`SELECT id FROM certificates WHERE status = ? AND created_at <= ?`,
			StatusPendingActivation, now.Add(-ttl).UnixNano())
		if err != nil {
			return err
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range ids {
			if containsString(busy, id) {
				continue
			}
			if _, err := tx.Exec(`INSERT INTO orphans(id, kind, policies, created_at, pem)
				SELECT id, kind, policies, created_at, pem FROM certificates WHERE id = ?`, id); err != nil {
				return err
			}
			if _, err := tx.Exec(`DELETE FROM certificates WHERE id = ?`, id); err != nil {
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

func containsString(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// reserve marks a pending certificate as being registered, and returns it with its
// subject's certificate parameters when addPending was given them. It fails if the
// certificate is not pending (unknown, deleted, already used) or another request holds it.
func (g *registry) reserve(id string, now time.Time, ttl time.Duration) (Certificate, *template.CertificateInfo, bool) {
	c, ok, err := readCertificate(cachedDB{g.rstmts}, id)
	if err != nil || !ok || c.Status != StatusPendingActivation || !now.Before(c.CreatedAt.Add(ttl)) {
		return Certificate{}, nil, false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.busy[id] {
		return Certificate{}, nil, false
	}
	g.busy[id] = true
	var subject *template.CertificateInfo
	if info, ok := g.subjects[id]; ok {
		subject = &info
	}
	return c, subject, true
}

// release gives back a reservation after a failed RegisterThing: the token stays usable.
func (g *registry) release(id string) {
	g.mu.Lock()
	delete(g.busy, id)
	g.mu.Unlock()
}

// finish ends a reservation after a successful RegisterThing.
func (g *registry) finish(id string) {
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

func insertCertificate(tx dbtx, c Certificate) error {
	pol, err := json.Marshal(nonNil(c.Policies))
	if err != nil {
		return err
	}
	t := c.CreatedAt.UnixNano()
	_, err = tx.Exec(`INSERT INTO certificates(id, status, kind, policies, created_at, modified_at, pem) VALUES(?,?,?,?,?,?,?)`,
		c.CertificateID, c.Status, c.Kind, string(pol), t, t, c.CertificatePEM)
	if err != nil {
		return fmt.Errorf("certificate %s: %w", c.CertificateID, err)
	}
	return nil
}

// writeThing inserts or replaces a thing and its groups, keeping its thingId.
func writeThing(tx dbtx, t Thing, version int64) error {
	attrs, err := json.Marshal(t.Attributes)
	if err != nil {
		return err
	}
	if t.Attributes == nil {
		attrs = []byte("{}")
	}
	if _, err := tx.Exec(`INSERT INTO things(name, thing_id, thing_type, billing_group, attributes, version) VALUES(?,?,?,?,?,?)
		ON CONFLICT(name) DO UPDATE SET thing_type = excluded.thing_type, billing_group = excluded.billing_group,
			attributes = excluded.attributes, version = excluded.version`,
		t.ThingName, newThingID(), t.ThingType, t.BillingGroup, string(attrs), version); err != nil {
		return fmt.Errorf("thing %s: %w", t.ThingName, err)
	}
	if _, err := tx.Exec(`DELETE FROM groups WHERE thing_name = ?`, t.ThingName); err != nil {
		return err
	}
	for _, gname := range t.Groups {
		if _, err := tx.Exec(`INSERT OR IGNORE INTO groups(group_name, thing_name) VALUES(?,?)`, gname, t.ThingName); err != nil {
			return err
		}
	}
	return nil
}

func attachPrincipal(tx dbtx, thing, certID string) error {
	_, err := tx.Exec(`INSERT OR IGNORE INTO thing_principals(thing_name, certificate_id) VALUES(?,?)`, thing, certID)
	return err
}

func upsertPolicy(tx dbtx, p Policy, now time.Time) error {
	_, err := tx.Exec(`INSERT INTO policies(name, document, created_at) VALUES(?,?,?)
		ON CONFLICT(name) DO UPDATE SET document = CASE WHEN excluded.document != '' THEN excluded.document ELSE document END`,
		p.PolicyName, p.PolicyDocument, now.UnixNano())
	return err
}
