package p11key

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"strconv"
)

// SelectsKey reports whether u names one object by its label (object=) or
// its CKA_ID (id=), as a key put into the token by someone else must be.
func (u URI) SelectsKey() bool { return u.Object != "" || u.ID != nil }

// TokenSelector is the token part of u (token, serial, manufacturer,
// model), in the form pkcs11.token takes.
func (u URI) TokenSelector() string {
	return URI{Token: u.Token, Serial: u.Serial, Manufacturer: u.Manufacturer, Model: u.Model}.String()
}

// KeyFor returns the one private key that sel's object and id select, as
// the key of a certificate whose public key is pub: a key put into the
// token at the factory may come without a public object, so its public
// half is the certificate's. A test signature, verified with pub, proves
// the pair. No such key wraps ErrNoKey; two or more, or a key that does
// not pair, is a config error.
func (t *Token) KeyFor(sel URI, pub crypto.PublicKey) (*Key, error) {
	what := URI{Object: sel.Object, ID: sel.ID}.String()
	find := []attr{attrUlong(ckaClass, ckoPrivateKey)}
	if sel.Object != "" {
		find = append(find, attrBytes(ckaLabel, []byte(sel.Object)))
	}
	if sel.ID != nil {
		find = append(find, attrBytes(ckaID, sel.ID))
	}
	wantType := ulong(ckkEC)
	switch pub.(type) {
	case *ecdsa.PublicKey:
	case *rsa.PublicKey:
		wantType = ckkRSA
	default:
		return nil, &Error{Kind: KindConfig, Msg: "the certificate's key is neither EC nor RSA"}
	}
	var k *Key
	var lookErr error
	r, err := t.do(func(s ulong) rv {
		objs, r := t.findObjects(s, find)
		if r != ckrOK {
			return r
		}
		switch len(objs) {
		case 0:
			lookErr = &Error{Kind: KindMissing, Msg: "no private key with " + what + " in " + t.info.String(), Err: ErrNoKey}
			return ckrOK
		case 1:
		default:
			lookErr = &Error{Kind: KindConfig, Msg: what + " selects " + strconv.Itoa(len(objs)) + " private keys in " + t.info.String() + ": add id= or a unique object= to select one"}
			return ckrOK
		}
		a, r := t.attributes(s, objs[0], ckaKeyType, ckaID, ckaLabel)
		if r != ckrOK {
			return r
		}
		if kt, err := decodeUlong(a[ckaKeyType]); err != nil || kt != wantType {
			lookErr = &Error{Kind: KindConfig, Msg: "the private key with " + what + " in " + t.info.String() + " is not of the certificate's key type"}
			return ckrOK
		}
		k = &Key{t: t, id: a[ckaID], label: string(a[ckaLabel]), public: pub, handle: objs[0], gen: t.gen, find: find}
		return ckrOK
	})
	if err == nil {
		err = rvError("find the private key with "+what+" in "+t.info.String(), r)
	}
	if err != nil {
		return nil, err
	}
	if lookErr != nil {
		return nil, lookErr
	}
	if err := k.provePair(); err != nil {
		return nil, err
	}
	return k, nil
}

// provePair signs a random digest in the token and verifies it with the
// public key k was given.
func (k *Key) provePair() error {
	digest := make([]byte, sha256.Size)
	if _, err := rand.Read(digest); err != nil {
		return err
	}
	notPair := &Error{Kind: KindConfig, Msg: "the private key " + k.label + " in " + k.t.Info().String() +
		" is not the certificate's: its signature does not verify with the certificate's public key", Err: ErrNotPair}
	sig, err := k.Sign(nil, digest, crypto.SHA256)
	var pe *Error
	if err != nil && errors.As(err, &pe) {
		return err // the token's failure, with its kind
	}
	if err != nil {
		return notPair // a signature of another size: a key on another curve
	}
	ok := false
	switch pub := k.public.(type) {
	case *ecdsa.PublicKey:
		ok = ecdsa.VerifyASN1(pub, digest, sig)
	case *rsa.PublicKey:
		ok = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest, sig) == nil
	}
	if !ok {
		return notPair
	}
	return nil
}

// ErrNotPair is wrapped by KeyFor when the token's key is not the
// certificate's.
var ErrNotPair = errors.New("the key does not pair with the certificate")
