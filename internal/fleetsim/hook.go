package fleetsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// hookRequest is what a pre-provisioning hook receives, as AWS sends it to a Lambda.
type hookRequest struct {
	ClaimCertificateID string            `json:"claimCertificateId"`
	CertificateID      string            `json:"certificateId"`
	CertificatePEM     string            `json:"certificatePem"`
	TemplateARN        string            `json:"templateArn"`
	ClientID           string            `json:"clientId"`
	Parameters         map[string]string `json:"parameters"`
}

// hookResponse is the hook's answer.
type hookResponse struct {
	AllowProvisioning  *bool             `json:"allowProvisioning"`
	ParameterOverrides map[string]string `json:"parameterOverrides"`
}

// callHook POSTs req to url within the hook timeout. It returns the overrides when the
// hook allows provisioning, and an error saying why otherwise: a denial, a failure, a
// timeout or an answer of the wrong shape are all denials.
func (s *Server) callHook(ctx context.Context, url string, req hookRequest) (map[string]string, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.hookTimeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("pre-provisioning hook URL %q: %v", url, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := s.hookHTTP.Do(hreq)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return nil, fmt.Errorf("pre-provisioning hook did not answer within %s", s.hookTimeout)
		}
		return nil, fmt.Errorf("pre-provisioning hook failed: %v", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("pre-provisioning hook failed: %v", err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("pre-provisioning hook failed with HTTP status %d", resp.StatusCode)
	}
	var hr hookResponse
	if err := json.Unmarshal(data, &hr); err != nil {
		return nil, fmt.Errorf("pre-provisioning hook answered something that is not {allowProvisioning, parameterOverrides}: %v", err)
	}
	if hr.AllowProvisioning == nil {
		return nil, fmt.Errorf("pre-provisioning hook answer has no allowProvisioning")
	}
	if !*hr.AllowProvisioning {
		return nil, fmt.Errorf("pre-provisioning hook denied provisioning")
	}
	return hr.ParameterOverrides, nil
}
