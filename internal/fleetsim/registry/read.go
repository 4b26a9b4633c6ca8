package registry

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// querier is a database or a transaction.
type querier interface {
	Query(query string, args ...any) (*sql.Rows, error)
	QueryRow(query string, args ...any) *sql.Row
}

// Read reads the whole registry of dir, live: serve may be running (for
// `fleetsim registry`). A folder from before registry.db is read from its registry.json.
func Read(dir string) (Snapshot, error) {
	var r Snapshot
	err := withReadDB(dir, func(db *sql.DB) (err error) {
		r, err = readAll(db)
		return err
	})
	return r, err
}

// ReadThing reads one thing of dir's registry; fs.ErrNotExist if there is none.
func ReadThing(dir, name string) (Thing, error) {
	var t Thing
	err := withReadDB(dir, func(db *sql.DB) error {
		var ok bool
		var err error
		if t, ok, err = readThing(db, name); err == nil && !ok {
			err = fmt.Errorf("thing %q: %w", name, fs.ErrNotExist)
		}
		return err
	})
	return t, err
}

// ReadCertificate reads one certificate of dir's registry; fs.ErrNotExist if there is none.
func ReadCertificate(dir, id string) (Certificate, error) {
	var c Certificate
	err := withReadDB(dir, func(db *sql.DB) error {
		var ok bool
		var err error
		if c, ok, err = readCertificate(db, id); err == nil && !ok {
			err = fmt.Errorf("certificate %q: %w", id, fs.ErrNotExist)
		}
		return err
	})
	return c, err
}

// withReadDB opens dir/registry.db read-only for f. Without it, an old registry.json
// (not imported yet: serve has not run since) is loaded into a temporary database.
func withReadDB(dir string, f func(*sql.DB) error) error {
	path := filepath.Join(dir, File)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		legacy := filepath.Join(dir, LegacyFile)
		b, err := os.ReadFile(legacy)
		if err != nil {
			return fmt.Errorf("no registry in %s (run fleetsim init first?): %w", dir, err)
		}
		var r Snapshot
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s: %w", legacy, err)
		}
		tmp, err := os.MkdirTemp("", "fleetsim-registry")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		path = filepath.Join(tmp, File)
		if err := Create(path, r); err != nil {
			return err
		}
	}
	if err := addClaimsTables(path); err != nil {
		return err
	}
	db, err := openDB(path, true)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := f(db); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// fillEmpty makes absent lists empty, so that the JSON always holds arrays
// (scripts index them) and never null.
func (r *Snapshot) fillEmpty() {
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

// readAll reads the whole registry in one read transaction, in a stable order: things
// and policies by name, certificates by age.
func readAll(db *sql.DB) (Snapshot, error) {
	tx, err := db.Begin()
	if err != nil {
		return Snapshot{}, err
	}
	defer func() { _ = tx.Rollback() }()
	var r Snapshot
	if r.Certificates, err = queryCertificates(tx, `SELECT `+certColumns+` FROM certificates ORDER BY created_at, id`); err != nil {
		return r, err
	}
	if r.Orphans, err = queryCertificates(tx, `SELECT id, 'DELETED', kind, policies, created_at, pem, '', 0 FROM orphans ORDER BY created_at, id`); err != nil {
		return r, err
	}
	rows, err := tx.Query(`SELECT name, document FROM policies ORDER BY name`)
	if err != nil {
		return r, err
	}
	for rows.Next() {
		var p Policy
		if err := rows.Scan(&p.PolicyName, &p.PolicyDocument); err != nil {
			rows.Close()
			return r, err
		}
		r.Policies = append(r.Policies, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return r, err
	}
	if r.Things, err = queryThings(tx, `SELECT `+thingColumns+` FROM things ORDER BY name`); err != nil {
		return r, err
	}
	// Principals and groups in two passes rather than a query per thing.
	byName := make(map[string]*Thing, len(r.Things))
	for i := range r.Things {
		byName[r.Things[i].ThingName] = &r.Things[i]
	}
	if err := eachPair(tx, `SELECT thing_name, certificate_id FROM thing_principals ORDER BY seq`, func(thing, id string) {
		if t := byName[thing]; t != nil {
			t.Certificates = append(t.Certificates, id)
		}
	}); err != nil {
		return r, err
	}
	if err := eachPair(tx, `SELECT thing_name, group_name FROM groups ORDER BY seq`, func(thing, g string) {
		if t := byName[thing]; t != nil {
			t.Groups = append(t.Groups, g)
		}
	}); err != nil {
		return r, err
	}
	r.fillEmpty()
	return r, nil
}

func eachPair(q querier, query string, f func(a, b string), args ...any) error {
	rows, err := q.Query(query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var a, b string
		if err := rows.Scan(&a, &b); err != nil {
			return err
		}
		f(a, b)
	}
	return rows.Err()
}

// certColumns are what scanCertificate reads; the thing is the first one it is attached to.
const certColumns = `id, status, kind, policies, created_at, pem,
	COALESCE((SELECT thing_name FROM thing_principals p WHERE p.certificate_id = certificates.id ORDER BY seq LIMIT 1), ''), ` +
	thingsRegisteredColumn

func queryCertificates(q querier, query string, args ...any) ([]Certificate, error) {
	rows, err := q.Query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Certificate{}
	for rows.Next() {
		c, err := scanCertificate(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

type scanner interface{ Scan(dest ...any) error }

func scanCertificate(s scanner) (Certificate, error) {
	var c Certificate
	var pol string
	var created int64
	var things int
	if err := s.Scan(&c.CertificateID, &c.Status, &c.Kind, &pol, &created, &c.CertificatePEM, &c.ThingName, &things); err != nil {
		return c, err
	}
	if IsClaim(c.Kind) {
		c.ThingsRegistered = &things
	}
	var err error
	if c.Policies, err = decodePolicies(c.CertificateID, pol); err != nil {
		return c, err
	}
	c.CreatedAt = time.Unix(0, created).UTC()
	return c, nil
}

// decodePolicies reads a certificate's policies column; none is nil.
func decodePolicies(id, column string) ([]string, error) {
	var p []string
	if err := json.Unmarshal([]byte(column), &p); err != nil {
		return nil, fmt.Errorf("certificate %s: policies: %w", id, err)
	}
	if len(p) == 0 {
		return nil, nil
	}
	return p, nil
}

func readCertificate(q querier, id string) (Certificate, bool, error) {
	c, err := scanCertificate(q.QueryRow(`SELECT `+certColumns+` FROM certificates WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Certificate{}, false, nil
	}
	return c, err == nil, err
}

const thingColumns = `name, thing_type, billing_group, attributes`

func scanThing(s scanner) (Thing, error) {
	var t Thing
	var attrs string
	if err := s.Scan(&t.ThingName, &t.ThingType, &t.BillingGroup, &attrs); err != nil {
		return t, err
	}
	if err := json.Unmarshal([]byte(attrs), &t.Attributes); err != nil {
		return t, fmt.Errorf("thing %s: attributes: %w", t.ThingName, err)
	}
	if len(t.Attributes) == 0 {
		t.Attributes = nil
	}
	t.Certificates = []string{}
	return t, nil
}

func queryThings(q querier, query string, args ...any) ([]Thing, error) {
	rows, err := q.Query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Thing{}
	for rows.Next() {
		t, err := scanThing(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// readThing reads one thing with its certificates and groups.
func readThing(q querier, name string) (Thing, bool, error) {
	t, err := scanThing(q.QueryRow(`SELECT `+thingColumns+` FROM things WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Thing{}, false, nil
	}
	if err != nil {
		return t, false, err
	}
	if err := eachPair(q, `SELECT thing_name, certificate_id FROM thing_principals WHERE thing_name = ? ORDER BY seq`,
		func(_, id string) { t.Certificates = append(t.Certificates, id) }, name); err != nil {
		return t, false, err
	}
	if err := eachPair(q, `SELECT thing_name, group_name FROM groups WHERE thing_name = ? ORDER BY seq`,
		func(_, g string) { t.Groups = append(t.Groups, g) }, name); err != nil {
		return t, false, err
	}
	return t, true, nil
}

// readThingRecord reads one thing with its thingId and version.
func readThingRecord(q querier, name string) (ThingRecord, bool, error) {
	t, ok, err := readThing(q, name)
	if err != nil || !ok {
		return ThingRecord{}, ok, err
	}
	r := ThingRecord{Thing: t}
	err = q.QueryRow(`SELECT thing_id, version FROM things WHERE name = ?`, name).Scan(&r.ID, &r.Version)
	return r, err == nil, err
}

// Empty is a registry with nothing in it, its lists empty rather than null.
func Empty() Snapshot {
	var r Snapshot
	r.fillEmpty()
	return r
}

// PolicyDocument reads a policy's document; false if there is no such policy.
func (g *Store) PolicyDocument(name string) (string, bool, error) {
	var doc string
	err := g.read().QueryRow(`SELECT document FROM policies WHERE name = ?`, name).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return doc, err == nil, err
}

// SetPolicyDocument replaces the document of a policy in dir's registry, as an
// administrator edits it in an account. serve may be running.
func SetPolicyDocument(dir, name, document string) error {
	path := filepath.Join(dir, File)
	db, err := openDB(path, false)
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := db.Exec(`UPDATE policies SET document = ? WHERE name = ?`, document, name)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("%s: no policy %s to update", path, name)
	}
	return nil
}
