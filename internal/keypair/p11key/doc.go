// Package p11key keeps a device key in a PKCS#11 token (a secure element,
// an HSM, softhsm2, tpm2-pkcs11): it loads the token's module without cgo,
// makes key pairs inside the token that can never leave it, finds them again
// by their CKA_ID, signs with them as a crypto.Signer, imports a key the
// service made when the token allows it, and turns the module's return
// values into errors that name the setting at fault and say whether waiting
// helps.
//
// It speaks the subset of PKCS#11 2.40 the daemon needs, through one
// session per token behind a mutex that is opened and logged in again when
// the module drops it. The keys are named to the rest of the device by an
// RFC 7512 URI (see URI) that libp11, the AWS SDKs and the Device Client take.
package p11key
