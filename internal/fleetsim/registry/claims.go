package registry

import (
	"database/sql"
	"errors"
	"time"
)

// claimsSchema holds what the registry knows of claims beyond their certificate: the
// template and expiry of each provisioning claim (CreateProvisioningClaim), and how many
// things each certificate registered as the connection's principal.
const claimsSchema = `
CREATE TABLE IF NOT EXISTS provisioning_claims (
	certificate_id TEXT PRIMARY KEY,
	template TEXT NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS claim_registrations (
	certificate_id TEXT PRIMARY KEY,
	things INTEGER NOT NULL
);
`

// KindProvisioningClaim is a temporary claim from CreateProvisioningClaim: a claim bound
// to one template, hidden from ListCertificates.
const KindProvisioningClaim = "provisioning-claim"

// IsClaim says whether a certificate kind connects as a claim (provisioning topics only).
func IsClaim(kind string) bool { return kind == KindClaim || kind == KindProvisioningClaim }

// ProvisioningClaim is what CreateProvisioningClaim recorded beside the certificate.
type ProvisioningClaim struct {
	Template string
	Expires  time.Time
}

// AddProvisioningClaim records a provisioning claim's ACTIVE certificate and its template.
func (t *Tx) AddProvisioningClaim(c Certificate, pc ProvisioningClaim) error {
	c.Kind, c.Status = KindProvisioningClaim, StatusActive
	if err := insertCertificate(t.q, c); err != nil {
		return err
	}
	_, err := t.q.Exec(`INSERT INTO provisioning_claims(certificate_id, template, expires_at) VALUES(?,?,?)`,
		c.CertificateID, pc.Template, pc.Expires.UnixNano())
	return err
}

// AddCertificate records a certificate made over the API (CreateKeysAndCertificate).
func (t *Tx) AddCertificate(c Certificate) error { return insertCertificate(t.q, c) }

// ProvisioningClaim reads the template and expiry of a provisioning claim; false if the
// certificate is not one.
func (g *Store) ProvisioningClaim(certID string) (ProvisioningClaim, bool, error) {
	var pc ProvisioningClaim
	var expires int64
	err := g.read().QueryRow(`SELECT template, expires_at FROM provisioning_claims WHERE certificate_id = ?`, certID).
		Scan(&pc.Template, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return pc, false, nil
	}
	pc.Expires = time.Unix(0, expires)
	return pc, err == nil, err
}

// CountRegistration adds one to the things registered through a principal (the claim
// whose connection asked).
func (t *Tx) CountRegistration(certID string) error {
	_, err := t.q.Exec(`INSERT INTO claim_registrations(certificate_id, things) VALUES(?, 1)
		ON CONFLICT(certificate_id) DO UPDATE SET things = things + 1`, certID)
	return err
}

// InsertPolicy records a new policy; false if one of that name exists.
func (t *Tx) InsertPolicy(p Policy, now time.Time) (bool, error) {
	res, err := t.q.Exec(`INSERT INTO policies(name, document, created_at) VALUES(?,?,?) ON CONFLICT(name) DO NOTHING`,
		p.PolicyName, p.PolicyDocument, now.UnixNano())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// thingsRegisteredColumn is the count scanCertificate reads after certColumns.
const thingsRegisteredColumn = `COALESCE((SELECT things FROM claim_registrations r WHERE r.certificate_id = certificates.id), 0)`
