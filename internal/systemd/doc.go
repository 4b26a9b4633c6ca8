// Package systemd tells the service manager how the daemon is doing over the
// sd_notify protocol: READY=1 once state is loaded, STATUS= on every
// transition, WATCHDOG=1 while the loop makes progress and STOPPING=1 on the
// way out. Running without systemd (no NOTIFY_SOCKET) is a normal case in
// which every call is a cheap no-op.
package systemd
