package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/provisiond/provisiond/internal/smallfile"
)

// Facts are where template parameter placeholders come from. SystemFacts
// reads the real machine; tests pass their own.
type Facts interface {
	MachineID() (string, error)
	Hostname() (string, error)
	MAC(iface string) (string, error)
	// File returns the file's content with surrounding white space trimmed.
	File(path string) (string, error)
	Env(name string) (string, bool)
}

// SystemFacts reads /etc/machine-id, the host name, network interfaces,
// files and the environment of this machine.
var SystemFacts Facts = systemFacts{}

type systemFacts struct{}

// machineIDFiles are tried in order; the D-Bus copy exists on systems
// without systemd.
var machineIDFiles = []string{"/etc/machine-id", "/var/lib/dbus/machine-id"}

func (systemFacts) MachineID() (string, error) {
	var firstErr error
	for _, path := range machineIDFiles {
		id, err := readTrimmed(path)
		if err == nil {
			return id, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return "", firstErr
}

func (systemFacts) Hostname() (string, error) {
	h, err := os.Hostname()
	if err != nil {
		return "", err
	}
	if h == "" {
		return "", errors.New("the host name is empty")
	}
	return h, nil
}

func (systemFacts) MAC(iface string) (string, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return "", fmt.Errorf("interface %s: %w", iface, err)
	}
	if len(ifi.HardwareAddr) == 0 {
		return "", fmt.Errorf("interface %s has no hardware address", iface)
	}
	return ifi.HardwareAddr.String(), nil
}

func (systemFacts) File(path string) (string, error) { return readTrimmed(path) }

func (systemFacts) Env(name string) (string, bool) { return os.LookupEnv(name) }

// maxFactFile bounds what a ${file:...} placeholder reads: parameter values
// are short, and a mistaken path to a huge file should fail, not eat memory.
const maxFactFile = 64 << 10

func readTrimmed(path string) (string, error) {
	data, err := smallfile.Read(path, maxFactFile)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return "", fmt.Errorf("%s: %w", path, pe.Err)
		}
		return "", err
	}
	s := strings.TrimSpace(string(data))
	if s == "" {
		return "", fmt.Errorf("%s: empty", path)
	}
	return s, nil
}
