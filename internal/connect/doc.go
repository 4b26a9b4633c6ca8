// Package connect is how the daemon reaches Fleet Provisioning, from its
// config: the TLS options (root_ca read at each dial, ALPN x-amzn-mqtt-ca on
// port 443, the classical or hybrid key exchange), the route (a proxy or
// none), where the claim key comes from, the TCP of the proving connection
// opened ahead, and the naming of a failed step in the words of
// `provisiond check` (Explain). The daemon dials through it, and check
// --online tests the same path.
package connect
