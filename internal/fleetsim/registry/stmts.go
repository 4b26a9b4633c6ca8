package registry

import (
	"database/sql"
	"sync"
)

// dbtx is what the registry's changes run on: the writer's connection, or a transaction
// of Create.
type dbtx interface {
	querier
	Exec(query string, args ...any) (sql.Result, error)
}

// stmtCache prepares each read query once for the read connections: SQLite's parser is a
// large part of a query's cost when every statement is prepared afresh. database/sql
// keeps the statement prepared on each connection that ran it.
type stmtCache struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB) *stmtCache { return &stmtCache{db: db, m: map[string]*sql.Stmt{}} }

func (c *stmtCache) get(query string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.m[query]; ok {
		return s, nil
	}
	s, err := c.db.Prepare(query)
	if err != nil {
		return nil, err
	}
	c.m[query] = s
	return s, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.m {
		_ = s.Close()
	}
	clear(c.m)
}

// cachedDB reads through prepared statements.
type cachedDB struct{ c *stmtCache }

func (d cachedDB) Query(query string, args ...any) (*sql.Rows, error) {
	s, err := d.c.get(query)
	if err != nil {
		return nil, err
	}
	return s.Query(args...)
}

func (d cachedDB) QueryRow(query string, args ...any) *sql.Row {
	s, err := d.c.get(query)
	if err != nil {
		return d.c.db.QueryRow(query, args...) // reports the same error
	}
	return s.QueryRow(args...)
}
