package p11key

import (
	"crypto/rand"
	"errors"
	"unsafe"
)

// Object is one key object in the token, as List reports it.
type Object struct {
	Class string // "private" or "public"
	ID    []byte
	Label string
}

// ErrNoKey is wrapped by Find when the token holds no object with the id.
var ErrNoKey = errors.New("no key with this id in the token")

// ErrHalfPair is wrapped by Find when the token holds one half of a pair
// only: a key pair whose making was cut short. Destroy it and make it again.
var ErrHalfPair = errors.New("the token holds half a key pair with this id")

// NewID returns a random CKA_ID for a new key pair: 16 bytes, so that two
// devices' or two identities' keys never share one.
func NewID() []byte {
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return id
}

// findObjects returns the handles of the objects that match attrs, in
// the session.
func (t *Token) findObjects(s ulong, attrs []attr) ([]ulong, rv) {
	var p pins
	defer p.Unpin()
	tmpl, n := p.template(cTemplate(attrs))
	if r := t.mod.call(fnFindObjectsInit, uintptr(s), tmpl, n); r != ckrOK {
		return nil, r
	}
	var out []ulong
	batch := make([]ulong, 32)
	var r rv
	for {
		var got ulong
		r = t.mod.call(fnFindObjects, uintptr(s), p.ptr(unsafe.Pointer(&batch[0])), uintptr(len(batch)), p.ptr(unsafe.Pointer(&got)))
		if r != ckrOK {
			break
		}
		out = append(out, batch[:min(got, ulong(len(batch)))]...)
		if got < ulong(len(batch)) {
			break
		}
	}
	t.mod.call(fnFindObjectsFinal, uintptr(s))
	return out, r
}

// attributes reads the given attributes of obj. An attribute the object
// lacks or keeps secret is left out of the result.
func (t *Token) attributes(s, obj ulong, types ...ulong) (map[ulong][]byte, rv) {
	var p pins
	defer p.Unpin()
	out := map[ulong][]byte{}
	for _, typ := range types {
		// One attribute at a time: a module answers a list with one
		// unavailable attribute by failing the whole call.
		q := []ckAttribute{{typ: typ}}
		r := t.mod.call(fnGetAttributeValue, uintptr(s), uintptr(obj), p.ptr(unsafe.Pointer(&q[0])), 1)
		switch {
		case r == ckrAttributeTypeInvalid || r == ckrAttributeSensitive || q[0].len == ckUnavailable:
			continue
		case r != ckrOK:
			return nil, r
		}
		buf := make([]byte, q[0].len)
		if len(buf) == 0 {
			out[typ] = buf
			continue
		}
		q[0].value = unsafe.Pointer(&buf[0])
		p.Pin(q[0].value)
		if r := t.mod.call(fnGetAttributeValue, uintptr(s), uintptr(obj), p.ptr(unsafe.Pointer(&q[0])), 1); r != ckrOK {
			return nil, r
		}
		out[typ] = buf[:min(q[0].len, ulong(len(buf)))]
	}
	return out, ckrOK
}

// List returns the key objects in the token that the session sees.
func (t *Token) List() ([]Object, error) {
	var out []Object
	r, err := t.do(func(s ulong) rv {
		out = out[:0]
		for _, class := range []struct {
			class ulong
			name  string
		}{{ckoPrivateKey, "private"}, {ckoPublicKey, "public"}} {
			objs, r := t.findObjects(s, []attr{attrUlong(ckaClass, class.class)})
			if r != ckrOK {
				return r
			}
			for _, o := range objs {
				a, r := t.attributes(s, o, ckaID, ckaLabel)
				if r != ckrOK {
					return r
				}
				out = append(out, Object{Class: class.name, ID: a[ckaID], Label: string(a[ckaLabel])})
			}
		}
		return ckrOK
	})
	if err != nil {
		return nil, err
	}
	return out, rvError("list the objects in "+t.info.String(), r)
}

// Destroy removes every key object with the id: both halves of a pair, or
// the half that a cut-short making left. It returns how many it removed.
func (t *Token) Destroy(id []byte) (int, error) {
	if len(id) == 0 {
		return 0, &Error{Kind: KindFailed, Msg: "destroy: no key id"}
	}
	n := 0
	r, err := t.do(func(s ulong) rv {
		n = 0
		for _, class := range []ulong{ckoPrivateKey, ckoPublicKey} {
			objs, r := t.findObjects(s, []attr{attrUlong(ckaClass, class), attrBytes(ckaID, id)})
			if r != ckrOK {
				return r
			}
			for _, o := range objs {
				if r := t.mod.call(fnDestroyObject, uintptr(s), uintptr(o)); r != ckrOK && r != ckrObjectHandleInvalid {
					return r
				}
				n++
			}
		}
		return ckrOK
	})
	if err != nil {
		return n, err
	}
	return n, rvError("destroy the key pair in "+t.info.String(), r)
}

// Find returns the key pair with the id. Without one it wraps ErrNoKey;
// with one half only, ErrHalfPair.
func (t *Token) Find(id []byte) (*Key, error) {
	if len(id) == 0 {
		return nil, &Error{Kind: KindFailed, Msg: "find: no key id"}
	}
	return t.findPair([]attr{attrBytes(ckaID, id)}, "id "+URI{ID: id}.String())
}

// FindLabel returns the key pair whose objects have the label, as a
// pkcs11:object= URI names a claim key put in the token at the factory.
func (t *Token) FindLabel(label string) (*Key, error) {
	return t.findPair([]attr{attrBytes(ckaLabel, []byte(label))}, "label "+label)
}

func (t *Token) findPair(sel []attr, what string) (*Key, error) {
	var k *Key
	var lookErr error
	r, err := t.do(func(s ulong) rv {
		priv, r := t.findObjects(s, append([]attr{attrUlong(ckaClass, ckoPrivateKey)}, sel...))
		if r != ckrOK {
			return r
		}
		pub, r := t.findObjects(s, append([]attr{attrUlong(ckaClass, ckoPublicKey)}, sel...))
		if r != ckrOK {
			return r
		}
		switch {
		case len(priv) == 0 && len(pub) == 0:
			lookErr = &Error{Kind: KindFailed, Msg: "no key with " + what + " in " + t.info.String(), Err: ErrNoKey}
			return ckrOK
		case len(priv) == 0 || len(pub) == 0:
			lookErr = &Error{Kind: KindFailed, Msg: "only half a key pair with " + what + " in " + t.info.String(), Err: ErrHalfPair}
			return ckrOK
		case len(priv) > 1:
			lookErr = &Error{Kind: KindConfig, Msg: "more than one private key with " + what + " in " + t.info.String()}
			return ckrOK
		}
		k, lookErr = t.keyOf(s, priv[0], pub[0])
		return ckrOK
	})
	if err == nil {
		err = rvError("find the key with "+what+" in "+t.info.String(), r)
	}
	if err != nil {
		return nil, err
	}
	return k, lookErr
}

// keyOf reads a pair's public half and makes its Key.
func (t *Token) keyOf(s, priv, pub ulong) (*Key, error) {
	a, r := t.attributes(s, pub, ckaKeyType, ckaECParams, ckaECPoint, ckaModulus, ckaPublicExponent, ckaID, ckaLabel)
	if r != ckrOK {
		return nil, rvError("read the public key in "+t.info.String(), r)
	}
	public, err := decodePublic(a[ckaKeyType], a)
	if err != nil {
		return nil, &Error{Kind: KindFailed, Msg: t.info.String() + ": " + err.Error()}
	}
	return &Key{t: t, id: a[ckaID], label: string(a[ckaLabel]), public: public, handle: priv, gen: t.gen}, nil
}
