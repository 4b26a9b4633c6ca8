package registry

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver: pure Go, so fleetsim builds without cgo
)

// schema is the registry database. Times are Unix nanoseconds; lists that are only ever
// read whole (a certificate's policies, a thing's attributes) are JSON text.
const schema = `
CREATE TABLE IF NOT EXISTS certificates (
	id TEXT PRIMARY KEY,
	status TEXT NOT NULL,
	kind TEXT NOT NULL,
	policies TEXT NOT NULL DEFAULT '[]',
	created_at INTEGER NOT NULL,
	modified_at INTEGER NOT NULL,
	pem TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS certificates_by_status ON certificates(status, created_at);
CREATE INDEX IF NOT EXISTS certificates_by_age ON certificates(created_at, id);
CREATE TABLE IF NOT EXISTS orphans (
	id TEXT NOT NULL,
	kind TEXT NOT NULL,
	policies TEXT NOT NULL DEFAULT '[]',
	created_at INTEGER NOT NULL,
	pem TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS things (
	name TEXT PRIMARY KEY,
	thing_id TEXT NOT NULL,
	thing_type TEXT NOT NULL DEFAULT '',
	billing_group TEXT NOT NULL DEFAULT '',
	attributes TEXT NOT NULL DEFAULT '{}',
	version INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS thing_principals (
	seq INTEGER PRIMARY KEY,
	thing_name TEXT NOT NULL,
	certificate_id TEXT NOT NULL,
	UNIQUE(thing_name, certificate_id)
);
CREATE INDEX IF NOT EXISTS thing_principals_by_certificate ON thing_principals(certificate_id);
CREATE TABLE IF NOT EXISTS groups (
	seq INTEGER PRIMARY KEY,
	group_name TEXT NOT NULL,
	thing_name TEXT NOT NULL,
	UNIQUE(group_name, thing_name)
);
CREATE INDEX IF NOT EXISTS groups_by_thing ON groups(thing_name);
CREATE TABLE IF NOT EXISTS policies (
	name TEXT PRIMARY KEY,
	document TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS templates (
	name TEXT PRIMARY KEY,
	body TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	enabled INTEGER NOT NULL,
	hook_url TEXT NOT NULL DEFAULT '',
	role_arn TEXT NOT NULL DEFAULT '',
	version INTEGER NOT NULL DEFAULT 1,
	created_at INTEGER NOT NULL,
	modified_at INTEGER NOT NULL
);
`

// dbPragmas are set on every connection. WAL lets `fleetsim registry` and the API read
// while serve writes. synchronous=NORMAL: in WAL mode a commit is written to the log (the
// OS's page cache) before it returns, so a killed emulator loses nothing it committed;
// only a crash of the whole machine can lose the last commits before a checkpoint, which
// for an emulator is worth the fsync per registration that FULL would cost a storm.
var dbPragmas = []string{"journal_mode(WAL)", "synchronous(NORMAL)", "busy_timeout(10000)", "foreign_keys(off)"}

// openDB opens (creating if needed) a registry database. readOnly connections refuse
// writes, for `fleetsim registry`.
func openDB(path string, readOnly bool) (*sql.DB, error) {
	q := url.Values{}
	for _, p := range dbPragmas {
		q.Add("_pragma", p)
	}
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return db, nil
}

// Create makes the database at path with its tables, filled from r (for fleetsim init).
func Create(path string, r Snapshot) error {
	db, err := openDB(path, false)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Exec(schema + claimsSchema); err != nil {
		return fmt.Errorf("%s: create the tables: %w", path, err)
	}
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if err := importRegistry(tx, r); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return tx.Commit()
}

// importRegistry writes a whole registry (from Init or an old registry.json).
func importRegistry(tx dbtx, r Snapshot) error {
	for _, c := range r.Certificates {
		if err := insertCertificate(tx, c); err != nil {
			return err
		}
	}
	for _, c := range r.Orphans {
		pol, _ := json.Marshal(nonNil(c.Policies))
		if _, err := tx.Exec(`INSERT INTO orphans(id, kind, policies, created_at, pem) VALUES(?,?,?,?,?)`,
			c.CertificateID, c.Kind, string(pol), c.CreatedAt.UnixNano(), c.CertificatePEM); err != nil {
			return err
		}
	}
	for _, p := range r.Policies {
		if err := upsertPolicy(tx, p, time.Now()); err != nil {
			return err
		}
	}
	for _, t := range r.Things {
		if err := writeThing(tx, t, 1); err != nil {
			return err
		}
		for _, id := range t.Certificates {
			if err := attachPrincipal(tx, t.ThingName, id); err != nil {
				return err
			}
		}
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// openRegistryDB opens dir/registry.db for serve, creating it from an old registry.json
// (imported once, then renamed aside to registry.json.imported) or empty.
func openRegistryDB(dir string) (*sql.DB, error) {
	path := filepath.Join(dir, File)
	legacy := filepath.Join(dir, LegacyFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		var r Snapshot
		if b, err := os.ReadFile(legacy); err == nil {
			if err := json.Unmarshal(b, &r); err != nil {
				return nil, fmt.Errorf("%s: %w", legacy, err)
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		// Built aside and renamed in, so that a half-made database is never taken for one.
		tmp := path + ".new"
		for _, f := range []string{tmp, tmp + "-wal", tmp + "-shm"} {
			_ = os.Remove(f)
		}
		if err := Create(tmp, r); err != nil {
			return nil, err
		}
		if err := os.Rename(tmp, path); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	// Whether imported just now or by a run killed before the rename, the JSON is in the
	// database: move it aside so that nobody edits a file the emulator no longer reads.
	if _, err := os.Stat(legacy); err == nil {
		if err := os.Rename(legacy, legacy+".imported"); err != nil {
			return nil, err
		}
	}
	db, err := openDB(path, false)
	if err != nil {
		return nil, err
	}
	if _, err := db.ExecContext(context.Background(), schema+claimsSchema); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return db, nil
}
