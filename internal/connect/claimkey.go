package connect

import "github.com/provisiond/provisiond/internal/keypair/claimkey"

// ClaimKeyIsFile reports whether a claim.private_key names a key file (whose
// mode check judges), rather than a credential, a TPM handle or a token.
func ClaimKeyIsFile(spec string) bool { return claimkey.IsPath(spec) }
