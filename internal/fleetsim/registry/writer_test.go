package registry

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func open(t *testing.T) *Store {
	t.Helper()
	g, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return g
}

func pending(i int) Certificate {
	return Certificate{CertificateID: fmt.Sprintf("%064x", i), Status: StatusPendingActivation, Kind: KindDevice,
		CreatedAt: time.Unix(1700000000, 0).UTC(), CertificatePEM: "pem"}
}

// Changes asked while a batch commits wait for the next one; when that commit fails,
// every answer in it fails (none is given before the commit was tried), and nothing of
// the batch is in the registry; the batch before it, committed, stays.
func TestFailedCommitFailsEveryChangeInIt(t *testing.T) {
	g := open(t)
	const waiting = 10
	var returned atomic.Int32
	var returnedAtCommit int32 = -1
	held, release := make(chan struct{}), make(chan struct{})
	calls := 0
	hook := func(n int) error { // runs on the writer's goroutine only
		calls++
		switch calls {
		case 1: // the first change's batch: hold it until the others wait behind it
			close(held)
			<-release
			return nil
		case 2:
			returnedAtCommit = returned.Load()
			if n != waiting {
				return fmt.Errorf("batch of %d changes, want %d", n, waiting)
			}
			return errors.New("disk on fire")
		}
		return nil
	}
	if err := g.SetBeforeCommit(hook); err != nil {
		t.Fatal(err)
	}
	first := make(chan error, 1)
	go func() { first <- g.AddPending(pending(0), nil) }()
	<-held
	errs := make([]error, waiting)
	var wg sync.WaitGroup
	for i := range waiting {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = g.AddPending(pending(i+1), nil)
			returned.Add(1)
		}()
	}
	for len(g.queue) < waiting {
		time.Sleep(time.Millisecond) // every change is queued behind the held batch
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("the held batch: %v", err)
	}
	wg.Wait()
	if returnedAtCommit != 0 {
		t.Errorf("%d answers were given before their batch's commit was tried", returnedAtCommit)
	}
	for i, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "disk on fire") || !strings.Contains(err.Error(), "commit") {
			t.Errorf("change %d: %v, want the failed commit", i+1, err)
		}
	}
	snap, err := g.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Certificates) != 1 || snap.Certificates[0].CertificateID != pending(0).CertificateID {
		t.Errorf("registry after the failed commit: %d certificates %+v, want only the first batch's", len(snap.Certificates), snap.Certificates)
	}
	// The registry goes on: the next change commits.
	if err := g.AddPending(pending(99), nil); err != nil {
		t.Fatalf("after a failed commit: %v", err)
	}
}

// A change that refuses undoes only itself: the others of its batch commit.
func TestRefusedChangeUndoesOnlyItself(t *testing.T) {
	g := open(t)
	refusal := errors.New("refused")
	err := g.Write(func(tx *Tx) error {
		if err := insertCertificate(tx.q, pending(1)); err != nil {
			return err
		}
		return refusal
	})
	if !errors.Is(err, refusal) {
		t.Fatalf("Write: %v, want the change's own refusal", err)
	}
	if err := g.AddPending(pending(2), nil); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := g.Certificate(pending(1).CertificateID); ok {
		t.Error("the refused change's certificate is in the registry")
	}
	if _, ok, _ := g.Certificate(pending(2).CertificateID); !ok {
		t.Error("the next change's certificate is not in the registry")
	}
}

// A Write returns once its change is visible to readers, whatever its batch.
func TestWriteIsReadByNextRead(t *testing.T) {
	g := open(t)
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := pending(i)
			if err := g.AddPending(c, nil); err != nil {
				t.Error(err)
				return
			}
			if _, ok, err := g.Certificate(c.CertificateID); err != nil || !ok {
				t.Errorf("certificate %d not read right after its Write: %v %v", i, ok, err)
			}
		}()
	}
	wg.Wait()
}

// A closed registry refuses changes instead of hanging.
func TestWriteAfterClose(t *testing.T) {
	g, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if err := g.AddPending(pending(1), nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v, want ErrClosed", err)
	}
}

// A change that panics fails alone, alone in its batch or not, and the registry goes on.
func TestPanickingChangeFails(t *testing.T) {
	g := open(t)
	err := g.Write(func(tx *Tx) error {
		if err := insertCertificate(tx.q, pending(1)); err != nil {
			return err
		}
		panic("boom")
	})
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("Write of a panicking change: %v", err)
	}
	if _, ok, _ := g.Certificate(pending(1).CertificateID); ok {
		t.Error("the panicking change's certificate is in the registry")
	}
	if err := g.AddPending(pending(2), nil); err != nil {
		t.Fatalf("after a panicking change: %v", err)
	}
}
