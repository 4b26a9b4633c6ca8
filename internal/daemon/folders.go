package daemon

import (
	"context"

	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/atomicfile"
	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/connect"
	"github.com/provisiond/provisiond/internal/watch"
)

// WatchFolders calls onConfigChange when the config, root CA or claim
// files change, and handoffChanged (the runner's HandoffChanged) when the
// state folder changes (a removed handoff, a reprovision request, a file
// removed from an identity's folder).
// The store's own temp files do not count: a failing write would otherwise
// wake the runner again and again. A state folder that is removed is watched
// again once it is recreated (the store recreates it on its next write). It
// returns a function that stops both.
func WatchFolders(ctx context.Context, cfg *config.Config, logger *zap.Logger,
	handoffChanged, onConfigChange func()) (func(), error) {
	inputs, err := watch.Start(ctx, watch.Options{
		Paths:  inputPaths(cfg),
		Logger: logger.Named("watch"),
	}, onConfigChange)
	if err != nil {
		return nil, err
	}
	state, err := watch.Start(ctx, watch.Options{
		Paths:      []string{cfg.StateDirectory},
		Subfolders: true,
		Ignore:     atomicfile.IsTempName,
		Logger:     logger.Named("watch"),
	}, handoffChanged)
	if err != nil {
		inputs.Close()
		return nil, err
	}
	return func() {
		state.Close()
		inputs.Close()
	}, nil
}

// inputPaths are the files whose change makes the daemon look again: the
// config, the root CA and every claim's certificate and key file (a key in
// a token, in the TPM or in a credential is no file of the config's).
func inputPaths(cfg *config.Config) []string {
	paths := []string{cfg.Path, cfg.RootCA}
	for _, c := range cfg.FileClaims() {
		paths = append(paths, c.Certificate)
		if connect.ClaimKeyIsFile(c.PrivateKey) {
			paths = append(paths, c.PrivateKey)
		}
	}
	return paths
}
