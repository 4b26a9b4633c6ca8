package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"reflect"
	"syscall"

	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/logging"
	"github.com/provisiond/provisiond/internal/statemachine"
	"github.com/provisiond/provisiond/internal/store"
	"github.com/provisiond/provisiond/internal/systemd"
)

// cmdRun runs the daemon until SIGTERM or SIGINT.
func cmdRun(args []string, stderr io.Writer) int {
	fs, path := newFlags("run", stderr)
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	cfg, ok := loadConfig(*path, stderr)
	if !ok {
		return exitConfig
	}
	if err := cfg.CheckFiles(); err != nil {
		fmt.Fprintf(stderr, "provisiond: %v\n", err)
		return exitConfig
	}
	logger, err := logging.New(cfg.LogLevel, os.Stderr)
	if err != nil {
		fmt.Fprintf(stderr, "provisiond: %v\n", err)
		return exitConfig
	}
	defer logger.Sync() //nolint:errcheck // nothing to do if the log cannot be flushed

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	notify := systemd.NewNotifier(logger)
	err = runDaemon(ctx, *path, cfg, logger, notify)
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

// runDaemon runs the state machine, and runs it anew with the new config
// when the config file changes to a valid, different one.
func runDaemon(ctx context.Context, path string, cfg *config.Config, logger *zap.Logger, notify statemachine.Notifier) error {
	for {
		reload := make(chan *config.Config, 1)
		err := runOnce(ctx, path, cfg, logger, notify, reload)
		select {
		case next := <-reload:
			logger.Info("config changed: restarting the state machine", zap.String("config", path))
			cfg = next
			continue
		default:
		}
		return err
	}
}

// runOnce runs one state machine for one config, until ctx ends or the config changes.
func runOnce(ctx context.Context, path string, cfg *config.Config, logger *zap.Logger,
	notify statemachine.Notifier, reload chan<- *config.Config) error {
	if notify != nil {
		notify = keepRunning{notify}
	}
	runner, err := newRunner(cfg, logger, notify)
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	onConfigChange := func() {
		next, err := config.Load(path)
		if err == nil {
			err = next.CheckFiles()
		}
		if err != nil {
			logger.Warn("config changed but is not valid: keeping the one in use", zap.Error(err))
			runner.Kick()
			return
		}
		if reflect.DeepEqual(next, cfg) {
			runner.Kick()
			return
		}
		select {
		case reload <- next:
		default:
		}
		cancel()
	}
	stopWatch, err := watchDaemonFolders(runCtx, cfg, logger, runner, onConfigChange)
	if err != nil {
		return err
	}
	defer stopWatch()
	return runner.Run(runCtx)
}

// newRunner builds the state machine for cfg.
func newRunner(cfg *config.Config, logger *zap.Logger, notify statemachine.Notifier) (*statemachine.Runner, error) {
	params, err := cfg.Parameters(config.SystemFacts)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errConfig, err)
	}
	clientID, err := cfg.ClientIDFor(config.SystemFacts)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errConfig, err)
	}
	files, err := store.OpenDir(cfg.StateDirectory)
	if err != nil {
		return nil, fmt.Errorf("state_directory: %w", err)
	}
	settings := statemachine.Settings{
		Method:           cfg.CertificateMethod,
		KeyType:          cfg.KeyType,
		Template:         cfg.Template.Name,
		Parameters:       params,
		Endpoint:         cfg.Endpoint,
		RootCAFile:       cfg.RootCA,
		Retry:            cfg.Retry,
		WatchdogInterval: systemd.WatchdogInterval(),
	}
	deps := statemachine.Deps{
		Files:  files,
		Dialer: &fleetDialer{cfg: cfg, clientID: clientID, logger: logger},
		Clock:  statemachine.RealClock(),
		Keys:   statemachine.GenerateKey,
		Notify: notify,
		Logger: logger,
		Boot:   statemachine.SystemBootClock(),
	}
	return statemachine.New(settings, deps)
}

// keepRunning hides the state machine's STOPPING=1: a config reload stops one
// state machine and starts the next within the same service. The command
// itself says STOPPING=1 when the process stops.
type keepRunning struct{ statemachine.Notifier }

func (keepRunning) Stopping() {}
