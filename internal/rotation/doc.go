// Package rotation decides when the daemon renews its identity and when it
// re-proves it: pure functions of the certificate's validity, the identity's
// provisioning time, the policy from the config and the current time. The
// state machine persists what they return and sleeps on one timer until then.
//
// # The due time
//
// A policy has up to two rules; when both are set the earlier due time wins:
//   - After: the identity's age. Due at provisionedAt + After; the period is After.
//   - BeforeExpiry: a fixed margin D before NotAfter (due at NotAfter − D) or a
//     share P of the lifetime (due at NotBefore + P × (NotAfter − NotBefore), as
//     Azure's identity service does at 80%). The period is the due time minus
//     NotBefore.
//
// # Jitter, and why it is earlier
//
// A fleet provisioned on one day would rotate in the same second. The
// jitter moves each identity's due time EARLIER by a fixed fraction u of the
// window (Jitter × period, or a fixed duration): due = nominal − u × window,
// with u in [0, 1) taken from a hash of a per-identity key (the certificate
// id). Earlier, so that a certificate never outlives the due time the
// operator set (a compliance check on age or expiry passes). Deterministic,
// so that a restart does not re-roll it, and different for each identity, so
// that a fleet spreads over the window. Nothing is coordinated between
// devices, so the spread is that of independent uniform draws.
//
// # Clocks
//
// The time is the wall clock; the caller sleeps with a monotonic timer until
// the time Decide returns, and asks again when it wakes (passing the time it
// planned to wake at) or when the clock is set (passing none). Two rules keep
// a clock that jumps from rotating a fleet at once:
//   - The clock is plausible only at or after the certificate's NotBefore
//     (the service's own clock when it issued it). Before that, Decide says
//     WaitForClock and nothing is rotated.
//   - A due time a first decision finds more than Grace in the past (the
//     daemon was off, or the clock just jumped forward with the first time
//     sync after boot, which happens to a whole fleet after a power cut)
//     does not fire at once. It recurs every respread window (the jitter
//     window, at most MaxRespread) from the identity's own due time, and the
//     identity acts at the next recurrence: the fleet's late identities keep
//     their spread instead of all acting in the boot second. The
//     recurrences are fixed in time, so a restart before one finds the same
//     one. The certificate's expiry overrides this: if it would expire
//     before that recurrence, act now.
//
// A wake-up on the planned timer acts even if it comes up to WakeSlack late,
// so that a slow wake-up never postpones the rotation to the next recurrence.
package rotation
