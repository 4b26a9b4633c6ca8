package awsapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The emulator's one account and region, in the ARNs it answers.
const (
	apiAccount = "123456789012"
	apiRegion  = "us-east-1"
	arnPrefix  = "arn:aws:iot:" + apiRegion + ":" + apiAccount + ":"
)

// maxAPIBody bounds a request body: a template body is at most 10 KB.
const maxAPIBody = 1 << 20

// restError is an answer of the API in AWS's error shape: {"message"} with
// x-amzn-ErrorType (the MQTT side's /rejected answers are another type, of the root).
type restError struct {
	status int
	kind   string // x-amzn-ErrorType: the exception's name
	msg    string
	extra  map[string]string // members beside message (resourceId, resourceArn)
}

func (e *restError) Error() string { return e.kind + ": " + e.msg }

func apiErr(status int, kind, format string, args ...any) *restError {
	return &restError{status: status, kind: kind, msg: fmt.Sprintf(format, args...)}
}

func invalid(format string, args ...any) *restError {
	return apiErr(400, "InvalidRequestException", format, args...)
}

func notFound(format string, args ...any) *restError {
	return apiErr(404, "ResourceNotFoundException", format, args...)
}

func internalErr(err error) *restError {
	return apiErr(500, "InternalFailureException", "%v", err)
}

// apiRequest is one decoded request: path values, query, header and JSON body.
type apiRequest struct {
	r    *http.Request
	body []byte
}

func (q apiRequest) path(name string) string { return q.r.PathValue(name) }

// query returns a query parameter; has says whether it was given.
func (q apiRequest) query(name string) (string, bool) {
	v, ok := q.r.URL.Query()[name]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}

// decodeJSON reads the body into v; an empty body is an empty object.
func (q apiRequest) decodeJSON(v any) *restError {
	if len(bytes.TrimSpace(q.body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(q.body, v); err != nil {
		return invalid("the request body is not valid JSON for this operation: %v", DescribeJSONError(err))
	}
	return nil
}

// boolQuery reads a boolean query parameter.
func (q apiRequest) boolQuery(name string) (bool, *restError) {
	v, ok := q.query(name)
	if !ok {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, invalid("query parameter %s must be true or false, not %q", name, shown(v))
	}
	return b, nil
}

// Name checks of the model.
var (
	thingNameRE    = regexp.MustCompile(`^[a-zA-Z0-9:_-]{1,128}$`)
	certificateRE  = regexp.MustCompile(`^[a-fA-F0-9]{64}$`)
	policyNameRE   = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)
	templateNameRE = regexp.MustCompile(`^[0-9A-Za-z_-]{1,36}$`)
)

func checkName(what, v string, re *regexp.Regexp) *restError {
	if !re.MatchString(v) {
		return invalid("%s %q is not valid: it must match %s", what, shown(v), re.String())
	}
	return nil
}

// maxShown bounds how much of a client's value an error message repeats.
const maxShown = 64

// shown is v as an error message repeats it: at most maxShown bytes, and its length
// when cut.
func shown(v string) string {
	if len(v) <= maxShown {
		return v
	}
	return fmt.Sprintf("%s… (%d bytes)", v[:maxShown], len(v))
}

// epoch is a timestamp as REST-JSON carries it: seconds since 1970.
func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func certificateARN(id string) string { return arnPrefix + "cert/" + id }
func thingARN(name string) string     { return arnPrefix + "thing/" + name }
func policyARN(name string) string    { return arnPrefix + "policy/" + name }
func groupARN(name string) string     { return arnPrefix + "thinggroup/" + name }

// certificateFromARN is the id in a certificate ARN.
func certificateFromARN(arn string) (string, *restError) {
	id, ok := strings.CutPrefix(arn, arnPrefix+"cert/")
	if !ok {
		i := strings.LastIndex(arn, ":cert/")
		if i < 0 || !strings.HasPrefix(arn, "arn:aws:iot:") {
			return "", invalid("principal %q is not a certificate ARN (arn:aws:iot:REGION:ACCOUNT:cert/ID)", shown(arn))
		}
		id = arn[i+len(":cert/"):]
	}
	if err := checkName("certificate id", id, certificateRE); err != nil {
		return "", err
	}
	return strings.ToLower(id), nil
}

// TemplateARN is a provisioning template's ARN in the emulator's account.
func TemplateARN(name string) string { return arnPrefix + "provisioningtemplate/" + name }

// DescribeJSONError says what is wrong with a JSON body, naming the field whose type is
// wrong when that is the fault.
func DescribeJSONError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return fmt.Sprintf("the body must be %s, not %s", jsonKind(te.Type), te.Value)
		}
		return fmt.Sprintf("field %q must be %s, not %s", te.Field, jsonKind(te.Type), te.Value)
	}
	return err.Error()
}

// jsonKind names what JSON a Go type takes, in the words of JSON rather than Go's.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}
