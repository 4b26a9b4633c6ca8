//go:build !linux

package clock

import (
	"errors"
	"time"
)

// SystemBoot has no boot clock outside Linux: token ages fall back to the
// wall clock.
func SystemBoot() Boot { return systemBoot{} }

type systemBoot struct{}

func (systemBoot) Boot() (string, time.Duration, error) {
	return "", 0, errors.New("no boot clock on this system")
}
