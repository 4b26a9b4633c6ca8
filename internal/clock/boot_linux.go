package clock

import (
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// SystemBoot reads the kernel's boot id and CLOCK_BOOTTIME.
func SystemBoot() Boot { return systemBoot{} }

type systemBoot struct{}

const bootIDFile = "/proc/sys/kernel/random/boot_id"

func (systemBoot) Boot() (string, time.Duration, error) {
	data, err := os.ReadFile(bootIDFile)
	if err != nil {
		return "", 0, fmt.Errorf("boot id: %w", err)
	}
	id := strings.TrimSpace(string(data))
	if id == "" {
		return "", 0, fmt.Errorf("boot id: %s is empty", bootIDFile)
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return "", 0, fmt.Errorf("boot time: %w", err)
	}
	return id, time.Duration(ts.Nano()), nil
}
