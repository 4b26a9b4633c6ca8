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
//   - AWS's broker limits: a client ID empty or starting with $ is refused at CONNECT;
//     a SUBSCRIBE of more than 8 filters fails whole, and a filter of more than 256 bytes or
//     7 slashes, or beyond the connection's 50 subscriptions, fails (SUBACK 0x80, 0x8F in
//     MQTT 5); a publish on such a topic ends the connection.
//   - An answer is sent once, at the subscription's QoS (at most 1), and never kept in the
//     session: a connection resuming the session under the asker's client ID, with the
//     same shared claim, gets nothing resent.
//   - One emulator at a time serves a folder: Start locks dir/.fleetsim.lock.
//
// The registry is dir/registry.db, SQLite (modernc.org/sqlite, pure Go) in WAL mode, so
// that `fleetsim registry` and the API read it while serve writes. Every change an answer
// reports (a certificate issued, a thing registered, a status changed over the API) is
// committed before the answer is published: whoever reads after an answer sees it.
// Durability is synchronous=NORMAL: in WAL mode a commit has been written to the log
// (the kernel's page cache) when it returns, so a killed emulator (SIGKILL, a panic)
// loses no committed registration; only a crash of the machine itself may lose the last
// commits before a checkpoint. FULL would add an fsync to every registration, which a
// storm pays on every device, for a guarantee an emulator does not need. An old
// registry.json is imported once and renamed registry.json.imported.
//
// The control-plane API (Options.APIListen) speaks AWS IoT's REST-JSON protocol as the
// service model in botocore defines it. The rules it applies to the data plane, as AWS
// documents them:
//   - A certificate made INACTIVE or REVOKED has its open connections closed, and its
//     next CONNECT is refused (not authorized). REVOKED is final.
//   - A deleted certificate cannot connect. Only an INACTIVE or REVOKED certificate
//     attached to no thing may be deleted (policies need forceDelete).
//   - A revoked claim certificate cannot connect, so it cannot provision.
//   - A disabled template answers RegisterThing 403 AccessDenied; a deleted one 404
//     ResourceNotFound, as a name that never existed.
//
// Where AWS documents nothing, the API chooses:
//   - Templates in dir/templates/ and those created over the API are one set; the
//     folder's are changed (their .settings.json) and deleted in the folder, the API's
//     are kept in registry.db. Created templates are disabled unless enabled is true.
//   - A template keeps only its default version: CreateProvisioningTemplateVersion
//     replaces the body and must be given setAsDefault (a folder template stays version 1).
//   - A pre-provisioning hook's targetArn is its http(s) URL: the emulator has no Lambda.
//   - DescribeEndpoint answers the MQTT listener as HOST:PORT, whatever endpointType.
//   - Without credentials any request is accepted, signed or not; with them, a request
//     must be signed (SigV4) with that key, else 403 MissingAuthenticationToken or
//     InvalidSignature. The secret never appears in a log or an answer.
//   - An unknown path or method is answered 404 UnknownOperationException.
//   - ARNs name account 123456789012 in us-east-1.
//
// The emulator never imports the daemon's packages; the daemon never imports it.
// Both use internal/atomicfile, a standard-library leaf that belongs to neither.
package fleetsim
