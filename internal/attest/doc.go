// Package attest is device attestation for the pre-provisioning hook of
// AWS IoT Fleet Provisioning: the statement a device makes between
// CreateCertificateFromCsr's answer and RegisterThing, its encoding into
// the RegisterThing parameters, and the verifier that a hook runs on it.
//
// The service's certificateId (the SHA-256 of a certificate with a random
// serial, fixed by the service) is the nonce. The device proves, with a
// per-device key that the manufacturer certified, that it asked for this
// certificate, under this template, as this client, for this key:
//   - format "signature": the manufacturer key signs Message;
//   - format "tpm2-certify": the TPM's attestation key (AK) certifies the
//     new device key with TPM2_Certify, qualifyingData = SHA-256(Message),
//     which also proves the key was made in that TPM and cannot leave it.
//
// The verifier checks the manufacturer chain to the OEM roots, the
// signature, the certified key, and the message against the hook's event,
// and each failure is a *Denial naming the check.
package attest
