// Package fleet is the device side of the AWS IoT Fleet Provisioning MQTT API:
// topics, JSON and CBOR codecs, one-call-at-a-time request/response over a
// mutual-TLS MQTT connection, and typed errors that say whether to retry.
//
// Every answer from the network is untrusted: an accepted result returned by
// this package has been checked (certificate parses, key matches, id is the
// SHA-256 of the DER, token and thing name are present).
//
// # Calls and answers
//
// A Client subscribes (QoS 1, SUBACK awaited) to an operation's accepted and
// rejected topics before its first request, and keeps the subscriptions for the
// life of the connection. The API carries no correlation token, so each
// operation has one call in flight per connection; a second call waits its turn.
// Messages that arrive when no call of their operation waits, or on another
// template's topics, are dropped (logged at debug). A CreateCertificateFromCsr
// answer whose certificate is not for our key is someone else's and is ignored.
// An answer delayed past its call's timeout could be taken by the next call of
// the same operation, so once a call of an operation ends unanswered after its
// request went out, later calls of it on that connection fail with ErrRedial
// and the caller dials again.
//
// # Round trips
//
// On a cellular link each round trip is 50 to 600 ms, so a session costs
// as few as the protocol allows. With Options.Calls, Dial sends one
// SUBSCRIBE for every response topic those calls need right behind CONNACK;
// the first call waits for its SUBACK, so the subscription still precedes
// every request. A call reads its answer while its PUBACK is still on the
// way. DialAhead opens the proving connection's TCP (and DNS) while
// RegisterThing is in flight; its TLS and CONNECT run once the certificate
// is registered. TLS 1.3, one round trip, is preferred.
//
// The SUBSCRIBE is not sent before CONNACK, though MQTT 3.1.1 section 3.1.4
// allows it and it would be safe (a broker that refuses the CONNECT must not
// process what follows, one that accepts it processes the SUBSCRIBE first,
// and the request still waits for the SUBACK): paho refuses to subscribe
// until CONNACK is in, and writing the packet beneath it would mean a second
// MQTT implementation. docs/PERFORMANCE.md counts each round trip.
//
// Errors wrap ErrTimeout, ErrConnectionLost, ErrClosed, ErrRedial,
// ErrSubscriptionRefused, ErrEmptyToken, *RejectedError, *InvalidAnswerError,
// *OptionsError or *ClockError, and the TLS and x509 errors keep their types;
// Classify maps any of them to a Kind once.
package fleet
