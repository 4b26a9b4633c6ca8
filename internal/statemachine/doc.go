// Package statemachine drives a device from its claim certificate to its own
// identity: unprovisioned → cert-pending → registered. It talks only to
// interfaces (a fleet session dialer, a store, a clock, a key generator, a
// notifier), so every transition is tested without a network or sleeping.
package statemachine
