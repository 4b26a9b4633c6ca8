package p11key

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"testing"

	"github.com/provisiond/provisiond/internal/keypair/p11key/p11test"
)

// A session the module closed behind the token's back (as after a device
// reset) is opened and logged in again, and the key's handle found again,
// within the same Sign call.
func TestLostSessionIsReopened(t *testing.T) {
	m := p11test.SoftHSM(t)
	tok := m.InitToken("device")
	token, err := OpenToken(Settings{Module: m.Path, Token: "pkcs11:token=device", PIN: tok.PIN})
	if err != nil {
		t.Fatal(err)
	}
	defer token.Close()
	key, err := token.Generate("ec-p256", NewID(), "provisiond")
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("after the reset"))
	for _, lose := range []struct {
		name string
		do   func()
	}{
		{"closed session", func() { token.mod.call(fnCloseSession, uintptr(token.session)) }},
		{"logged out", func() { token.mod.call(fnLogout, uintptr(token.session)) }},
	} {
		gen := token.gen
		lose.do()
		sig, err := key.Sign(nil, digest[:], crypto.SHA256)
		if err != nil {
			t.Fatalf("%s: %v", lose.name, err)
		}
		if !ecdsa.VerifyASN1(key.Public().(*ecdsa.PublicKey), digest[:], sig) {
			t.Fatalf("%s: the signature does not verify", lose.name)
		}
		if token.gen != gen+1 {
			t.Fatalf("%s: the session was opened %d times, want once", lose.name, token.gen-gen)
		}
	}
}
