package fleetsim

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/fxamacker/cbor/v2"

	"github.com/provisiond/provisiond/internal/fleetsim/awsapi"
)

// Request and response bodies, with the field names of the AWS documentation.
type (
	createFromCSRRequest struct {
		CertificateSigningRequest string `json:"certificateSigningRequest" cbor:"certificateSigningRequest"`
	}
	registerRequest struct {
		CertificateOwnershipToken string            `json:"certificateOwnershipToken" cbor:"certificateOwnershipToken"`
		Parameters                map[string]string `json:"parameters,omitempty" cbor:"parameters,omitempty"`
	}
	createKeysResponse struct {
		CertificateID             string `json:"certificateId" cbor:"certificateId"`
		CertificatePEM            string `json:"certificatePem" cbor:"certificatePem"`
		PrivateKey                string `json:"privateKey" cbor:"privateKey"`
		CertificateOwnershipToken string `json:"certificateOwnershipToken" cbor:"certificateOwnershipToken"`
	}
	createFromCSRResponse struct {
		CertificateOwnershipToken string `json:"certificateOwnershipToken" cbor:"certificateOwnershipToken"`
		CertificateID             string `json:"certificateId" cbor:"certificateId"`
		CertificatePEM            string `json:"certificatePem" cbor:"certificatePem"`
	}
	registerResponse struct {
		DeviceConfiguration map[string]string `json:"deviceConfiguration" cbor:"deviceConfiguration"`
		ThingName           string            `json:"thingName" cbor:"thingName"`
	}
	rejectedResponse struct {
		StatusCode   int    `json:"statusCode" cbor:"statusCode"`
		ErrorCode    string `json:"errorCode" cbor:"errorCode"`
		ErrorMessage string `json:"errorMessage" cbor:"errorMessage"`
	}
)

var cborDec = func() cbor.DecMode {
	m, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  16,
		MaxArrayElements: 4096,
		MaxMapPairs:      4096,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return m
}()

// decode reads a request body in the topic's format into v. Unknown fields are tolerated;
// anything else that is not the documented shape is an error saying what was wrong.
func decode(format string, payload []byte, v any) error {
	switch format {
	case formatCBOR:
		// Unmarshal also refuses data after the request (ExtraneousDataError).
		if err := cborDec.Unmarshal(payload, v); err != nil {
			return fmt.Errorf("payload is not a valid CBOR request: %v", err)
		}
		return nil
	default:
		// Unmarshal also refuses data after the request.
		if err := json.Unmarshal(payload, v); err != nil {
			return fmt.Errorf("payload is not a valid JSON request: %v", awsapi.DescribeJSONError(err))
		}
		return nil
	}
}

// encode writes a response body in the request's format.
func encode(format string, v any) ([]byte, error) {
	if format == formatCBOR {
		return cbor.Marshal(v)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
