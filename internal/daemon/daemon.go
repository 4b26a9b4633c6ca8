// Package daemon is the reload supervisor of `provisiond run`: it holds the
// state directory's lock, watches the config, claim and state folders and
// the wall clock, and runs one state machine per valid config, starting a
// new one when the config changes. With $PROVISIOND_DEBUG_STATS set it also
// keeps a file of its goroutine count, for soak tests (StartDebugStats).
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/attest/device"
	"github.com/provisiond/provisiond/internal/clock"
	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/connect"
	"github.com/provisiond/provisiond/internal/keypair/keystore"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
	"github.com/provisiond/provisiond/internal/logging"
	"github.com/provisiond/provisiond/internal/statemachine"
	"github.com/provisiond/provisiond/internal/store"
	"github.com/provisiond/provisiond/internal/systemd"
	"github.com/provisiond/provisiond/internal/watch"
)

// ErrConfig marks an error in the config, which a restart cannot fix.
var ErrConfig = errors.New("config")

// Daemon is one `provisiond run`: a config path, what the state machine
// reports to and how it reaches the service. It runs the state machine
// anew when the config changes.
type Daemon struct {
	Path   string
	Logger *zap.Logger
	// Level is the logger's, which a reload sets to the new log_level; nil
	// when the logger's level is fixed (tests).
	Level  *zap.AtomicLevel
	Notify statemachine.Notifier // nil without systemd
	// Dialer makes the state machine's dialer for a config, with the client
	// ID it resolves to, the logger and the TPM the state machine shares
	// (for a claim key in the TPM); nil is connect.New (tests wrap it).
	Dialer func(cfg *config.Config, o connect.Options) statemachine.Dialer
}

// Run runs the state machine, and runs it anew with the new config when the
// config file changes to a valid, different one.
func (d *Daemon) Run(ctx context.Context, cfg *config.Config) error {
	for {
		reload := make(chan *config.Config, 1)
		err := d.runOnce(ctx, cfg, reload)
		select {
		case next := <-reload:
			d.setLogLevel(next.LogLevel)
			d.Logger.Info("config changed: restarting the state machine", zap.String("config", d.Path))
			cfg = next
			continue
		default:
		}
		return err
	}
}

// setLogLevel applies a reloaded config's log_level, which the config has
// already validated.
func (d *Daemon) setLogLevel(name string) {
	if lvl, err := logging.ParseLevel(name); err == nil && d.Level != nil {
		d.Level.SetLevel(lvl)
	}
}

// runOnce runs one state machine for one config, until ctx ends or the config changes.
func (d *Daemon) runOnce(ctx context.Context, cfg *config.Config, reload chan<- *config.Config) error {
	files, err := openStateDirectory(cfg.StateDirectory)
	if err != nil {
		return err
	}
	defer files.Close()
	// One TPM connection for the state machine's life, opened on first use:
	// a simulator serves one connection at a time, and a TPM missing now
	// is a wait, not a reason to stop.
	tpm := tpmkey.NewShared(cfg.TPM)
	defer tpm.Close()
	runner, keys, err := d.newRunner(cfg, files, tpm)
	if err != nil {
		return err
	}
	// A key store that holds a device open (a PKCS#11 token's session and
	// module) lets go of it with the state machine.
	if c, ok := keys.(io.Closer); ok {
		defer closeWithin(c, keyStoreCloseTimeout, d.Logger)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	onConfigChange := func() {
		// A config the next state machine could not start with would stop
		// the daemon with exit 78, which systemd does not restart.
		next, err := config.LoadValid(d.Path)
		if err != nil {
			d.Logger.Warn("config changed but is not valid: keeping the one in use", zap.Error(err))
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
		d.Logger.Warn("no notice of clock changes: a device waiting for a plausible clock checks every 30s", zap.Error(err))
	}
	stopWatch, err := WatchFolders(runCtx, cfg, d.Logger, runner.HandoffChanged, onConfigChange)
	if err != nil {
		return err
	}
	defer stopWatch()
	// A change written after cfg was read and before the watch began made
	// no event: look once.
	if next, err := config.LoadValid(d.Path); err == nil && !next.Equal(cfg) {
		onConfigChange()
	}
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
func (d *Daemon) newRunner(cfg *config.Config, files *store.Dir, tpm *tpmkey.Shared) (*statemachine.Runner, keystore.Store, error) {
	params, err := cfg.Parameters(config.SystemFacts)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	clientID, err := cfg.ClientIDFor(config.SystemFacts)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	newDialer := d.Dialer
	if newDialer == nil {
		newDialer = func(cfg *config.Config, o connect.Options) statemachine.Dialer { return connect.New(cfg, o) }
	}
	dialer := newDialer(cfg, connect.Options{ClientID: clientID, Logger: d.Logger, TPM: tpm})
	settings := statemachine.Settings{
		Method:           cfg.CertificateMethod,
		KeyType:          cfg.KeyType,
		CommonName:       clientID,
		Template:         cfg.Template.Name,
		ClaimImport:      cfg.ClaimImport() != nil,
		Parameters:       params,
		Endpoint:         cfg.Endpoint,
		RootCAFile:       cfg.RootCA,
		Retry:            cfg.Retry,
		WatchdogInterval: systemd.WatchdogInterval(),
		Rotation:         cfg.Rotation.Policy,
		VerifyEvery:      cfg.VerifyEvery,
	}
	if cfg.Rotation.WithDevice() {
		settings.RotationTemplate = cfg.Rotation.Template
	}
	keys, err := keystore.New(keystore.Options{Kind: cfg.KeyStore, Files: files, TPM: tpm, PKCS11: cfg.PKCS11})
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	deps := statemachine.Deps{
		Files:    files,
		Dialer:   dialer,
		Clock:    clock.Real(),
		KeyStore: keys,
		Notify:   d.Notify,
		Logger:   d.Logger,
		Boot:     clock.SystemBoot(),
	}
	if cfg.Attestation.On() {
		deps.Attest = device.New(cfg.Attestation, tpm.TPM).Parameters
	}
	runner, err := statemachine.New(settings, deps)
	return runner, keys, err
}

// keyStoreCloseTimeout bounds the key store's release at stop: a module
// that does not return from C_Finalize must not keep the daemon from
// stopping (the process's exit releases the token all the same).
const keyStoreCloseTimeout = 5 * time.Second

// closeWithin closes c, giving up after timeout with a warning.
func closeWithin(c io.Closer, timeout time.Duration, logger *zap.Logger) {
	done := make(chan error, 1)
	go func() { done <- c.Close() }()
	select {
	case err := <-done:
		if err != nil && logger != nil {
			logger.Warn("cannot release the key store", zap.Error(err))
		}
	case <-time.After(timeout):
		if logger != nil {
			logger.Warn("the key store did not let go of its device in time: stopping anyway", zap.Duration("waited", timeout))
		}
	}
}
