package fleetsim

import "fmt"

// mqttError is an answer on a /rejected topic (the REST API's errors are awsapi's).
type mqttError struct {
	status int
	code   string
	msg    string
}

func (e *mqttError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.msg) }

// Error codes the emulator answers with (AWS publishes no list; see PROTOCOL.md).
const (
	codeInvalidToken    = "InvalidCertificateOwnershipToken"
	codeInvalidPayload  = "InvalidPayload"
	codeInvalidCSR      = "InvalidCsr"
	codeNotFound        = "ResourceNotFound"
	codeAccessDenied    = "AccessDenied"
	codeInvalidRequest  = "InvalidRequest"
	codeConflict        = "ResourceConflict"
	codeThrottling      = "Throttling"
	codeInternalFailure = "InternalFailure"
	codeUnavailable     = "ServiceUnavailable"
)

func errorf(status int, code, format string, args ...any) *mqttError {
	return &mqttError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// codeForStatus names an injected mqttError's status the way the emulator would.
func codeForStatus(status int) string {
	switch status {
	case 400:
		return codeInvalidRequest
	case 401, 403:
		return codeAccessDenied
	case 404:
		return codeNotFound
	case 409:
		return codeConflict
	case 429:
		return codeThrottling
	case 503:
		return codeUnavailable
	}
	if status >= 500 {
		return codeInternalFailure
	}
	return codeInvalidRequest
}
