package fleet

import (
	"testing"
)

func FuzzDecodeAccepted(f *testing.F) {
	f.Add(true, []byte(`{"certificateId":"ab","certificatePem":"x","privateKey":"k","certificateOwnershipToken":"t"}`))
	f.Add(true, []byte(`{"thingName":"t","deviceConfiguration":{"a":"b"}}`))
	f.Add(false, []byte{0xa1, 0x69, 't', 'h', 'i', 'n', 'g', 'N', 'a', 'm', 'e', 0x61, 'a'})
	f.Add(false, []byte{0xbf, 0xff})
	k := testKey(f)
	certPEM, id := testCert(f, k.Public(), k)
	if b, err := Encode(CBOR, &CreateFromCSRAccepted{CertificateID: id, CertificatePEM: certPEM, CertificateOwnershipToken: "t"}); err == nil {
		f.Add(false, b)
	}
	f.Fuzz(func(t *testing.T, isJSON bool, data []byte) {
		format := CBOR
		if isJSON {
			format = JSON
		}
		if a, err := DecodeCreateKeysAccepted(format, data); err == nil {
			_, _ = ValidateCreateKeysAccepted("t", a)
		}
		if a, err := DecodeCreateFromCSRAccepted(format, data); err == nil {
			_, _ = ValidateCreateFromCSRAccepted("t", a, k.Public())
		}
		if a, err := DecodeRegisterThingAccepted(format, data); err == nil {
			if reg, err := ValidateRegisterThingAccepted("t", a); err == nil && reg.ThingName == "" {
				t.Fatal("validated a registration with no thing name")
			}
		}
	})
}

func FuzzDecodeRejected(f *testing.F) {
	f.Add(true, []byte(`{"statusCode":400,"errorCode":"InvalidPayload","errorMessage":"x"}`))
	f.Add(true, []byte(`{"statusCode":"400"}`))
	f.Add(false, []byte{0xa1, 0x6a, 's', 't', 'a', 't', 'u', 's', 'C', 'o', 'd', 'e', 0x19, 0x01, 0x90})
	f.Fuzz(func(t *testing.T, isJSON bool, data []byte) {
		format := CBOR
		if isJSON {
			format = JSON
		}
		r, err := DecodeRejected(OpRegisterThing, format, data)
		if err == nil {
			_ = r.Error()
			_ = Classify(r)
		}
	})
}
