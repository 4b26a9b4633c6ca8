package template

import (
	"errors"
	"strings"
	"testing"
)

func assertEvalError(t *testing.T, err error, path, msg string) {
	t.Helper()
	var ee *EvalError
	if !errors.As(err, &ee) {
		t.Fatalf("got error %v (%T), want *EvalError at %s", err, err, path)
	}
	if ee.Path != path || !strings.Contains(ee.Message, msg) {
		t.Fatalf("got EvalError{%q, %q}, want path %q and a message containing %q", ee.Path, ee.Message, path, msg)
	}
}

func assertParseError(t *testing.T, err error, file, path, msg string) {
	t.Helper()
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("got error %v (%T), want *ParseError at %s", err, err, path)
	}
	if pe.File != file || pe.Path != path || !strings.Contains(pe.Message, msg) {
		t.Fatalf("got ParseError{%q, %q, %q}, want file %q, path %q and a message containing %q",
			pe.File, pe.Path, pe.Message, file, path, msg)
	}
	if !strings.HasPrefix(err.Error(), file+": "+path) {
		t.Fatalf("error text %q does not start with the file and path", err)
	}
}
