// Package check diagnoses, step by step, whether a device can provision:
// the config, the clock, DNS, TCP (directly or through the proxy), TLS, the
// claim, MQTT with the claim and the current identity. Each step ends ok,
// warn or fail with one line of cause and, for a fail, the fix in words.
// It creates nothing: it never publishes. Explain gives the same words for
// an error the daemon met, so that status and check speak alike.
package check
