package main

import (
	"errors"
	"io"
)

func cmdStorm(args []string, stdout, stderr io.Writer) error {
	return errors.New("storm is not available yet")
}
