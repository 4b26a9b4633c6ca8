package claimdrop

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/provisiond/provisiond/internal/atomicfile"
	"github.com/provisiond/provisiond/internal/store"
)

// FolderMode keeps the folder to the daemon's user: a drop is a credential.
const FolderMode fs.FileMode = 0o700

// Folder is the drop folder of a state directory.
func Folder(stateDir string) string { return filepath.Join(stateDir, store.ClaimImportDir) }

// encoded is the form a drop is kept in: CreateProvisioningClaim's shape,
// with the expiration as RFC 3339, so that Parse reads it back.
type encoded struct {
	CertificateID  string            `json:"certificateId"`
	CertificatePEM string            `json:"certificatePem"`
	KeyPair        encodedKeyPair    `json:"keyPair"`
	Expiration     string            `json:"expiration"`
	TemplateName   string            `json:"templateName,omitempty"`
	Parameters     map[string]string `json:"parameters,omitempty"`
}

type encodedKeyPair struct {
	PrivateKey string `json:"PrivateKey"`
}

// Encode is the claim as a drop file holds it.
func (c *Claim) Encode() []byte {
	data, _ := json.MarshalIndent(encoded{
		CertificateID:  c.CertificateID,
		CertificatePEM: string(c.CertificatePEM),
		KeyPair:        encodedKeyPair{PrivateKey: string(c.PrivateKeyPEM)},
		Expiration:     c.NotAfter.UTC().Format(time.RFC3339Nano),
		TemplateName:   c.TemplateName,
		Parameters:     c.Parameters,
	}, "", "  ")
	return append(data, '\n')
}

// FileName is the drop file of a claim: named by its certificate, so that
// importing the same claim twice keeps one file.
func (c *Claim) FileName() string {
	return "claim-" + c.CertificateID[:16] + ".json"
}

// Put writes the claim into the drop folder atomically (a reader never sees
// half of it) and returns its path. The folder is made if missing.
func Put(stateDir string, c *Claim) (string, error) {
	dir := Folder(stateDir)
	if err := os.MkdirAll(dir, FolderMode); err != nil {
		return "", fmt.Errorf("temporary claim: %w", err)
	}
	if err := os.Chmod(dir, FolderMode); err != nil {
		return "", fmt.Errorf("temporary claim: %w", err)
	}
	path := filepath.Join(dir, c.FileName())
	if err := atomicfile.Write(path, c.Encode(), 0o600); err != nil {
		return "", fmt.Errorf("temporary claim: %w", err)
	}
	return path, nil
}

// Drop is one file of the drop folder, parsed.
type Drop struct {
	Path string
	// Ref is the drop's name in the state directory's store
	// (claim-import/NAME), as the state machine records and removes it.
	Ref   string
	Claim *Claim
	// Err is why the file cannot be used: half written, not a claim, or
	// refused. The file is left in place (a writer may still be at it).
	Err error
}

// List reads every drop in the folder, newest first by modification time.
// Temp files of an atomic write and hidden files are not drops. A missing
// folder holds none.
func List(stateDir string) ([]Drop, error) {
	dir := Folder(stateDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("temporary claim folder: %w", err)
	}
	type dated struct {
		Drop
		mod time.Time
	}
	var drops []dated
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || atomicfile.IsTempName(name) || !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(dir, name)
		info, err := e.Info()
		if err != nil {
			continue // removed since the listing
		}
		d := dated{Drop: Drop{Path: path, Ref: store.ClaimImportDir + "/" + name}, mod: info.ModTime()}
		d.Claim, d.Err = read(path)
		drops = append(drops, d)
	}
	sort.SliceStable(drops, func(i, j int) bool { return drops[i].mod.After(drops[j].mod) })
	out := make([]Drop, len(drops))
	for i, d := range drops {
		out[i] = d.Drop
	}
	return out, nil
}

// read parses one drop file, bounded in size.
func read(path string) (*Claim, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

// Load reads the drop a Ref names.
func Load(stateDir, ref string) (*Claim, error) {
	if !strings.HasPrefix(ref, store.ClaimImportDir+"/") || strings.Contains(ref[len(store.ClaimImportDir)+1:], "/") {
		return nil, fmt.Errorf("temporary claim %q: not in the drop folder", ref)
	}
	return read(filepath.Join(stateDir, filepath.FromSlash(ref)))
}

// Remove deletes a used or expired drop, durably.
func Remove(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return atomicfile.SyncDir(filepath.Dir(path))
}
