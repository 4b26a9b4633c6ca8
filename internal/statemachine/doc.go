// Package statemachine drives a device from its claim certificate to its own
// identity: unprovisioned → cert-pending → registered. It talks only to
// interfaces (a fleet session dialer, a store, a clock, a key store, a
// notifier), so every transition is tested without a network or sleeping.
//
// One function, next (step.go), derives the sub-state and so the next
// action from the saved state alone; the loop runs it. Every change of
// state goes through one save function, which saves the new state before
// anything relies on it (memory equals disk). So a restart at any instant
// resumes: a CSR key is made once per identity and reused on retries,
// RegisterThing is never repeated once its answer is saved, and an
// interruption costs at most one certificate. Tests stop a Runner at every
// named crash point (the Point constants) and resume with a fresh one.
//
// Files live in the state directory (store names them): state.json,
// credentials.json (the handoff, written last), and identities/<N>/ with
// certificate.pem and the key's file, if its key store keeps one
// (private.key, 0640: the service group reads it; private.tss2.pem for a
// key in the TPM), for each identity N. A new identity gets a new N, so the
// files an older credentials.json names never change; once a new
// credentials.json names the new N, the identities before the previous one
// are removed (the previous one stays for consumers that have not re-read
// the handoff yet), so that at most one retired private key lingers.
//
// Failures are counted across a whole certificate cycle: only a
// registration resets the count, so a service that refuses every token is
// backed off like any other failure. Each attempt is recorded before its
// service call, so a crash during the call also waits before the next.
//
// A durable write waits on the disk and a connection on the network, so
// where the next step needs both and neither needs the other they overlap:
// the claim connection opens during the save before the first call, the
// identity's files are written during the save that names them, and the
// new identity is proved during the save of its registration. Crash points
// pass only once both are done; a power cut in between leaves a state that
// names a file not yet durable, which costs that one certificate, as the
// same cut would with the writes in sequence.
package statemachine
