package main

import (
	"context"

	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
	"github.com/provisiond/provisiond/internal/statemachine"
)

// testDaemon runs the daemon as `provisiond run` wires it (newDaemon), with
// a dialer a test may wrap to observe the calls.
type testDaemon struct {
	path       string
	logger     *zap.Logger
	level      *zap.AtomicLevel
	wrapDialer func(statemachine.Dialer) statemachine.Dialer
}

func (d *testDaemon) run(ctx context.Context, cfg *config.Config) error {
	real := newDaemon(d.path, d.logger, d.level, nil)
	if d.wrapDialer != nil {
		real.Dialer = func(cfg *config.Config, clientID string, logger *zap.Logger, tpm *tpmkey.Shared) statemachine.Dialer {
			return d.wrapDialer(newFleetDialer(cfg, clientID, logger, tpm))
		}
	}
	return real.Run(ctx, cfg)
}
