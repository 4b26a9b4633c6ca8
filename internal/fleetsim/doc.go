// Package fleetsim is an offline emulator of AWS IoT Fleet Provisioning over MQTT.
//
// It embeds an MQTT broker (mochi-mqtt) behind mutual TLS, a certificate authority, a
// registry of things, certificates and policies in SQLite, single-use ownership
// tokens with expiry, provisioning templates (package template), pre-provisioning hooks,
// rate limits and injectable faults. It answers the six request topics of the API in JSON
// and CBOR, only to the connection that asked and only if it holds a matching
// subscription, as the service does; request topics are never delivered to subscribers.
//
// Where AWS documents nothing, the emulator chooses (see also PROTOCOL.md):
//   - A claim certificate may publish and subscribe on the provisioning topics of any valid
//     template name; a name with no template in the folder is answered 404 ResourceNotFound.
//   - A CONNECT keepalive of 0 becomes 1200 s; 1 to 29 becomes 30 s; above 1200 s is refused.
//   - Ownership tokens are opaque strings sealed with the folder's token.key; they name their
//     certificate, so they survive a restart of the emulator. A token stays usable after a
//     rejected RegisterThing, until it is used or expires.
//   - A template without an AWS::IoT::Certificate resource activates the certificate.
//   - A template's inline policy is named after the SHA-256 of its document.
//   - CreateKeysAndCertificate returns a PKCS#1 RSA-2048 key, generated ahead in a small pool.
//   - Issued certificates have subject CN=AWS IoT Certificate unless Options.KeepCSRSubject.
//   - A payload over 128 KB, a QoS 2 publish or a claim publishing outside its policy ends
//     the connection, whatever the QoS and MQTT version.
//   - A CONNECT whose Will is on a $aws/ topic, or a claim's CONNECT with a Will outside its
//     policy, is refused (not authorized). Nothing published by a client is retained on $aws/.
//   - One connection may have 4 requests in process at once; more are answered 429 Throttling.
//   - A template evaluation that would produce more than one MQTT message (128 KiB), as a
//     short template repeating a long parameter can, is answered 400 InvalidRequest.
//   - AWS's broker limits: a client ID empty or starting with $ is refused at CONNECT;
//     a SUBSCRIBE of more than 8 filters fails whole, and a filter of more than 256 bytes or
//     7 slashes, or beyond the connection's 50 subscriptions, fails (SUBACK 0x80, 0x8F in
//     MQTT 5); a publish on such a topic ends the connection.
//   - An answer is sent once, at the subscription's QoS (at most 1), and never kept in the
//     session: a connection resuming the session under the asker's client ID, with the
//     same shared claim, gets nothing resent.
//   - One emulator at a time serves a folder: Start locks dir/.fleetsim.lock.
//   - A claim connects only with a policy attached. A provisioning claim
//     (CreateProvisioningClaim) comes from an issuer of its own (dir/provisioning-ca.pem),
//     uses only its template's topics, and its certificate calls must come within 5
//     minutes of connecting (AWS's rule), else 403 AccessDenied.
//   - Each claim counts the things registered through its connections.
//
// The registry (package registry) is dir/registry.db, in SQLite: every change an answer
// reports is committed before the answer is published. The control-plane API
// (Options.APIListen) is package awsapi; the link emulator and the packet trace
// (Options.Link, Options.Trace) are package link.
//
// The emulator never imports the daemon's packages; the daemon never imports it.
// Both use internal/atomicfile, a standard-library leaf that belongs to neither.
package fleetsim
