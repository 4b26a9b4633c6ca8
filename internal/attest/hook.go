package attest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"go.uber.org/zap"
)

// Response is a pre-provisioning hook's answer.
type Response struct {
	AllowProvisioning  bool              `json:"allowProvisioning"`
	ParameterOverrides map[string]string `json:"parameterOverrides,omitempty"`
}

// Hook answers pre-provisioning hook events: it allows a provisioning
// whose statement verifies, naming the thing from the manufacturer
// certificate, and denies any other, logging the reason.
type Hook struct {
	Verifier *Verifier
	// ThingNameParameter is the template parameter that names the thing;
	// "" is ThingName.
	ThingNameParameter string
	Log                *zap.Logger
}

// Handle answers one event. It never fails: a failure is a denial. Its
// signature is the one aws-lambda-go takes.
func (h *Hook) Handle(_ context.Context, ev Event) (Response, error) {
	fields := []zap.Field{zap.String("certificateId", ev.CertificateID), zap.String("clientId", ev.ClientID),
		zap.String("template", ev.TemplateName())}
	got, err := h.Verifier.Verify(ev)
	if err != nil {
		var d *Denial
		check := "internal"
		if errors.As(err, &d) {
			check = string(d.Check)
		}
		h.Log.Warn("provisioning denied", append(fields, zap.String("check", check), zap.String("reason", err.Error()))...)
		return Response{AllowProvisioning: false}, nil
	}
	param := h.ThingNameParameter
	if param == "" {
		param = "ThingName"
	}
	h.Log.Info("provisioning allowed", append(fields, zap.String("thingName", got.ThingName),
		zap.String("format", string(got.Format)), zap.String("manufacturerCertificate", got.Manufacturer.Subject.String()))...)
	return Response{AllowProvisioning: true, ParameterOverrides: map[string]string{param: got.ThingName}}, nil
}

// maxEvent bounds an event's size: AWS's own limit on a RegisterThing
// request is far below it.
const maxEvent = 1 << 20

// ServeHTTP answers an event POSTed as JSON, as fleetsim's hook caller
// sends it: the local form of the Lambda function. An event that does not
// decode is denied like any other failure.
func (h *Hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST a pre-provisioning hook event", http.StatusMethodNotAllowed)
		return
	}
	var ev Event
	var rsp Response
	if err := json.NewDecoder(io.LimitReader(r.Body, maxEvent)).Decode(&ev); err != nil {
		h.Log.Warn("provisioning denied", zap.String("check", "event"), zap.String("reason", "event: not a hook event: "+err.Error()))
	} else {
		rsp, _ = h.Handle(r.Context(), ev)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(rsp) //nolint:errcheck // the caller has gone
}
