package store

import "strconv"

// The state directory's file names: this is the one place that knows them.
// Names are relative to the state directory.
const (
	// StateFile is the state machine's saved state.
	StateFile = "state.json"
	// CredentialsFile is the handoff to the rest of the device.
	CredentialsFile = "credentials.json"
	// ReprovisionRequestFile is created by `provisiond reprovision`: the
	// daemon gets a new identity and removes it once the request is
	// recorded in StateFile, so that a request made while the daemon is
	// down is served at its next start.
	ReprovisionRequestFile = "reprovision.request"
	// VerifyRequestFile is created by `provisiond reprovision
	// --if-refused`: the daemon proves the identity once and reprovisions
	// only if the service refuses it; removed like ReprovisionRequestFile.
	VerifyRequestFile = "verify.request"
)

// ClaimImportDir is the drop folder of temporary claims (`provisiond claim
// import`): only the daemon's user may write it, a drop in it is kept until
// it is used or expired.
const ClaimImportDir = "claim-import"

// RequestFiles are the requests a command leaves for the daemon.
var RequestFiles = []string{ReprovisionRequestFile, VerifyRequestFile}

// File names inside an identity's folder (IdentityDir).
const (
	CertificateFileName = "certificate.pem"
	// KeyFileName is a private key kept in a file (PKCS #8 PEM).
	KeyFileName = "private.key"
	// TPMKeyFileName is a key kept in the TPM: the TSS2 PRIVATE KEY PEM
	// that OpenSSL's tpm2 provider loads.
	TPMKeyFileName = "private.tss2.pem"
)

// KeyFileNames are the names an identity's key file may have: the key
// store may have changed since an older identity was made.
var KeyFileNames = []string{KeyFileName, TPMKeyFileName}

// IdentityFileNames are every name an identity's folder may hold.
var IdentityFileNames = append([]string{CertificateFileName}, KeyFileNames...)

// IdentityDir is identity n's folder: a new identity gets a new one, so the
// files an older credentials.json names never change.
func IdentityDir(n int) string { return "identities/" + strconv.Itoa(n) }

// IdentityFile is the file name in identity n's folder.
func IdentityFile(n int, name string) string { return IdentityDir(n) + "/" + name }
