package main

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/connect"
	"github.com/provisiond/provisiond/internal/statemachine"
)

// testDaemon runs the daemon as `provisiond run` wires it (newDaemon), with
// a dialer a test may wrap to observe the calls.
type testDaemon struct {
	path       string
	logger     *zap.Logger
	level      *zap.AtomicLevel
	wrapDialer func(statemachine.Dialer) statemachine.Dialer
	// now, when set, is the dialer's clock (the machine's stays as it is).
	now func() time.Time
}

func (d *testDaemon) run(ctx context.Context, cfg *config.Config) error {
	real := newDaemon(d.path, d.logger, d.level, nil)
	real.Dialer = func(cfg *config.Config, o connect.Options) statemachine.Dialer {
		if d.now != nil {
			o.Now = d.now
		}
		var dialer statemachine.Dialer = connect.New(cfg, o)
		if d.wrapDialer != nil {
			dialer = d.wrapDialer(dialer)
		}
		return dialer
	}
	return real.Run(ctx, cfg)
}
