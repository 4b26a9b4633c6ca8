package claims

import (
	"errors"
	"testing"
	"time"
)

func TestChoose(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	valid := func(name, id string) Claim {
		return Claim{Name: name, CertificateID: id, NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(1, 0, 0)}
	}
	expired := func(name, id string) Claim {
		c := valid(name, id)
		c.NotAfter = now.Add(-time.Hour)
		return c
	}
	early := func(name, id string) Claim {
		c := valid(name, id)
		c.NotBefore = now.Add(time.Hour)
		return c
	}
	unreadable := Claim{Name: "gone.pem", ReadError: errors.New("no such file")}

	tests := []struct {
		name       string
		claims     []Claim
		refused    map[string]bool
		plausible  bool
		use        int
		passed     []Reason
		allExpired bool
		retry      int
	}{
		{name: "the first when usable", claims: []Claim{valid("a", "1"), valid("b", "2")}, plausible: true, use: 0, retry: -1},
		{name: "expired first, second used", claims: []Claim{expired("a", "1"), valid("b", "2")}, plausible: true, use: 1, passed: []Reason{Expired}, retry: -1},
		{name: "not yet valid first", claims: []Claim{early("a", "1"), valid("b", "2")}, plausible: true, use: 1, passed: []Reason{NotYetValid}, retry: -1},
		{name: "refused first", claims: []Claim{valid("a", "1"), valid("b", "2")}, refused: map[string]bool{"1": true}, plausible: true, use: 1, passed: []Reason{Refused}, retry: -1},
		{name: "unreadable first", claims: []Claim{unreadable, valid("b", "2")}, plausible: true, use: 1, passed: []Reason{Unreadable}, retry: -1},
		{name: "a refusal of another certificate at the same path does not count", claims: []Claim{valid("a", "new")}, refused: map[string]bool{"old": true}, plausible: true, use: 0, retry: -1},
		{name: "all expired", claims: []Claim{expired("a", "1"), expired("b", "2")}, plausible: true, use: -1, passed: []Reason{Expired, Expired}, allExpired: true, retry: -1},
		{name: "expired and not yet valid: the clock is wrong, the early one is used", claims: []Claim{expired("a", "1"), early("b", "2")}, plausible: true, use: 1, passed: []Reason{Expired}, retry: -1},
		{name: "only not yet valid: the clock is wrong", claims: []Claim{early("a", "1")}, plausible: true, use: 0, retry: -1},
		{name: "an implausible clock judges no validity", claims: []Claim{expired("a", "1"), valid("b", "2")}, plausible: false, use: 0, retry: -1},
		{name: "refused and expired: retry the refused one", claims: []Claim{expired("a", "1"), valid("b", "2")}, refused: map[string]bool{"2": true}, plausible: true, use: -1, passed: []Reason{Expired, Refused}, retry: 1},
		{name: "all unreadable is not all expired", claims: []Claim{unreadable}, plausible: true, use: -1, passed: []Reason{Unreadable}, retry: -1},
		{name: "no claims", claims: nil, plausible: true, use: -1, retry: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Choose(tt.claims, tt.refused, now, tt.plausible)
			if d.Use != tt.use {
				t.Fatalf("Use = %d, want %d (passed %v)", d.Use, tt.use, d.Passed)
			}
			if len(d.Passed) != len(tt.passed) {
				t.Fatalf("Passed = %v, want reasons %v", d.Passed, tt.passed)
			}
			for i, p := range d.Passed {
				if p.Reason != tt.passed[i] || p.Index != i {
					t.Errorf("Passed[%d] = %+v, want index %d reason %q", i, p, i, tt.passed[i])
				}
			}
			if got := d.AllExpired(); got != tt.allExpired {
				t.Errorf("AllExpired = %v, want %v", got, tt.allExpired)
			}
			if got := d.Retry(); got != tt.retry {
				t.Errorf("Retry = %d, want %d", got, tt.retry)
			}
		})
	}
}

func TestPassedTextNamesEachClaimAndWhy(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	cs := []Claim{
		{Name: "old.pem.crt", CertificateID: "1", NotBefore: now.AddDate(-2, 0, 0), NotAfter: now.AddDate(-1, 0, 0)},
		{Name: "revoked.pem.crt", CertificateID: "2", NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(1, 0, 0)},
		{Name: "b.pem.crt", CertificateID: "3", NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(1, 0, 0)},
	}
	d := Choose(cs, map[string]bool{"2": true}, now, true)
	want := "old.pem.crt expired at 2025-12-07T12:00:00Z; revoked.pem.crt refused by the service"
	if got := PassedText(cs, d); got != want {
		t.Fatalf("PassedText = %q, want %q", got, want)
	}
}
