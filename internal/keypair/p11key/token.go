package p11key

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"unsafe"
)

// DefaultLabel is the default pkcs11.label, the prefix of the labels of
// the objects provisiond makes.
const DefaultLabel = "provisiond"

// Settings are the config's pkcs11 section.
type Settings struct {
	// Module is the absolute path of the token's PKCS#11 module.
	Module string
	// Token selects the token: an RFC 7512 URI by token, serial,
	// manufacturer or model.
	Token string
	// PIN is where the user PIN is (file:PATH, credential:NAME or none).
	PIN string
	// Label prefixes the labels of the objects provisiond makes.
	Label string
	// Import lets create-keys import the service's key into the token.
	Import bool
}

// TokenInfo describes a token, with the blank padding trimmed.
type TokenInfo struct {
	Label, Manufacturer, Model, Serial string
	flags                              ulong
}

func (i TokenInfo) String() string {
	return fmt.Sprintf("token=%s (manufacturer %s, model %s, serial %s)", i.Label, i.Manufacturer, i.Model, i.Serial)
}

// matches reports whether the token fits sel's token attributes.
func (i TokenInfo) matches(sel URI) bool {
	for _, f := range []struct{ want, have string }{
		{sel.Token, i.Label}, {sel.Serial, i.Serial}, {sel.Manufacturer, i.Manufacturer}, {sel.Model, i.Model},
	} {
		if f.want != "" && f.want != f.have {
			return false
		}
	}
	return true
}

// Token is an open, logged-in session with one token. Its methods are safe
// for concurrent use: they take turns on the one session.
type Token struct {
	mod *module
	sel URI
	pin []byte
	src PINSource

	mu      sync.Mutex
	slot    ulong
	info    TokenInfo
	session ulong
	open    bool
	// gen counts the sessions opened; object handles are re-found after
	// the session changes.
	gen   uint64
	mechs map[ulong]ckMechanismInfo
}

// OpenToken loads the module, finds the token and logs in with its PIN.
// Errors are *Error and name the setting at fault.
func OpenToken(s Settings) (*Token, error) {
	sel, err := ParseURI(s.Token)
	if err != nil {
		return nil, &Error{Setting: SettingToken, Kind: KindConfig, Msg: err.Error()}
	}
	src, err := ParsePINSource(s.PIN)
	if err != nil {
		return nil, &Error{Setting: SettingPIN, Kind: KindConfig, Msg: err.Error()}
	}
	pin, err := src.read()
	if err != nil {
		return nil, err
	}
	mod, err := openModule(s.Module)
	if err != nil {
		clear(pin)
		return nil, err
	}
	t := &Token{mod: mod, sel: sel, pin: pin, src: src}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.reopen(); err != nil {
		t.closeLocked()
		return nil, err
	}
	return t, nil
}

// Close logs out, closes the session and lets go of the module.
func (t *Token) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closeLocked()
	return nil
}

func (t *Token) closeLocked() {
	if t.mod == nil {
		return
	}
	if t.open {
		t.mod.call(fnCloseSession, uintptr(t.session))
		t.open = false
	}
	clear(t.pin)
	t.mod.release()
	t.mod = nil
}

// Info describes the token.
func (t *Token) Info() TokenInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.info
}

// Module is the path of the token's module.
func (t *Token) Module() string { return t.mod.path }

// reopen finds the token, opens a session and logs in. The slot is looked
// up each time: it may have changed since the token was last seen.
func (t *Token) reopen() error {
	if t.mod == nil {
		return &Error{Kind: KindFailed, Msg: "the token is closed"}
	}
	if t.open {
		t.mod.call(fnCloseSession, uintptr(t.session))
		t.open = false
	}
	slot, info, err := t.mod.findToken(t.sel)
	if err != nil {
		return err
	}
	t.slot, t.info = slot, info
	if info.flags&ckfTokenInit == 0 {
		return &Error{Setting: SettingToken, Kind: KindConfig, Msg: info.String() + " is not initialized (pkcs11-tool --init-token, or softhsm2-util --init-token)"}
	}
	if info.flags&ckfUserPinLocked != 0 {
		return rvError(info.String(), ckrPinLocked)
	}
	var p pins
	defer p.Unpin()
	var h ulong
	if r := t.mod.call(fnOpenSession, uintptr(slot), ckfRWSession|ckfSerialSession, 0, 0, p.ptr(unsafe.Pointer(&h))); r != ckrOK {
		return rvError("open a session with "+info.String(), r)
	}
	t.session, t.open = h, true
	t.gen++
	if err := t.login(); err != nil {
		return err
	}
	if t.mechs == nil {
		t.mechs, err = t.mod.mechanisms(slot)
		if err != nil {
			return err
		}
	}
	return nil
}

// login logs the session in as the user. A PIN the token refused once is
// not sent again (see badPINs).
func (t *Token) login() error {
	if t.src.None() {
		if t.info.flags&ckfLoginRequired != 0 && t.info.flags&ckfProtectedPath == 0 {
			return &Error{Setting: SettingPIN, Kind: KindConfig, Msg: "is none, but " + t.info.String() + " needs a login: name the PIN with file:PATH or credential:NAME"}
		}
		if t.info.flags&ckfLoginRequired == 0 {
			return nil
		}
	}
	key := t.pinKey()
	if err, ok := badPINs.Load(key); ok {
		return err.(error)
	}
	var p pins
	defer p.Unpin()
	r := t.mod.call(fnLogin, uintptr(t.session), ckuUser, p.bytes(t.pin), uintptr(len(t.pin)))
	switch r {
	case ckrOK, ckrUserAlreadyLoggedIn:
		return nil
	case ckrPinIncorrect, ckrPinLocked, ckrPinExpired, ckrPinInvalid, ckrPinLenRange:
		err := rvError("log in to token "+t.info.Label+" with the PIN in "+t.src.String(), r)
		badPINs.Store(key, err)
		return err
	}
	return rvError("log in to token "+t.info.Label, r)
}

// pinKey identifies the token and PIN for badPINs by a digest: the PIN
// itself is not kept beyond the Token.
func (t *Token) pinKey() string {
	h := sha256.New()
	h.Write([]byte(t.mod.path + "\x00" + t.info.Serial + "\x00" + t.info.Label + "\x00"))
	h.Write(t.pin)
	return string(h.Sum(nil))
}

// do runs f on the session, opening it again and logging in when the
// module lost it, and retrying f once then.
func (t *Token) do(f func(session ulong) rv) (rv, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.open {
		if err := t.reopen(); err != nil {
			return 0, err
		}
	}
	r := f(t.session)
	if !sessionLost(r) {
		return r, nil
	}
	if err := t.reopen(); err != nil {
		return r, err
	}
	return f(t.session), nil
}

// findToken returns the slot of the one token that sel selects.
func (m *module) findToken(sel URI) (ulong, TokenInfo, error) {
	slots, err := m.slots()
	if err != nil {
		return 0, TokenInfo{}, err
	}
	var found []TokenInfo
	var slot ulong
	var seen []string
	for _, s := range slots {
		info, err := m.tokenInfo(s)
		if err != nil {
			continue
		}
		seen = append(seen, info.String())
		if info.matches(sel) {
			found = append(found, info)
			slot = s
		}
	}
	switch len(found) {
	case 1:
		return slot, found[0], nil
	case 0:
		have := "it has no token"
		if len(seen) > 0 {
			have = "it has " + strings.Join(seen, "; ")
		}
		return 0, TokenInfo{}, &Error{Setting: SettingToken, Kind: KindMissing,
			Msg: "no token matches " + sel.String() + " in " + m.path + ": " + have}
	}
	var names []string
	for _, f := range found {
		names = append(names, f.String())
	}
	return 0, TokenInfo{}, &Error{Setting: SettingToken, Kind: KindConfig,
		Msg: sel.String() + " matches " + fmt.Sprint(len(found)) + " tokens (" + strings.Join(names, "; ") + "): add serial= to select one"}
}

// slots lists the slots that hold a token.
func (m *module) slots() ([]ulong, error) {
	var p pins
	defer p.Unpin()
	var n ulong
	if r := m.call(fnGetSlotList, 1, 0, p.ptr(unsafe.Pointer(&n))); r != ckrOK {
		return nil, rvError("list the slots of "+m.path, r)
	}
	if n == 0 {
		return nil, nil
	}
	list := make([]ulong, n)
	if r := m.call(fnGetSlotList, 1, p.ptr(unsafe.Pointer(&list[0])), p.ptr(unsafe.Pointer(&n))); r != ckrOK {
		return nil, rvError("list the slots of "+m.path, r)
	}
	return list[:min(n, ulong(len(list)))], nil
}

func (m *module) tokenInfo(slot ulong) (TokenInfo, error) {
	var p pins
	defer p.Unpin()
	var ci ckTokenInfo
	if r := m.call(fnGetTokenInfo, uintptr(slot), p.ptr(unsafe.Pointer(&ci))); r != ckrOK {
		return TokenInfo{}, rvError("read the token in slot "+fmt.Sprint(slot), r)
	}
	return TokenInfo{
		Label:        blankPadded(ci.label[:]),
		Manufacturer: blankPadded(ci.manufacturerID[:]),
		Model:        blankPadded(ci.model[:]),
		Serial:       blankPadded(ci.serialNumber[:]),
		flags:        ci.flags,
	}, nil
}

// mechanisms reads the token's mechanism list, with each one's key sizes
// and flags.
func (m *module) mechanisms(slot ulong) (map[ulong]ckMechanismInfo, error) {
	var p pins
	defer p.Unpin()
	var n ulong
	if r := m.call(fnGetMechanismList, uintptr(slot), 0, p.ptr(unsafe.Pointer(&n))); r != ckrOK {
		return nil, rvError("list the token's mechanisms", r)
	}
	out := map[ulong]ckMechanismInfo{}
	if n == 0 {
		return out, nil
	}
	list := make([]ulong, n)
	if r := m.call(fnGetMechanismList, uintptr(slot), p.ptr(unsafe.Pointer(&list[0])), p.ptr(unsafe.Pointer(&n))); r != ckrOK {
		return nil, rvError("list the token's mechanisms", r)
	}
	for _, mech := range list[:min(n, ulong(len(list)))] {
		var info ckMechanismInfo
		if r := m.call(fnGetMechanismInfo, uintptr(slot), uintptr(mech), p.ptr(unsafe.Pointer(&info))); r == ckrOK {
			out[mech] = info
		}
	}
	return out, nil
}

// blankPadded trims a CK_UTF8CHAR field's blank (and, from some modules,
// NUL) padding.
func blankPadded(b []byte) string {
	return strings.TrimRight(string(b), " \x00")
}
