//go:build !linux

package statemachine

import (
	"errors"
	"time"
)

// SystemBootClock has no boot clock outside Linux: token ages fall back to
// the wall clock.
func SystemBootClock() BootClock { return systemBootClock{} }

type systemBootClock struct{}

func (systemBootClock) Boot() (string, time.Duration, error) {
	return "", 0, errors.New("no boot clock on this system")
}
