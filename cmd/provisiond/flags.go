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

// loadValid loads the config and checks the files it names and what the
// daemon expands at start, the template parameters and the client ID, so
// that a config whose placeholders cannot be expanded (${env:UNSET}) is
// reported as a bad config naming the field.
func loadValid(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if err := cfg.CheckFiles(); err != nil {
		return nil, err
	}
	if _, err := cfg.Parameters(config.SystemFacts); err != nil {
		return nil, err
	}
	if _, err := cfg.ClientIDFor(config.SystemFacts); err != nil {
		return nil, err
	}
	if _, err := proxySettings(cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Path, err) // a bad HTTPS_PROXY is a bad config too
	}
	return cfg, nil
}
