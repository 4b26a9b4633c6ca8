package registry

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Tx is one change to the registry, inside Store.Write: what it reads sees what it wrote,
// and nothing of it is visible to others before it commits.
type Tx struct{ q dbtx }

// Certificate reads one certificate; false if unknown.
func (t *Tx) Certificate(id string) (Certificate, bool, error) { return readCertificate(t.q, id) }

// Thing reads one thing with its thingId and version; false if unknown.
func (t *Tx) Thing(name string) (ThingRecord, bool, error) { return readThingRecord(t.q, name) }

// InsertCertificate records a new certificate.
func (t *Tx) InsertCertificate(c Certificate) error { return insertCertificate(t.q, c) }

// PolicyExists says whether a policy of that name is known.
func (t *Tx) PolicyExists(name string) (bool, error) {
	return exists(t.q, `SELECT count(*) FROM policies WHERE name = ?`, name)
}

// ThingAndCertificateExist says whether each is known.
func (t *Tx) ThingAndCertificateExist(thing, certID string) (thingOK, certOK bool, err error) {
	var n int
	err = t.q.QueryRow(`SELECT (SELECT count(*) FROM things WHERE name = ?) * 2 + (SELECT count(*) FROM certificates WHERE id = ?)`,
		thing, certID).Scan(&n)
	return n&2 != 0, n&1 != 0, err
}

// UpsertPolicy records a policy; an empty document keeps the one it has.
func (t *Tx) UpsertPolicy(p Policy, now time.Time) error { return upsertPolicy(t.q, p, now) }

// WriteThing inserts or replaces a thing and its groups at version, keeping its thingId.
func (t *Tx) WriteThing(th Thing, version int64) error { return writeThing(t.q, th, version) }

// AttachPrincipal attaches a certificate to a thing (nothing if it is already).
func (t *Tx) AttachPrincipal(thing, certID string) error { return attachPrincipal(t.q, thing, certID) }

// DetachPrincipal detaches a certificate from a thing.
func (t *Tx) DetachPrincipal(thing, certID string) error {
	_, err := t.q.Exec(`DELETE FROM thing_principals WHERE thing_name = ? AND certificate_id = ?`, thing, certID)
	return err
}

// DeleteThing deletes a thing and its group memberships.
func (t *Tx) DeleteThing(name string) error {
	for _, stmt := range []string{`DELETE FROM things WHERE name = ?`, `DELETE FROM groups WHERE thing_name = ?`} {
		if _, err := t.q.Exec(stmt, name); err != nil {
			return err
		}
	}
	return nil
}

// SetCertificateStatus changes a certificate's status, stamped now.
func (t *Tx) SetCertificateStatus(id, status string, now time.Time) error {
	_, err := t.q.Exec(`UPDATE certificates SET status = ?, modified_at = ? WHERE id = ?`, status, now.UnixNano(), id)
	return err
}

// SetCertificatePolicies changes a certificate's status and attached policies, stamped now.
func (t *Tx) SetCertificatePolicies(id, status string, policies []string, now time.Time) error {
	pol, err := json.Marshal(nonNil(policies))
	if err != nil {
		return err
	}
	_, err = t.q.Exec(`UPDATE certificates SET status = ?, policies = ?, modified_at = ? WHERE id = ?`,
		status, string(pol), now.UnixNano(), id)
	return err
}

// DeleteCertificate deletes a certificate.
func (t *Tx) DeleteCertificate(id string) error {
	_, err := t.q.Exec(`DELETE FROM certificates WHERE id = ?`, id)
	return err
}

// Template reads a template created over the API; false if unknown.
func (t *Tx) Template(name string) (TemplateRecord, bool, error) { return readTemplate(t.q, name) }

// InsertTemplate records a new template.
func (t *Tx) InsertTemplate(r TemplateRecord) error {
	_, err := t.q.Exec(`INSERT INTO templates(name, body, description, enabled, hook_url, role_arn, created_at, modified_at)
		VALUES(?,?,?,?,?,?,?,?)`, r.Name, r.Body, r.Description, r.Enabled, r.HookURL, r.RoleARN,
		r.Created.UnixNano(), r.Modified.UnixNano())
	return err
}

// UpdateTemplate replaces a template's state, stamped r.Modified; false if it is gone.
func (t *Tx) UpdateTemplate(r TemplateRecord) (bool, error) {
	res, err := t.q.Exec(`UPDATE templates SET body = ?, description = ?, enabled = ?, hook_url = ?, role_arn = ?, version = ?,
		modified_at = ? WHERE name = ?`,
		r.Body, r.Description, r.Enabled, r.HookURL, r.RoleARN, r.Version, r.Modified.UnixNano(), r.Name)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// DeleteTemplate deletes a template created over the API; false if there was none.
func (t *Tx) DeleteTemplate(name string) (bool, error) {
	res, err := t.q.Exec(`DELETE FROM templates WHERE name = ?`, name)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
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
		ON CONFLICT(name) DO UPDATE SET document = excluded.document WHERE excluded.document NOT IN ('', document)`,
		p.PolicyName, p.PolicyDocument, now.UnixNano())
	return err
}

func readTemplate(q querier, name string) (TemplateRecord, bool, error) {
	t := TemplateRecord{Name: name}
	var created, modified int64
	err := q.QueryRow(`SELECT body, description, enabled, hook_url, role_arn, version, created_at, modified_at FROM templates WHERE name = ?`, name).
		Scan(&t.Body, &t.Description, &t.Enabled, &t.HookURL, &t.RoleARN, &t.Version, &created, &modified)
	if errors.Is(err, sql.ErrNoRows) {
		return t, false, nil
	}
	t.Created, t.Modified = time.Unix(0, created), time.Unix(0, modified)
	return t, err == nil, err
}
