package connect

import "github.com/provisiond/provisiond/internal/keypair/claimkey"

// ClaimKeyIsFile reports whether a claim.private_key names a key file (whose
// mode check judges), rather than a credential, a TPM handle or a token.
func ClaimKeyIsFile(spec string) bool { return claimkey.IsPath(spec) }

// ClaimKeyInToken reports whether a claim.private_key names a key in a
// PKCS#11 token (a pkcs11: URI).
func ClaimKeyInToken(spec string) bool { return claimkey.InToken(spec) }
