package crashstate

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/provisiond/provisiond/internal/testtool/fleetsimproc"
)

// startServer runs `fleetsim serve --dir dir` with more flags on a free
// port of 127.0.0.1, its log beside the folder (dir.log), and returns once
// it listens.
func startServer(fleetsim, dir string, more []string) (*fleetsimproc.Server, error) {
	return fleetsimproc.Start(fleetsimproc.Options{Bin: fleetsim, Dir: dir, Flags: more, Log: dir + ".log"})
}

// regCert is a certificate as `fleetsim registry` prints it.
type regCert struct {
	CertificateID  string    `json:"certificateId"`
	Status         string    `json:"status"`
	Kind           string    `json:"kind"`
	ThingName      string    `json:"thingName"`
	CreatedAt      time.Time `json:"createdAt"`
	CertificatePEM string    `json:"certificatePem"`
}

// deviceCerts reads the device certificates of a fleetsim folder, with the
// ones it deleted unused (its orphans), by id.
func deviceCerts(fleetsim, dir string) (map[string]regCert, error) {
	out, err := exec.Command(fleetsim, "registry", "--dir", dir).Output()
	if err != nil {
		return nil, fmt.Errorf("fleetsim registry --dir %s: %w", dir, err)
	}
	var reg struct {
		Certificates []regCert `json:"certificates"`
		Orphans      []regCert `json:"orphans"`
	}
	if err := json.Unmarshal(out, &reg); err != nil {
		return nil, fmt.Errorf("fleetsim registry --dir %s: %w", dir, err)
	}
	certs := map[string]regCert{}
	for _, c := range append(reg.Certificates, reg.Orphans...) {
		if c.Kind != "claim" {
			certs[c.CertificateID] = c
		}
	}
	return certs, nil
}

// copyDir copies the regular files of a flat-or-nested folder.
func copyDir(from, to string) error {
	return filepath.Walk(from, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if fi.IsDir() {
			return os.MkdirAll(dst, 0o750)
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, fi.Mode().Perm())
	})
}
