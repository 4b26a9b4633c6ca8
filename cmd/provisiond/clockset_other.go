//go:build !linux

package main

import (
	"context"
	"errors"
)

// watchClockSet is Linux-only; elsewhere the runner's periodic clock check
// is the only trigger.
func watchClockSet(context.Context, func()) error {
	return errors.New("clock-set notifications need Linux")
}
