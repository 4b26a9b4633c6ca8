// Package link makes the emulator's connections behave as if they crossed a network
// link (a round-trip time, jitter, loss), and traces the MQTT packets that cross them as
// JSON lines. It knows sockets and MQTT's framing only: it imports no package of the
// emulator's, so that the broker, the API and the registry can change without it.
package link
