package claimkey

import (
	"crypto"
	"errors"

	"github.com/provisiond/provisiond/internal/keypair/p11key"
)

// parseTokenURI checks a pkcs11: claim.private_key: an RFC 7512 URI that
// selects the token (token, serial, manufacturer, model: any may be left
// out when the module has one token) and the private key in it by its
// label (object=) or its CKA_ID (id=).
func parseTokenURI(spec string) (p11key.URI, error) {
	u, err := p11key.ParseURI(spec)
	if err != nil {
		return u, &Error{Msg: err.Error()}
	}
	if !u.SelectsKey() {
		return u, &Error{Msg: "the pkcs11: URI must select the claim key by object=LABEL or id=%XX (its CKA_ID), as in pkcs11:token=NAME;object=claim, got " + quote(spec)}
	}
	if u.Type != "" && u.Type != "private" {
		return u, &Error{Msg: "the pkcs11: URI names the claim's private key, so type= is private or left out, got " + quote(spec)}
	}
	return u, nil
}

// openInToken opens the token u selects with the module and PIN of s and
// finds the one private key u names, paired with pub (the certificate's).
// The token stays open, with one session, until closeKey.
func openInToken(u p11key.URI, pub crypto.PublicKey, s p11key.Settings) (crypto.Signer, func() error, error) {
	nothing := func() error { return nil }
	for _, f := range []struct{ setting, value string }{{p11key.SettingModule, s.Module}, {p11key.SettingPIN, s.PIN}} {
		if f.value == "" {
			return nil, nothing, &p11key.Error{Setting: f.setting, Kind: p11key.KindConfig,
				Msg: "not set: " + Setting + " is a key in a PKCS#11 token, reached with pkcs11.module and pkcs11.pin"}
		}
	}
	s.Token = u.TokenSelector()
	token, err := p11key.OpenToken(s)
	if err != nil {
		return nil, nothing, tokenError(err)
	}
	key, err := token.KeyFor(u, pub)
	if err != nil {
		token.Close()
		return nil, nothing, tokenError(err)
	}
	return key, token.Close, nil
}

// tokenError names claim.private_key in a token's failure that is the
// URI's (the token or key it selects), and keeps pkcs11.module's and
// pkcs11.pin's. Its kind still says whether waiting helps.
func tokenError(err error) error {
	var pe *p11key.Error
	if !errors.As(err, &pe) || (pe.Setting != "" && pe.Setting != p11key.SettingToken) {
		return err
	}
	renamed := *pe
	renamed.Setting = Setting
	return &renamed
}
