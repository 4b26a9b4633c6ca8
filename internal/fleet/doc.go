// Package fleet is the device side of the AWS IoT Fleet Provisioning MQTT API:
// topics, JSON and CBOR codecs, one-call-at-a-time request/response over a
// mutual-TLS MQTT connection, and typed errors that say whether to retry.
//
// Every answer from the network is untrusted: an accepted result returned by
// this package has been checked (certificate parses, key matches, id is the
// SHA-256 of the DER, token and thing name are present).
package fleet
