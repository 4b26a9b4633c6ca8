package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/provisiond/provisiond/internal/config"
)

// newFlags returns a flag set with the --config flag every command takes.
func newFlags(name string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", config.DefaultPath, "config file")
	return fs, path
}

// parseFlags parses args and reports a usage exit code, or -1 to go on.
func parseFlags(fs *flag.FlagSet, args []string) int {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "provisiond %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitUsage
	}
	return -1
}

// loadConfig loads the config, printing the reason on failure: enough for
// the commands that read the state folder (run and check take
// config.LoadValid).
func loadConfig(path string, stderr io.Writer) (*config.Config, bool) {
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "provisiond: %v\n", err)
		return nil, false
	}
	return cfg, true
}
