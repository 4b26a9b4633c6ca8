package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestWaitForCredentials(t *testing.T) {
	d, c, _ := provisioned(t)
	got, err := WaitForCredentials(context.Background(), d.Path(""), "")
	if err != nil || !got.Equal(c) {
		t.Fatalf("WaitForCredentials = %+v, %v; want %+v", got, err, c)
	}
	// One naming another certificate is waited for: it times out here,
	// saying why.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = WaitForCredentials(ctx, d.Path(""), c.CertificateID)
	if err == nil || !strings.Contains(err.Error(), "still names certificate") {
		t.Errorf("waiting for another certificate: %v", err)
	}
	// A handoff naming another certificate than the one left behind ends it.
	if _, err := WaitForCredentials(context.Background(), d.Path(""), "old-id"); err != nil {
		t.Errorf("after the handoff: %v", err)
	}
}

func TestReadOnlyDirRefusesWrites(t *testing.T) {
	d, _, _ := provisioned(t)
	ro := ReadOnlyDir(d.Path(""))
	if _, err := ro.Read(CredentialsFile); err != nil {
		t.Errorf("Read: %v", err)
	}
	for name, err := range map[string]error{
		"Write":  ro.Write(StateFile, []byte("{}"), 0o600),
		"Remove": ro.Remove(CredentialsFile),
		"Probe":  ro.Probe(),
	} {
		if !errors.Is(err, errReadOnly) {
			t.Errorf("%s = %v, want the read-only error", name, err)
		}
	}
}
