package connect

import (
	"errors"

	"github.com/provisiond/provisiond/internal/fleet"
)

// explained is err with its step in check's words, when explain recognises
// one, so that status says what check would ("TLS: server certificate not
// trusted by root_ca …"); the state machine keeps the words in its failure
// record (lastStep). A service's rejection is left as it is: its status
// code and message are the most precise words, and check, which calls
// nothing, has none better.
func explained(err error, explain func(error) Finding) error {
	var rej *fleet.RejectedError
	if err == nil || errors.As(err, &rej) {
		return err
	}
	f := explain(err)
	if !f.Explained() {
		return err
	}
	return &steppedError{err: err, step: f.String()}
}

// steppedError is an error with check's words for its step. Its text stays
// the library's: lastError keeps that, lastStep the words.
type steppedError struct {
	err  error
	step string
}

func (e *steppedError) Error() string { return e.err.Error() }
func (e *steppedError) Unwrap() error { return e.err }
func (e *steppedError) Step() string  { return e.step }
