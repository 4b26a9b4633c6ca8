package registry

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Page is one page of a list: at most Size items, starting after the key After ("": from
// the start). Every list returns the key to pass as After for the next page, "" after
// the last one. Keys are the registry's own: callers carry them, never read them.
type Page struct {
	Size  int
	After string
}

// ErrPageKey is a page key the registry did not make.
var ErrPageKey = errors.New("not a page key of this registry")

// ThingRecord is a thing with what the API adds to it.
type ThingRecord struct {
	Thing
	ID      string // thingId
	Version int64
}

// ThingSummary is a thing as a list of things shows it.
type ThingSummary struct {
	Name       string
	Type       string
	Attributes map[string]string
	Version    int64
}

// ThingFilter narrows ListThings: by thing type, and by one attribute's value (or
// its prefix). Empty fields do not filter.
type ThingFilter struct {
	Type            string
	Attribute       string
	Value           string
	ValueIsPrefix   bool
	FilterAttribute bool // Attribute (even empty) was given
}

// CertificateSummary is a certificate as a list of certificates shows it.
type CertificateSummary struct {
	ID      string
	Status  string
	Created time.Time
}

// PolicyRecord is a policy with its creation time.
type PolicyRecord struct {
	Policy
	Created time.Time
}

// TemplateRecord is a provisioning template created over the API.
type TemplateRecord struct {
	Name, Body, Description, HookURL, RoleARN string
	Enabled                                   bool
	Version                                   int
	Created, Modified                         time.Time
}

// pageOf runs query (ordered by the key, its first parameter the key to start after,
// its last the limit) and returns at most p.Size items and the next page's key.
func pageOf[T any](q querier, p Page, query string, args []any, scan func(scanner) (T, string, error)) ([]T, string, error) {
	rows, err := q.Query(query+` LIMIT ?`, append(args, p.Size+1)...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	out := []T{}
	next, last := "", ""
	for rows.Next() {
		if len(out) == p.Size {
			next = last
			break
		}
		v, key, err := scan(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, v)
		last = key
	}
	return out, next, rows.Err()
}

func scanString(s scanner) (string, string, error) {
	var v string
	err := s.Scan(&v)
	return v, v, err
}

// ListThings is a page of things by name.
func (g *Store) ListThings(f ThingFilter, p Page) ([]ThingSummary, string, error) {
	where, args := []string{"name > ?"}, []any{p.After}
	if f.Type != "" {
		where, args = append(where, "thing_type = ?"), append(args, f.Type)
	}
	if f.FilterAttribute {
		if f.ValueIsPrefix {
			where = append(where, "EXISTS(SELECT 1 FROM json_each(attributes) WHERE key = ? AND substr(value, 1, length(?)) = ?)")
			args = append(args, f.Attribute, f.Value, f.Value)
		} else {
			where = append(where, "EXISTS(SELECT 1 FROM json_each(attributes) WHERE key = ? AND value = ?)")
			args = append(args, f.Attribute, f.Value)
		}
	}
	return pageOf(g.read(), p, `SELECT name, thing_type, attributes, version FROM things WHERE `+
		strings.Join(where, " AND ")+` ORDER BY name`, args, func(s scanner) (ThingSummary, string, error) {
		var t ThingSummary
		var attrs string
		if err := s.Scan(&t.Name, &t.Type, &attrs, &t.Version); err != nil {
			return t, "", err
		}
		_ = json.Unmarshal([]byte(attrs), &t.Attributes)
		return t, t.Name, nil
	})
}

// Thing reads one thing with its thingId and version; false if unknown.
func (g *Store) Thing(name string) (ThingRecord, bool, error) { return readThingRecord(g.read(), name) }

// ThingExists says whether a thing of that name is known.
func (g *Store) ThingExists(name string) (bool, error) {
	return exists(g.read(), `SELECT count(*) FROM things WHERE name = ?`, name)
}

// GroupExists says whether a thing group of that name has a member.
func (g *Store) GroupExists(name string) (bool, error) {
	return exists(g.read(), `SELECT count(*) FROM groups WHERE group_name = ?`, name)
}

// ThingPrincipals is a page of the ids of the certificates attached to a thing.
func (g *Store) ThingPrincipals(thing string, p Page) ([]string, string, error) {
	return pageOf(g.read(), p, `SELECT certificate_id FROM thing_principals
		WHERE certificate_id > ? AND thing_name = ? ORDER BY certificate_id`, []any{p.After, thing}, scanString)
}

// PrincipalThings is a page of the things a certificate is attached to.
func (g *Store) PrincipalThings(certID string, p Page) ([]string, string, error) {
	return pageOf(g.read(), p, `SELECT thing_name FROM thing_principals
		WHERE thing_name > ? AND certificate_id = ? ORDER BY thing_name`, []any{p.After, certID}, scanString)
}

// Groups is a page of the thing groups whose names start with prefix.
func (g *Store) Groups(prefix string, p Page) ([]string, string, error) {
	return pageOf(g.read(), p, `SELECT DISTINCT group_name FROM groups
		WHERE group_name > ? AND substr(group_name, 1, length(?)) = ? ORDER BY group_name`, []any{p.After, prefix, prefix}, scanString)
}

// GroupThings is a page of a thing group's members.
func (g *Store) GroupThings(group string, p Page) ([]string, string, error) {
	return pageOf(g.read(), p, `SELECT thing_name FROM groups
		WHERE thing_name > ? AND group_name = ? ORDER BY thing_name`, []any{p.After, group}, scanString)
}

// order is the comparison that starts a page after its key, and the SQL order.
func order(ascending bool) (cmp, dir string) {
	if ascending {
		return ">", "ASC"
	}
	return "<", "DESC"
}

// Certificates is a page of certificates by creation time (then id), newest first
// unless ascending. ErrPageKey if p.After is not a key it returned.
func (g *Store) Certificates(ascending bool, p Page) ([]CertificateSummary, string, error) {
	cmp, dir := order(ascending)
	where, args := "? = ''", []any{""} // the first page
	if p.After != "" {
		at, id, ok := strings.Cut(p.After, "/")
		n, err := strconv.ParseInt(at, 10, 64)
		if !ok || err != nil {
			return nil, "", ErrPageKey
		}
		where, args = "(created_at, id) "+cmp+" (?, ?)", []any{n, id}
	}
	// Provisioning claims are not listed, as in AWS IoT.
	where += " AND kind != '" + KindProvisioningClaim + "'"
	return pageOf(g.read(), p, `SELECT id, status, created_at FROM certificates WHERE `+where+
		` ORDER BY created_at `+dir+`, id `+dir, args, func(s scanner) (CertificateSummary, string, error) {
		var c CertificateSummary
		var at int64
		if err := s.Scan(&c.ID, &c.Status, &at); err != nil {
			return c, "", err
		}
		c.Created = time.Unix(0, at)
		return c, fmt.Sprintf("%d/%s", at, c.ID), nil
	})
}

// CertificateModified is when a certificate last changed.
func (g *Store) CertificateModified(id string) (time.Time, error) {
	var modified int64
	err := g.read().QueryRow(`SELECT modified_at FROM certificates WHERE id = ?`, id).Scan(&modified)
	return time.Unix(0, modified), err
}

// Policies is a page of policy names, by name (descending unless ascending).
func (g *Store) Policies(ascending bool, p Page) ([]string, string, error) {
	cmp, dir := order(ascending)
	where := "name " + cmp + " ?"
	if p.After == "" {
		where = "? = ''" // the first page
	}
	return pageOf(g.read(), p, `SELECT name FROM policies WHERE `+where+` ORDER BY name `+dir, []any{p.After}, scanString)
}

// Policy reads one policy; false if unknown.
func (g *Store) Policy(name string) (PolicyRecord, bool, error) {
	p := PolicyRecord{Policy: Policy{PolicyName: name}}
	var created int64
	err := g.read().QueryRow(`SELECT document, created_at FROM policies WHERE name = ?`, name).Scan(&p.PolicyDocument, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return p, false, nil
	}
	p.Created = time.Unix(0, created)
	return p, err == nil, err
}

// Template reads a template created over the API; false if unknown.
func (g *Store) Template(name string) (TemplateRecord, bool, error) {
	return readTemplate(g.read(), name)
}

// Templates are all the templates created over the API, by name.
func (g *Store) Templates() ([]TemplateRecord, error) {
	names, err := columnOf(g.read(), `SELECT name FROM templates ORDER BY name`)
	if err != nil {
		return nil, err
	}
	out := make([]TemplateRecord, 0, len(names))
	for _, n := range names {
		t, ok, err := readTemplate(g.read(), n)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, t)
		}
	}
	return out, nil
}
