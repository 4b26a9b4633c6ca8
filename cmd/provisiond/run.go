package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/daemon"
	"github.com/provisiond/provisiond/internal/logging"
	"github.com/provisiond/provisiond/internal/statemachine"
	"github.com/provisiond/provisiond/internal/store"
	"github.com/provisiond/provisiond/internal/systemd"
)

// cmdRun runs the daemon until SIGTERM or SIGINT.
func cmdRun(args []string, stderr io.Writer) int {
	// Catch signals first, so that a SIGTERM during start-up still stops cleanly.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	fs, path := newFlags("run", stderr)
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	cfg, err := config.LoadValid(*path)
	if err != nil {
		fmt.Fprintf(stderr, "provisiond: %v\n", err)
		return exitConfig
	}
	lvl, err := logging.ParseLevel(cfg.LogLevel)
	if err != nil {
		fmt.Fprintf(stderr, "provisiond: %v\n", err)
		return exitConfig
	}
	level := zap.NewAtomicLevelAt(lvl)
	logger, err := logging.NewAt(level, os.Stderr)
	if err != nil {
		fmt.Fprintf(stderr, "provisiond: %v\n", err)
		return exitConfig
	}
	defer logger.Sync() //nolint:errcheck // nothing to do if the log cannot be flushed

	daemon.StartDebugStats(ctx)
	notify := systemd.NewNotifier(logger)
	d := newDaemon(*path, logger, &level, notify)
	err = d.Run(ctx, cfg)
	notify.Stopping()
	var corrupt *store.CorruptError
	switch {
	case err == nil:
		logger.Info("stopped")
		return exitOK
	case errors.As(err, &corrupt):
		logger.Error("refusing to start", zap.Error(err))
		fmt.Fprintf(stderr, "provisiond: %v\n", err)
		return exitDataErr
	case errors.Is(err, daemon.ErrConfig):
		fmt.Fprintf(stderr, "provisiond: %v\n", err)
		return exitConfig
	default:
		logger.Error("stopped on error", zap.Error(err))
		fmt.Fprintf(stderr, "provisiond: %v\n", err)
		return exitFailure
	}
}

// newDaemon wires the reload supervisor; it reaches the service through
// internal/connect.
func newDaemon(path string, logger *zap.Logger, level *zap.AtomicLevel, notify statemachine.Notifier) *daemon.Daemon {
	return &daemon.Daemon{Path: path, Logger: logger, Level: level, Notify: notify}
}
