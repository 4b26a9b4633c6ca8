package main

import (
	"context"

	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/statemachine"
	"github.com/provisiond/provisiond/internal/watch"
)

// watchDaemonFolders calls onConfigChange when the config, root CA or claim
// files change, and tells the runner when its state folder changes (a removed
// handoff, a reprovision request). It returns a function that stops both.
func watchDaemonFolders(ctx context.Context, cfg *config.Config, logger *zap.Logger,
	runner *statemachine.Runner, onConfigChange func()) (func(), error) {
	inputs, err := watch.Start(ctx, watch.Options{
		Paths:  []string{cfg.Path, cfg.RootCA, cfg.Claim.Certificate, cfg.Claim.PrivateKey},
		Logger: logger.Named("watch"),
	}, onConfigChange)
	if err != nil {
		return nil, err
	}
	state, err := watch.Start(ctx, watch.Options{
		Paths:  []string{cfg.StateDirectory},
		Logger: logger.Named("watch"),
	}, runner.HandoffChanged)
	if err != nil {
		inputs.Close()
		return nil, err
	}
	return func() {
		state.Close()
		inputs.Close()
	}, nil
}
