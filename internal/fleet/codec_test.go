package fleet

import (
	"reflect"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

func TestCodecRoundTrip(t *testing.T) {
	values := []any{
		&CreateFromCSRRequest{CertificateSigningRequest: "-----BEGIN CERTIFICATE REQUEST-----\n..."},
		&RegisterThingRequest{CertificateOwnershipToken: "tok", Parameters: map[string]string{"SerialNumber": "0001"}},
		&RegisterThingRequest{CertificateOwnershipToken: "tok"},
		&CreateKeysAccepted{CertificateID: "id", CertificatePEM: "pem", PrivateKey: "key", CertificateOwnershipToken: "tok"},
		&CreateFromCSRAccepted{CertificateID: "id", CertificatePEM: "pem", CertificateOwnershipToken: "tok"},
		&RegisterThingAccepted{ThingName: "gw-0001", DeviceConfiguration: map[string]string{"a": "b"}},
		&Rejected{StatusCode: 400, ErrorCode: "InvalidPayload", ErrorMessage: "bad"},
	}
	for _, f := range []Format{JSON, CBOR} {
		for _, v := range values {
			data, err := Encode(f, v)
			if err != nil {
				t.Fatalf("Encode(%s, %T): %v", f, v, err)
			}
			got := reflect.New(reflect.TypeOf(v).Elem()).Interface()
			if err := Decode(f, data, got); err != nil {
				t.Fatalf("Decode(%s, %T): %v", f, v, err)
			}
			if !reflect.DeepEqual(got, v) {
				t.Errorf("%s round trip of %T: got %+v, want %+v", f, v, got, v)
			}
		}
	}
}

func TestEncodeUsesWireNames(t *testing.T) {
	data, err := Encode(JSON, &RegisterThingRequest{CertificateOwnershipToken: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != `{"certificateOwnershipToken":"t"}` {
		t.Errorf("JSON = %s", data)
	}
	data, err = Encode(CBOR, &CreateFromCSRRequest{CertificateSigningRequest: "x"})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := cbor.Unmarshal(data, &m); err != nil || m["certificateSigningRequest"] != "x" || len(m) != 1 {
		t.Errorf("CBOR = %x (%v, %v)", data, m, err)
	}
}

func cborOf(t *testing.T, v any) []byte {
	t.Helper()
	b, err := cbor.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeTypeErrors(t *testing.T) {
	cases := []struct {
		name   string
		format Format
		data   []byte
		into   any
	}{
		{"json status as string", JSON, []byte(`{"statusCode":"400","errorCode":"x","errorMessage":"y"}`), &Rejected{}},
		{"json status as float", JSON, []byte(`{"statusCode":400.5}`), &Rejected{}},
		{"json thingName as number", JSON, []byte(`{"thingName":7}`), &RegisterThingAccepted{}},
		{"json config value as number", JSON, []byte(`{"thingName":"t","deviceConfiguration":{"a":1}}`), &RegisterThingAccepted{}},
		{"json top-level array", JSON, []byte(`[1,2]`), &Rejected{}},
		{"json top-level null", JSON, []byte(`null`), &Rejected{}},
		{"json empty", JSON, nil, &Rejected{}},
		{"json trailing data", JSON, []byte(`{"statusCode":400}{"statusCode":500}`), &Rejected{}},
		{"json truncated", JSON, []byte(`{"statusCode":4`), &Rejected{}},
		{"cbor status as string", CBOR, cborOf(t, map[string]any{"statusCode": "400"}), &Rejected{}},
		{"cbor status as float", CBOR, cborOf(t, map[string]any{"statusCode": 400.5}), &Rejected{}},
		{"cbor pem as bytes", CBOR, cborOf(t, map[string]any{"certificatePem": []byte("x")}), &CreateFromCSRAccepted{}},
		{"cbor thingName as int", CBOR, cborOf(t, map[string]any{"thingName": 1}), &RegisterThingAccepted{}},
		{"cbor top-level array", CBOR, cborOf(t, []int{1}), &Rejected{}},
		{"cbor empty", CBOR, nil, &Rejected{}},
		{"cbor trailing data", CBOR, append(cborOf(t, map[string]any{"statusCode": 400}), 0x01), &Rejected{}},
		{"cbor duplicate key", CBOR, []byte{0xa2, 0x69, 't', 'h', 'i', 'n', 'g', 'N', 'a', 'm', 'e', 0x61, 'a', 0x69, 't', 'h', 'i', 'n', 'g', 'N', 'a', 'm', 'e', 0x61, 'b'}, &RegisterThingAccepted{}},
		{"too large", JSON, []byte(`{"errorMessage":"` + strings.Repeat("x", MaxPayloadSize) + `"}`), &Rejected{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := Decode(tc.format, tc.data, tc.into); err == nil {
				t.Errorf("Decode = nil error, decoded %+v", tc.into)
			}
		})
	}
}

func TestDecodeToleratesUnknownFields(t *testing.T) {
	for _, f := range []Format{JSON, CBOR} {
		var data []byte
		if f == JSON {
			data = []byte(`{"thingName":"t","extra":{"x":[1,2]}}`)
		} else {
			data = cborOf(t, map[string]any{"thingName": "t", "extra": []int{1, 2}})
		}
		a, err := DecodeRegisterThingAccepted(f, data)
		if err != nil || a.ThingName != "t" {
			t.Errorf("%s: got %+v, %v", f, a, err)
		}
	}
}

func TestDecodeRejected(t *testing.T) {
	for _, f := range []Format{JSON, CBOR} {
		data, err := Encode(f, &Rejected{StatusCode: 429, ErrorCode: "Throttling", ErrorMessage: "slow down"})
		if err != nil {
			t.Fatal(err)
		}
		r, err := DecodeRejected(OpRegisterThing, f, data)
		if err != nil {
			t.Fatal(err)
		}
		want := &RejectedError{Operation: OpRegisterThing, StatusCode: 429, ErrorCode: "Throttling", ErrorMessage: "slow down"}
		if *r != *want {
			t.Errorf("%s: got %+v, want %+v", f, r, want)
		}
	}
}

func TestCodecUnknownFormat(t *testing.T) {
	if _, err := Encode("xml", &Rejected{}); err == nil {
		t.Error("Encode(xml) = nil error")
	}
	if err := Decode("xml", []byte("{}"), &Rejected{}); err == nil {
		t.Error("Decode(xml) = nil error")
	}
	if err := Decode(JSON, []byte("{}"), Rejected{}); err == nil {
		t.Error("Decode into a non-pointer = nil error")
	}
}

func BenchmarkEncodeDecode(b *testing.B) {
	k := testKey(b)
	certPEM, id := testCert(b, k.Public(), k)
	v := &CreateFromCSRAccepted{CertificateOwnershipToken: strings.Repeat("t", 600), CertificateID: id, CertificatePEM: certPEM}
	for _, f := range []Format{JSON, CBOR} {
		b.Run(string(f), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				data, err := Encode(f, v)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := DecodeCreateFromCSRAccepted(f, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
