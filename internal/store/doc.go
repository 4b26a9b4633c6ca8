// Package store keeps the daemon's state on disk so that a power cut at any
// instant loses nothing: every file is replaced atomically (temp file in the
// same folder, fsync, rename, fsync the folder). It also writes the
// credentials bundle handed to the rest of the device.
package store
