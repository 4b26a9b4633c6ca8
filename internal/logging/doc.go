// Package logging builds the daemon's zap logger. Under systemd, when stderr
// is the journal's stream, entries go to journald natively with their fields
// as journal fields, so that `journalctl -u provisiond PROVISIOND_STATE=registered`
// finds them; otherwise, or when journald cannot be reached, they are written
// to stderr in a human-readable form.
package logging
