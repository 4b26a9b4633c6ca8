// Package check diagnoses, step by step, whether a device can provision:
// the config, the clock, DNS, TCP (directly or through the proxy), TLS, the
// claim, MQTT with the claim and the current identity. Each step ends ok,
// warn or fail with one line of cause and, for a fail, the fix in words.
// It creates nothing: it never publishes. It reaches the endpoint through
// internal/connect, as the daemon does, and its words for a failed step are
// connect's (connect.Explain), which the daemon's status shows too.
package check
