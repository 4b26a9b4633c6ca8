package fleet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/fxamacker/cbor/v2"
)

// MaxPayloadSize is the largest message AWS IoT Core carries (128 KiB); a bigger packet
// ends the connection before it is read (packetlimit.go).
const MaxPayloadSize = 128 * 1024

// CreateFromCSRRequest is the CreateCertificateFromCsr request payload.
type CreateFromCSRRequest struct {
	CertificateSigningRequest string `json:"certificateSigningRequest" cbor:"certificateSigningRequest"`
}

// RegisterThingRequest is the RegisterThing request payload. Token is a secret.
type RegisterThingRequest struct {
	CertificateOwnershipToken string            `json:"certificateOwnershipToken" cbor:"certificateOwnershipToken"`
	Parameters                map[string]string `json:"parameters,omitempty" cbor:"parameters,omitempty"`
}

// CreateKeysAccepted is the CreateKeysAndCertificate accepted payload. PrivateKey and the token are secrets.
type CreateKeysAccepted struct {
	CertificateID             string `json:"certificateId" cbor:"certificateId"`
	CertificatePEM            string `json:"certificatePem" cbor:"certificatePem"`
	PrivateKey                string `json:"privateKey" cbor:"privateKey"`
	CertificateOwnershipToken string `json:"certificateOwnershipToken" cbor:"certificateOwnershipToken"`
}

// CreateFromCSRAccepted is the CreateCertificateFromCsr accepted payload. The token is a secret.
type CreateFromCSRAccepted struct {
	CertificateOwnershipToken string `json:"certificateOwnershipToken" cbor:"certificateOwnershipToken"`
	CertificateID             string `json:"certificateId" cbor:"certificateId"`
	CertificatePEM            string `json:"certificatePem" cbor:"certificatePem"`
}

// RegisterThingAccepted is the RegisterThing accepted payload.
type RegisterThingAccepted struct {
	DeviceConfiguration map[string]string `json:"deviceConfiguration" cbor:"deviceConfiguration"`
	ThingName           string            `json:"thingName" cbor:"thingName"`
}

// Rejected is the payload of every /rejected topic.
type Rejected struct {
	StatusCode   int    `json:"statusCode" cbor:"statusCode"`
	ErrorCode    string `json:"errorCode" cbor:"errorCode"`
	ErrorMessage string `json:"errorMessage" cbor:"errorMessage"`
}

// cborEnc and cborDec are the strict CBOR modes. Modes are immutable and safe
// for concurrent use, so they are built once rather than for every message.
var cborEnc, cborDec = newCBORModes()

func newCBORModes() (cbor.EncMode, cbor.DecMode) {
	enc, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(fmt.Sprintf("fleet: constant CBOR encoder options rejected: %v", err))
	}
	dec, err := cbor.DecOptions{
		DupMapKey:          cbor.DupMapKeyEnforcedAPF,
		FieldNameMatching:  cbor.FieldNameMatchingCaseSensitive,
		ByteStringToString: cbor.ByteStringToStringForbidden,
		MaxNestedLevels:    16,
		IndefLength:        cbor.IndefLengthAllowed,
		MapKeyByteString:   cbor.MapKeyByteStringForbidden,
	}.DecMode()
	if err != nil {
		panic(fmt.Sprintf("fleet: constant CBOR decoder options rejected: %v", err))
	}
	return enc, dec
}

// Encode marshals a request or response payload in the given format.
func Encode(format Format, v any) ([]byte, error) {
	switch format {
	case JSON:
		return json.Marshal(v)
	case CBOR:
		return cborEnc.Marshal(v)
	}
	return nil, fmt.Errorf("encode: unknown payload format %q", format)
}

// Decode unmarshals a payload into v (a pointer to struct). It is strict about types:
// the top level must be an object/map, a field of the wrong type is an error,
// duplicate keys are an error in CBOR, and trailing data is an error in both formats.
// Unknown fields are tolerated, as the service may add some.
func Decode(format Format, data []byte, v any) error {
	if len(data) > MaxPayloadSize {
		return fmt.Errorf("payload is %d bytes, larger than the %d-byte limit", len(data), MaxPayloadSize)
	}
	if rv := reflect.ValueOf(v); rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("decode: need a non-nil pointer, got %T", v)
	}
	switch format {
	case JSON:
		trimmed := bytes.TrimLeft(data, " \t\r\n")
		if len(trimmed) == 0 || trimmed[0] != '{' {
			return fmt.Errorf("JSON payload is not an object")
		}
		// json.Unmarshal already refuses trailing data after the object.
		if err := json.Unmarshal(data, v); err != nil {
			return fmt.Errorf("JSON payload: %w", err)
		}
		return nil
	case CBOR:
		if len(data) == 0 || data[0]>>5 != 5 {
			return fmt.Errorf("CBOR payload is not a map")
		}
		if err := cborDec.Unmarshal(data, v); err != nil {
			return fmt.Errorf("CBOR payload: %w", err)
		}
		return nil
	}
	return fmt.Errorf("decode: unknown payload format %q", format)
}

// decodeAs decodes a payload into a new T.
func decodeAs[T any](format Format, data []byte) (*T, error) {
	var v T
	if err := Decode(format, data, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// DecodeCreateKeysAccepted decodes a CreateKeysAndCertificate accepted payload without validating it.
func DecodeCreateKeysAccepted(format Format, data []byte) (*CreateKeysAccepted, error) {
	return decodeAs[CreateKeysAccepted](format, data)
}

// DecodeCreateFromCSRAccepted decodes a CreateCertificateFromCsr accepted payload without validating it.
func DecodeCreateFromCSRAccepted(format Format, data []byte) (*CreateFromCSRAccepted, error) {
	return decodeAs[CreateFromCSRAccepted](format, data)
}

// DecodeRegisterThingAccepted decodes a RegisterThing accepted payload without validating it.
func DecodeRegisterThingAccepted(format Format, data []byte) (*RegisterThingAccepted, error) {
	return decodeAs[RegisterThingAccepted](format, data)
}

// DecodeRejected decodes a /rejected payload into a RejectedError for op.
func DecodeRejected(op Operation, format Format, data []byte) (*RejectedError, error) {
	r, err := decodeAs[Rejected](format, data)
	if err != nil {
		return nil, err
	}
	return &RejectedError{Operation: op, StatusCode: r.StatusCode, ErrorCode: r.ErrorCode, ErrorMessage: r.ErrorMessage}, nil
}
