package main

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

func TestVersionPrintsVersionAndCommit(t *testing.T) {
	defer func(v, c string) { version, commit = v, c }(version, commit)
	version, commit = "9.8.7", "0123456789ab"

	var out, errOut bytes.Buffer
	if code := runCLI([]string{"version"}, &out, &errOut); code != exitOK {
		t.Fatalf("version exited %d: %s", code, errOut.String())
	}
	if got, want := out.String(), "provisiond 9.8.7 (commit 0123456789ab)\n"; got != want {
		t.Errorf("version printed %q, want %q", got, want)
	}
}

func TestVersionJSONNamesGoAndModules(t *testing.T) {
	defer func(v, c string) { version, commit = v, c }(version, commit)
	version, commit = "9.8.7", "0123456789ab"

	var out, errOut bytes.Buffer
	if code := runCLI([]string{"version", "--json"}, &out, &errOut); code != exitOK {
		t.Fatalf("version --json exited %d: %s", code, errOut.String())
	}
	var r struct {
		Version, Commit, Go string
		Modules             []struct{ Path, Version, Sum string }
	}
	dec := json.NewDecoder(&out)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("version --json: %v", err)
	}
	if r.Version != "9.8.7" || r.Commit != "0123456789ab" || r.Go != runtime.Version() {
		t.Errorf("version --json = %+v, want version 9.8.7, commit 0123456789ab, go %s", r, runtime.Version())
	}
	// A test binary links the daemon's modules, as the daemon does.
	found := false
	for _, m := range r.Modules {
		if m.Path == "" || m.Version == "" {
			t.Errorf("module without path or version: %+v", m)
		}
		if m.Path == "go.uber.org/zap" && strings.HasPrefix(m.Version, "v") {
			found = true
		}
	}
	if !found {
		t.Errorf("version --json lists no go.uber.org/zap among %d modules", len(r.Modules))
	}
}

func TestVersionRefusesArguments(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := runCLI([]string{"version", "extra"}, &out, &errOut); code != exitUsage {
		t.Errorf("version extra exited %d, want %d", code, exitUsage)
	}
}
