package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// init --claims 2 --claim-validity D: both claims expire D from now.
func TestInitClaimValidity(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sim")
	var out, errOut syncBuffer
	if code := run(context.Background(), []string{"init", "--dir", dir, "--claims", "2", "--claim-validity", "720h"}, &out, &errOut); code != 0 {
		t.Fatalf("init: exit %d: %s", code, errOut.String())
	}
	want := time.Now().Add(720 * time.Hour)
	for _, f := range []string{"claim.pem.crt", "claim2.pem.crt"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(b)
		if block == nil {
			t.Fatalf("%s: no PEM", f)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if d := c.NotAfter.Sub(want); d < -time.Minute || d > time.Minute {
			t.Errorf("%s: notAfter %v, want about %v", f, c.NotAfter, want)
		}
	}
}
