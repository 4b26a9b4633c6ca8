package registry

import (
	"path/filepath"
	"testing"
	"time"
)

// A database made before the claims' tables (a folder not served since) is read, a
// claim's count zero.
func TestReadWithoutClaimsTables(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, File)
	if err := Create(path, Snapshot{Certificates: []Certificate{{CertificateID: "c1", Status: StatusActive, Kind: KindClaim,
		CreatedAt: time.Now(), CertificatePEM: "pem"}}}); err != nil {
		t.Fatal(err)
	}
	db, err := openDB(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DROP TABLE claim_registrations; DROP TABLE provisioning_claims`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	r, err := Read(dir)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if len(r.Certificates) != 1 || r.Certificates[0].ThingsRegistered == nil || *r.Certificates[0].ThingsRegistered != 0 {
		t.Fatalf("certificates %+v", r.Certificates)
	}
}
