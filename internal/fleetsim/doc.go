// Package fleetsim is an offline emulator of AWS IoT Fleet Provisioning over MQTT.
//
// It embeds an MQTT broker (mochi-mqtt) behind mutual TLS, a certificate authority, a
// registry of things, certificates and policies persisted to disk, single-use ownership
// tokens with expiry, provisioning templates (package template), pre-provisioning hooks,
// rate limits and injectable faults. It answers the six request topics of the API in JSON
// and CBOR, only to the connection that asked, as the service does.
//
// The emulator never imports the daemon's packages; the daemon never imports it.
package fleetsim
