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

	"github.com/provisiond/provisiond/internal/clock"
	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/logging"
	"github.com/provisiond/provisiond/internal/statemachine"
	"github.com/provisiond/provisiond/internal/store"
	"github.com/provisiond/provisiond/internal/systemd"
	"github.com/provisiond/provisiond/internal/watch"
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
	cfg, ok := loadConfig(*path, stderr, true)
	if !ok {
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

	notify := systemd.NewNotifier(logger)
	d := &daemon{path: *path, logger: logger, level: &level, notify: notify}
	err = d.run(ctx, cfg)
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
	case errors.Is(err, errConfig):
		fmt.Fprintf(stderr, "provisiond: %v\n", err)
		return exitConfig
	default:
		logger.Error("stopped on error", zap.Error(err))
		fmt.Fprintf(stderr, "provisiond: %v\n", err)
		return exitFailure
	}
}

var errConfig = errors.New("config")

// daemon is one `provisiond run`: a config path and what the state machine
// reports to. It runs the state machine anew when the config changes.
type daemon struct {
	path   string
	logger *zap.Logger
	// level is the logger's, which a reload sets to the new log_level; nil
	// when the logger's level is fixed (tests).
	level  *zap.AtomicLevel
	notify statemachine.Notifier // nil without systemd
	// wrapDialer lets tests observe the calls; nil in production.
	wrapDialer func(statemachine.Dialer) statemachine.Dialer
}

// run runs the state machine, and runs it anew with the new config when the
// config file changes to a valid, different one.
func (d *daemon) run(ctx context.Context, cfg *config.Config) error {
	for {
		reload := make(chan *config.Config, 1)
		err := d.runOnce(ctx, cfg, reload)
		select {
		case next := <-reload:
			d.setLogLevel(next.LogLevel)
			d.logger.Info("config changed: restarting the state machine", zap.String("config", d.path))
			cfg = next
			continue
		default:
		}
		return err
	}
}

// setLogLevel applies a reloaded config's log_level, which the config has
// already validated.
func (d *daemon) setLogLevel(name string) {
	if lvl, err := logging.ParseLevel(name); err == nil && d.level != nil {
		d.level.SetLevel(lvl)
	}
}

// runOnce runs one state machine for one config, until ctx ends or the config changes.
func (d *daemon) runOnce(ctx context.Context, cfg *config.Config, reload chan<- *config.Config) error {
	files, err := openStateDirectory(cfg.StateDirectory)
	if err != nil {
		return err
	}
	defer files.Close()
	runner, err := d.newRunner(cfg, files)
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	onConfigChange := func() {
		// A config the next state machine could not start with would stop
		// the daemon with exit 78, which systemd does not restart.
		next, err := loadValid(d.path)
		if err != nil {
			d.logger.Warn("config changed but is not valid: keeping the one in use", zap.Error(err))
			runner.Kick()
			return
		}
		if next.Equal(cfg) {
			runner.Kick()
			return
		}
		select {
		case reload <- next:
		default:
		}
		cancel()
	}
	if err := watch.ClockSet(runCtx, runner.Kick); err != nil {
		d.logger.Warn("no notice of clock changes: a device waiting for a plausible clock checks every 30s", zap.Error(err))
	}
	stopWatch, err := watchDaemonFolders(runCtx, cfg, d.logger, runner.HandoffChanged, onConfigChange)
	if err != nil {
		return err
	}
	defer stopWatch()
	return runner.Run(runCtx)
}

// openStateDirectory opens the store and holds the state directory's lock
// while this state machine runs: one daemon per state directory.
func openStateDirectory(dir string) (*store.Dir, error) {
	files, err := store.OpenDirLocked(dir)
	if errors.Is(err, store.ErrInUse) {
		return nil, fmt.Errorf("%w: stop the other daemon first (systemctl stop provisiond, or the `provisiond run` started by hand)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("state_directory: %w", err)
	}
	return files, nil
}

// newRunner builds the state machine for cfg on the opened store.
func (d *daemon) newRunner(cfg *config.Config, files *store.Dir) (*statemachine.Runner, error) {
	params, err := cfg.Parameters(config.SystemFacts)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errConfig, err)
	}
	clientID, err := cfg.ClientIDFor(config.SystemFacts)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errConfig, err)
	}
	var dialer statemachine.Dialer = &fleetDialer{cfg: cfg, clientID: clientID, logger: d.logger}
	if d.wrapDialer != nil {
		dialer = d.wrapDialer(dialer)
	}
	settings := statemachine.Settings{
		Method:           cfg.CertificateMethod,
		KeyType:          cfg.KeyType,
		CommonName:       clientID,
		Template:         cfg.Template.Name,
		Parameters:       params,
		Endpoint:         cfg.Endpoint,
		RootCAFile:       cfg.RootCA,
		Retry:            cfg.Retry,
		WatchdogInterval: systemd.WatchdogInterval(),
	}
	deps := statemachine.Deps{
		Files:  files,
		Dialer: dialer,
		Clock:  clock.Real(),
		Keys:   keypair.Generate,
		Notify: d.notify,
		Logger: d.logger,
		Boot:   clock.SystemBoot(),
	}
	return statemachine.New(settings, deps)
}
