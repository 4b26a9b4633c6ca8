package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/provisiond/provisiond/internal/keypair"
)

// CheckFiles checks the files the config names: root_ca holds PEM
// certificates, the claim certificate and key parse and match, and
// state_directory exists or can be created. It reports every problem found,
// each an *Error naming the field and file.
func (c *Config) CheckFiles() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &Error{File: c.Path, Line: c.lines[field], Field: field, Message: fmt.Sprintf(format, args...)})
	}

	if _, err := readParsed(c.RootCA, keypair.Certificates); err != nil {
		bad("root_ca", "%v", err)
	}
	if claimErrs := c.checkClaims(); len(claimErrs) > 0 {
		errs = append(errs, claimErrs...)
	}

	if err := c.checkProxyCA(); err != nil {
		errs = append(errs, err)
	}
	if err := c.checkAttestation(); err != nil {
		errs = append(errs, err)
	}
	if err := creatableDir(c.StateDirectory); err != nil {
		bad("state_directory", "%v", err)
	}
	return errors.Join(errs...)
}

// checkClaims checks each file claim's certificate and key. A claim that
// cannot be read is passed over by the daemon, so it fails the config only
// when no claim is left: no file claim reads, and none comes by import.
func (c *Config) checkClaims() []error {
	var errs []error
	usable := c.ClaimImport() != nil
	for _, cl := range c.FileClaims() {
		claimErrs := c.ClaimProblems(cl)
		usable = usable || len(claimErrs) == 0
		errs = append(errs, claimErrs...)
	}
	if usable {
		return nil
	}
	return errs
}

// ClaimProblems are the reasons a file claim cannot be used, each an *Error
// naming its field and file; none when its certificate and key read and
// match. Its validity is the caller's to judge (against a clock).
func (c *Config) ClaimProblems(cl Claim) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &Error{File: c.Path, Line: c.lines[field], Field: field, Message: fmt.Sprintf(format, args...)})
	}
	cert, err := readParsed(cl.Certificate, keypair.Certificate)
	if err != nil {
		bad(cl.Field+".certificate", "%v", err)
	}
	if err := c.checkClaimKey(cl, cert); err != nil {
		bad(cl.Field+".private_key", "%v", err)
	}
	return errs
}

// readParsed reads the file at path and parses it; errors name the file.
func readParsed[T any](path string, parse func([]byte) (T, error)) (T, error) {
	data, err := readFile(path)
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := parse(data)
	if err != nil {
		return v, fmt.Errorf("%s: %v", path, err)
	}
	return v, nil
}

func readFile(path string) ([]byte, error) {
	if path == "" {
		return nil, errors.New("not set")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s: %v", path, pe.Err)
		}
		return nil, err
	}
	return data, nil
}

// creatableDir reports whether dir is a writable folder or could be made
// one, without creating anything.
func creatableDir(dir string) error {
	if dir == "" {
		return errors.New("not set")
	}
	const wOK = 0x2
	for cur := dir; ; cur = filepath.Dir(cur) {
		fi, err := os.Stat(cur)
		if err == nil {
			if !fi.IsDir() {
				if cur != dir {
					return fmt.Errorf("%s cannot be created: %s is not a folder", dir, cur)
				}
				return fmt.Errorf("%s: not a folder", cur)
			}
			if err := syscall.Access(cur, wOK); err != nil {
				return fmt.Errorf("%s: not writable: %v", cur, err)
			}
			return nil
		}
		// ENOTDIR: something on the way is a file; the walk up finds it.
		if !os.IsNotExist(err) && !errors.Is(err, syscall.ENOTDIR) {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return fmt.Errorf("%s: %v", cur, err)
		}
		if parent := filepath.Dir(cur); parent == cur {
			return fmt.Errorf("%s: cannot be created", dir)
		}
	}
}
