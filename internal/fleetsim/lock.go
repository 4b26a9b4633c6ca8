package fleetsim

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockFile is taken by a running emulator so that no second one serves the same folder:
// each would keep its own copy of the registry and overwrite the other's writes.
const lockFile = ".fleetsim.lock"

// lockDir takes an exclusive lock on dir/.fleetsim.lock, without waiting. The kernel
// releases it when the process ends, however it ends.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock the folder %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("folder %s is in use by another fleetsim (serve?); pass --endpoint to storm", dir)
		}
		return nil, fmt.Errorf("lock %s: %w", filepath.Join(dir, lockFile), err)
	}
	return f, nil
}
