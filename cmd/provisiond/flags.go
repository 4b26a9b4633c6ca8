package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/daemon"
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

// loadConfig loads and validates the config and, with withFiles, the files
// it names, printing the reason on failure.
func loadConfig(path string, stderr io.Writer, withFiles bool) (*config.Config, bool) {
	cfg, err := config.Load(path)
	if err == nil && withFiles {
		err = cfg.CheckFiles()
	}
	if err != nil {
		fmt.Fprintf(stderr, "provisiond: %v\n", err)
		return nil, false
	}
	return cfg, true
}

// loadValid is daemon.LoadValid, named for the commands that share it.
func loadValid(path string) (*config.Config, error) { return daemon.LoadValid(path) }
