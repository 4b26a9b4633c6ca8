package p11key

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseURI(t *testing.T) {
	for _, c := range []struct {
		in   string
		want URI
		err  string
	}{
		{in: "pkcs11:token=device", want: URI{Token: "device"}},
		{in: "pkcs11:token=My%20Token;serial=9395b1c3;manufacturer=SoftHSM%20project;model=SoftHSM%20v2",
			want: URI{Token: "My Token", Serial: "9395b1c3", Manufacturer: "SoftHSM project", Model: "SoftHSM v2"}},
		{in: "pkcs11:token=t;object=claim;id=%01%ff;type=private", want: URI{Token: "t", Object: "claim", ID: []byte{1, 0xff}, Type: "private"}},
		{in: "pkcs11:", want: URI{}},
		{in: "token=device", err: "must be a pkcs11: URI"},
		{in: "pkcs11:slot-id=0", err: "slot-id does not select a token reliably"},
		{in: "pkcs11:token=t?pin-value=1234", err: "query attributes such as pin-value are not taken here"},
		{in: "pkcs11:token=t;module-path=/x", err: "unknown attribute module-path"},
		{in: "pkcs11:token=t;pin-value=1234", err: "unknown attribute pin-value"},
		{in: "pkcs11:token=a;token=b", err: "token is given twice"},
		{in: "pkcs11:token", err: "has no value"},
		{in: "pkcs11:id=%0", err: "two hex digits"},
		{in: "pkcs11:token=a b", err: "must be percent-encoded"},
		{in: "pkcs11:type=key", err: "type must be private"},
	} {
		got, err := ParseURI(c.in)
		if err != nil && strings.Contains(err.Error(), "1234") {
			t.Errorf("ParseURI(%q): %v quotes the PIN", c.in, err)
		}
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseURI(%q) = %v, want an error with %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseURI(%q): %v", c.in, err)
			continue
		}
		if got.Token != c.want.Token || got.Serial != c.want.Serial || got.Manufacturer != c.want.Manufacturer ||
			got.Model != c.want.Model || got.Object != c.want.Object || !bytes.Equal(got.ID, c.want.ID) || got.Type != c.want.Type {
			t.Errorf("ParseURI(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

// The handoff URI has only the attributes libp11 accepts, with the id
// byte by byte, and parses back to what it says.
func TestHandoffURI(t *testing.T) {
	u := URI{Token: "My Token;x", Serial: "00ab", Manufacturer: "SoftHSM project", Model: "SoftHSM v2",
		Object: "provisiond-1", ID: []byte{0x41, 0x00, 0xfe}, Type: "private"}
	got := u.Handoff()
	want := "pkcs11:token=My%20Token%3Bx;serial=00ab;object=provisiond-1;id=%41%00%FE;type=private"
	if got != want {
		t.Fatalf("Handoff() = %s, want %s", got, want)
	}
	back, err := ParseURI(got)
	if err != nil {
		t.Fatal(err)
	}
	if back.Token != u.Token || back.Object != u.Object || !bytes.Equal(back.ID, u.ID) || back.Manufacturer != "" {
		t.Fatalf("parsed back as %+v", back)
	}
}

func TestErrorKinds(t *testing.T) {
	for _, c := range []struct {
		r       rv
		kind    Kind
		setting string
	}{
		{ckrPinIncorrect, KindPIN, SettingPIN},
		{ckrPinLocked, KindPIN, SettingPIN},
		{ckrPinExpired, KindPIN, SettingPIN},
		{ckrDeviceRemoved, KindTransient, SettingToken},
		{ckrDeviceError, KindTransient, SettingToken},
		{ckrSessionHandleInvalid, KindTransient, SettingToken},
		{ckrMechanismInvalid, KindConfig, SettingKeyType},
		{ckrGeneralError, KindFailed, ""},
		{rv(0x8000_0001), KindFailed, ""},
	} {
		err := rvError("sign", c.r)
		pe := err.(*Error)
		if pe.Kind != c.kind || pe.Setting != c.setting {
			t.Errorf("%v: kind %v setting %q, want %v %q", c.r, pe.Kind, pe.Setting, c.kind, c.setting)
		}
		if IsTransient(err) != (c.kind == KindTransient) {
			t.Errorf("%v: IsTransient = %v", c.r, IsTransient(err))
		}
		if !strings.Contains(err.Error(), c.r.Error()) {
			t.Errorf("%q does not name %v", err, c.r)
		}
	}
	if rv(0x8000_0001).Error() != "CKR_0x80000001" {
		t.Errorf("vendor code: %s", rv(0x8000_0001).Error())
	}
}

func TestParsePINSource(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{in: "none", want: "none"},
		{in: "file:/etc/provisiond/pin", want: "file:/etc/provisiond/pin"},
		{in: "credential:provisiond-pin", want: "credential:provisiond-pin"},
		{in: "file:pin", err: "absolute path"},
		{in: "credential:a/b", err: "credential name"},
		{in: "1234", err: "must be file:PATH, credential:NAME or none; the PIN itself goes in that file"},
	} {
		got, err := ParsePINSource(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParsePINSource(%q) = %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got.String() != c.want {
			t.Errorf("ParsePINSource(%q) = %v, %v", c.in, got, err)
		}
	}
}
