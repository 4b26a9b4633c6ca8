//go:build !linux

package watch

import (
	"context"
	"errors"
)

// ClockSet is Linux-only; elsewhere the runner's periodic clock check
// is the only trigger.
func ClockSet(context.Context, func()) error {
	return errors.New("clock-set notifications need Linux")
}
