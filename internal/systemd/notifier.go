package systemd

import (
	"os"
	"strings"
	"sync"

	"github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"
)

// Notifier sends sd_notify messages. A nil *Notifier is a valid no-op, so it
// satisfies the state machine's Notifier interface even when absent.
type Notifier struct {
	logger  *zap.Logger
	enabled bool
	// send delivers one datagram; daemon.SdNotify outside tests.
	send func(state string) (bool, error)

	mu         sync.Mutex // orders datagrams and guards the fields below
	status     string
	failing    bool // a send failed and none has succeeded since
	loggedDown bool // the service manager has been reported unreachable once
}

// NewNotifier reads NOTIFY_SOCKET once. Without it every method returns at
// once without touching the network. A nil logger is allowed.
func NewNotifier(logger *zap.Logger) *Notifier {
	if logger == nil {
		logger = zap.NewNop()
	}
	return &Notifier{
		logger:  logger,
		enabled: os.Getenv("NOTIFY_SOCKET") != "",
		send: func(state string) (bool, error) {
			// The environment is kept so that child processes and a
			// re-exec still reach the service manager.
			return daemon.SdNotify(false, state)
		},
	}
}

// Enabled reports whether a service manager is listening.
func (n *Notifier) Enabled() bool {
	return n != nil && n.enabled
}

// Ready reports that startup is finished, with the last status if one was set,
// so that `systemctl status` never shows a stale startup message.
func (n *Notifier) Ready() {
	if !n.Enabled() {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	msg := daemon.SdNotifyReady
	if n.status != "" {
		msg += "\nSTATUS=" + n.status
	}
	n.notifyLocked(msg)
}

// Status sets the one-line status shown by `systemctl status`. An unchanged
// status is not sent again.
func (n *Notifier) Status(text string) {
	if !n.Enabled() {
		return
	}
	// The protocol is one assignment per line: a newline in the text
	// would start a bogus assignment.
	text = strings.Join(strings.Fields(text), " ")
	n.mu.Lock()
	defer n.mu.Unlock()
	if text == n.status {
		return
	}
	if n.notifyLocked("STATUS=" + text) {
		n.status = text
	}
}

// Watchdog feeds the service manager's watchdog.
func (n *Notifier) Watchdog() { n.notify(daemon.SdNotifyWatchdog) }

// Stopping reports that a clean shutdown has begun.
func (n *Notifier) Stopping() { n.notify(daemon.SdNotifyStopping) }

// notify sends msg when a service manager is listening.
func (n *Notifier) notify(msg string) {
	if !n.Enabled() {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.notifyLocked(msg)
}

// notifyLocked sends msg and reports whether it was delivered. A failure is
// logged as a warning once per outage, then at debug level, so that a broken
// socket does not flood the log on every watchdog tick.
func (n *Notifier) notifyLocked(msg string) bool {
	sent, err := n.send(msg)
	if err == nil && sent {
		if n.failing {
			n.logger.Info("service manager notifications delivered again")
		}
		n.failing = false
		return true
	}
	n.failing = true
	fields := []zap.Field{zap.String("notification", firstLine(msg)), zap.Error(err)}
	if !n.loggedDown {
		n.loggedDown = true
		n.logger.Warn("cannot notify the service manager", fields...)
	} else {
		n.logger.Debug("cannot notify the service manager", fields...)
	}
	return false
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
